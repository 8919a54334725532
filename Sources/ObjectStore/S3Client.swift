import Foundation
import Synchronization

/// An object's key, size and ETag, as HEAD and listings report them.
public struct ObjectInfo: Sendable, Equatable {
    public var object: ObjectURL
    public var size: Int
    /// The server's entity tag (quotes removed); it changes when the object does.
    public var etag: String
}

/// A blocking S3 client: each call runs on the caller's thread and returns when done, retrying
/// transient failures with backoff. Safe to share between threads (each call takes its own
/// connection from a pool).
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    public let retry: RetryPolicy
    /// Files at least this large are uploaded in parts.
    public let multipartThreshold: Int
    /// Bytes per part (S3's minimum is 5 MiB, except for the last part).
    public let partSize: Int
    /// Parts of one file in flight at once; memory is at most `partSize` per worker.
    public let partWorkers: Int
    private let transport: CurlTransport
    private let signer: SignatureV4

    public init(configuration: S3Configuration, retry: RetryPolicy = RetryPolicy(), multipartThreshold: Int = 16 << 20,
                partSize: Int = 8 << 20, partWorkers: Int = 4, stallSeconds: Int = 30) {
        self.configuration = configuration
        self.retry = retry
        self.multipartThreshold = max(multipartThreshold, 5 << 20)
        self.partSize = max(partSize, 5 << 20)
        self.partWorkers = max(1, partWorkers)
        transport = CurlTransport(stallSeconds: stallSeconds)
        signer = SignatureV4(credentials: configuration.credentials, region: configuration.region)
    }

    /// A client configured from the environment (see `S3Configuration.fromEnvironment`).
    public convenience init() throws(ObjectStoreError) {
        self.init(configuration: try S3Configuration.fromEnvironment())
    }

    // MARK: Reading

    /// The object's bytes (or those in `range`), held in memory: for indexes and range reads.
    public func get(_ object: ObjectURL, range: Range<Int>? = nil) throws(ObjectStoreError) -> [UInt8] {
        var bytes: [UInt8] = []
        try read(object, range: range) { piece in
            bytes.append(contentsOf: piece)
            return true
        }
        return bytes
    }

    /// Downloads the object to `file`, through `file.partial` renamed at the end, so a cut transfer
    /// never leaves a file that looks whole. Returns its size.
    @discardableResult
    public func download(_ object: ObjectURL, to file: URL) throws(ObjectStoreError) -> Int {
        try resumable(object).download(to: file) { headers, accept, receive throws(ObjectStoreError) in
            try send("GET", object, headers: headers, accept: accept, receive: receive)
        }
    }

    /// Streams the object's bytes (or those in `range`) to `receive` in order, each byte once: a
    /// transfer cut short is resumed from where it stopped with a range request pinned to the
    /// same ETag, so a server restart mid-read costs a retry, not the bytes already received.
    /// `receive` returning false stops the transfer (a `.localFile` error).
    public func read(_ object: ObjectURL, range: Range<Int>? = nil,
                     receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) {
        try resumable(object).read(range: range, send: { headers, accept, receive throws(ObjectStoreError) in
            try send("GET", object, headers: headers, accept: accept, receive: receive)
        }, receive: receive)
    }

    private func resumable(_ object: ObjectURL) -> ResumableRead {
        ResumableRead(retry: retry, ifRangeWithETag: false) { error in
            error.bucket = object.bucket
            error.key = object.key.isEmpty ? nil : object.key
        }
    }

    /// The object's size and ETag; `.notFound` if there is none.
    public func head(_ object: ObjectURL) throws(ObjectStoreError) -> ObjectInfo {
        let response = try retry.run { _ throws(ObjectStoreError) in try send("HEAD", object) { _ in true } }
        guard let size = response.headers["content-length"].flatMap(Int.init) else {
            throw ObjectStoreError(.badResponse, bucket: object.bucket, key: object.key, status: response.status,
                                   "HEAD answered without a Content-Length")
        }
        return ObjectInfo(object: object, size: size, etag: response.headers["etag"].map(Self.unquote) ?? "")
    }

    /// True if the object exists.
    public func exists(_ object: ObjectURL) throws(ObjectStoreError) -> Bool {
        do {
            _ = try head(object)
            return true
        } catch where error.code == .notFound {
            return false
        }
    }

    /// Every object whose key starts with `prefix.key`, in key order.
    public func list(_ prefix: ObjectURL) throws(ObjectStoreError) -> [ObjectInfo] {
        var found: [ObjectInfo] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix.key)]
            if let token { query.append(("continuation-token", token)) }
            let bucket = ObjectURL(bucket: prefix.bucket, key: "")
            let text = try retry.run { _ throws(ObjectStoreError) in
                var bytes: [UInt8] = []
                _ = try send("GET", bucket, query: query) { bytes += $0; return true }
                return String(decoding: bytes, as: UTF8.self)
            }[...]
            for entry in XMLFields.elements("Contents", in: text) {
                guard let key = XMLFields.first("Key", in: entry), let size = XMLFields.first("Size", in: entry).flatMap(Int.init) else {
                    throw ObjectStoreError(.badResponse, bucket: prefix.bucket, key: prefix.key, "a listing entry lacks Key or Size")
                }
                found.append(ObjectInfo(object: ObjectURL(bucket: prefix.bucket, key: key), size: size,
                                        etag: XMLFields.first("ETag", in: entry).map(Self.unquote) ?? ""))
            }
            token = XMLFields.first("IsTruncated", in: text) == "true" ? XMLFields.first("NextContinuationToken", in: text) : nil
        } while token != nil
        return found
    }

    // MARK: Writing

    /// Stores `bytes` as the object in one request.
    public func put(_ bytes: [UInt8], to object: ObjectURL, contentType: String? = nil) throws(ObjectStoreError) {
        try bytes.withBytes { raw throws(ObjectStoreError) in try put(raw, to: object, contentType: contentType) }
    }

    public func put(_ bytes: UnsafeRawBufferPointer, to object: ObjectURL, contentType: String? = nil) throws(ObjectStoreError) {
        let headers = contentType.map { [("content-type", $0)] } ?? []
        _ = try retry.run { _ throws(ObjectStoreError) in try send("PUT", object, headers: headers, body: bytes) { _ in true } }
    }

    /// Uploads a local file: in one request below `multipartThreshold`, else as a multipart upload
    /// with `partWorkers` parts in flight (aborted on failure, so no orphaned parts are left).
    public func upload(file: URL, to object: ObjectURL) throws(ObjectStoreError) {
        let source = try LocalFile(path: file.path, object: object)
        defer { source.close() }
        if source.size < multipartThreshold {
            let bytes = try source.read(offset: 0, count: source.size)
            try put(bytes, to: object)
            return
        }
        try MultipartUpload(client: self, object: object, source: source).run()
    }

    /// Removes the object (S3 answers success also when there was none).
    public func delete(_ object: ObjectURL) throws(ObjectStoreError) {
        _ = try retry.run { _ throws(ObjectStoreError) in try send("DELETE", object) { _ in true } }
    }

    // MARK: One request

    /// Signs and sends one request, mapping a non-2xx answer to an error (one try, no retry).
    func send(_ method: String, _ object: ObjectURL, query: [(String, String)] = [], headers: [(String, String)] = [],
              body: UnsafeRawBufferPointer? = nil, accept: ((HTTPResponse) -> ObjectStoreError?)? = nil,
              receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) -> HTTPResponse {
        let (url, host, path) = configuration.address(of: object)
        let payloadHash = body.map(SignatureV4.payloadHash) ?? SignatureV4.emptyPayloadHash
        let signed = signer.sign(method: method, host: host, path: path, query: query, headers: headers,
                                 payloadHash: payloadHash, date: Date())
        let queryText = SignatureV4.encodeQuery(query)
        let (response, errorBody): (HTTPResponse, [UInt8])
        do {
            (response, errorBody) = try transport.perform(method: method, url: queryText.isEmpty ? url : url + "?" + queryText,
                                                          headers: signed, body: body, accept: accept, receive: receive)
        } catch {
            var located = error
            located.bucket = object.bucket
            located.key = object.key.isEmpty ? nil : object.key
            throw located
        }
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, body: errorBody, method: method, object: object,
                             accessKey: configuration.credentials.accessKeyID)
        }
        return response
    }

    /// The error for a non-2xx answer, with S3's own code and message when the body has them.
    static func error(status: Int, body: [UInt8], method: String, object: ObjectURL, accessKey: String) -> ObjectStoreError {
        let text = String(decoding: body, as: UTF8.self)[...]
        let s3Code = XMLFields.first("Code", in: text)
        let message = XMLFields.first("Message", in: text)
        let said = [s3Code, message].compactMap { $0 }.joined(separator: ": ")
        let key = object.key.isEmpty ? nil : object.key
        let code: ObjectStoreError.Code
        var advice: String
        switch status {
        case 403:
            code = .accessDenied
            advice = "access denied for key id \(accessKey): check AWS_SECRET_ACCESS_KEY (or the profile's secret) and the bucket's policy"
        case 404:
            code = .notFound
            advice = s3Code == "NoSuchBucket" ? "no such bucket" : (key == nil ? "not found" : "no object with this key")
        case 429:
            code = .throttled
            advice = "the server asks to slow down"
        case 500...599:
            code = s3Code == "SlowDown" ? .throttled : .serverError
            advice = code == .throttled ? "the server asks to slow down" : "the server failed"
        default:
            code = .rejected
            advice = "\(method) was refused"
        }
        if !said.isEmpty { advice += " (\(said))" }
        return ObjectStoreError(code, bucket: object.bucket, key: key, status: status, advice)
    }

    static func unquote(_ etag: String) -> String { etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
}

/// A local file read by position, so parts can be read by several threads at once.
struct LocalFile: Sendable {
    let path: String
    let object: ObjectURL
    let fd: Int32
    let size: Int

    init(path: String, object: ObjectURL) throws(ObjectStoreError) {
        self.path = path
        self.object = object
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ObjectStoreError(.localFile, bucket: object.bucket, key: object.key,
                                   "cannot open \(path) for upload: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        fstat(fd, &info)
        size = Int(info.st_size)
    }

    func read(offset: Int, count: Int) throws(ObjectStoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw ObjectStoreError(.localFile, bucket: object.bucket, key: object.key,
                                       "cannot read \(path) at \(offset + done): " + (n == 0 ? "it shrank" : String(cString: strerror(errno))))
            }
            done += n
        }
        return bytes
    }

    func close() { Glibc.close(fd) }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the typed error (the standard one rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ObjectStoreError) -> R) throws(ObjectStoreError) -> R {
        try withUnsafeBytes { raw in Result { () throws(ObjectStoreError) -> R in try body(raw) } }.get()
    }
}
