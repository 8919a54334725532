/// What went wrong with a dataset, naming the file and, when known, the sample, so a user can find it.
public struct ShardError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Kind: String, Sendable {
        /// A file the index lists is not there.
        case missing
        /// A file exists but cannot be opened, mapped or read.
        case unreadable
        /// The bytes do not match the index or the format: a hash, a size, the offset table, the
        /// compressed stream, JSON, or an index entry that cannot describe a real shard.
        case damaged
        /// A version, format, compression, encoding or hash sluice does not read or write.
        case unsupported
        /// A value does not fit its column, or a sample lacks one.
        case invalidValue
        /// A sample or shard index past the dataset's end.
        case outOfRange
        /// An option the caller gave cannot be used (a compression level, a size limit, a part).
        case invalidArgument
        /// A dataset is already there, or its writer has not finished.
        case unfinished
        /// Creating, writing, syncing, renaming or compressing output failed.
        case writeFailed
    }

    /// What kind of failure.
    public var kind: Kind
    /// The file at fault (a shard, `index.json`), or the dataset directory.
    public var file: String
    /// The sample index within the file, when the problem is one sample.
    public var sample: Int?
    /// Why, in words a user can act on.
    public var reason: String

    public init(_ kind: Kind, file: String, sample: Int? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.sample = sample
        self.reason = reason
    }

    public var description: String {
        if let sample { return "\(file): sample \(sample): \(reason)" }
        return "\(file): \(reason)"
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the typed error (the standard one rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        try withUnsafeBytes { raw in Result { () throws(ShardError) -> R in try body(raw) } }.get()
    }
}
