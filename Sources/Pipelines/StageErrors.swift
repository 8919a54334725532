import Foundation

/// A stage's error about one item (or one output path), naming it.
public struct StageError: Error, CustomStringConvertible {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Kind: String, Sendable {
        /// The item lacks a field the stage needs, or holds the wrong type of value.
        case invalidItem
        /// An input file the item names cannot be opened or read.
        case unreadableInput
        /// The output path is taken by something the run did not write (a directory, a FIFO).
        case outputTaken
        /// Two items would write the same output file.
        case outputCollision
        /// Creating or writing output failed (permissions, a full disk).
        case outputFailed
    }

    public var kind: Kind
    public var item: String
    public var reason: String

    public init(_ kind: Kind = .invalidItem, item: String, reason: String) {
        self.kind = kind
        self.item = item
        self.reason = reason
    }

    public var description: String { "\(item): \(reason)" }
}

/// A plan that cannot be assembled: a parameter no stage can work with, or a pipeline whose
/// stages do not fit together (validation prevents the second for files it checked).
public struct PlanError: Error, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A stage parameter's value cannot be used (a bad size, an unknown hash).
        case invalidParameter
        /// The stages do not form source -> stages -> sink.
        case invalidStructure
    }

    public var kind: Kind
    public var description: String

    init(_ description: String, kind: Kind = .invalidParameter) {
        self.kind = kind
        self.description = description
    }
}
