import PipelineCore
import SystemErrors

/// A file a command itself reads or writes (not through a library that names its own errors)
/// that could not be: exit 74, no usage text.
struct FileSystemError: CodedError {
    enum Code: String, Sendable {
        /// A file cannot be opened or read.
        case readFailed
        /// A file cannot be created, written, flushed or renamed into place.
        case writeFailed
        /// Another file operation failed (listing, moving, removing), as Foundation or the system
        /// reported it without saying more.
        case operationFailed
    }

    let code: Code
    /// The file; empty when the system's error named none.
    let path: String
    let reason: String

    init(_ code: Code, path: String, _ reason: String) { (self.code, self.path, self.reason) = (code, path, reason) }

    /// A Foundation or POSIX error in plain words with the file it names; nil for other errors.
    init?(_ error: any Error) {
        guard SystemErrorText.isSystemError(error) else { return nil }
        self.init(.operationFailed, path: SystemErrorText.file(of: error) ?? "", SystemErrorText.words(error))
    }

    var failure: Failure { .io }
    var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// Input a command read that it cannot work with (too few records, none at all, a record it
/// cannot use): exit 65, no usage text, since no flag was wrong.
struct InputError: CodedError {
    enum Code: String, Sendable {
        /// The input holds nothing the command can use.
        case empty
        /// The input holds too little for what the flags ask (a batch, held-out records).
        case tooSmall
        /// A record the command cannot use (a clip without the text it needs, an id that cannot
        /// be a line of a file).
        case invalidRecord
        /// Files that do not go together (an index written for another checkpoint).
        case mismatch
    }

    let code: Code
    /// The input file (or files).
    let path: String
    let reason: String

    init(_ code: Code, path: String, _ reason: String) { (self.code, self.path, self.reason) = (code, path, reason) }

    var failure: Failure { .data }
    var description: String { "\(path): \(reason)" }
}

/// A rank's part of a multi-rank run that did not finish, so nothing is merged: stopped by
/// Ctrl-C, or failed (for the reason the run gives).
struct UnmergedPart: CodedError {
    enum Code: String, Sendable {
        case stopped, failed
    }

    let code: Code
    /// Why the run failed; nil when it was stopped.
    let cause: PipelineError?

    init(_ code: Code, cause: PipelineError?) { (self.code, self.cause) = (code, cause) }

    /// The item or stage the run failed on.
    var path: String { cause?.path ?? "" }
    var reason: String { (cause?.description ?? (code == .stopped ? "stopped before its part was done" : "failed")) + "; nothing is merged" }
    var failure: Failure { code == .stopped ? .interrupted : cause?.failure ?? .data }
    var description: String { reason }
}
