import Foundation

/// The one shape of every typed error in Sluice: a matchable `code` (each type's own `Code` enum),
/// the `path` at fault (a file, an object, a setting, a stage), the `reason` in plain words, and a
/// `description` that names both ("PATH: reason"). `failure` says which kind of failure a code is,
/// so the command line turns any module's error into its exit code without a table of types.
public protocol CodedError: Error, Sendable, CustomStringConvertible {
    /// The file, object, setting or stage the error is about; empty when the reason names it.
    var path: String { get }
    /// Why, in words a user can act on.
    var reason: String { get }
    /// Whether the input was bad, a system call failed, or the run was interrupted.
    var failure: Failure { get }
}

/// What kind of failure an error is, as a caller acts on it (and `sluice` exits with it).
public enum Failure: String, Sendable, CaseIterable {
    /// The input is bad: a damaged file, a value outside what it may hold, a setting that cannot work.
    case data
    /// A file, network or system call failed: missing, unreadable or unwritable, a full disk.
    case io
    /// The run was stopped or aborted before it finished (Ctrl-C).
    case interrupted
}

extension Failure {
    /// The failure `error` is: its own for a coded error; I/O for a system error (one with an
    /// errno, or a Foundation file error) unless it says the text is not UTF-8; else bad data.
    public init(of error: any Error) {
        if let coded = error as? any CodedError {
            self = coded.failure
            return
        }
        if SystemErrorText.errno(of: error) != nil {
            self = .io
            return
        }
        guard let cocoa = error as? CocoaError, cocoa.isFileError else {
            self = .data
            return
        }
        self = [.fileReadCorruptFile, .fileReadInapplicableStringEncoding].contains(cocoa.code) ? .data : .io
    }
}
