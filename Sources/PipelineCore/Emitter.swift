import Foundation
import SystemErrors

/// Hands a source's items downstream in chunks, blocking when the next queue is full.
public final class Emitter<Output: Sendable> {
    private let context: RunContext
    private let metrics: StageMetrics
    private let output: Channel<Output>
    private let chunkSize: Int
    private let maxDelayNanos: Int
    private var buffer: [Output] = []
    private var bufferStartedAt = 0
    /// When the source's current busy stretch began: it is busy from the start to `finish`, but for
    /// the time blocked on the downstream queue.
    private var busySince: Int

    init(context: RunContext, metrics: StageMetrics, output: Channel<Output>) {
        self.context = context
        self.metrics = metrics
        self.output = output
        self.chunkSize = max(1, context.options.chunkSize)
        let delay = context.options.maxChunkDelay.components
        self.maxDelayNanos = Int(delay.seconds) * 1_000_000_000 + Int(delay.attoseconds / 1_000_000_000)
        buffer.reserveCapacity(chunkSize)
        busySince = metrics.time.begin(.busy)
    }

    /// Passes one item on. Throws `PipelineStopped` once the run is stopping or has failed.
    public func emit(_ item: Output) throws {
        if context.isStopping { throw PipelineStopped(path: metrics.name) }
        if buffer.isEmpty { bufferStartedAt = coarseNanos() }
        buffer.append(item)
        if buffer.count >= chunkSize || coarseNanos() &- bufferStartedAt > maxDelayNanos {
            try flush()
        }
    }

    /// Reports an item the source could not produce (an unreadable file). Under `skip` it is
    /// quarantined and the source goes on; under `fail` this throws and the run stops, failed
    /// with `failure` (I/O for a file that cannot be read, data for one that is bad).
    public func skip(item: String, reason: String, failure: Failure = .data) throws {
        context.itemFailed(stage: metrics, item: item,
                           error: .itemFailed(stage: metrics.name, item: item, reason: withoutItem(reason, item), failure: failure))
        if context.hasFailed { throw PipelineStopped(path: metrics.name) }
    }

    /// Whether the run wants sources to stop (Ctrl-C or a failure elsewhere).
    public var isStopping: Bool { context.isStopping }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        metrics.time.end(.busy, startedAt: busySince)
        let sent = metrics.send(buffer, to: output)
        busySince = metrics.time.begin(.busy)
        buffer.removeAll(keepingCapacity: true)
        if !sent { throw PipelineStopped(path: metrics.name) }
    }

    /// Ends the source's busy time, once it has returned.
    func finish() { metrics.time.end(.busy, startedAt: busySince) }
}
