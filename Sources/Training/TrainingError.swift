/// What stopped a training run: its run options, a checkpoint or the data, named with the reason
/// (a setting's own value is a `SettingError`).
public struct TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
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
    }

    public let code: Code
    /// The file, directory or input the error is about.
    public let source: String
    public let reason: String

    public init(_ code: Code, _ source: String, _ reason: String) {
        (self.code, self.source, self.reason) = (code, source, reason)
    }

    public var description: String { "\(source): \(reason)" }
}
