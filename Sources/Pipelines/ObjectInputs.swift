import Foundation
import ObjectStore
import Synchronization

/// Inputs that live in a bucket (`s3://bucket/key`), made local for the stages that read files.
///
/// Objects are downloaded whole into a cache under the run's output (`.cache/s3/BUCKET/KEY`) rather
/// than streamed through FFmpeg's I/O: containers such as MP4 keep their index at the end and the
/// decoders seek (frame selection, timestamps), so a seekable local file is what they need, the
/// same decoder code serves local and remote inputs, and a rerun finds the copy already there.
/// The client is made on first use, from the environment, so local-only pipelines need no credentials.
final class ObjectInputs: Sendable {
    let cache: URL
    private let madeClient = Mutex<S3Client?>(nil)

    init(outputDirectory: URL) {
        cache = outputDirectory.appendingPathComponent(".cache/s3")
    }

    /// `s3://` URLs as stored in a parameter (`URL(string:)`), or nil for a local file.
    static func object(_ url: URL) -> ObjectURL? { url.scheme == "s3" ? ObjectURL(url.absoluteString) : nil }

    /// The objects under a prefix (one object if the key names one exactly), in key order.
    func list(_ prefix: ObjectURL) throws(ObjectStoreError) -> [ObjectInfo] {
        let s3 = try client()
        let listed = try s3.list(prefix)
        if listed.contains(where: { $0.object == prefix }) { return listed.filter { $0.object == prefix } }
        // `s3://b/dir` means the folder dir/, not also dir2/.
        let folder = prefix.key.isEmpty || prefix.key.hasSuffix("/") ? prefix.key : prefix.key + "/"
        let below = listed.filter { $0.object.key.hasPrefix(folder) && !$0.object.key.hasSuffix("/") }
        guard !below.isEmpty else {
            throw ObjectStoreError(.notFound, bucket: prefix.bucket, key: prefix.key, "no object has this key or prefix")
        }
        return below
    }

    /// A local copy of `object`, downloaded unless a copy of the same size is already cached.
    func localCopy(of object: ObjectURL, size: Int? = nil) throws(ObjectStoreError) -> URL {
        let s3 = try client()
        let target = cache.appendingPathComponent(object.bucket).appendingPathComponent(object.key)
        let expected: Int
        if let size { expected = size } else { expected = try s3.head(object).size }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: target.path),
           (attributes[.size] as? NSNumber)?.intValue == expected {
            return target
        }
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ObjectStoreError(.localFile, bucket: object.bucket, key: object.key,
                                   "cannot create the cache directory \(target.deletingLastPathComponent().path)")
        }
        try s3.download(object, to: target)
        return target
    }

    func client() throws(ObjectStoreError) -> S3Client {
        try madeClient.withLock { cached throws(ObjectStoreError) -> S3Client in
            if let cached { return cached }
            let made = try S3Client()
            cached = made
            return made
        }
    }
}
