import Foundation
import ObjectStore
import S3TestServer
import Testing
@testable import Shards

/// Datasets in a bucket (a real S3 server, SeaweedFS, started on 127.0.0.1): written by the
/// bucket writer, streamed shuffled through the local cache, resumed, and damaged.
@Suite(.enabled(if: !LocalS3Server.mayBeMissing, "SeaweedFS is not installed: run tools/install-s3-server.sh"))
struct BucketTests {
    static let shared = Result { try LocalS3Server(bucket: "sluice-shards") }

    struct Setup {
        let server: LocalS3Server
        let client: S3Client
        let prefix: ObjectURL
        let scratch: URL
        var staging: URL { scratch.appendingPathComponent("staging") }
        func cache(_ name: String = "cache") -> URL { scratch.appendingPathComponent(name) }
    }

    func setup(_ label: String = #function) throws -> Setup {
        let server = try Self.shared.get()
        return Setup(server: server, client: server.client(), prefix: server.url(label.filter(\.isLetter) + "-" + UUID().uuidString.prefix(6)),
                     scratch: Fixture.scratch(label))
    }

    let config = ShardConfig(columns: numberedColumns, compression: try! Compression(parsing: "zstd"),
                             hashes: [.xxh64, .sha1], sizeLimit: 2_000)

    func write(_ count: Int, _ s: Setup, finish: Bool = true) throws -> ShardWriter {
        let writer = try BucketPublisher.writer(s.prefix, staging: s.staging, config: config, client: s.client, resume: false)
        for sample in numberedSamples(count) { try writer.write(sample) }
        if finish { try writer.finish() }
        return writer
    }

    func ids(_ dataset: ShardDataset, _ plan: RankPlan) -> [Int64?] {
        let reader = ParallelReader(datasets: [dataset], plan: plan, workers: 2)
        var ids: [Int64?] = []
        while let result = reader.next() {
            if case .sample(_, _, let value) = result, case .int(let id)? = value["id"] { ids.append(id) } else { ids.append(nil) }
        }
        return ids
    }

    @Test func writtenDatasetStreamsBackShuffledAndResumes() throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(at: s.scratch) }
        _ = try write(3_000, s)
        let names = try s.client.list(s.prefix).map(\.object.lastComponent)
        #expect(names.first == "index.json" && names.count > 20)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.staging.path) == ["index.json"],
                "uploaded shards leave the staging directory")

        let dataset = try ShardDataset(remote: s.prefix, cache: s.cache(), client: s.client,
                                       remoteOptions: RemoteOptions(readAhead: 3, downloaders: 2))
        #expect(dataset.isComplete && dataset.count == 3_000)
        let state = ResumeState(seed: 11, worldSize: 1)
        let plan = dataset.plan(state, options: ShuffleOptions(seed: 11, blockSize: 256))
        let order = ids(dataset, plan)
        #expect(order == (0..<plan.count).map { Int64(plan[$0].sample) })
        #expect(Set(order.compactMap { $0 }) == Set((0..<3_000).map(Int64.init)))
        let stats = try #require(dataset.cacheStats)
        #expect(stats.downloads == dataset.index.shards.count)
        #expect(stats.hits > 0 && stats.maxDepth >= 1)

        // Resuming at position 1234 of the epoch, from a fresh process's point of view (new cache).
        let resumed = try ShardDataset(remote: s.prefix, cache: s.cache("cache2"), client: s.client)
        let tail = resumed.plan(ResumeState(epoch: 0, position: 1_234, seed: 11, worldSize: 1), options: ShuffleOptions(seed: 11, blockSize: 256))
        #expect(ids(resumed, tail) == Array(order[1_234...]))
    }

    @Test func cacheStaysWithinItsLimit() throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(at: s.scratch) }
        _ = try write(2_000, s)
        let probe = try ShardDataset(remote: s.prefix, cache: s.cache("probe"), client: s.client)
        let largest = probe.index.shards.map(\.storedFile.bytes).max()!
        let tooSmall = #expect(throws: ShardError.self) {
            try ShardDataset(remote: s.prefix, cache: s.cache(), client: s.client, remoteOptions: RemoteOptions(cacheLimit: 3 * largest))
        }
        #expect(tooSmall?.reason.contains("4x the largest shard") == true)

        let limit = 4 * largest
        let dataset = try ShardDataset(remote: s.prefix, cache: s.cache(), client: s.client,
                                       remoteOptions: RemoteOptions(readAhead: 2, cacheLimit: limit))
        let plan = dataset.plan(ResumeState(seed: 5, worldSize: 1), options: ShuffleOptions(seed: 5, blockSize: 64))
        let reader = ParallelReader(datasets: [dataset], plan: plan, workers: 1)
        var seen = Set<Int64>()
        var peak = 0
        while let result = reader.next() {
            if case .sample(_, _, let value) = result, case .int(let id)? = value["id"] { seen.insert(id) }
            let onDisk = try FileManager.default.contentsOfDirectory(atPath: s.cache().path).filter { $0.hasPrefix("shard.") }
            peak = max(peak, onDisk.count)
        }
        #expect(seen.count == 2_000)
        #expect(dataset.cacheStats!.evictions > 0)
        #expect(peak <= limit / probe.index.shards.map(\.storedFile.bytes).min()! + 1)
    }

    /// A writer that stops without finishing leaves a bucket dataset that opens (only shards that
    /// are there are listed), and a resumed writer completes it.
    @Test func unfinishedBucketDatasetOpensAndResumes() throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(at: s.scratch) }
        let abandoned = try write(1_000, s, finish: false)
        // Read while uploads may still be running: whatever index is there names only shards that are.
        let early = try ShardDataset(remote: s.prefix, cache: s.cache("early"), client: s.client)
        #expect(!early.isComplete)
        #expect(early.verify().isEmpty)
        try abandoned.flush()

        let writer = try BucketPublisher.writer(s.prefix, staging: s.staging, config: config, client: s.client, resume: true)
        #expect(writer.samplesWritten == 1_000)
        for sample in numberedSamples(1_800).dropFirst(writer.samplesWritten) { try writer.write(sample) }
        try writer.finish()
        let dataset = try ShardDataset(remote: s.prefix, cache: s.cache(), client: s.client)
        #expect(dataset.isComplete)
        #expect(ids(dataset, dataset.plan(ResumeState(seed: 0, worldSize: 1), options: ShuffleOptions(shuffle: false)))
                == (0..<1_800).map { Int64($0) })
    }

    /// A shard damaged in the bucket is caught by its hash on arrival and quarantined by name; a
    /// shard missing from the bucket is named too; the other shards keep streaming.
    @Test func damagedAndMissingShardsAreQuarantinedByName() throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(at: s.scratch) }
        _ = try write(1_000, s)
        let index = try ShardDataset(remote: s.prefix, cache: s.cache("probe"), client: s.client).index
        let damaged = s.prefix.appending(index.shards[1].storedFile.basename)
        var bytes = try s.client.get(damaged)
        bytes[bytes.count / 2] ^= 0x40
        try s.client.put(bytes, to: damaged)
        let missing = s.prefix.appending(index.shards[2].storedFile.basename)
        try s.client.delete(missing)

        let dataset = try ShardDataset(remote: s.prefix, cache: s.cache(), client: s.client)
        let plan = dataset.plan(ResumeState(seed: 0, worldSize: 1), options: ShuffleOptions(shuffle: false))
        let reader = ParallelReader(datasets: [dataset], plan: plan, workers: 2)
        var delivered = 0
        var failures: [String: ShardError] = [:]
        while let result = reader.next() {
            switch result {
            case .sample: delivered += 1
            case .failed(_, _, let error): failures[error.path] = error
            }
        }
        let lost = index.shards[1].samples + index.shards[2].samples
        #expect(delivered == 1_000 - lost)
        #expect(failures[damaged.description]?.reason.contains("the file is damaged") == true)
        #expect(failures[missing.description]?.reason.contains("HTTP 404") == true)
        #expect(Set(dataset.quarantined.keys) == [1, 2])
    }
}
