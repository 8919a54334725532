import SystemErrors

/// What went wrong reading or writing a WebDataset shard, naming the shard and, when known, the
/// member, so a user can find it with `tar tvf`.
public struct WebDatasetError: CodedError, Equatable {
    /// The kind of failure, to match on.
    public enum Code: String, Sendable {
        /// The shard cannot be opened or read (a missing file, a failed download).
        case unreadable
        /// The shard ends inside a header or a member's data.
        case truncated
        /// The bytes are not a tar archive, or its compression is damaged (a bad gzip trailer).
        case damaged
        /// A member's name cannot name a sample field: not UTF-8, absolute, with `..`, no extension.
        case badName
        /// A member larger than the limit the reader was given.
        case tooLarge
        /// A key that appears twice in a shard, or a field twice in one key.
        case duplicate
        /// A sample cannot be written: no key, a key that is not a safe member name, a value with
        /// no byte form.
        case invalidSample
        /// Creating, writing, renaming or uploading a shard failed.
        case writeFailed
        /// An option the caller gave cannot be used (a shard URL pattern, a limit).
        case invalidArgument
    }

    public var code: Code
    /// The shard (a path or URL), or the output directory.
    public var path: String
    /// The member (or key) at fault, when the problem is one of them.
    public var member: String?
    /// Why, in words a user can act on.
    public var reason: String

    public init(_ code: Code, path: String, member: String? = nil, _ reason: String) {
        self.code = code
        self.path = path
        self.member = member
        self.reason = reason
    }

    /// A shard that cannot be opened, read or written is the system's; the rest is the data's.
    public var failure: Failure {
        switch code {
        case .unreadable, .writeFailed: .io
        case .truncated, .damaged, .badName, .tooLarge, .duplicate, .invalidSample, .invalidArgument: .data
        }
    }

    public var description: String {
        path + (member.map { ": \($0)" } ?? "") + ": " + reason
    }
}
