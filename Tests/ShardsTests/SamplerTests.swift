import Foundation
import Testing
@testable import Shards

/// Shuffling, rank/worker splitting and resume, over uneven shard sizes.
struct SamplerTests {
    /// 1,003 samples in shards of uneven sizes (including an empty one).
    static let spans: [SampleSpan] = {
        var spans: [SampleSpan] = []
        var start = 0
        for size in [100, 37, 0, 250, 1, 64, 64, 200, 287] {
            spans.append(SampleSpan(start: start, count: size))
            start += size
        }
        return spans
    }()
    static let total = 1_003
    static let options = ShuffleOptions(seed: 42, canonicalPartitions: 24, blockSize: 50)

    func order(epoch: Int = 0, _ options: ShuffleOptions = options) -> [Int] {
        let order = EpochOrder(spans: Self.spans, epoch: epoch, options: options)
        return (0..<order.count).map { order[$0].sample }
    }

    @Test func eachEpochIsAPermutationThatChangesWithEpochAndSeed() {
        let first = order(epoch: 0)
        #expect(first.sorted() == Array(0..<Self.total))
        #expect(first != Array(0..<Self.total))
        #expect(order(epoch: 0) == first, "same seed and epoch, same order")
        #expect(order(epoch: 1) != first)
        #expect(order(epoch: 0, ShuffleOptions(seed: 43, canonicalPartitions: 24, blockSize: 50)) != first)
        #expect(order(epoch: 0, ShuffleOptions(shuffle: false)) == Array(0..<Self.total))
    }

    @Test(arguments: [1, 7, 1 << 16], [1, 5, 24, 5000])
    func permutationForAnyBlockAndPartitionCount(blockSize: Int, partitions: Int) {
        let options = ShuffleOptions(seed: 7, canonicalPartitions: partitions, blockSize: blockSize)
        #expect(order(options).sorted() == Array(0..<Self.total))
    }

    /// Samples of one partition's block come from few shards: shuffling is within blocks of shards.
    @Test func readsStayWithinABlockOfShards() {
        let order = EpochOrder(spans: Self.spans, epoch: 3, options: ShuffleOptions(seed: 42, canonicalPartitions: 4, blockSize: 50))
        // Partition 0 (about 250 samples) begins with one block of 50: positions 0, 4, 8, ...
        let block = (0..<50).map { order[$0 * 4].sample }
        let shardStarts = Self.spans.map(\.start)
        let shards = Set(block.map { s in shardStarts.lastIndex { $0 <= s }! })
        #expect(shards.count <= 3, "one block of 50 consecutive samples spans at most 3 shards here")
    }

    @Test(arguments: [1, 2, 3, 8], [1, 2, 3])
    func everySampleExactlyOncePerEpochAcrossRanksAndWorkers(worldSize: Int, workers: Int) {
        let global = order()
        var seen: [Int] = []
        var perRank: [Int] = []
        for rank in 0..<worldSize {
            let plan = RankPlan(order: EpochOrder(spans: Self.spans, epoch: 0, options: Self.options),
                                rank: rank, worldSize: worldSize, remainder: .pad)
            perRank.append(plan.count)
            // Workers produce disjoint index sets that together are the rank's whole share.
            let byWorker = (0..<workers).map { w in plan.indices(worker: w, of: workers).map { plan[$0].sample } }
            #expect(byWorker.reduce(0) { $0 + $1.count } == plan.count)
            seen += byWorker.flatMap { $0 }
            // Round-robin over workers gives the rank's own order, whatever the worker count.
            let merged = (0..<plan.count).map { byWorker[$0 % workers][$0 / workers] }
            #expect(merged == (0..<plan.count).map { plan[$0].sample })
            // A rank's order is the global order at positions rank, rank + worldSize, ...
            #expect(merged == (0..<plan.count).map { global[plan.position($0) % Self.total] })
        }
        #expect(Set(perRank).count == 1, "equal counts per rank: \(perRank)")
        let padding = (worldSize - Self.total % worldSize) % worldSize
        #expect(seen.count == Self.total + padding)
        #expect(Set(seen).count == Self.total, "every sample seen")
        // Padding repeats the first positions of the global order and nothing else.
        var counts: [Int: Int] = [:]
        for s in seen { counts[s, default: 0] += 1 }
        #expect(counts.filter { $0.value > 1 }.keys.sorted() == global.prefix(padding).sorted())
    }

    @Test(arguments: [2, 3, 8])
    func dropModeGivesEachRankFloorAndNoRepeats(worldSize: Int) {
        let order = EpochOrder(spans: Self.spans, epoch: 0, options: Self.options)
        let plans = (0..<worldSize).map { RankPlan(order: order, rank: $0, worldSize: worldSize, remainder: .drop) }
        #expect(plans.allSatisfy { $0.count == Self.total / worldSize })
        let seen = plans.flatMap { p in (0..<p.count).map { p[$0].sample } }
        #expect(Set(seen).count == seen.count)
    }

    /// Resume after k samples per rank continues with exactly the rest of the global order, also
    /// when the world size changes from 2 to 3 (and from 8 to 1).
    @Test(arguments: [(2, 3, 100), (2, 2, 250), (8, 1, 40), (3, 8, 1)])
    func resumeYieldsExactlyTheRemainingOrder(before: Int, after: Int, taken: Int) {
        let global = order(epoch: 5)
        let start = ResumeState(epoch: 5, seed: 42, worldSize: before)
        let firstRun = (0..<before).map { RankPlan(spans: Self.spans, state: start, options: Self.options, rank: $0, worldSize: before, remainder: .drop) }
        let consumed = firstRun.flatMap { p in (0..<taken).map { p.position($0) } }
        let saved = firstRun[0].state(afterDelivering: taken)
        #expect(saved == ResumeState(epoch: 5, position: taken * before, seed: 42, worldSize: before))
        #expect(Set(consumed) == Set(0..<saved.position), "ranks in step consumed exactly the positions below the saved one")

        let secondRun = (0..<after).map { RankPlan(spans: Self.spans, state: saved, options: Self.options, rank: $0, worldSize: after, remainder: .drop) }
        var rest: [(position: Int, sample: Int)] = []
        for plan in secondRun {
            for j in 0..<plan.count { rest.append((plan.position(j), plan[j].sample)) }
        }
        rest.sort { $0.position < $1.position }
        let expectedEnd = Self.total / after * after
        #expect(rest.map(\.position) == Array(saved.position..<expectedEnd))
        #expect(rest.map(\.sample) == Array(global[saved.position..<expectedEnd]))
    }

    /// The state is a few numbers: resuming deep into a 20,000,000-sample epoch builds nothing per sample.
    @Test func resumeDeepIntoAHugeEpochNeedsOnlyTheState() {
        let spans = (0..<10_000).map { SampleSpan(start: $0 * 2_000, count: 2_000) }
        let state = ResumeState(epoch: 2, position: 10_000_000, seed: 9, worldSize: 8)
        let plan = RankPlan(spans: spans, state: state, options: ShuffleOptions(seed: 0), rank: 3, worldSize: 8, remainder: .pad)
        #expect(plan.count == (20_000_000 - 10_000_000) / 8)
        let fresh = EpochOrder(spans: spans, epoch: 2, options: ShuffleOptions(seed: 9))
        #expect(plan[0].sample == fresh[10_000_003].sample)
        #expect(plan[10].sample == fresh[10_000_083].sample)
    }

    @Test func datasetPlanReadsShuffledSamplesThroughTheReader() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns, sizeLimit: 300))
        for sample in numberedSamples(120) { try writer.write(sample) }
        try writer.finish()
        let dataset = try ShardDataset(directory: directory)
        #expect(dataset.index.shards.count > 5)
        var ids: [Int64] = []
        for rank in 0..<3 {
            let plan = dataset.plan(ResumeState(seed: 1, worldSize: 3), options: ShuffleOptions(blockSize: 16), rank: rank, worldSize: 3)
            for j in 0..<plan.count {
                guard case .int(let id)? = try dataset.sample(plan[j].sample)["id"] else { Issue.record("no id"); continue }
                ids.append(id)
            }
        }
        #expect(ids.sorted() == (0..<120).map { Int64($0) })
        #expect(ids != ids.sorted())
    }
}
