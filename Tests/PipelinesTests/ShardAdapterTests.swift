import Foundation
import PipelineCore
import Synchronization
import Testing
@testable import Pipelines
import Shards

/// Scratch directories, and copies of the datasets the Shards tests commit.
private enum Fixture {
    static func scratch() -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-adapter-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func copy(_ dataset: String) throws -> URL {
        let target = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-adapter-\(UUID().uuidString)")
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ShardsTests/Fixtures/\(dataset)")
        try FileManager.default.copyItem(at: source.standardizedFileURL, to: target)
        return target
    }
}

/// The shard sink and source inside the pipeline engine.
struct PipelineStageTests {
    static let config = ShardConfig(
        columns: ["id": .int, "text": .str, "score": .scalar(.float32), "tokens": .ndarray(dtype: .int32, shape: nil), "meta": .json],
        compression: .zstd, hashes: [.xxh64], sizeLimit: 600)

    static func records(_ count: Int) -> [Sample] {
        (0..<count).map { i in
            var sample = Sample()
            sample["id"] = .int(i)
            sample["text"] = .string("record \(i)")
            sample["score"] = .double(Double(i) / 4)
            sample["tokens"] = .array(NDArray(shape: [i % 3 + 1], values: [Int32](repeating: Int32(i), count: i % 3 + 1)))
            sample["meta"] = .string(#"{"i": \#(i), "even": \#(i % 2 == 0)}"#)
            return sample
        }
    }

    /// Collects what a pipeline's source emits.
    static func read(_ source: ShardSource) throws -> [Sample] {
        let collected = Mutex<[Sample]>([])
        try Pipeline(name: "read").source("shards", source).forEach("collect") { sample in
            collected.withLock { $0.append(sample) }
        }.run()
        return collected.withLock { $0 }
    }

    @Test func pipelineWritesShardsThatReadBackAsTheSameRecords() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Pipeline(name: "write").source("records", SequenceSource(Self.records(50)))
            .sink("shards", try ShardSink(directory: directory, config: Self.config, resume: false)).run()
        let dataset = try ShardDataset(directory: directory)
        #expect(dataset.isComplete && dataset.count == 50 && dataset.index.shards.count > 3)

        let back = try Self.read(ShardSource(datasets: [dataset], options: ShuffleOptions(shuffle: false)))
        #expect(back.count == 50)
        for (original, read) in zip(Self.records(50), back) {
            // Columns come back in MDS's (sorted) order, float32 rounded, json re-printed by Python's rules.
            #expect(read["id"] == original["id"] && read["text"] == original["text"] && read["tokens"] == original["tokens"])
            #expect(read["score"] == original["score"], "quarter steps are exact in float32")
            #expect(read["meta"] == original["meta"])
        }
    }

    /// Three ranks' sources together deliver every record once; equal counts by padding.
    @Test func ranksShareAnEpochThroughTheSource() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sink = try ShardSink(directory: directory, config: Self.config, resume: false)
        for record in Self.records(40) { try sink.consume(record) }
        try sink.finish(.finished)
        let dataset = try ShardDataset(directory: directory)
        var ids: [Int] = []
        for rank in 0..<3 {
            let source = ShardSource(datasets: [dataset], options: ShuffleOptions(seed: 8, blockSize: 8),
                                     rank: rank, worldSize: 3, remainder: .pad)
            let samples = try Self.read(source)
            #expect(samples.count == 14)
            let threaded = ShardSource(datasets: [dataset], options: ShuffleOptions(seed: 8, blockSize: 8),
                                       rank: rank, worldSize: 3, remainder: .pad, readers: 3)
            #expect(try Self.read(threaded) == samples, "3 decoding threads, same order")
            ids += samples.compactMap { if case .int(let id)? = $0["id"] { id } else { nil } }
        }
        #expect(Set(ids) == Set(0..<40))
        #expect(ids.count == 42)
    }

    /// A stopped run keeps what it was given as a last shard; the next run with `resume` skips
    /// those records and completes the dataset.
    @Test func stoppedRunFlushesAndResumeCompletesIt() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try ShardSink(directory: directory, config: Self.config, resume: true)
        for record in Self.records(23) { try first.consume(record) }
        try first.finish(.stopped)
        let partial = try ShardDataset(directory: directory)
        #expect(!partial.isComplete && partial.count == 23)

        let second = try ShardSink(directory: directory, config: Self.config, resume: true)
        for record in Self.records(60) { try second.consume(record) }
        try second.finish(.finished)
        let dataset = try ShardDataset(directory: directory)
        #expect(dataset.isComplete)
        let ids = try (0..<dataset.count).map { i -> Int64? in if case .int(let id)? = try dataset.sample(i)["id"] { id } else { nil } }
        #expect(ids == (0..<60).map { Int64($0) })
    }

    @Test func valuesThatDoNotFitTheirColumnAreRefusedByName() throws {
        #expect(try ShardValue(.int(7), for: .scalar(.uint8), column: "n") == .uint(7))
        #expect(try ShardValue(.int(-7), for: .scalar(.int8), column: "n") == .int(-7))
        #expect(try ShardValue(.list([.int(1), .null]), for: .json, column: "j") == .json(.array([.int(1), .null])))
        let error = #expect(throws: ShardError.self) { try ShardValue(.string("x"), for: .int, column: "label") }
        #expect(error?.description == "column label: a string value cannot be stored as int")
        #expect(throws: ShardError.self) { try ShardValue(.string("{oops"), for: .json, column: "meta") }
    }

    /// A damaged shard is reported once to the engine's error policy; the other samples flow.
    @Test func damagedShardIsQuarantinedByTheEngine() throws {
        let copy = try Fixture.copy("python_plain")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("shard.00002.mds"))
        let dataset = try ShardDataset(directory: copy)
        let count = Mutex(0)
        let report = try Pipeline(name: "damaged", options: PipelineOptions(errorPolicy: .skip))
            .source("shards", ShardSource(datasets: [dataset], options: ShuffleOptions(seed: 1)))
            .forEach("count") { _ in count.withLock { $0 += 1 } }.run()
        #expect(count.withLock { $0 } == dataset.count - dataset.index.shards[2].samples)
        #expect(report.quarantined.count == 1)
        #expect(report.quarantined.first?.error.contains("shard.00002.mds") == true)
        #expect(report.quarantined.first?.item.hasPrefix(copy.relativePath + " sample ") == true)
    }
}
