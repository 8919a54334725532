import SystemErrors

/// What went wrong with a dataset, naming the file and, when known, the sample, so a user can find it.
public struct ShardError: CodedError, Equatable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Code: String, Sendable {
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
    public var code: Code
    /// The file at fault (a shard, `index.json`), or the dataset directory.
    public var path: String
    /// The sample index within the file, when the problem is one sample.
    public var sample: Int?
    /// Why, in words a user can act on.
    public var reason: String

    public init(_ code: Code, path: String, sample: Int? = nil, _ reason: String) {
        self.code = code
        self.path = path
        self.sample = sample
        self.reason = reason
    }

    /// Files that are missing, unreadable or unwritable are the system's; the rest is the data's
    /// (an unfinished dataset included: what is there is not a dataset yet).
    public var failure: Failure {
        switch code {
        case .missing, .unreadable, .writeFailed: .io
        case .damaged, .unsupported, .invalidValue, .outOfRange, .invalidArgument, .unfinished: .data
        }
    }

    public var description: String {
        if let sample { return "\(path): sample \(sample): \(reason)" }
        return "\(path): \(reason)"
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the typed error (the standard one rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        try withUnsafeBytes { raw in Result { () throws(ShardError) -> R in try body(raw) } }.get()
    }
}
