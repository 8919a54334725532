import Foundation
import SystemErrors
import Synchronization

/// A pipeline: a source, stages and a sink on engine-owned threads, joined by bounded queues.
///
/// ```swift
/// let report = try Pipeline(name: "squares")
///     .source("numbers", SequenceSource(0..<1_000))
///     .map("square", workers: 2) { $0 * $0 }
///     .batch("batch", size: 100)
///     .forEach("print") { print($0.count) }
///     .run()
/// ```
/// A pipeline runs once: build a new one for another run.
public final class Pipeline: @unchecked Sendable {
    public let name: String
    let context: RunContext
    fileprivate var stages: [StageMetrics] = []
    fileprivate var starters: [() -> Void] = []
    fileprivate var watched: [any Watched] = []
    private let started = Atomic<Bool>(false)

    public init(name: String, options: PipelineOptions = PipelineOptions()) {
        self.name = name
        self.context = RunContext(options: options)
    }

    public var options: PipelineOptions { context.options }

    /// Starts the pipeline with `source` as its first stage.
    public func source<S: Source>(_ name: String, _ source: S) -> PipelineBuilder<S.Output> {
        let output = makeChannel(S.Output.self)
        let metrics = StageMetrics(name: name, kind: "source", workers: 1, inputQueue: nil)
        stages.append(metrics)
        let context = self.context
        let owned = Owned(source)
        starters.append {
            context.spawn(name) {
                let emitter = Emitter(context: context, metrics: metrics, output: output)
                do {
                    try owned.value.run(emitter)
                    try emitter.flush()
                    context.sourceExhausted()
                } catch is PipelineStopped {
                    if !context.hasFailed { try? emitter.flush() }
                } catch {
                    context.fail(.stageFailed(stage: name, reason: reason(error), failure: Failure(of: error)))
                }
                emitter.finish()
                output.producerFinished()
                context.workerDone()
            }
        }
        return PipelineBuilder(pipeline: self, tail: output)
    }

    func makeChannel<T>(_: T.Type, producers: Int = 1) -> Channel<T> {
        let channel = Channel<T>(capacity: max(1, context.options.queueCapacity), producers: producers)
        context.onCancel { channel.cancel() }
        return channel
    }

    fileprivate func addWorkerStage<In, Out>(
        name: String, kind: String, workers: Int, ordered: Bool, restartable: Bool,
        input: Channel<In>, output: Channel<Out>?,
        process: @escaping @Sendable (In, inout [Out]) throws -> Void,
        finish: (@Sendable (inout [Out], Completion) throws -> Void)?
    ) {
        precondition(workers > 0, "a stage needs at least one worker")
        let metrics = StageMetrics(
            name: name, kind: kind, workers: workers,
            inputQueue: { (input.fill, input.capacityInChunks) })
        stages.append(metrics)
        let node = WorkerNode(
            metrics: metrics, context: context, input: input, output: output, ordered: ordered,
            restartable: restartable, process: process, finish: finish)
        watched.append(node)
        starters.append { node.start() }
    }

    /// Starts every stage and returns a handle to watch, stop or wait for the run.
    public func start() -> PipelineRun {
        precondition(!started.exchange(true, ordering: .relaxed), "a pipeline runs once")
        let run = PipelineRun(pipeline: self)
        starters.forEach { $0() }
        if let timeout = context.options.itemTimeout { run.startWatchdog(timeout: timeout) }
        return run
    }

    /// Runs to the end. Throws the first error under `fail`, or when a stage itself broke.
    @discardableResult
    public func run() throws -> PipelineReport {
        let report = start().wait()
        if let failure = report.failure { throw failure }
        return report
    }

    /// The stages' counters, source first.
    public func snapshot(elapsed: Double) -> PipelineSnapshot {
        PipelineSnapshot(pipeline: name, elapsedSeconds: elapsed, stages: stages.map { $0.snapshot() })
    }
}

/// The open end of a pipeline under construction, whose items are `Output`.
public struct PipelineBuilder<Output: Sendable> {
    let pipeline: Pipeline
    let tail: Channel<Output>

    /// Applies `transform` to every item on `workers` threads; `ordered` keeps input order.
    /// A stateless function, so a hung call can be skipped and another worker takes over.
    public func map<T: Sendable>(
        _ name: String, workers: Int = 1, ordered: Bool = true,
        _ transform: @escaping @Sendable (Output) throws -> T
    ) -> PipelineBuilder<T> {
        addStage(name, workers: workers, ordered: ordered) { item, out in out.append(try transform(item)) }
    }

    /// Like `map`, but each item becomes zero or more items.
    public func flatMap<T: Sendable>(
        _ name: String, workers: Int = 1, ordered: Bool = true,
        _ transform: @escaping @Sendable (Output) throws -> [T]
    ) -> PipelineBuilder<T> {
        addStage(name, workers: workers, ordered: ordered) { item, out in out.append(contentsOf: try transform(item)) }
    }

    private func addStage<T: Sendable>(
        _ name: String, workers: Int, ordered: Bool, _ process: @escaping @Sendable (Output, inout [T]) throws -> Void
    ) -> PipelineBuilder<T> {
        let output = pipeline.makeChannel(T.self)
        pipeline.addWorkerStage(
            name: name, kind: "map", workers: workers, ordered: ordered, restartable: true,
            input: tail, output: output, process: process, finish: nil)
        return PipelineBuilder<T>(pipeline: pipeline, tail: output)
    }

    /// Runs a stateful transform on one thread.
    public func transform<T: Transform>(_ name: String, _ transform: T) -> PipelineBuilder<T.Output>
    where T.Input == Output {
        let output = pipeline.makeChannel(T.Output.self)
        let owned = Owned(transform)
        pipeline.addWorkerStage(
            name: name, kind: "transform", workers: 1, ordered: true, restartable: false,
            input: tail, output: output,
            process: { item, out in try owned.value.process(item, into: &out) },
            finish: { out, completion in
                if completion != .failed { try owned.value.finish(into: &out) }
            })
        return PipelineBuilder<T.Output>(pipeline: pipeline, tail: output)
    }

    /// Groups items into arrays of `size`.
    public func batch(_ name: String, size: Int, dropLast: Bool = false) -> PipelineBuilder<[Output]> {
        transform(name, Batcher<Output>(size: size, dropLast: dropLast))
    }

    /// Ends the pipeline in `sink`.
    public func sink<S: Sink>(_ name: String, _ sink: S) -> Pipeline where S.Input == Output {
        let owned = Owned(sink)
        pipeline.addWorkerStage(
            name: name, kind: "sink", workers: 1, ordered: true, restartable: false,
            input: tail, output: Channel<Never>?.none,
            process: { item, _ in try owned.value.consume(item) },
            finish: { _, completion in try owned.value.finish(completion) })
        return pipeline
    }

    /// Ends the pipeline in a closure called for every item, on one thread.
    public func forEach(_ name: String, _ body: @escaping @Sendable (Output) throws -> Void) -> Pipeline {
        sink(name, ClosureSink(body: body))
    }
}

/// A sink made of a closure.
struct ClosureSink<Input: Sendable>: Sink {
    let body: @Sendable (Input) throws -> Void
    func consume(_ item: Input) throws { try body(item) }
}

/// A running pipeline: watch it, stop it, wait for it.
public final class PipelineRun: @unchecked Sendable {
    public let pipeline: Pipeline
    private let startedAt = monotonicNanos()
    private let done = Atomic<Bool>(false)

    init(pipeline: Pipeline) { self.pipeline = pipeline }

    /// Seconds since start.
    public var elapsed: Double { Double(monotonicNanos() &- startedAt) / 1e9 }

    /// Live counters of every stage.
    public func snapshot() -> PipelineSnapshot { pipeline.snapshot(elapsed: elapsed) }

    /// Stops cleanly: the source ends at its next item, queued items drain, sinks finish.
    public func stop() { pipeline.context.requestStop() }

    /// Ends the run early as finished, because the sink needs no more items (a trainer that
    /// reached its steps while the source had epochs left): the source ends at its next item.
    public func endEarly() { pipeline.context.requestEnd() }

    /// Stops at once: queues are emptied and sinks finish with `.failed`.
    public func abort() {
        pipeline.context.fail(.aborted)
    }

    /// Blocks until every stage is done (hung workers the watchdog gave up on excepted).
    public func wait() -> PipelineReport {
        pipeline.context.waitForWorkers()
        done.store(true, ordering: .relaxed)
        pipeline.context.quarantine.close()
        let context = pipeline.context
        let completion = context.completion
        return PipelineReport(
            snapshot: snapshot(), completion: completion, failure: context.error,
            quarantined: context.quarantine.records)
    }

    func startWatchdog(timeout: Duration) {
        // Saturating: a limit beyond Int.max nanoseconds (292 years) never fires rather than trapping.
        let parts = timeout.components
        let (whole, overflow) = Int(parts.seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, carry) = whole.addingReportingOverflow(Int(parts.attoseconds / 1_000_000_000))
        let limit = overflow || carry ? Int.max : max(sum, 1)
        let interval = min(max(limit / 4, 1_000_000), 100_000_000)
        let watched = pipeline.watched
        let thread = Thread { [self] in
            while !done.load(ordering: .relaxed) {
                usleep(UInt32(interval / 1000))
                let now = monotonicNanos()
                for node in watched { node.checkTimeouts(now: now, limitNanos: limit) }
            }
        }
        thread.name = "\(pipeline.name).watchdog"
        thread.start()
    }
}

/// How a run ended and what it did.
public struct PipelineReport: Sendable {
    public var snapshot: PipelineSnapshot
    public var completion: Completion
    /// The error that stopped the run, if any.
    public var failure: PipelineError?
    /// Items skipped under the `skip` policy, with their reasons.
    public var quarantined: [QuarantineRecord]
}
