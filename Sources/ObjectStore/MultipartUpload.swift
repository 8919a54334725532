import Foundation
import Synchronization

/// One multipart upload of a local file: initiate, parts on `partWorkers` threads of our own (each
/// part retried on its own), complete; any failure aborts the upload so the bucket keeps no
/// orphaned parts and no object appears.
struct MultipartUpload {
    let client: S3Client
    let object: ObjectURL
    let source: LocalFile

    func run() throws(ObjectStoreError) {
        let uploadID = try initiate()
        do throws(ObjectStoreError) {
            let etags = try uploadParts(uploadID)
            try complete(uploadID, etags: etags)
        } catch {
            try? client.retry.run { _ throws(ObjectStoreError) in
                _ = try client.send("DELETE", object, query: [("uploadId", uploadID)]) { _ in true }
            }
            throw error
        }
    }

    private func initiate() throws(ObjectStoreError) -> String {
        let text = try client.retry.run { _ throws(ObjectStoreError) -> String in
            var bytes: [UInt8] = []
            _ = try client.send("POST", object, query: [("uploads", "")], body: UnsafeRawBufferPointer(start: nil, count: 0)) {
                bytes += $0
                return true
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard let id = XMLFields.first("UploadId", in: text[...]), !id.isEmpty else {
            throw ObjectStoreError(.badResponse, bucket: object.bucket, key: object.key, "no UploadId in the answer to initiating a multipart upload")
        }
        return id
    }

    /// Uploads every part; the ETags in part order.
    private func uploadParts(_ uploadID: String) throws(ObjectStoreError) -> [String] {
        let partSize = client.partSize
        let parts = (source.size + partSize - 1) / partSize
        guard parts <= 10_000 else {
            throw ObjectStoreError(.configuration, bucket: object.bucket, key: object.key,
                                   "\(source.size) bytes need \(parts) parts of \(partSize); S3 allows 10000: raise the part size")
        }
        let state = Mutex(PartState(etags: Array(repeating: nil, count: parts)))
        Workers.run(min(client.partWorkers, parts)) { _ in
            while let part = state.withLock({ $0.claim() }) {
                do throws(ObjectStoreError) {
                    let offset = part * partSize
                    let bytes = try source.read(offset: offset, count: min(partSize, source.size - offset))
                    let response = try client.retry.run { _ throws(ObjectStoreError) in
                        try bytes.withBytes { raw throws(ObjectStoreError) in
                            try client.send("PUT", object, query: [("partNumber", String(part + 1)), ("uploadId", uploadID)],
                                            body: raw) { _ in true }
                        }
                    }
                    guard let etag = response.headers["etag"] else {
                        throw ObjectStoreError(.badResponse, bucket: object.bucket, key: object.key, "part \(part + 1) was stored without an ETag")
                    }
                    state.withLock { $0.etags[part] = etag }
                } catch {
                    state.withLock { $0.fail(error) }
                }
            }
        }
        return try state.withLock { s throws(ObjectStoreError) -> [String] in
            if let failure = s.failure { throw failure }
            // No failure means every part was claimed and stored its ETag (a part that cannot fails the upload).
            return s.etags.map { $0! }
        }
    }

    private func complete(_ uploadID: String, etags: [String]) throws(ObjectStoreError) {
        var xml = "<CompleteMultipartUpload>"
        for (i, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(XMLFields.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        let answer = try client.retry.run { _ throws(ObjectStoreError) -> String in
            var bytes: [UInt8] = []
            _ = try body.withBytes { raw throws(ObjectStoreError) in
                try client.send("POST", object, query: [("uploadId", uploadID)], headers: [("content-type", "application/xml")],
                                body: raw) { bytes += $0; return true }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        // S3 may answer 200 and put the failure in the body.
        if answer.contains("<Error>") {
            let said = [XMLFields.first("Code", in: answer[...]), XMLFields.first("Message", in: answer[...])].compactMap { $0 }
            throw ObjectStoreError(.serverError, bucket: object.bucket, key: object.key, status: 200,
                                   "completing the multipart upload failed (\(said.joined(separator: ": ")))")
        }
    }

    private struct PartState {
        var etags: [String?]
        var next = 0
        var failure: ObjectStoreError?

        mutating func claim() -> Int? {
            guard failure == nil, next < etags.count else { return nil }
            defer { next += 1 }
            return next
        }

        mutating func fail(_ error: ObjectStoreError) {
            if failure == nil { failure = error }
        }
    }
}

/// Runs `body(worker)` on `count` threads of our own and waits for all of them.
enum Workers {
    static func run(_ count: Int, name: String = "s3-worker", _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for worker in 0..<count {
            group.enter()
            let thread = Thread {
                body(worker)
                group.leave()
            }
            thread.name = "\(name)-\(worker)"
            thread.start()
        }
        group.wait()
    }
}
