/// An object (or a prefix of objects) in a bucket, written `s3://bucket/key`.
public struct ObjectURL: Hashable, Sendable, CustomStringConvertible {
    public var bucket: String
    /// The key without a leading slash; empty for the bucket itself.
    public var key: String

    public init(bucket: String, key: String) {
        self.bucket = bucket
        self.key = key
    }

    /// Parses `s3://bucket/key`; nil for anything that is not an `s3://` URL (a local path).
    public init?(_ text: String) {
        guard text.hasPrefix(Self.scheme) else { return nil }
        let rest = text.dropFirst(Self.scheme.count)
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else { return nil }
        self.bucket = String(bucket)
        self.key = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
    }

    /// Parses `text`, failing with a message that names it.
    public init(parsing text: String) throws(ObjectStoreError) {
        guard let url = ObjectURL(text) else {
            throw ObjectStoreError(.configuration, "'\(text)' is not an s3://bucket/key URL")
        }
        self = url
    }

    public static let scheme = "s3://"

    /// True for strings this type parses, so callers can route a path to the object store.
    public static func isObjectURL(_ text: String) -> Bool { text.hasPrefix(scheme) }

    /// The scheme of `text` when it is written as a URL (`s3://...`, `https://...`), else nil: what
    /// a key or option taking local paths refuses, rather than read it as a directory named `s3:`.
    public static func urlScheme(_ text: String) -> String? {
        guard let separator = text.range(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound]
        guard let first = scheme.first, first.isASCII && first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }) else { return nil }
        return scheme.lowercased()
    }

    /// The object `name` under this prefix, with one `/` between them.
    public func appending(_ name: String) -> ObjectURL {
        guard !key.isEmpty else { return ObjectURL(bucket: bucket, key: name) }
        return ObjectURL(bucket: bucket, key: key.hasSuffix("/") ? key + name : key + "/" + name)
    }

    /// The last path component of the key.
    public var lastComponent: String { String(key.split(separator: "/").last ?? "") }

    public var description: String { Self.scheme + bucket + (key.isEmpty ? "" : "/" + key) }
}
