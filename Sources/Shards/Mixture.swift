/// How much of one dataset goes into each epoch of a mixture.
public enum MixWeight: Equatable, Sendable {
    /// A share of the epoch (shares are normalized over the datasets that use them).
    case proportion(Double)
    /// A multiple of the dataset's own size: 2 = every sample twice, 0.5 = half of them.
    case repeatFactor(Double)
}

/// Several datasets drawn together into one epoch, in fixed amounts, shuffled together.
///
/// Each epoch takes `round(weight)` whole copies of a dataset's shards plus, for the fraction, the
/// first samples of its shards in an order drawn from (seed, epoch, dataset), so every epoch holds
/// exactly the computed count of each dataset, and over epochs the fractional part rotates through
/// all its samples. The combined spans then go through the same `EpochOrder` as one dataset.
public struct Mixture: Sendable {
    public struct Source: Sendable {
        public var spans: [SampleSpan]
        public var weight: MixWeight
        public var sampleCount: Int { spans.reduce(0) { $0 + $1.count } }

        public init(spans: [SampleSpan], weight: MixWeight) {
            self.spans = spans
            self.weight = weight
        }
    }

    public let sources: [Source]
    /// Samples each source contributes to every epoch.
    public let counts: [Int]

    /// `epochSize` is the total the proportions share (default: all samples of all sources).
    public init(_ sources: [Source], epochSize: Int? = nil) {
        self.sources = sources
        let sizes = sources.map(\.sampleCount)
        var counts = Array(repeating: 0, count: sources.count)
        var repeated = 0
        var shareTotal = 0.0
        for (i, source) in sources.enumerated() {
            switch source.weight {
            case .repeatFactor(let factor):
                counts[i] = Int((factor * Double(sizes[i])).rounded())
                repeated += counts[i]
            case .proportion(let share):
                shareTotal += max(0, share)
            }
        }
        let forShares = max(0, (epochSize ?? sizes.reduce(0, +)) - repeated)
        for (i, source) in sources.enumerated() {
            if case .proportion(let share) = source.weight, shareTotal > 0 {
                counts[i] = Int((max(0, share) / shareTotal * Double(forShares)).rounded())
            }
        }
        for i in counts.indices where sizes[i] == 0 { counts[i] = 0 }
        self.counts = counts
    }

    /// The spans of `epoch`, each tagged with its source's index.
    public func spans(epoch: Int, seed: UInt64) -> [SampleSpan] {
        var result: [SampleSpan] = []
        for (i, source) in sources.enumerated() where counts[i] > 0 {
            let size = source.sampleCount
            let tagged = source.spans.filter { $0.count > 0 }.map { SampleSpan(source: i, start: $0.start, count: $0.count) }
            for _ in 0..<counts[i] / size { result += tagged }
            var rest = counts[i] % size
            guard rest > 0 else { continue }
            var rotation = tagged
            var rng = SplitMix64(seed: Keyed.key(seed, UInt64(epoch), 0x4D49_5800 | UInt64(i)))
            rng.shuffle(&rotation)
            for var span in rotation where rest > 0 {
                span.count = min(span.count, rest)
                rest -= span.count
                result.append(span)
            }
        }
        return result
    }

    /// This rank's share of the mixed epoch `state` is in, from `state.position` on.
    public func plan(
        _ state: ResumeState, options: ShuffleOptions = ShuffleOptions(), rank: Int = 0, worldSize: Int = 1,
        remainder: Remainder = .pad
    ) -> RankPlan {
        RankPlan(spans: spans(epoch: state.epoch, seed: state.seed), state: state, options: options,
                 rank: rank, worldSize: worldSize, remainder: remainder)
    }
}
