import Foundation
import Testing
@testable import ObjectStore

/// Endpoint, region and credentials come from where the AWS tools and mosaicml-streaming look.
struct ConfigurationTests {
    func scratchFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-aws-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func environmentVariablesWin() throws {
        let config = try S3Configuration.fromEnvironment([
            "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-1",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000/", "HOME": "/nonexistent",
        ])
        #expect(config.endpoint == "http://127.0.0.1:9000")
        #expect(config.region == "eu-west-1")
        #expect(config.credentials == S3Credentials(accessKeyID: "id", secretAccessKey: "secret"))
        #expect(config.pathStyle)
        #expect(config.address(of: ObjectURL(bucket: "b", key: "a b/c")).url == "http://127.0.0.1:9000/b/a%20b/c")
    }

    @Test func profilesComeFromTheSharedFiles() throws {
        let credentials = try scratchFile("""
            [default]
            aws_access_key_id = default-id
            aws_secret_access_key = default-secret
            # a comment
            [train]
            aws_access_key_id=train-id
            aws_secret_access_key=train-secret
            """)
        let config = try scratchFile("[profile train]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:8333\n")
        defer { unlink(credentials); unlink(config) }
        let chosen = try S3Configuration.fromEnvironment([
            "AWS_PROFILE": "train", "AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config,
        ])
        #expect(chosen.credentials.accessKeyID == "train-id")
        #expect(chosen.region == "ap-south-1")
        #expect(chosen.endpoint == "http://127.0.0.1:8333")
        let fallback = try S3Configuration.fromEnvironment(["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config])
        #expect(fallback.credentials.accessKeyID == "default-id")
        #expect(fallback.endpoint == "https://s3.us-east-1.amazonaws.com")
        #expect(fallback.address(of: ObjectURL(bucket: "data", key: "x.mds")).url == "https://data.s3.us-east-1.amazonaws.com/x.mds")
    }

    @Test func missingCredentialsSayWhereToPutThem() {
        let error = #expect(throws: ObjectStoreError.self) {
            try S3Configuration.fromEnvironment(["HOME": "/nonexistent", "AWS_PROFILE": "nope"])
        }
        #expect(error?.code == .configuration)
        #expect(error?.description.contains("profile 'nope'") == true)
    }

    @Test func secretsAreNeverPrinted() {
        let credentials = S3Credentials(accessKeyID: "id", secretAccessKey: "hunter2")
        #expect(!"\(credentials)".contains("hunter2"))
        #expect(!String(reflecting: S3Configuration(endpoint: "http://x", credentials: credentials)).contains("hunter2"))
    }

    @Test func objectURLs() throws {
        let url = try ObjectURL(parsing: "s3://bucket/train/part-0")
        #expect(url.bucket == "bucket" && url.key == "train/part-0")
        #expect(url.appending("index.json").description == "s3://bucket/train/part-0/index.json")
        #expect(ObjectURL("s3://bucket")?.key == "")
        #expect(ObjectURL("/local/path") == nil)
        #expect(ObjectURL("s3:///key") == nil)
    }
}
