import Foundation
import SystemErrors

/// A stage's error about one item (or one output path), naming it.
public struct StageError: CodedError {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Code: String, Sendable {
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

    public var code: Code
    /// The item (its file, or its record: `clips.jsonl:25`) or the output path at fault.
    public var path: String
    public var reason: String

    public init(_ code: Code = .invalidItem, path: String, reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    /// Files that cannot be read or written are the system's; the item and the run's own output
    /// plan (a path taken, two items on one file) are the data's.
    public var failure: Failure {
        switch code {
        case .unreadableInput, .outputFailed: .io
        case .invalidItem, .outputTaken, .outputCollision: .data
        }
    }

    public var description: String { "\(path): \(reason)" }
}

/// A plan that cannot be assembled: a parameter no stage can work with, or a pipeline whose
/// stages do not fit together (validation prevents the second for files it checked); or the
/// parts of a multi-rank run that cannot be merged.
public struct PlanError: CodedError {
    public enum Code: String, Sendable {
        /// A stage parameter's value cannot be used (a bad size, an unknown hash).
        case invalidParameter
        /// The stages do not form source -> stages -> sink.
        case invalidStructure
        /// A rank's part has no readable manifest: the rank did not finish.
        case unfinishedPart
        /// Ranks wrote the same output file, which only JSON lines and shards may share.
        case collidingParts
    }

    public var code: Code
    /// The stage ("stage 'resize'") or file at fault; empty when the reason names the pipeline.
    public var path: String
    public var reason: String

    init(_ code: Code = .invalidParameter, path: String = "", _ reason: String) {
        (self.code, self.path, self.reason) = (code, path, reason)
    }

    /// An error about the stage named `stage`.
    init(_ code: Code = .invalidParameter, stage: String, _ reason: String) {
        self.init(code, path: "stage '\(stage)'", reason)
    }

    /// A part a rank did not finish is the system's (the rank failed or was killed); the rest is
    /// the pipeline file's.
    public var failure: Failure { code == .unfinishedPart ? .io : .data }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}
