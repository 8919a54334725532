import Foundation
import SystemErrors

/// What a pipeline does when one item fails in a stage.
public enum ErrorPolicy: String, Sendable, Codable, CaseIterable {
    /// Stop the pipeline with the error.
    case fail
    /// Record the item and its error in the quarantine file and go on.
    case skip
}

/// Items that name themselves in error reports (a file path, a record id).
public protocol ItemDescribing {
    var itemDescription: String { get }
}

/// Why a pipeline stopped early. A failure's cause is kept as words and as its `Failure` (bad
/// data, or a file or system call that failed), so the command line exits with what it was.
public enum PipelineError: CodedError, Equatable {
    /// A stage's code threw on an item under the `fail` policy.
    case itemFailed(stage: String, item: String, reason: String, failure: Failure = .data)
    /// A stage spent longer than the watchdog allows on one item.
    case timedOut(stage: String, item: String, seconds: Double)
    /// A source or a stage's finishing step failed (not tied to one item).
    case stageFailed(stage: String, reason: String, failure: Failure = .data)
    /// The run was aborted (e.g. a second Ctrl-C) before it drained.
    case aborted

    /// The case without its details, to branch on (as `MediaError.Code`).
    public enum Code: String, Sendable {
        case itemFailed, timedOut, stageFailed, aborted
    }

    public var code: Code {
        switch self {
        case .itemFailed: .itemFailed
        case .timedOut: .timedOut
        case .stageFailed: .stageFailed
        case .aborted: .aborted
        }
    }

    /// The item that failed, or the stage when no item did; empty for an aborted run.
    public var path: String {
        switch self {
        case let .itemFailed(_, item, _, _), let .timedOut(_, item, _): item
        case let .stageFailed(stage, _, _): stage
        case .aborted: ""
        }
    }

    public var reason: String {
        switch self {
        case let .itemFailed(_, _, reason, _), let .stageFailed(_, reason, _): reason
        case let .timedOut(_, _, seconds): "timed out after \(Self.format(seconds)) s (watchdog)"
        case .aborted: "pipeline aborted before it finished"
        }
    }

    /// The cause's failure; an item that hangs a stage is the data's.
    public var failure: Failure {
        switch self {
        case let .itemFailed(_, _, _, failure), let .stageFailed(_, _, failure): failure
        case .timedOut: .data
        case .aborted: .interrupted
        }
    }

    public var description: String {
        switch self {
        case let .itemFailed(stage, item, reason, _): "stage '\(stage)' failed on \(item): \(reason)"
        case let .timedOut(stage, item, seconds): "stage '\(stage)' timed out after \(Self.format(seconds)) s on \(item) (watchdog)"
        case let .stageFailed(stage, reason, _): "stage '\(stage)' failed: \(reason)"
        case .aborted: reason
        }
    }

    static func format(_ seconds: Double) -> String { String(format: "%.3g", seconds) }
}

/// A skipped item: what it was, where it failed, and why.
public struct QuarantineRecord: Codable, Sendable, Equatable {
    public var stage: String
    public var item: String
    public var error: String
    public var time: String
}

/// The skip-policy's manifest of what was skipped and why: a JSONL file written as items fail,
/// so a crash loses nothing already recorded.
final class Quarantine: @unchecked Sendable {
    private let lock = NSLock()
    let url: URL?
    private var handle: FileHandle?
    private(set) var records: [QuarantineRecord] = []

    init(url: URL?) { self.url = url }

    func record(stage: String, item: String, error: String) throws {
        let entry = QuarantineRecord(
            stage: stage, item: item, error: error, time: ISO8601DateFormatter().string(from: Date()))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(0x0A)
        lock.lock()
        defer { lock.unlock() }
        records.append(entry)
        guard let url else { return }
        if handle == nil {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            handle = try FileHandle(forWritingTo: url)
        }
        try handle?.write(contentsOf: line)
        try handle?.synchronize()
    }

    func close() {
        lock.withLock {
            try? handle?.close()
            handle = nil
        }
    }
}

/// How an item is named in errors and the quarantine file.
func describe<T>(_ item: T) -> String {
    if let named = item as? any ItemDescribing { return named.itemDescription }
    let text = String(describing: item)
    return text.count > 200 ? String(text.prefix(200)) + "…" : text
}

/// The reason `error` gives for failing on `item`, without the item's name in front: stage errors
/// usually start with it, and wrapped ones (a media error inside a stage error) more than once,
/// which put the same path three times into one message.
func reason(_ error: any Error, about item: String) -> String { withoutItem(reason(error), item) }

func withoutItem(_ text: String, _ item: String) -> String {
    let prefix = item + ": "
    var text = Substring(text)
    while text.hasPrefix(prefix) && text.count > prefix.count { text = text.dropFirst(prefix.count) }
    return String(text)
}

/// The user-facing reason of an error: its description, not the type dump; a Foundation file
/// error in plain words with its file, never `Error Domain=NSCocoaErrorDomain ...`.
func reason(_ error: any Error) -> String {
    if let text = SystemErrorText.fileError(error) { return text }
    if let error = error as? any LocalizedError, let text = error.errorDescription { return text }
    return String(describing: error)
}
