import Foundation

/// Streaming an object's bytes (S3 or plain HTTP) to a receiver each exactly once, in order, across
/// transfers cut short: the one implementation both clients' `read` and `download` share.
///
/// A retried transfer asks for the rest with a Range request pinned to the validator the first
/// answer gave (a strong ETag as If-Match, and as If-Range where the server may ignore If-Match;
/// else Last-Modified as If-Range), so a server restart costs a retry, not the bytes already
/// received, and an object replaced meanwhile is an error rather than two versions spliced. The
/// status of each answer is checked before its first byte is handed on: a server that ignores a
/// range (200 instead of 206, or a 206 starting elsewhere) is an error, never a duplicate of bytes.
struct ResumableRead {
    /// How a request reaches the server: `send(headers, accept, receive)` makes one try, throwing
    /// for a non-2xx answer; it passes `accept` on to `CurlTransport.perform`.
    typealias Send = (_ headers: [(String, String)], _ accept: @escaping (HTTPResponse) -> ObjectStoreError?,
                      _ receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) -> HTTPResponse

    var retry: RetryPolicy
    /// Also send If-Range with an ETag: plain web servers may honour a range but ignore If-Match.
    var ifRangeWithETag: Bool
    /// Places an error (bucket and key, or URL) for the messages this type makes itself.
    var locate: (inout ObjectStoreError) -> Void

    func read(range: Range<Int>?, send: Send, receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) {
        if let range, range.isEmpty { return }
        var delivered = 0
        var etag: String?, lastModified: String?
        try retry.run { _ throws(ObjectStoreError) in
            var headers: [(String, String)] = []
            let start = (range?.lowerBound ?? 0) + delivered
            let ranged = range != nil || delivered > 0
            if let range {
                headers.append(("range", "bytes=\(start)-\(range.upperBound - 1)"))
            } else if delivered > 0 {
                headers.append(("range", "bytes=\(start)-"))
            }
            if delivered > 0 {
                // Resuming: only the same version of the object may continue what was received.
                if let etag {
                    headers.append(("if-match", etag))
                    if ifRangeWithETag { headers.append(("if-range", etag)) }
                } else if let lastModified {
                    headers.append(("if-range", lastModified))
                } else {
                    throw placed(ObjectStoreError(.badResponse, "the transfer was cut short after \(delivered) bytes and the server "
                                                  + "gives no ETag or Last-Modified, so the rest cannot be fetched safely"))
                }
            }
            let accept = { (response: HTTPResponse) -> ObjectStoreError? in
                if delivered == 0 {
                    // The version the first byte comes from is the one every later byte must.
                    etag = response.headers["etag"].flatMap(Self.strongETag)
                    lastModified = response.headers["last-modified"]
                }
                guard ranged else { return nil }
                guard response.status == 206 else {
                    let why = delivered > 0 ? "the object changed while it was read, or the server ignored a range request"
                                            : "the server ignored a range request"
                    return placed(ObjectStoreError(.badResponse, status: response.status, "\(why) (answered \(response.status), not 206)"))
                }
                // `bytes START-END/TOTAL`: a part that starts elsewhere would misplace every byte.
                if let contentRange = response.headers["content-range"],
                   let first = contentRange.split(separator: " ").last?.split(separator: "-").first.flatMap({ Int($0) }), first != start {
                    return placed(ObjectStoreError(.badResponse, status: 206, "asked for bytes from \(start), the server sent them from \(first)"))
                }
                return nil
            }
            _ = try withoutActuallyEscaping(receive) { receive throws(ObjectStoreError) in
                try send(headers, accept) { bytes in
                    delivered += bytes.count
                    return receive(bytes)
                }
            }
        }
        if let range, delivered < range.count {
            throw placed(ObjectStoreError(.rejected, "range \(range.lowerBound)..<\(range.upperBound) runs past the object's end "
                                          + "(\(range.lowerBound + delivered))"))
        }
    }

    /// Downloads through `file.partial`, renamed to `file` only once whole, so a cut transfer never
    /// leaves a file that looks complete. Returns the size.
    func download(to file: URL, send: Send) throws(ObjectStoreError) -> Int {
        let partial = file.path + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw placed(ObjectStoreError(.localFile, "cannot create \(partial): \(String(cString: strerror(errno)))"))
        }
        var size = 0
        var writeError: Int32 = 0
        do throws(ObjectStoreError) {
            defer { close(fd) }
            try read(range: nil, send: send) { bytes in
                var done = 0
                while done < bytes.count && writeError == 0 {
                    let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { writeError = errno } else { done += n }
                }
                size += done
                return writeError == 0
            }
        } catch {
            unlink(partial)
            guard writeError == 0 else {
                throw placed(ObjectStoreError(.localFile, "cannot write \(partial): \(String(cString: strerror(writeError)))"))
            }
            throw error
        }
        guard rename(partial, file.path) == 0 else {
            unlink(partial)
            throw placed(ObjectStoreError(.localFile, "cannot rename \(partial) to \(file.path): \(String(cString: strerror(errno)))"))
        }
        return size
    }

    private func placed(_ error: ObjectStoreError) -> ObjectStoreError {
        var error = error
        locate(&error)
        return error
    }

    /// The ETag as sent (quoted), if it is a strong one: a weak ETag (`W/"..."`) never satisfies
    /// If-Match or If-Range, so pinning to it would fail every resume.
    static func strongETag(_ header: String) -> String? {
        guard !header.hasPrefix("W/"), !header.isEmpty else { return nil }
        return header.hasPrefix("\"") ? header : "\"\(header)\""
    }
}
