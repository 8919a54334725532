/// What stopped a training run: a setting, a checkpoint or the data, named with the reason.
public struct TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure, for callers and tests to match without parsing the message.
    public enum Code: String, Sendable {
        /// A setting name no trainer option has.
        case unknownSetting
        /// A value outside what the setting takes.
        case invalidSetting
        /// Settings that contradict each other (hidden not divisible by heads).
        case inconsistentSettings
        /// A checkpoint that is missing, damaged, or from another model or run.
        case checkpoint
        /// Batches the model cannot use, or too few of them.
        case data
        /// An output directory that already holds another run, given neither resume nor overwrite.
        case runExists
    }

    public let code: Code
    /// The setting, file or input the error is about.
    public let source: String
    public let reason: String

    public init(_ code: Code, _ source: String, _ reason: String) {
        (self.code, self.source, self.reason) = (code, source, reason)
    }

    public var description: String { "\(source): \(reason)" }
}
