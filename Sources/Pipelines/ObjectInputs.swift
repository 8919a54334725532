import Foundation
import ObjectStore
import Synchronization

/// Inputs that live in a bucket (`s3://bucket/key`) or behind a web URL (`https://host/path`),
/// made local for the stages that read files.
///
/// Objects are downloaded whole into a cache under the run's output (`.cache/s3/BUCKET/KEY`,
/// `.cache/http/HOST/PATH`) rather than streamed through FFmpeg's I/O: containers such as MP4 keep
/// their index at the end and the decoders seek (frame selection, timestamps), so a seekable local
/// file is what they need, the same decoder code serves local and remote inputs, and a rerun finds
/// the copy already there (kept when its size is the object's). The S3 client is made on first
/// use, from the environment, so local-only pipelines need no credentials; web URLs need none.
final class ObjectInputs: Sendable {
    let cache: URL
    private let madeClient = Mutex<S3Client?>(nil)
    let web = HTTPClient()

    /// An input that is not a local file.
    enum Remote: CustomStringConvertible {
        /// `s3://bucket/key` (or a prefix, for the files source).
        case object(ObjectURL)
        /// `http://` or `https://`: one object (HTTP has no listing).
        case web(URL)

        var description: String {
            switch self {
            case .object(let object): object.description
            case .web(let url): url.absoluteString
            }
        }
    }

    init(outputDirectory: URL) {
        cache = outputDirectory.appendingPathComponent(".cache")
    }

    /// `s3://` and `http(s)://` URLs as stored in a parameter (`URL(string:)`), or nil for a local file.
    static func remote(_ url: URL) -> Remote? {
        switch url.scheme?.lowercased() {
        case "s3": ObjectURL(url.absoluteString).map(Remote.object)
        case "http", "https": url.host == nil ? nil : .web(url)
        default: nil
        }
    }

    /// A URL written in a manifest (`s3://` taken as written, `http(s)://` well-formed), else nil.
    static func remote(_ text: String) -> Remote? {
        switch ObjectURL.urlScheme(text) {
        case "s3": ObjectURL(text).map(Remote.object)
        case "http", "https": URL(string: text).flatMap { remote($0) }
        default: nil
        }
    }

    /// A relative path in a manifest that lives in `directory` (a bucket prefix or a web URL ending
    /// in `/`): the object beside the manifest it names.
    static func remote(_ path: String, besideManifestIn directory: URL) -> Remote? {
        if directory.scheme == "s3" { return ObjectURL(directory.absoluteString + path).map(Remote.object) }
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
        return URL(string: encoded, relativeTo: directory).flatMap { remote($0.absoluteURL) }
    }

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

    /// A local copy of `remote`, downloaded unless a copy of the same size is already cached.
    func localCopy(of remote: Remote, size: Int? = nil) throws(ObjectStoreError) -> URL {
        switch remote {
        case .object(let object):
            let s3 = try client()
            let target = cache.appendingPathComponent("s3").appendingPathComponent(object.bucket).appendingPathComponent(object.key)
            let expected: Int
            if let size { expected = size } else { expected = try s3.head(object).size }
            return try cached(target, size: expected, bucket: object.bucket, key: object.key) { () throws(ObjectStoreError) in
                try s3.download(object, to: target)
            }
        case .web(let url):
            let target = Self.cachePlace(of: url, under: cache.appendingPathComponent("http"))
            let expected: Int
            if let size { expected = size } else { expected = try web.head(url).size }
            return try cached(target, size: expected, url: url.absoluteString) { () throws(ObjectStoreError) in
                try web.download(url, to: target)
            }
        }
    }

    private func cached(_ target: URL, size: Int, bucket: String? = nil, key: String? = nil, url: String? = nil,
                        download: () throws(ObjectStoreError) -> Void) throws(ObjectStoreError) -> URL {
        if let attributes = try? FileManager.default.attributesOfItem(atPath: target.path),
           attributes[.type] as? FileAttributeType == .typeRegular, (attributes[.size] as? NSNumber)?.intValue == size {
            return target
        }
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ObjectStoreError(.localFile, bucket: bucket, key: key, url: url,
                                   "cannot create the cache directory \(target.deletingLastPathComponent().path)")
        }
        try download()
        return target
    }

    /// `HOST[:PORT]/PATH` under `root`: the URL's path segments with `.`, `..` and empty ones left
    /// out (so no URL reaches outside the cache), `index` for a path ending in `/`, and a query
    /// (`?v=2`) kept apart by a hash of it in the file name, so two queries are two files.
    static func cachePlace(of url: URL, under root: URL) -> URL {
        let host = (url.host ?? "host") + (url.port.map { ":\($0)" } ?? "")
        var segments = url.path.split(separator: "/").map(String.init).filter { $0 != "." && $0 != ".." }
        if segments.isEmpty || url.path.hasSuffix("/") { segments.append("index") }
        if let query = url.query, !query.isEmpty {
            let last = segments[segments.count - 1], tag = "@" + String(stableHash(query), radix: 16)
            let dot = last.lastIndex(of: ".").flatMap { $0 == last.startIndex ? nil : $0 } ?? last.endIndex
            segments[segments.count - 1] = last[..<dot] + tag + last[dot...]  // clip@1f2e.mp4: the extension stays last
        }
        return segments.reduce(root.appendingPathComponent(host)) { $0.appendingPathComponent($1) }
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
