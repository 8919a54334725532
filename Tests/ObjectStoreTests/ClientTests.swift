import Foundation
import ObjectStore
import S3TestServer
import Testing

/// The client against a real S3 server (SeaweedFS) started on 127.0.0.1 by the tests.
@Suite(.enabled(if: !LocalS3Server.mayBeMissing, "SeaweedFS is not installed: run tools/install-s3-server.sh"))
struct ClientTests {
    /// One server for the tests that do not stop it; each test uses its own prefix.
    static let shared = Result { try LocalS3Server() }

    func server() throws -> LocalS3Server { try Self.shared.get() }

    func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test func putGetRangeHeadListDelete() throws {
        let server = try server()
        let client = server.client()
        let prefix = server.url("basics-\(UUID().uuidString.prefix(6))")
        let bytes = randomBytes(100_000, seed: 1)
        try client.put(bytes, to: prefix.appending("a b+c.bin"))
        try client.put(Array("hello".utf8), to: prefix.appending("sub/x.txt"))
        #expect(try client.get(prefix.appending("a b+c.bin")) == bytes)
        #expect(try client.get(prefix.appending("a b+c.bin"), range: 1000..<1010) == Array(bytes[1000..<1010]))
        #expect(try client.head(prefix.appending("sub/x.txt")).size == 5)
        #expect(try client.list(prefix).map(\.object.lastComponent) == ["a b+c.bin", "x.txt"])
        try client.delete(prefix.appending("sub/x.txt"))
        #expect(try !client.exists(prefix.appending("sub/x.txt")))
        let past = #expect(throws: ObjectStoreError.self) { try client.get(prefix.appending("a b+c.bin"), range: 99_990..<100_020) }
        #expect(past?.code == .rejected)
    }

    @Test func listingsFollowContinuationTokens() throws {
        let server = try server()
        let client = server.client()
        let prefix = server.url("many-\(UUID().uuidString.prefix(6))")
        let names = (0..<1005).map { String(format: "k%04d", $0) }
        Workers(8).run(names) { try? client.put([1], to: prefix.appending($0)) }
        #expect(try client.list(prefix).map(\.object.lastComponent) == names)
    }

    @Test func largeFilesGoUpInPartsAndDownloadWhole() throws {
        let server = try server()
        let client = server.client(partSize: 5 << 20, multipartThreshold: 6 << 20)
        let bytes = randomBytes(13 << 20 + 12345, seed: 2)
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: local) }
        try Data(bytes).write(to: local)
        let object = server.url("multipart/\(UUID().uuidString.prefix(6)).bin")
        try client.upload(file: local, to: object)
        let info = try client.head(object)
        #expect(info.size == bytes.count)
        #expect(info.etag.hasSuffix("-3"), "a multipart ETag names its part count")
        let back = local.appendingPathExtension("back")
        defer { try? FileManager.default.removeItem(at: back) }
        #expect(try client.download(object, to: back) == bytes.count)
        #expect(Array(try Data(contentsOf: back)) == bytes)
        #expect(!FileManager.default.fileExists(atPath: back.path + ".partial"))
    }

    @Test func wrongSecretIsAClear403() throws {
        let server = try server()
        let object = server.url("secret/x")
        try server.client().put([1, 2, 3], to: object)
        let error = #expect(throws: ObjectStoreError.self) { try server.client(secret: "not-the-secret").get(object) }
        #expect(error?.code == .accessDenied)
        #expect(error?.status == 403)
        #expect(error?.description.contains("s3://\(server.bucket)/secret/x") == true)
        #expect(error?.description.contains(LocalS3Server.accessKey) == true)
        #expect(error?.description.contains("not-the-secret") == false)
        #expect(error?.description.contains(LocalS3Server.secretKey) == false)
    }

    @Test func missingObjectIsA404NamingTheKey() throws {
        let server = try server()
        let client = server.client()
        let error = #expect(throws: ObjectStoreError.self) { try client.get(server.url("nowhere/shard.00007.mds")) }
        #expect(error?.code == .notFound)
        #expect(error?.status == 404)
        #expect(error?.key == "nowhere/shard.00007.mds")
        #expect(error?.description.hasPrefix("s3://\(server.bucket)/nowhere/shard.00007.mds: HTTP 404") == true)
        let headError = #expect(throws: ObjectStoreError.self) { try client.head(server.url("nowhere/else")) }
        #expect(headError?.code == .notFound)
        let bucketError = #expect(throws: ObjectStoreError.self) { try client.get(ObjectURL(bucket: "no-such-bucket", key: "k")) }
        #expect(bucketError?.code == .notFound)
    }

    /// The server goes away in the middle of a download and comes back: the read retries, resumes
    /// from the byte it had reached, and delivers the object whole.
    @Test func readSurvivesAServerRestart() throws {
        let server = try LocalS3Server(bucket: "restart-test")
        let client = server.client(retry: RetryPolicy(attempts: 30, baseDelay: 0.1, maxDelay: 2))
        let bytes = randomBytes(48 << 20, seed: 3)
        let object = server.url("big.bin")
        try client.put(bytes, to: object)

        var received: [UInt8] = []
        received.reserveCapacity(bytes.count)
        var stopped = false
        let restarted = DispatchSemaphore(value: 0)
        try client.read(object) { piece in
            received.append(contentsOf: piece)
            if !stopped && received.count > 4 << 20 {
                stopped = true
                server.stop()
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: 1)
                    try? server.start()
                    restarted.signal()
                }
            }
            return true
        }
        #expect(stopped)
        restarted.wait()
        #expect(received.count == bytes.count)
        #expect(received == bytes)
    }

    @Test func unreachableServerGivesUpWithANetworkError() throws {
        let config = S3Configuration(endpoint: "http://127.0.0.1:9", credentials: S3Credentials(accessKeyID: "a", secretAccessKey: "b"))
        let client = S3Client(configuration: config, retry: RetryPolicy(attempts: 3, baseDelay: 0.01, maxDelay: 0.02))
        let error = #expect(throws: ObjectStoreError.self) { try client.get(ObjectURL(bucket: "bucket", key: "k")) }
        #expect(error?.code == .network)
        #expect(error?.description.contains("gave up after 3 tries") == true)
    }
}

/// Runs a body over items on a few threads (test set-up only).
struct Workers {
    let count: Int
    init(_ count: Int) { self.count = count }

    func run<T: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) -> Void) {
        DispatchQueue.concurrentPerform(iterations: count) { worker in
            for i in stride(from: worker, to: items.count, by: count) { body(items[i]) }
        }
    }
}
