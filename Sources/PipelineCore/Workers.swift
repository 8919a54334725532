import Foundation
import SystemErrors

/// One input chunk worked through item by item. If its worker hangs on an item, the watchdog
/// hands the rest of the chunk to a new worker; the owner generation tells the stuck one to
/// discard its result when (if ever) it returns.
final class ItemJob<Input: Sendable, Output: Sendable>: @unchecked Sendable {
    let lock = NSLock()
    let sequence: Int
    let chunk: [Input]
    var next = 0
    var outputs: [Output] = []
    /// Monotonic start of the item now running, 0 while between items.
    var startedAt = 0
    var owner: Int

    init(sequence: Int, chunk: [Input], owner: Int) {
        self.sequence = sequence
        self.chunk = chunk
        self.owner = owner
        outputs.reserveCapacity(chunk.count)
    }
}

/// Puts the chunks of a parallel stage back in input order, holding at most `window` ahead.
final class Reorderer<Output: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var next = 0
    private var pending: [Int: [Output]] = [:]
    private var cancelled = false
    private let window: Int

    init(window: Int) { self.window = window }

    /// Stores chunk `sequence`; sends every chunk that is now next in order. Blocks while the
    /// chunk is too far ahead, so one slow item cannot make the buffer grow without bound.
    func deliver(_ sequence: Int, _ outputs: [Output], send: ([Output]) -> Bool) {
        condition.lock()
        defer { condition.unlock() }
        while sequence >= next + window && !cancelled { condition.wait() }
        if cancelled { return }
        pending[sequence] = outputs
        while let ready = pending.removeValue(forKey: next) {
            next += 1
            if !ready.isEmpty && !send(ready) { break }
        }
        condition.broadcast()
    }

    func cancel() {
        condition.withLock {
            cancelled = true
            pending.removeAll()
            condition.broadcast()
        }
    }
}

/// What a stage needs watched for hung items.
protocol Watched: AnyObject, Sendable {
    func checkTimeouts(now: Int, limitNanos: Int)
}

/// Runs per-item stage code on `workers` engine threads: map, flat-map, transform and sink
/// stages are all this node with different settings.
final class WorkerNode<Input: Sendable, Output: Sendable>: Watched, @unchecked Sendable {
    typealias Process = @Sendable (Input, inout [Output]) throws -> Void

    let metrics: StageMetrics
    private let context: RunContext
    private let input: Channel<Input>
    private let output: Channel<Output>?
    private let process: Process
    private let finishStage: (@Sendable (inout [Output], Completion) throws -> Void)?
    /// Stateless stages can get a replacement worker when one hangs; stateful ones cannot.
    private let restartable: Bool
    private let reorderer: Reorderer<Output>?
    private let watchdogged: Bool

    /// Guards receive-and-number, so chunk sequence numbers follow input order.
    private let receiveLock = NSLock()
    private var nextSequence = 0
    /// Guards the bookkeeping below; never held while blocking.
    private let lock = NSLock()
    private var nextGeneration = 0
    private var activeJobs: [Int: ItemJob<Input, Output>] = [:]
    private var runningWorkers = 0

    init(metrics: StageMetrics, context: RunContext, input: Channel<Input>, output: Channel<Output>?,
         ordered: Bool, restartable: Bool, process: @escaping Process,
         finish: (@Sendable (inout [Output], Completion) throws -> Void)?) {
        self.metrics = metrics
        self.context = context
        self.input = input
        self.output = output
        self.process = process
        self.finishStage = finish
        self.restartable = restartable
        self.watchdogged = context.options.itemTimeout != nil
        self.reorderer = ordered && metrics.workers > 1 ? Reorderer(window: 2 * metrics.workers) : nil
    }

    func start() {
        if let reorderer { context.onCancel { reorderer.cancel() } }
        lock.withLock { runningWorkers = metrics.workers }
        for index in 0..<metrics.workers {
            let generation = newGeneration()
            context.spawn("\(metrics.name)#\(index)") { self.workerLoop(generation: generation, resuming: nil) }
        }
    }

    private func newGeneration() -> Int {
        lock.withLock {
            nextGeneration += 1
            return nextGeneration
        }
    }

    /// A worker: optionally finishes a job taken over from a hung worker, then pulls chunks.
    private func workerLoop(generation: Int, resuming job: ItemJob<Input, Output>?) {
        if let job {
            guard work(job, generation: generation) else { return }
            deliver(job)
        }
        while !context.hasFailed {
            let waitStart = metrics.time.begin(.waitingInput)
            let received: (Int, [Input])? = receiveLock.withLock {
                guard let chunk = input.receive() else { return nil }
                defer { nextSequence += 1 }
                return (nextSequence, chunk)
            }
            metrics.time.end(.waitingInput, startedAt: waitStart)
            guard let (sequence, chunk) = received else { break }
            metrics.add(metrics.itemsIn, chunk.count)
            let job = ItemJob<Input, Output>(sequence: sequence, chunk: chunk, owner: generation)
            lock.withLock { activeJobs[generation] = job }
            guard work(job, generation: generation) else { return }
            lock.withLock { _ = activeJobs.removeValue(forKey: generation) }
            deliver(job)
        }
        lock.withLock { _ = activeJobs.removeValue(forKey: generation) }
        finishIfLast()
        context.workerDone()
    }

    /// Runs the job's remaining items. Returns false when this worker was abandoned meanwhile.
    private func work(_ job: ItemJob<Input, Output>, generation: Int) -> Bool {
        watchdogged ? guardedWork(job, generation: generation) : fastWork(job)
    }

    /// No watchdog: nobody else touches the job, so items run without locks or per-item clocks.
    private func fastWork(_ job: ItemJob<Input, Output>) -> Bool {
        let start = metrics.time.begin(.busy)
        var outputs = job.outputs
        job.outputs = []
        let chunk = job.chunk
        var index = job.next
        while index < chunk.count {
            do {
                try process(chunk[index], &outputs)
            } catch {
                failed(chunk[index], error)
                if context.hasFailed { break }
            }
            index &+= 1
        }
        job.next = index
        job.outputs = outputs
        metrics.time.end(.busy, startedAt: start)
        return true
    }

    /// Under a watchdog: each item is stamped with its start time, and its result is kept only
    /// if this worker still owns the job when the item returns.
    private func guardedWork(_ job: ItemJob<Input, Output>, generation: Int) -> Bool {
        while true {
            job.lock.lock()
            guard job.owner == generation else { job.lock.unlock(); return false }
            let index = job.next
            guard index < job.chunk.count, !context.hasFailed else { job.lock.unlock(); return true }
            let start = metrics.time.begin(.busy)
            job.startedAt = start
            job.lock.unlock()

            var produced: [Output] = []
            var failure: (any Error)?
            do { try process(job.chunk[index], &produced) } catch { failure = error }
            // An item outliving its worker's ownership counted as busy too: its thread was.
            metrics.time.end(.busy, startedAt: start)

            job.lock.lock()
            guard job.owner == generation else { job.lock.unlock(); return false }
            job.startedAt = 0
            job.next = index + 1
            job.outputs.append(contentsOf: produced)
            job.lock.unlock()
            if let failure { failed(job.chunk[index], failure) }
        }
    }

    private func failed(_ item: Input, _ error: any Error) {
        let name = describe(item)
        context.itemFailed(stage: metrics, item: name,
                           error: .itemFailed(stage: metrics.name, item: name, reason: reason(error, about: name), failure: Failure(of: error)))
    }

    private func deliver(_ job: ItemJob<Input, Output>) {
        guard let output, !context.hasFailed else { return }
        let outputs = job.outputs
        if let reorderer {
            reorderer.deliver(job.sequence, outputs) { metrics.send($0, to: output) }
        } else if !outputs.isEmpty {
            _ = metrics.send(outputs, to: output)
        }
    }

    /// The last worker to leave runs the stage's finishing step and closes its output.
    private func finishIfLast() {
        let last = lock.withLock {
            runningWorkers -= 1
            return runningWorkers == 0
        }
        guard last else { return }
        let completion = context.completion
        if let finishStage {
            var tail: [Output] = []
            let start = metrics.time.begin(.busy)
            do {
                try finishStage(&tail, completion)
            } catch {
                context.fail(.stageFailed(stage: metrics.name, reason: reason(error), failure: Failure(of: error)))
            }
            metrics.time.end(.busy, startedAt: start)
            if let output, !tail.isEmpty, !context.hasFailed { _ = metrics.send(tail, to: output) }
        }
        output?.producerFinished()
    }

    /// Called by the watchdog: declares items running past the limit hung.
    func checkTimeouts(now: Int, limitNanos: Int) {
        let jobs = lock.withLock { Array(activeJobs) }
        for (generation, job) in jobs {
            job.lock.lock()
            guard job.owner == generation, job.startedAt > 0, now &- job.startedAt > limitNanos else {
                job.lock.unlock()
                continue
            }
            let index = job.next
            let seconds = Double(now &- job.startedAt) / 1e9
            let replacement = newGeneration()
            job.owner = replacement
            job.next = index + 1
            job.startedAt = 0
            job.lock.unlock()

            let item = describe(job.chunk[index])
            let error = PipelineError.timedOut(stage: metrics.name, item: item, seconds: seconds)
            let restart = restartable && context.options.errorPolicy == .skip
            lock.withLock {
                _ = activeJobs.removeValue(forKey: generation)
                if restart { activeJobs[replacement] = job } else { runningWorkers -= 1 }
            }
            if restart {
                context.itemFailed(stage: metrics, item: item, error: error)
                context.spawn("\(metrics.name)#r\(replacement)") {
                    self.workerLoop(generation: replacement, resuming: job)
                }
            } else {
                // A stateful stage cannot be resumed on another thread while its hung call
                // may still touch it: the run fails, naming the stage and the item.
                metrics.add(metrics.errors, 1)
                context.fail(error)
            }
            // Only now is the hung thread uncounted, so the run cannot be seen as finished
            // before its failure or its replacement is recorded.
            context.workerDone()
        }
    }
}
