/// An error of the Text module: what went wrong, where (file, record) and why, in words a user can act on.
public struct TextError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Kind: String, Sendable {
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
    public var kind: Kind
    /// The file (or other source) the problem is in, when there is one.
    public var source: String?
    /// The 1-based line or record number, when the problem is tied to one.
    public var line: Int?
    /// Why it failed.
    public var reason: String

    /// An error of `kind` about `source` (and `line` in it), for `reason`.
    public init(_ kind: Kind, source: String? = nil, line: Int? = nil, _ reason: String) {
        self.kind = kind
        self.source = source
        self.line = line
        self.reason = reason
    }

    /// `file:line: reason`, as compilers print it.
    public var description: String {
        switch (source, line) {
        case let (s?, l?): return "\(s):\(l): \(reason)"
        case let (s?, nil): return "\(s): \(reason)"
        default: return reason
        }
    }
}
