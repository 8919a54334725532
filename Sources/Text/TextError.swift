/// An error of the Text module: what went wrong, where (file, record) and why, in words a user can act on.
public struct TextError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file (or other source) the problem is in, when there is one.
    public var source: String?
    /// The 1-based line or record number, when the problem is tied to one.
    public var line: Int?
    /// Why it failed.
    public var reason: String

    /// An error about `source` (and `line` in it), for `reason`.
    public init(source: String? = nil, line: Int? = nil, _ reason: String) {
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
