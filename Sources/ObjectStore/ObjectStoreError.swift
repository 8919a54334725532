import SystemErrors

/// What went wrong talking to an object store or a web server, naming the bucket and key (or the
/// URL) and the HTTP status so a user can tell a typo (404) from a wrong secret (403) from an
/// unreachable server. Messages never hold a secret: only the access key id may appear, never the
/// secret key or a signature; a URL is named without its query, which may carry a token.
public struct ObjectStoreError: CodedError, Equatable {
    /// The kind of failure, to match on.
    public enum Code: String, Sendable, Equatable {
        /// 403: wrong secret, unknown access key, or no permission.
        case accessDenied
        /// 404 (or 410): no such key, bucket or web page.
        case notFound
        /// 429 or 503 SlowDown: the server asks us to go slower (retried).
        case throttled
        /// Any other 5xx (retried).
        case serverError
        /// Connection refused or reset, DNS, a transfer cut short (retried).
        case network
        /// No progress within the timeout (retried).
        case timeout
        /// The request was refused for another reason (4xx): a bad bucket name, a bad range.
        case rejected
        /// The server answered with something we cannot read.
        case badResponse
        /// Endpoint, region or credentials missing or malformed; an `s3://` URL that does not parse.
        case configuration
        /// A local file could not be read or written.
        case localFile
        /// libcurl could not be set up here (its global initialisation failed, or no memory for a
        /// handle): a fault of the environment, not of the server, so not retried.
        case httpLibrary

        /// Worth trying again after a pause.
        public var isTransient: Bool { [.throttled, .serverError, .network, .timeout].contains(self) }
    }

    public var code: Code
    public var bucket: String?
    public var key: String?
    /// The `http(s)://` URL, without its query: the object of a plain web request, or the
    /// endpoint an S3 request could not reach.
    public var url: String?
    /// The HTTP status, when the server answered.
    public var status: Int?
    /// Why, in words a user can act on (the server's error code and message when it sent one).
    public var reason: String

    public init(_ code: Code, bucket: String? = nil, key: String? = nil, url: String? = nil, status: Int? = nil, _ reason: String) {
        self.code = code
        self.bucket = bucket
        self.key = key
        self.url = url.map(Self.withoutQuery)
        self.status = status
        self.reason = reason
    }

    /// The object (`s3://bucket/key`), or the URL when there is no bucket; empty when neither is known.
    public var path: String {
        guard let bucket else { return url ?? "" }
        return "s3://\(bucket)" + (key.map { "/\($0)" } ?? "")
    }

    /// Settings that cannot work (a malformed URL, no credentials) are the caller's data; every
    /// other failure is of the transfer.
    public var failure: Failure { code == .configuration ? .data : .io }

    /// `url` without its query and fragment, which may carry a token.
    static func withoutQuery(_ url: String) -> String { String(url.prefix { $0 != "?" && $0 != "#" }) }

    public var description: String {
        var subject = ""
        if let bucket {
            subject = path + (url.map { " (at \($0))" } ?? "") + ": "
        } else if let url {
            subject = url + ": "
        }
        let http = status.map { "HTTP \($0): " } ?? ""
        return subject + http + reason
    }
}
