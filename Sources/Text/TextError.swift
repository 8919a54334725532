import SystemErrors

/// An error of the Text module: what went wrong, where (file, record) and why, in words a user can act on.
public struct TextError: CodedError, Equatable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Code: String, Sendable {
        /// No file, directory or glob match by that name.
        case notFound
        /// The file exists but cannot be opened, listed or read.
        case unreadable
        /// A compressed stream ends early.
        case truncated
        /// The bytes are not what the format requires (a damaged stream, a malformed vocabulary).
        case invalidData
        /// An option or argument outside what the operation allows.
        case invalidOption
        /// Output could not be written.
        case unwritable
    }

    /// What kind of failure.
    public var code: Code
    /// The file (or glob) the problem is in; empty when there is none.
    public var path: String
    /// The 1-based line or record number, when the problem is tied to one.
    public var line: Int?
    /// Why it failed.
    public var reason: String

    /// An error of `code` about `path` (and `line` in it), for `reason`.
    public init(_ code: Code, path: String = "", line: Int? = nil, _ reason: String) {
        self.code = code
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// Files that are missing or cannot be read or written are the system's; the rest is the data's.
    public var failure: Failure {
        switch code {
        case .notFound, .unreadable, .unwritable: .io
        case .truncated, .invalidData, .invalidOption: .data
        }
    }

    /// `file:line: reason`, as compilers print it.
    public var description: String {
        switch (path.isEmpty, line) {
        case let (false, l?): return "\(path):\(l): \(reason)"
        case (false, nil): return "\(path): \(reason)"
        default: return reason
        }
    }
}
