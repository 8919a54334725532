import Foundation

/// The access key pair (and session token, for temporary credentials) requests are signed with.
public struct S3Credentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

extension S3Credentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key id only: a secret must never reach a log or an error message.
    public var description: String { "S3Credentials(\(accessKeyID), secret hidden)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["accessKeyID": accessKeyID]) }
}

/// Where the object store is and who we are, found the way the AWS CLI, boto3 and
/// mosaicml-streaming find it, so one environment serves them all.
public struct S3Configuration: Sendable, Equatable {
    /// `http://127.0.0.1:8333` or `https://s3.us-east-1.amazonaws.com`, without a trailing slash.
    public var endpoint: String
    public var region: String
    public var credentials: S3Credentials
    /// Path-style URLs (`endpoint/bucket/key`), as S3-compatible servers expect; AWS itself gets
    /// virtual-hosted ones (`bucket.endpoint/key`).
    public var pathStyle: Bool

    public init(endpoint: String, region: String = "us-east-1", credentials: S3Credentials, pathStyle: Bool = true) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.region = region
        self.credentials = credentials
        self.pathStyle = pathStyle
    }

    /// Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, S3_ENDPOINT_URL (mosaicml-streaming's), else
    /// AWS for the region. Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region` in
    /// ~/.aws/config, else us-east-1. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    /// (/ AWS_SESSION_TOKEN), else the profile (AWS_PROFILE, default `default`) in
    /// ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) or ~/.aws/config (AWS_CONFIG_FILE).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ObjectStoreError) -> S3Configuration {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        let home = value("HOME") ?? NSHomeDirectory()
        let profile = value("AWS_PROFILE") ?? value("AWS_DEFAULT_PROFILE") ?? "default"
        let credentialsFile = value("AWS_SHARED_CREDENTIALS_FILE") ?? home + "/.aws/credentials"
        let configFile = value("AWS_CONFIG_FILE") ?? home + "/.aws/config"
        let fromCredentials = try ProfileFile.section(profile, in: credentialsFile, configStyle: false)
        let fromConfig = try ProfileFile.section(profile, in: configFile, configStyle: true)
        func profileValue(_ key: String) -> String? { fromCredentials[key] ?? fromConfig[key] }

        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? fromConfig["region"] ?? "us-east-1"
        let credentials: S3Credentials
        if let id = value("AWS_ACCESS_KEY_ID") {
            guard let secret = value("AWS_SECRET_ACCESS_KEY") else {
                throw ObjectStoreError(.configuration, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
            }
            credentials = S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN"))
        } else if let id = profileValue("aws_access_key_id"), let secret = profileValue("aws_secret_access_key") {
            credentials = S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: profileValue("aws_session_token"))
        } else {
            throw ObjectStoreError(.configuration, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                + "or add profile '\(profile)' with aws_access_key_id and aws_secret_access_key to \(credentialsFile)")
        }
        let custom = value("AWS_ENDPOINT_URL_S3") ?? value("AWS_ENDPOINT_URL") ?? value("S3_ENDPOINT_URL")
            ?? profileValue("endpoint_url")
        if let custom {
            guard custom.hasPrefix("http://") || custom.hasPrefix("https://") else {
                throw ObjectStoreError(.configuration, "endpoint '\(custom)' must start with http:// or https://")
            }
            return S3Configuration(endpoint: custom, region: region, credentials: credentials, pathStyle: true)
        }
        return S3Configuration(endpoint: "https://s3.\(region).amazonaws.com", region: region,
                               credentials: credentials, pathStyle: false)
    }

    /// The URL of `object` (its key percent-encoded as SigV4 signs it) and the Host header value.
    func address(of object: ObjectURL) -> (url: String, host: String, path: String) {
        let encodedKey = SignatureV4.encodePath(object.key)
        let scheme = endpoint.hasPrefix("https://") ? "https://" : "http://"
        let authority = String(endpoint.dropFirst(scheme.count).prefix { $0 != "/" })
        if pathStyle || object.bucket.contains(".") {
            let path = "/" + object.bucket + (object.key.isEmpty ? "" : "/" + encodedKey)
            return (endpoint + path, authority, path)
        }
        let host = object.bucket + "." + authority
        let path = "/" + encodedKey
        return (scheme + host + path, host, path)
    }
}

/// The INI-style files the AWS tools share (`[name]` sections of `key = value` lines; in the
/// config file, sections other than `default` are written `[profile name]`).
enum ProfileFile {
    static func section(_ profile: String, in path: String, configStyle: Bool) throws(ObjectStoreError) -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ObjectStoreError(.configuration, "\(path): cannot be read as UTF-8 text")
        }
        let wanted = configStyle && profile != "default" ? "profile \(profile)" : profile
        var current: String?
        var values: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard current == wanted, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            values[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}
