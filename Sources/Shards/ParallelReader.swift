import Foundation

/// Decodes a rank's share of an epoch on `workers` threads and hands the samples back in the
/// rank's order: worker `w` decodes indices `w, w + workers, ...` into its own bounded queue and
/// `next()` takes from the workers in turn, so the order never depends on the worker count.
/// Threads start on creation; `cancel()` (or the last reference going away) stops them.
public final class ParallelReader: @unchecked Sendable {
    /// One position of the rank's order: a sample, or the error of its damaged shard.
    public enum Result: Sendable {
        case sample(source: Int, index: Int, value: ShardSample)
        /// The sample at `index` of dataset `source` could not be read.
        case failed(source: Int, index: Int, ShardError)
    }

    private let queues: [BoundedQueue<Result>]
    private let count: Int
    private var taken = 0
    private let finished = DispatchGroup()

    /// `perWorker` bounds each worker's queue (samples decoded ahead of the consumer).
    public init(datasets: [ShardDataset], plan: RankPlan, workers: Int, perWorker: Int = 64) {
        precondition(workers >= 1, "at least one worker")
        count = plan.count
        Self.scheduleReadAhead(datasets, plan)
        queues = (0..<workers).map { _ in BoundedQueue(capacity: max(1, perWorker)) }
        for (worker, queue) in queues.enumerated() {
            finished.enter()
            let thread = Thread { [finished] in
                defer { finished.leave() }
                for j in plan.indices(worker: worker, of: workers) {
                    let (source, index) = plan[j]
                    let result: Result
                    do throws(ShardError) {
                        result = .sample(source: source, index: index, value: try datasets[source].sample(index))
                    } catch {
                        result = .failed(source: source, index: index, error)
                    }
                    guard queue.push(result) else { return }
                }
            }
            thread.name = "shard-reader-\(worker)"
            thread.start()
        }
    }

    /// Tells each remote dataset the order this rank will first open its shards in.
    private static func scheduleReadAhead(_ datasets: [ShardDataset], _ plan: RankPlan) {
        let remote = Set(datasets.indices.filter { datasets[$0].remote != nil })
        guard !remote.isEmpty else { return }
        var orders = [[Int]](repeating: [], count: datasets.count)
        var seen = datasets.map { Array(repeating: false, count: $0.index.shards.count) }
        var unseen = remote.reduce(0) { $0 + datasets[$1].index.shards.count }
        for j in 0..<plan.count where unseen > 0 {
            let (source, index) = plan[j]
            guard remote.contains(source) else { continue }
            let shard = datasets[source].locate(index).shard
            if !seen[source][shard] {
                seen[source][shard] = true
                orders[source].append(shard)
                unseen -= 1
            }
        }
        for source in remote { datasets[source].scheduleReadAhead(orders[source]) }
    }

    /// The next position's result in rank order, or nil after the last one.
    public func next() -> Result? {
        guard taken < count else { return nil }
        defer { taken += 1 }
        return queues[taken % queues.count].pop()
    }

    /// Stops the workers and waits for them to exit.
    public func cancel() {
        for queue in queues { queue.close() }
        finished.wait()
    }

    deinit { cancel() }
}

/// A fixed-capacity FIFO between one producer thread and one consumer: `push` blocks while full,
/// `pop` while empty; `close` wakes both and makes `push` refuse.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private let capacity: Int
    private var closed = false

    init(capacity: Int) { self.capacity = capacity }

    /// Adds `item`, waiting for room; false once the queue is closed.
    func push(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !closed { condition.wait() }
        guard !closed else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The oldest item, waiting for one; nil once closed and empty.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
