import SystemErrors

/// The three kinds of code a pipeline runs. Each instance is driven by one engine thread at a
/// time, so stages may keep mutable state (open files, partial batches) without locking.

/// Produces items: lists files, reads a manifest, streams shards.
public protocol Source<Output>: SendableMetatype {
    associatedtype Output: Sendable
    /// Emits every item, then returns. `emit` blocks under backpressure and throws
    /// `PipelineStopped` once the run is stopping; let that error propagate.
    mutating func run(_ emitter: Emitter<Output>) throws
}

/// Turns each input into zero or more outputs, possibly holding state across items (batching).
public protocol Transform<Input, Output>: SendableMetatype {
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    mutating func process(_ item: Input, into output: inout [Output]) throws
    /// Called once after the last input: emit what is still held (a partial batch).
    mutating func finish(into output: inout [Output]) throws
}

extension Transform {
    public mutating func finish(into output: inout [Output]) throws {}
}

/// How a run ended, as told to sinks so they can commit or keep partial output honestly.
public enum Completion: String, Sendable, Codable {
    /// Every item went through.
    case finished
    /// A stop was requested (Ctrl-C): the source stopped early and what was in flight drained.
    case stopped
    /// The run failed or was aborted; only items before the failure reached the sink.
    case failed
}

/// Consumes items: writes shards, files, or trains a model.
public protocol Sink<Input>: SendableMetatype {
    associatedtype Input: Sendable
    mutating func consume(_ item: Input) throws
    /// Called once at the end, also after a stop or a failure, so output can be flushed atomically.
    mutating func finish(_ completion: Completion) throws
}

extension Sink {
    public mutating func finish(_ completion: Completion) throws {}
}

/// Thrown by `Emitter.emit` when the run is stopping; sources should let it propagate. One kind
/// only, so it has no `code`.
public struct PipelineStopped: CodedError {
    /// The source that was told to stop.
    public var path: String
    public var reason: String { "pipeline is stopping" }
    public var failure: Failure { .interrupted }

    public var description: String { "\(path): \(reason)" }
}

/// A closure as a source, for tests and small programs.
public struct SequenceSource<S: Sequence>: Source where S.Element: Sendable {
    public var sequence: S
    public init(_ sequence: S) { self.sequence = sequence }
    public func run(_ emitter: Emitter<S.Element>) throws {
        for item in sequence { try emitter.emit(item) }
    }
}

/// Groups items into arrays of `size`; the last batch may be short unless `dropLast`.
public struct Batcher<Item: Sendable>: Transform {
    public let size: Int
    public let dropLast: Bool
    private var pending: [Item] = []

    public init(size: Int, dropLast: Bool = false) {
        precondition(size > 0, "batch size must be positive")
        self.size = size
        self.dropLast = dropLast
        pending.reserveCapacity(size)
    }

    public mutating func process(_ item: Item, into output: inout [[Item]]) throws {
        pending.append(item)
        if pending.count == size {
            output.append(pending)
            pending.removeAll(keepingCapacity: true)
        }
    }

    public mutating func finish(into output: inout [[Item]]) throws {
        if !pending.isEmpty && !dropLast { output.append(pending) }
        pending.removeAll()
    }
}
