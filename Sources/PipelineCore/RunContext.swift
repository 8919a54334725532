import Foundation
import Synchronization
import SystemErrors

/// Engine options shared by every stage of one pipeline.
public struct PipelineOptions: Sendable {
    /// Items per chunk handed between stages: amortises queue costs over many items.
    public var chunkSize: Int = 64
    /// Chunks each queue holds before its producer blocks.
    public var queueCapacity: Int = 4
    /// What happens when an item fails.
    public var errorPolicy: ErrorPolicy = .fail
    /// Where skipped items are recorded under `.skip` (JSONL); nil keeps them in memory only.
    public var quarantineFile: URL?
    /// Longest time one item may spend in one stage before the watchdog declares it hung.
    public var itemTimeout: Duration?
    /// A source flushes a partial chunk after this long, so slow sources still show progress.
    public var maxChunkDelay: Duration = .milliseconds(50)

    public init(chunkSize: Int = 64, queueCapacity: Int = 4, errorPolicy: ErrorPolicy = .fail,
                quarantineFile: URL? = nil, itemTimeout: Duration? = nil) {
        self.chunkSize = chunkSize
        self.queueCapacity = queueCapacity
        self.errorPolicy = errorPolicy
        self.quarantineFile = quarantineFile
        self.itemTimeout = itemTimeout
    }
}

/// Shared state of one run: the first error, stop/abort flags, the quarantine, live workers.
final class RunContext: @unchecked Sendable {
    let options: PipelineOptions
    let quarantine: Quarantine
    private let state = NSCondition()
    private var liveWorkers = 0
    private var firstError: PipelineError?
    private var cancellers: [@Sendable () -> Void] = []
    private let stopping = Atomic<Bool>(false)
    private let satisfied = Atomic<Bool>(false)
    private let exhausted = Atomic<Bool>(false)
    private let failed = Atomic<Bool>(false)

    init(options: PipelineOptions) {
        self.options = options
        self.quarantine = Quarantine(url: options.quarantineFile)
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) || failed.load(ordering: .relaxed) }
    var hasFailed: Bool { failed.load(ordering: .relaxed) }
    var error: PipelineError? { state.withLock { firstError } }

    func onCancel(_ cancel: @escaping @Sendable () -> Void) {
        state.withLock { cancellers.append(cancel) }
    }

    /// Graceful stop: sources end at their next emit and what is in flight drains.
    func requestStop() { stopping.store(true, ordering: .relaxed) }

    /// The sink has all it needs (a trainer its steps): stops as `requestStop` does, but the run
    /// still completes as finished.
    func requestEnd() {
        satisfied.store(true, ordering: .relaxed)
        stopping.store(true, ordering: .relaxed)
    }

    /// The source has emitted its last item and it went downstream: a stop that comes after this
    /// drains everything there was, so the run still finishes.
    func sourceExhausted() { exhausted.store(true, ordering: .relaxed) }

    /// How the run ends for a stage finishing now.
    var completion: Completion {
        if hasFailed { return .failed }
        let complete = satisfied.load(ordering: .relaxed) || exhausted.load(ordering: .relaxed)
        return isStopping && !complete ? .stopped : .finished
    }

    /// Records the first error and cancels every queue so all stages unwind.
    func fail(_ error: PipelineError) {
        let toCancel: [@Sendable () -> Void] = state.withLock {
            if firstError == nil { firstError = error }
            return cancellers
        }
        failed.store(true, ordering: .relaxed)
        toCancel.forEach { $0() }
    }

    /// Applies the error policy to one failed item. Returns normally when the item was skipped.
    func itemFailed(stage: StageMetrics, item: @autoclosure () -> String, error: PipelineError) {
        stage.add(stage.errors, 1)
        switch options.errorPolicy {
        case .fail:
            fail(error)
        case .skip:
            do {
                try quarantine.record(stage: stage.name, item: item(), error: error.description)
            } catch let writeError {
                let file = quarantine.url.map { " \($0.path)" } ?? ""
                fail(.stageFailed(stage: stage.name,
                                  reason: "cannot write the quarantine file\(file): \(SystemErrorText.words(writeError))", failure: .io))
            }
        }
    }

    /// Starts an engine-owned thread, counted until it returns `true`-ly done.
    /// A watchdog-abandoned worker is uncounted by `abandon()` and must not call `workerDone`.
    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        state.withLock { liveWorkers += 1 }
        let thread = Thread { body() }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }

    func workerDone() {
        state.withLock {
            liveWorkers -= 1
            state.broadcast()
        }
    }

    /// Waits until every counted worker is done.
    func waitForWorkers() {
        state.withLock {
            while liveWorkers > 0 { state.wait() }
        }
    }
}

/// Lets a value that one thread at a time uses cross into an engine thread.
final class Owned<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
