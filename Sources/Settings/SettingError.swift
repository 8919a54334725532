import SystemErrors

/// A setting that cannot be applied, named as it was given (`--weight-decay`, `weight_decay`), so
/// the command line, a pipeline file and a checkpoint can each say which one and why.
public struct SettingError: CodedError, Equatable {
    /// What kind of failure, for callers and tests to match without parsing the message.
    public enum Code: String, Sendable {
        /// A name no setting has.
        case unknownSetting
        /// A value outside what the setting takes.
        case invalidSetting
        /// Settings that contradict each other (hidden not divisible by heads).
        case inconsistentSettings
    }

    public let code: Code
    /// The setting as given, or `settings` for values that contradict each other.
    public let path: String
    /// A sentence a user can act on: the values the setting takes, or the closest known name.
    public let reason: String

    public init(_ code: Code, path: String, _ reason: String) {
        (self.code, self.path, self.reason) = (code, path, reason)
    }

    /// A setting is always the input's: the command line, a pipeline file or a checkpoint.
    public var failure: Failure { .data }

    public var description: String { "\(path): \(reason)" }
}
