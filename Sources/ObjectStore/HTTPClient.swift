import Foundation

/// What a HEAD request tells about an object behind an `http(s)://` URL.
public struct HTTPObjectInfo: Sendable, Equatable {
    public var url: URL
    public var size: Int
    /// The entity tag as sent (quotes kept, `W/` for a weak one), when the server gives one.
    public var etag: String?
    /// The Last-Modified date as sent, when the server gives one.
    public var lastModified: String?
}

/// A blocking client for objects behind plain `http://` and `https://` URLs (dataset files on a web
/// server or a CDN), with the same reading semantics as `S3Client`: each call runs on the caller's
/// thread, transient failures (5xx, 429, a dropped connection, a timeout) are retried with the
/// policy's backoff, and a transfer cut short resumes where it stopped, pinned to the object's
/// validator. Redirects are followed (at most `maxRedirects`, to http(s) only); https uses
/// libcurl's default CA bundle. No credentials are sent. Safe to share between threads.
public final class HTTPClient: Sendable {
    public let retry: RetryPolicy
    public let maxRedirects: Int
    private let transport: CurlTransport

    public init(retry: RetryPolicy = RetryPolicy(), maxRedirects: Int = 10, stallSeconds: Int = 30) {
        self.retry = retry
        self.maxRedirects = max(0, maxRedirects)
        transport = CurlTransport(stallSeconds: stallSeconds)
    }

    /// The object's size (Content-Length) and validators; `.notFound` if there is none.
    public func head(_ url: URL) throws(ObjectStoreError) -> HTTPObjectInfo {
        let response = try retry.run { _ throws(ObjectStoreError) in try send("HEAD", url) { _ in true } }
        guard let text = response.headers["content-length"], let size = Int(text), size >= 0 else {
            throw ObjectStoreError(.badResponse, url: url.absoluteString, status: response.status,
                                   "HEAD answered without a Content-Length, so the object's size is unknown")
        }
        return HTTPObjectInfo(url: url, size: size, etag: response.headers["etag"], lastModified: response.headers["last-modified"])
    }

    /// Streams the object's bytes (or those in `range`) to `receive` in order, each byte once, as
    /// `S3Client.read` does: a transfer cut short resumes with a Range request pinned with
    /// If-Match / If-Range to the first answer's ETag (else its Last-Modified); a server that
    /// ignores a range is a `.badResponse` error before any of its bytes reach `receive`.
    /// `receive` returning false stops the transfer (a `.localFile` error).
    public func read(_ url: URL, range: Range<Int>? = nil, receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) {
        try resumable(url).read(range: range, send: { headers, accept, receive throws(ObjectStoreError) in
            try send("GET", url, headers: headers, accept: accept, receive: receive)
        }, receive: receive)
    }

    /// The object's bytes (or those in `range`), held in memory.
    public func get(_ url: URL, range: Range<Int>? = nil) throws(ObjectStoreError) -> [UInt8] {
        var bytes: [UInt8] = []
        try read(url, range: range) { piece in
            bytes.append(contentsOf: piece)
            return true
        }
        return bytes
    }

    /// Downloads the object to `file` through `file.partial`, renamed only once whole (a transfer
    /// cut short resumes as `read` does). Returns its size.
    @discardableResult
    public func download(_ url: URL, to file: URL) throws(ObjectStoreError) -> Int {
        try resumable(url).download(to: file) { headers, accept, receive throws(ObjectStoreError) in
            try send("GET", url, headers: headers, accept: accept, receive: receive)
        }
    }

    private func resumable(_ url: URL) -> ResumableRead {
        ResumableRead(retry: retry, ifRangeWithETag: true) { error in error.url = ObjectStoreError.withoutQuery(url.absoluteString) }
    }

    /// Sends one request, mapping a non-2xx answer to an error naming the URL (one try, no retry).
    private func send(_ method: String, _ url: URL, headers: [(String, String)] = [],
                      accept: ((HTTPResponse) -> ObjectStoreError?)? = nil,
                      receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) -> HTTPResponse {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw ObjectStoreError(.configuration, url: url.absoluteString, "not an http:// or https:// URL with a host")
        }
        let (response, _) = try transport.perform(method: method, url: url.absoluteString, headers: headers, body: nil,
                                                  redirects: maxRedirects, accept: accept, receive: receive)
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, method: method, url: url)
        }
        return response
    }

    /// The error for a non-2xx answer, the status in plain words.
    static func error(status: Int, method: String, url: URL) -> ObjectStoreError {
        let (code, words): (ObjectStoreError.Code, String) = switch status {
        case 401: (.accessDenied, "authentication required (no credentials are sent to http(s) URLs)")
        case 403: (.accessDenied, "forbidden: the server refuses access")
        case 404: (.notFound, "not found")
        case 410: (.notFound, "gone: the server no longer has it")
        case 408: (.timeout, "the server timed out waiting for the request")
        case 412: (.rejected, "the object changed while it was read (its ETag no longer matches)")
        case 416: (.rejected, "the range asked for lies outside the object")
        case 429: (.throttled, "too many requests: the server asks to slow down")
        case 503: (.serverError, "service unavailable")
        case 500...599: (.serverError, "the server failed")
        case 300...399: (.badResponse, "a redirect without a usable Location, or more than the redirects allowed")
        default: (.rejected, "\(method) was refused")
        }
        return ObjectStoreError(code, url: url.absoluteString, status: status, words)
    }
}
