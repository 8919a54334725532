import Foundation
import Testing
@testable import Shards

/// The writer: shard sizes, atomic visibility, crash and resume, merging.
struct WriterTests {
    func ids(_ dataset: ShardDataset) throws -> [Int64] {
        try (0..<dataset.count).map { i in
            guard case .int(let id)? = try dataset.sample(i)["id"] else { throw ShardError(.invalidValue, path: "test", "no id") }
            return id
        }
    }

    @Test func shardsRespectTheSizeLimit() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns, sizeLimit: 500))
        for sample in numberedSamples(100) { try writer.write(sample) }
        try writer.finish()
        let dataset = try ShardDataset(directory: directory)
        #expect(dataset.index.shards.count > 5)
        #expect(dataset.index.shards.allSatisfy { $0.rawData.bytes <= 500 })
        #expect(try ids(dataset) == (0..<100).map { Int64($0) })
        #expect(dataset.isComplete)
    }

    /// Shards are hashed in pieces (header, then samples) on a thread of their own while the
    /// flusher writes them and the next one fills; every algorithm's digest must still be the
    /// whole file's, and every sample present.
    @Test func piecewiseHashesMatchTheWholeShardFile() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        for compression in [nil, Compression.zstd] {
            try? FileManager.default.removeItem(at: directory)
            let config = ShardConfig(columns: numberedColumns, compression: compression, hashes: HashAlgorithm.allCases, sizeLimit: 300)
            let writer = try ShardWriter(directory: directory, config: config)
            for sample in numberedSamples(200) { try writer.write(sample) }
            try writer.finish()
            let dataset = try ShardDataset(directory: directory)
            #expect(dataset.index.shards.count > 10)
            #expect(dataset.verify().isEmpty)
            #expect(try ids(dataset) == (0..<200).map { Int64($0) })
        }
    }

    /// Shards several times the span after which the writer asks for writeback (and the write
    /// call's chunk), with text and bytes columns: whole, hashed right, every value back.
    @Test func shardsLargerThanTheWritebackSpanAreWholeAndVerify() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = ShardConfig(columns: ["id": .int, "text": .str, "payload": .bytes], hashes: [.xxh64, .sha1],
                                 sizeLimit: 3 * AtomicFile.writebackSpan + 12345)
        let writer = try ShardWriter(directory: directory, config: config)
        func sample(_ i: Int) -> ShardSample {
            ["id": .int(Int64(i)), "text": .string("sample \(i) ✓"), "payload": .bytes([UInt8](repeating: UInt8(i & 255), count: 100_000 + i))]
        }
        for i in 0..<600 { try writer.write(sample(i)) }
        try writer.finish()
        let dataset = try ShardDataset(directory: directory)
        #expect(dataset.index.shards.count == 3)
        #expect(dataset.index.shards.allSatisfy { $0.rawData.bytes > AtomicFile.writebackSpan })
        #expect(dataset.verify().isEmpty)
        for i in [0, 1, 299, 599] { #expect(try dataset.sample(i) == sample(i)) }
    }

    /// A value that fails to encode is taken back out: the samples before and after it are intact.
    @Test func aRejectedSampleLeavesNoBytesBehind() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns))
        let samples = numberedSamples(3)
        try writer.write(samples[0])
        #expect(throws: ShardError.self) { try writer.write(["id": .int(9), "text": .int(9)]) }
        try writer.write(samples[1])
        try writer.write(samples[2])
        try writer.finish()
        #expect(try ids(ShardDataset(directory: directory)) == [0, 1, 2])
    }

    @Test func missingColumnNamesTheSampleAndColumn() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns))
        try writer.write(numberedSamples(1)[0])
        let error = #expect(throws: ShardError.self) { try writer.write(["id": .int(1)]) }
        #expect(error?.description.contains("sample 1: missing column 'text'") == true)
        #expect(throws: ShardError.self) { try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns)) }
    }

    /// A writer that dies mid-shard leaves a dataset that opens with the finished shards, says it is
    /// incomplete, and resumes from where the finished shards end.
    @Test func abandonedWriterLeavesFinishedShardsAndResumes() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = ShardConfig(columns: numberedColumns, compression: .zstd, hashes: [.xxh64], sizeLimit: 400)
        do {
            let writer = try ShardWriter(directory: directory, config: config)
            for sample in numberedSamples(57) { try writer.write(sample) }
            // No finish(): the samples of the open shard exist only in memory, as at a kill.
        }
        // What a kill can also leave: a half-written temporary, a renamed shard not yet indexed.
        try Data([1, 2, 3]).write(to: directory.appendingPathComponent("shard.00042.mds.zstd.partial"))
        try Data([4, 5]).write(to: directory.appendingPathComponent("shard.00043.mds.zstd"))

        let partial = try ShardDataset(directory: directory)
        #expect(!partial.isComplete)
        #expect(partial.count > 0 && partial.count < 57)
        #expect(partial.verify().isEmpty)
        #expect(try ids(partial) == (0..<partial.count).map { Int64($0) })

        let writer = try ShardWriter(resuming: directory, config: config)
        #expect(writer.samplesWritten == partial.count)
        for sample in numberedSamples(80).dropFirst(writer.samplesWritten) { try writer.write(sample) }
        try writer.finish()
        let resumed = try ShardDataset(directory: directory)
        #expect(resumed.isComplete)
        #expect(try ids(resumed) == (0..<80).map { Int64($0) })
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!files.contains { $0.hasSuffix(".partial") || $0.hasPrefix("shard.0004") })
    }

    @Test func resumingWithOtherSettingsIsRefused() throws {
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: numberedColumns, sizeLimit: 200))
        for sample in numberedSamples(20) { try writer.write(sample) }
        try writer.finish()
        #expect(throws: ShardError.self) {
            try ShardWriter(resuming: directory, config: ShardConfig(columns: ["id": .int], sizeLimit: 200))
        }
    }

    /// The same, with a real process killed by SIGKILL while it writes (the benchmark's writer).
    @Test(.timeLimit(.minutes(1)))
    func killedWriterProcessLeavesAnOpenableDatasetThatResumes() throws {
        let bench = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("shards-bench")
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "build with `swift build --build-tests`")
        let directory = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = [directory.path, "512", "1000", "20000"]  // 512 MB of 1 kB samples, 20 kB shards

        let writer = Process()
        writer.executableURL = bench
        writer.arguments = ["write"] + arguments
        writer.standardOutput = FileHandle.nullDevice
        try writer.run()
        while writer.isRunning {
            if let index = try? DatasetIndex.load(directory: directory), index.shards.count >= 5 { break }
            usleep(5_000)
        }
        kill(writer.processIdentifier, SIGKILL)
        writer.waitUntilExit()
        #expect(writer.terminationReason == .uncaughtSignal)

        let partial = try ShardDataset(directory: directory)
        #expect(!partial.isComplete)
        #expect(partial.index.shards.count >= 5)
        #expect(partial.verify().isEmpty)
        #expect(try ids(partial) == (0..<partial.count).map { Int64($0) })

        // Resume: the same command sees the index and continues, here up to 1 MB in all.
        let resume = Process()
        resume.executableURL = bench
        resume.arguments = ["write", directory.path, "1", "1000", "20000"]
        resume.standardOutput = FileHandle.nullDevice
        try resume.run()
        resume.waitUntilExit()
        #expect(resume.terminationStatus == 0)
        let total = (1 << 20) / 1000
        let finished = try ShardDataset(directory: directory)
        #expect(finished.isComplete)
        #expect(finished.count == max(total, partial.count))
        #expect(try ids(finished) == (0..<finished.count).map { Int64($0) })
    }

    @Test func mergingWritersGivesOneDataset() throws {
        let root = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let samples = numberedSamples(90)
        for part in 0..<3 {
            let writer = try ShardWriter(directory: root.appendingPathComponent("part-\(part)"),
                                         config: ShardConfig(columns: numberedColumns, compression: .gzip, sizeLimit: 300))
            for sample in samples[part * 30..<(part + 1) * 30] { try writer.write(sample) }
            try writer.finish()
        }
        let merged = try DatasetIndex.merge(parts: ["part-0", "part-1", "part-2"], into: root)
        #expect(merged.sampleCount == 90)
        #expect(merged.shards.allSatisfy { $0.storedFile.basename.hasPrefix("part-") })
        let dataset = try ShardDataset(directory: root)
        #expect(try ids(dataset) == (0..<90).map { Int64($0) })
        #expect(dataset.verify().isEmpty)
    }

    @Test func mergingAnUnfinishedWriterIsRefused() throws {
        let root = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let writer = try ShardWriter(directory: root.appendingPathComponent("a"), config: ShardConfig(columns: numberedColumns))
        try writer.write(numberedSamples(1)[0])
        let error = #expect(throws: ShardError.self) { try DatasetIndex.merge(parts: ["a"], into: root) }
        #expect(error?.reason.contains("not finished") == true)
    }
}
