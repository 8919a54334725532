/// Where a training run is in its data: small, and enough to continue exactly, in O(1), even on
/// another number of ranks.
public struct ResumeState: Equatable, Sendable, Codable {
    public var epoch: Int
    /// Positions of the epoch's global order consumed by all ranks together: every position below
    /// this was delivered (ranks in step, each having taken `position / worldSize`).
    public var position: Int
    public var seed: UInt64
    /// The world size when the state was saved (informational: resuming may use another).
    public var worldSize: Int

    public init(epoch: Int = 0, position: Int = 0, seed: UInt64, worldSize: Int) {
        self.epoch = epoch
        self.position = position
        self.seed = seed
        self.worldSize = worldSize
    }
}

/// What to do when the epoch does not divide evenly by the world size.
public enum Remainder: Sendable {
    /// Repeat the first samples of the epoch so every rank gets `ceil(n / worldSize)`.
    case pad
    /// Leave out the last `n mod worldSize` samples so every rank gets `floor(n / worldSize)`.
    case drop
}

/// One rank's share of an epoch: global positions `start + rank`, `start + rank + worldSize`, ...,
/// so that all ranks together see every position once, and each rank the same number.
public struct RankPlan: Sendable {
    public let order: EpochOrder
    public let rank: Int
    public let worldSize: Int
    /// First global position of this plan (the resumed position, or 0).
    public let start: Int
    /// Samples this rank yields.
    public let count: Int

    /// The plan for `rank` of `worldSize`, continuing from global position `start`.
    public init(order: EpochOrder, rank: Int, worldSize: Int, remainder: Remainder = .pad, start: Int = 0) {
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize, "rank \(rank) outside world size \(worldSize)")
        self.order = order
        self.rank = rank
        self.worldSize = worldSize
        self.start = start
        let total: Int
        switch remainder {
        case .pad: total = order.count == 0 ? 0 : (order.count + worldSize - 1) / worldSize * worldSize
        case .drop: total = order.count / worldSize * worldSize
        }
        let remaining = max(0, total - start)
        count = remaining / worldSize + (rank < remaining % worldSize ? 1 : 0)
    }

    /// The global position of this rank's `j`-th sample.
    public func position(_ j: Int) -> Int { start + rank + j * worldSize }

    /// This rank's `j`-th sample; padding positions past the epoch wrap to its beginning.
    public subscript(j: Int) -> (source: Int, sample: Int) {
        order[position(j) % order.count]
    }

    /// The indices `j` that worker `worker` of `workers` produces: every `workers`-th, so that
    /// merging workers round-robin gives back the rank's order whatever their number.
    public func indices(worker: Int, of workers: Int) -> StrideTo<Int> {
        precondition(workers >= 1 && worker >= 0 && worker < workers, "worker \(worker) outside \(workers)")
        return stride(from: worker, to: count, by: workers)
    }

    /// The state to save after this rank (and, in step, every rank) delivered `delivered` samples.
    public func state(afterDelivering delivered: Int) -> ResumeState {
        ResumeState(epoch: order.epoch, position: start + delivered * worldSize, seed: order.options.seed, worldSize: worldSize)
    }
}

extension ShardDataset {
    /// The dataset's shards as shuffle units.
    public var spans: [SampleSpan] {
        index.shards.indices.map { SampleSpan(start: sampleStarts[$0], count: index.shards[$0].samples) }
    }

    /// This rank's share of the epoch `state` is in, from `state.position` on. The order is drawn
    /// with `state.seed`; a fresh run starts from `ResumeState(seed: s, worldSize: n)`.
    public func plan(
        _ state: ResumeState, options: ShuffleOptions = ShuffleOptions(), rank: Int = 0, worldSize: Int = 1,
        remainder: Remainder = .pad
    ) -> RankPlan {
        RankPlan(spans: spans, state: state, options: options, rank: rank, worldSize: worldSize, remainder: remainder)
    }
}

extension RankPlan {
    /// The plan over `spans` for the epoch and position of `state`, drawn with `state.seed`.
    public init(
        spans: [SampleSpan], state: ResumeState, options: ShuffleOptions, rank: Int, worldSize: Int, remainder: Remainder
    ) {
        var seeded = options
        seeded.seed = state.seed
        let order = EpochOrder(spans: spans, epoch: state.epoch, options: seeded)
        self.init(order: order, rank: rank, worldSize: worldSize, remainder: remainder, start: state.position)
    }
}
