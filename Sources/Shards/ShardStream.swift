/// Reads one worker's share of a rank's plan in order, decoding each sample. A sample whose shard
/// is damaged is skipped, not fatal: the shard's error is recorded once in `skipped` and the stream
/// goes on with the other shards.
public struct ShardStream: Sequence, IteratorProtocol {
    /// The datasets the plan's `source` numbers refer to (one, or those of a `Mixture`).
    public let datasets: [ShardDataset]
    public let plan: RankPlan
    private var indices: StrideTo<Int>.Iterator
    /// How many of this worker's positions were consumed (delivered or skipped).
    public private(set) var consumed = 0
    /// One error per damaged shard met so far, with its file name.
    public private(set) var skipped: [ShardError] = []

    public init(datasets: [ShardDataset], plan: RankPlan, worker: Int = 0, workers: Int = 1) {
        self.datasets = datasets
        self.plan = plan
        self.indices = plan.indices(worker: worker, of: workers).makeIterator()
    }

    /// A sample with where it came from: its rank-local index `j`, dataset and sample number.
    public struct Item: Sendable {
        public var index: Int
        public var source: Int
        public var sample: Int
        public var value: ShardSample
    }

    public mutating func next() -> Item? {
        while let j = indices.next() {
            consumed += 1
            let (source, sample) = plan[j]
            do {
                return Item(index: j, source: source, sample: sample, value: try datasets[source].sample(sample))
            } catch {
                if !skipped.contains(error) { skipped.append(error) }
            }
        }
        return nil
    }
}
