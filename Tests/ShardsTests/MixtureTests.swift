import Testing
@testable import Shards

/// Weighted mixing of datasets: exact per-epoch counts, good interleaving, determinism.
struct MixtureTests {
    static func shards(_ total: Int, size: Int) -> [SampleSpan] {
        stride(from: 0, to: total, by: size).map { SampleSpan(start: $0, count: min(size, total - $0)) }
    }

    @Test func proportionsGiveExactCountsAndInterleaveWithinTolerance() {
        let mixture = Mixture([
            .init(spans: Self.shards(5_000, size: 100), weight: .proportion(0.7)),
            .init(spans: Self.shards(1_000, size: 100), weight: .proportion(0.2)),
            .init(spans: Self.shards(300, size: 100), weight: .proportion(0.1)),
        ], epochSize: 10_000)
        #expect(mixture.counts == [7_000, 2_000, 1_000])
        let plan = mixture.plan(ResumeState(epoch: 0, seed: 3, worldSize: 1), options: ShuffleOptions(blockSize: 2_048))
        var counts = [0, 0, 0]
        for j in 0..<plan.count { counts[plan[j].source] += 1 }
        #expect(counts == [7_000, 2_000, 1_000])
        // Any 2,000 consecutive samples hold each source near its share.
        for window in stride(from: 0, to: 10_000, by: 2_000) {
            var inWindow = [0.0, 0.0, 0.0]
            for j in window..<window + 2_000 { inWindow[plan[j].source] += 1 }
            let shares = inWindow.map { $0 / 2_000 }
            #expect(abs(shares[0] - 0.7) < 0.06 && abs(shares[1] - 0.2) < 0.06 && abs(shares[2] - 0.1) < 0.06,
                    "window at \(window): \(shares)")
        }
    }

    @Test func repeatFactorsUpsampleAndDownsample() {
        let mixture = Mixture([
            .init(spans: Self.shards(400, size: 64), weight: .repeatFactor(2.5)),
            .init(spans: Self.shards(1_000, size: 64), weight: .repeatFactor(0.3)),
        ])
        #expect(mixture.counts == [1_000, 300])
        let order = EpochOrder(spans: mixture.spans(epoch: 0, seed: 5), epoch: 0, options: ShuffleOptions(seed: 5))
        var seen: [[Int: Int]] = [[:], [:]]
        for p in 0..<order.count { seen[order[p].source][order[p].sample, default: 0] += 1 }
        #expect(seen[0].count == 400 && seen[0].values.allSatisfy { $0 == 2 || $0 == 3 })
        #expect(seen[1].count == 300 && seen[1].values.allSatisfy { $0 == 1 })
        // The downsampled part rotates: another epoch takes other samples.
        let next = mixture.spans(epoch: 1, seed: 5).filter { $0.source == 1 }
        #expect(next != mixture.spans(epoch: 0, seed: 5).filter { $0.source == 1 })
        #expect(mixture.spans(epoch: 1, seed: 5) == mixture.spans(epoch: 1, seed: 5))
    }
}
