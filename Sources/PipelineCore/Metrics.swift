import Foundation
import Synchronization

/// Items that know their size in bytes, so stages can report byte throughput.
public protocol ByteCounted {
    var byteCount: Int { get }
}

/// Live counters of one stage: counts updated by its workers without locks, worker time in a
/// ledger behind a lock taken once per chunk or wait.
public final class StageMetrics: Sendable {
    public let name: String
    public let kind: String
    public let workers: Int
    let itemsIn = Atomic<Int>(0)
    let itemsOut = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let time = WorkerTime()
    /// Fill of the queue this stage reads from, in chunks (nil for sources).
    let inputQueue: (@Sendable () -> (fill: Int, capacity: Int))?

    init(name: String, kind: String, workers: Int,
         inputQueue: (@Sendable () -> (fill: Int, capacity: Int))?) {
        self.name = name
        self.kind = kind
        self.workers = workers
        self.inputQueue = inputQueue
    }

    /// A consistent-enough copy of the counters for display and JSON.
    public func snapshot() -> StageSnapshot {
        let queue = inputQueue?()
        let seconds = time.seconds()
        return StageSnapshot(
            name: name, kind: kind, workers: workers,
            itemsIn: itemsIn.load(ordering: .relaxed), itemsOut: itemsOut.load(ordering: .relaxed),
            bytesOut: bytesOut.load(ordering: .relaxed), errors: errors.load(ordering: .relaxed),
            busySeconds: seconds.busy, waitingInputSeconds: seconds.waitingInput,
            blockedOutputSeconds: seconds.blockedOutput,
            inputQueueFill: queue?.fill, inputQueueCapacity: queue?.capacity)
    }

    func add(_ counter: borrowing Atomic<Int>, _ value: Int) {
        counter.wrappingAdd(value, ordering: .relaxed)
    }

    /// Counts a chunk as this stage's output and hands it downstream, timing any block.
    /// Returns whether it was sent (false once the run is cancelled).
    func send<T>(_ chunk: [T], to channel: Channel<T>) -> Bool {
        add(itemsOut, chunk.count)
        if T.self is any ByteCounted.Type {
            var bytes = 0
            for item in chunk { bytes &+= (item as! any ByteCounted).byteCount }
            add(bytesOut, bytes)
        }
        let start = time.begin(.blockedOutput)
        let sent = channel.send(chunk)
        time.end(.blockedOutput, startedAt: start)
        return sent
    }
}

/// Where a stage's worker time goes, counted while it goes and not only once an activity ends.
/// Counted at the end, a chunk of slow items (or a long wait for one) landed whole in the progress
/// interval it ended in: with 64 items of seconds each, one half-second interval read busy 387%
/// and the ones before it 0%. Under way, each activity adds its time so far to every snapshot, so
/// the busy, wait-in and blocked-out shares of an interval add up to its worker time.
final class WorkerTime: Sendable {
    enum Activity: Int {
        case busy, waitingInput, blockedOutput
    }

    private struct Ledger {
        /// Nanoseconds of the activities that have ended.
        var ended = [0, 0, 0]
        /// Activities under way and the sum of their start times: at `now` they have run
        /// `running * now - starts` nanoseconds.
        var running = [0, 0, 0]
        var starts = [0, 0, 0]
    }

    private let ledger = Mutex(Ledger())

    /// Marks the start of `activity`; returns its start time for `end`.
    @discardableResult
    func begin(_ activity: Activity, at now: Int = monotonicNanos()) -> Int {
        ledger.withLock {
            $0.running[activity.rawValue] += 1
            $0.starts[activity.rawValue] &+= now
        }
        return now
    }

    func end(_ activity: Activity, startedAt start: Int, at now: Int = monotonicNanos()) {
        ledger.withLock {
            $0.running[activity.rawValue] -= 1
            $0.starts[activity.rawValue] &-= start
            $0.ended[activity.rawValue] &+= now &- start
        }
    }

    /// Seconds of each activity up to `now`, those under way included.
    func seconds(at now: Int = monotonicNanos()) -> (busy: Double, waitingInput: Double, blockedOutput: Double) {
        let nanos = ledger.withLock { ledger in
            (0..<3).map { ledger.ended[$0] &+ ledger.running[$0] &* now &- ledger.starts[$0] }
        }
        return (Double(nanos[0]) / 1e9, Double(nanos[1]) / 1e9, Double(nanos[2]) / 1e9)
    }
}

/// The counters of one stage at one moment.
public struct StageSnapshot: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var workers: Int
    public var itemsIn: Int
    public var itemsOut: Int
    public var bytesOut: Int
    public var errors: Int
    /// Time spent inside the stage's own code, summed over workers.
    public var busySeconds: Double
    /// Time spent waiting for the upstream stage, summed over workers.
    public var waitingInputSeconds: Double
    /// Time spent blocked because the downstream queue was full, summed over workers.
    public var blockedOutputSeconds: Double
    public var inputQueueFill: Int?
    public var inputQueueCapacity: Int?

    /// Share of the stage's worker time spent busy over `wall` seconds.
    public func utilisation(over wall: Double) -> Double {
        wall > 0 ? busySeconds / (wall * Double(max(workers, 1))) : 0
    }

    /// The difference of two snapshots of the same stage: what happened in between.
    public func delta(since earlier: StageSnapshot) -> StageSnapshot {
        var d = self
        d.itemsIn -= earlier.itemsIn
        d.itemsOut -= earlier.itemsOut
        d.bytesOut -= earlier.bytesOut
        d.errors -= earlier.errors
        d.busySeconds -= earlier.busySeconds
        d.waitingInputSeconds -= earlier.waitingInputSeconds
        d.blockedOutputSeconds -= earlier.blockedOutputSeconds
        return d
    }

    /// The same stage on several ranks as one: counters, workers and their time summed.
    func adding(_ other: StageSnapshot) -> StageSnapshot {
        var sum = self
        sum.workers &+= other.workers
        sum.itemsIn &+= other.itemsIn
        sum.itemsOut &+= other.itemsOut
        sum.bytesOut &+= other.bytesOut
        sum.errors &+= other.errors
        sum.busySeconds += other.busySeconds
        sum.waitingInputSeconds += other.waitingInputSeconds
        sum.blockedOutputSeconds += other.blockedOutputSeconds
        if let fill = other.inputQueueFill, let capacity = other.inputQueueCapacity {
            sum.inputQueueFill = (sum.inputQueueFill ?? 0) &+ fill
            sum.inputQueueCapacity = (sum.inputQueueCapacity ?? 0) &+ capacity
        }
        return sum
    }
}

/// All stages' counters at one moment, in pipeline order (source first, sink last).
public struct PipelineSnapshot: Codable, Sendable {
    public var pipeline: String
    public var elapsedSeconds: Double
    public var stages: [StageSnapshot]

    /// The stage that limits throughput: the one whose workers were busiest over `wall` seconds.
    public func bottleneck(over wall: Double) -> StageSnapshot? {
        stages.max { $0.utilisation(over: wall) < $1.utilisation(over: wall) }
    }

    /// Several ranks' snapshots of one pipeline as the job's: stage by stage summed, the longest
    /// elapsed time; nil for none.
    public static func combined(_ ranks: [PipelineSnapshot]) -> PipelineSnapshot? {
        guard var job = ranks.first else { return nil }
        for rank in ranks.dropFirst() where rank.stages.count == job.stages.count {
            job.elapsedSeconds = max(job.elapsedSeconds, rank.elapsedSeconds)
            job.stages = zip(job.stages, rank.stages).map { $0.adding($1) }
        }
        return job
    }

    /// Counters for the interval since `earlier`.
    public func delta(since earlier: PipelineSnapshot) -> PipelineSnapshot {
        PipelineSnapshot(
            pipeline: pipeline, elapsedSeconds: elapsedSeconds - earlier.elapsedSeconds,
            stages: zip(stages, earlier.stages).map { $0.delta(since: $1) })
    }
}

/// Monotonic nanoseconds, for busy/wait accounting.
@inline(__always)
func monotonicNanos() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec &* 1_000_000_000 &+ ts.tv_nsec
}

/// Monotonic nanoseconds at a few milliseconds' resolution, several times cheaper than
/// `monotonicNanos`: enough for "flush a chunk after 50 ms".
@inline(__always)
func coarseNanos() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return ts.tv_sec &* 1_000_000_000 &+ ts.tv_nsec
}
