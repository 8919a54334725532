import SystemErrors

/// What stopped a training run: its run options, a checkpoint or the data, named with the reason
/// (a setting's own value is a `SettingError`).
public struct TrainingError: CodedError, Equatable {
    /// What kind of failure, for callers and tests to match without parsing the message.
    public enum Code: String, Sendable {
        /// Run options that contradict each other (resume and overwrite).
        case inconsistentSettings
        /// A checkpoint that is missing, damaged, or from another model or run.
        case checkpoint
        /// Batches the model cannot use, or too few of them.
        case data
        /// An output directory that already holds another run, given neither resume nor overwrite.
        case runExists
        /// A run's file (its directory, metrics log, event file) cannot be created or written.
        case writeFailed
    }

    public let code: Code
    /// The file, directory or input the error is about.
    public let path: String
    public let reason: String

    public init(_ code: Code, _ path: String, _ reason: String) {
        (self.code, self.path, self.reason) = (code, path, reason)
    }

    /// A run file that cannot be written is the system's; settings, checkpoints, batches and an
    /// output directory taken are the run's input.
    public var failure: Failure { code == .writeFailed ? .io : .data }

    public var description: String { "\(path): \(reason)" }
}
