import Foundation
import Testing
@testable import Shards

/// Damaged datasets: each problem is reported with the file's name, the damaged shard is
/// quarantined, and the other shards keep serving samples.
struct CorruptionTests {
    func damage(_ dataset: String, _ body: (URL) throws -> Void) throws -> ShardDataset {
        let copy = try Fixture.copy(dataset)
        try body(copy)
        return try ShardDataset(directory: copy)
    }

    func flipByte(_ url: URL, at offset: Int) throws {
        var bytes = try Fixture.bytes(url)
        bytes[offset] ^= 0x40
        try Data(bytes).write(to: url)
    }

    /// Samples 0 ..< count from every shard but `bad`, and the error from `bad`.
    func readAround(_ dataset: ShardDataset, bad: Int) -> (good: Int, error: ShardError?) {
        var good = 0
        var failure: ShardError?
        for i in 0..<dataset.count {
            do {
                _ = try dataset.sample(i)
                good += 1
            } catch {
                #expect(dataset.locate(i).shard == bad)
                failure = error
            }
        }
        return (good, failure)
    }

    @Test func flippedByteFailsTheHashAndOnlyThatShard() throws {
        let dataset = try damage("python_plain") { try flipByte($0.appendingPathComponent("shard.00002.mds"), at: 700) }
        defer { try? FileManager.default.removeItem(at: dataset.directory) }
        let (good, error) = readAround(dataset, bad: 2)
        #expect(good == dataset.count - dataset.index.shards[2].samples)
        #expect(error?.path.hasSuffix("shard.00002.mds") == true)
        #expect(error?.reason.contains("damaged") == true)
        #expect(Array(dataset.quarantined.keys) == [2])
        #expect(dataset.verify().count == 1)
    }

    @Test func flippedByteInACompressedShardIsCaught() throws {
        let dataset = try damage("python_zstd") { try flipByte($0.appendingPathComponent("shard.00004.mds.zstd"), at: 100) }
        defer { try? FileManager.default.removeItem(at: dataset.directory) }
        let (_, error) = readAround(dataset, bad: 4)
        #expect(error?.path.hasSuffix("shard.00004.mds.zstd") == true)
    }

    /// Without hashes the layout checks still catch a broken offset table.
    @Test func brokenOffsetTableIsCaughtWithoutHashes() throws {
        let copy = try Fixture.copy("python_plain")
        defer { try? FileManager.default.removeItem(at: copy) }
        try flipByte(copy.appendingPathComponent("shard.00001.mds"), at: 9)
        let dataset = try ShardDataset(directory: copy, options: ReadOptions(verifyHashes: false))
        let (_, error) = readAround(dataset, bad: 1)
        #expect(error?.path.hasSuffix("shard.00001.mds") == true)
        #expect(error?.reason.contains("offset") == true)
    }

    @Test func truncatedShardIsNamed() throws {
        let dataset = try damage("python_gz") { url in
            let file = url.appendingPathComponent("shard.00003.mds.gz")
            try Data(try Fixture.bytes(file).prefix(100)).write(to: file)
        }
        defer { try? FileManager.default.removeItem(at: dataset.directory) }
        let (_, error) = readAround(dataset, bad: 3)
        #expect(error?.description.contains("shard.00003.mds.gz: is 100 bytes, the index says") == true)
    }

    @Test func deletedShardIsReportedMissing() throws {
        let dataset = try damage("python_plain") { try FileManager.default.removeItem(at: $0.appendingPathComponent("shard.00001.mds")) }
        defer { try? FileManager.default.removeItem(at: dataset.directory) }
        let (good, error) = readAround(dataset, bad: 1)
        #expect(good == dataset.count - dataset.index.shards[1].samples)
        #expect(error?.path.hasSuffix("shard.00001.mds") == true)
        #expect(error?.reason.contains("missing") == true)
    }

    /// Readers (3 ranks x 2 workers) that skip what fails get every sample but the damaged shard's,
    /// each failure naming that shard.
    @Test func streamsSkipAQuarantinedShardAndKeepGoing() throws {
        let dataset = try damage("python_plain") { try flipByte($0.appendingPathComponent("shard.00003.mds"), at: 500) }
        defer { try? FileManager.default.removeItem(at: dataset.directory) }
        var delivered: [Int] = []
        var reports: [ShardError] = []
        for rank in 0..<3 {
            let plan = dataset.plan(ResumeState(seed: 4, worldSize: 3), rank: rank, worldSize: 3, remainder: .drop)
            for worker in 0..<2 {
                for j in plan.indices(worker: worker, of: 2) {
                    let sample = plan[j].sample
                    do {
                        _ = try dataset.sample(sample)
                        delivered.append(sample)
                    } catch {
                        if !reports.contains(error) { reports.append(error) }
                    }
                }
            }
        }
        let bad = dataset.sampleStarts[3]..<dataset.sampleStarts[4]
        #expect(Set(delivered) == Set(0..<dataset.count).subtracting(bad))
        #expect(delivered.count == dataset.count - bad.count)
        #expect(!reports.isEmpty && reports.allSatisfy { $0.path.hasSuffix("shard.00003.mds") })
    }

    /// Decoding on 1, 2 or 3 threads yields the rank's order, with the damaged shard's positions
    /// reported in place; stopping early does not hang.
    @Test(.timeLimit(.minutes(1)), arguments: [1, 2, 3])
    func parallelReaderKeepsTheRankOrder(workers: Int) throws {
        let dataset = try damage("python_gz") { try FileManager.default.removeItem(at: $0.appendingPathComponent("shard.00001.mds.gz")) }
        defer { try? FileManager.default.removeItem(at: dataset.directory) }
        let plan = dataset.plan(ResumeState(seed: 6, worldSize: 2), options: ShuffleOptions(blockSize: 5), rank: 1, worldSize: 2)
        let reader = ParallelReader(datasets: [dataset], plan: plan, workers: workers, perWorker: 2)
        let bad = dataset.sampleStarts[1]..<dataset.sampleStarts[2]
        var order: [Int?] = []
        while let result = reader.next() {
            switch result {
            case .sample(_, let index, let value):
                #expect(value == (try dataset.sample(index)))
                order.append(index)
            case .failed(_, let index, let error):
                #expect(error.path.hasSuffix("shard.00001.mds.gz"))
                #expect(bad.contains(index))
                order.append(nil)
            }
        }
        #expect(order == (0..<plan.count).map { bad.contains(plan[$0].sample) ? nil : plan[$0].sample })

        let early = ParallelReader(datasets: [dataset], plan: plan, workers: workers, perWorker: 1)
        _ = early.next()
        early.cancel()
    }

    @Test func unreadableIndexIsNamed() throws {
        let copy = try Fixture.copy("python_plain")
        defer { try? FileManager.default.removeItem(at: copy) }
        try Data("{\"shards\": [".utf8).write(to: copy.appendingPathComponent("index.json"))
        let error = #expect(throws: ShardError.self) { try ShardDataset(directory: copy) }
        #expect(error?.path.hasSuffix("index.json") == true)
        try FileManager.default.removeItem(at: copy.appendingPathComponent("index.json"))
        #expect(throws: ShardError.self) { try ShardDataset(directory: copy) }
    }
}
