import Foundation
import Testing
@testable import Shards

/// Shards written by Python's `mosaicml-streaming` open in sluice, and sluice writes the same bytes.
/// Fixtures come from tools/make-shards-fixtures.py.
struct InteropTests {
    @Test(arguments: ["python_plain", "python_zstd", "python_gz"])
    func pythonWrittenDatasetsDecodeToWhatPythonWrote(name: String) throws {
        let dataset = try ShardDataset(directory: Fixture.dataset(name))
        #expect(dataset.index.shards.count > 3, "the 4 kB size limit should give several shards")
        #expect(dataset.isComplete)
        let expected = try Fixture.jsonLines(Fixture.root.appendingPathComponent("expected.jsonl"))
        let actual = try dataset.allAsJSON()
        #expect(actual.count == expected.count)
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            #expect(a == e, "sample \(i) of \(name)")
        }
        #expect(dataset.verify().isEmpty)
    }

    /// A cache smaller than one shard still serves every sample, in shuffled order (each access may
    /// evict and decompress again; hashes are checked only at the first open).
    @Test func tinyCacheServesShuffledReadsOfCompressedShards() throws {
        let dataset = try ShardDataset(directory: Fixture.dataset("python_zstd"), options: ReadOptions(cacheBytes: 1))
        let expected = try Fixture.jsonLines(Fixture.root.appendingPathComponent("expected.jsonl"))
        let plan = dataset.plan(ResumeState(seed: 11, worldSize: 1), options: ShuffleOptions(canonicalPartitions: 4, blockSize: 3))
        for j in 0..<plan.count {
            let i = plan[j].sample
            let sample = try dataset.sample(i)
            #expect(JSONValue.object(sample.keys.sorted().map { ($0, sample[$0]!.jsonValue) }) == expected[i])
        }
    }

    /// Rewriting Python's samples with Python's settings gives identical files: index.json and every
    /// shard, byte for byte (uncompressed), so Python reads what sluice writes as its own.
    @Test func sluiceRewritesPythonsDatasetByteForByte() throws {
        let source = try ShardDataset(directory: Fixture.dataset("python_plain"))
        let output = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: output) }
        let config = source.index.shards[0].config
        let writer = try ShardWriter(directory: output, config: config)
        for i in 0..<source.count { try writer.write(try source.sample(i)) }
        try writer.finish()
        for shard in source.index.shards {
            let name = shard.rawData.basename
            #expect(try Fixture.bytes(output.appendingPathComponent(name)) == Fixture.bytes(Fixture.dataset("python_plain").appendingPathComponent(name)), "\(name)")
        }
        let ours = try String(contentsOf: output.appendingPathComponent("index.json"), encoding: .utf8)
        let theirs = try String(contentsOf: Fixture.dataset("python_plain").appendingPathComponent("index.json"), encoding: .utf8)
        #expect(ours == theirs)
    }

    /// Compressed shards: the uncompressed bytes and their hashes match Python's. Python also read
    /// these datasets back (see `pythonReadsSluiceWrittenDatasets`).
    @Test(arguments: ["python_zstd", "python_gz"])
    func sluiceCompressesTheSameRawShards(name: String) throws {
        let source = try ShardDataset(directory: Fixture.dataset(name))
        let output = Fixture.scratch(name)
        defer { try? FileManager.default.removeItem(at: output) }
        let writer = try ShardWriter(directory: output, config: source.index.shards[0].config)
        for i in 0..<source.count { try writer.write(try source.sample(i)) }
        try writer.finish()
        let written = try ShardDataset(directory: output)
        #expect(written.index.shards.map(\.rawData) == source.index.shards.map(\.rawData))
        #expect(written.verify().isEmpty)
        // Same codec, same level: the deflate / zstd payloads match too; only gzip's 10-byte header
        // differs (Python stamps the time and OS 255).
        let headerBytes = name == "python_gz" ? 10 : 0
        for shard in source.index.shards {
            let file = shard.storedFile.basename
            let ours = try Fixture.bytes(output.appendingPathComponent(file))
            let theirs = try Fixture.bytes(Fixture.dataset(name).appendingPathComponent(file))
            #expect(ours.dropFirst(headerBytes) == theirs.dropFirst(headerBytes), "\(file)")
        }
        try exportForPython(output, as: "swift_written_" + name.replacingOccurrences(of: "python_", with: ""))
    }

    /// What Python decoded from sluice's compressed datasets (committed) is what sluice wrote.
    @Test(arguments: ["swift_written_zstd", "swift_written_gz"])
    func pythonReadsSluiceWrittenDatasets(name: String) throws {
        let expected = try Fixture.jsonLines(Fixture.root.appendingPathComponent("expected.jsonl"))
        let pythonRead = try Fixture.jsonLines(Fixture.dataset(name).appendingPathComponent("python_read.jsonl"))
        #expect(pythonRead == expected)
        #expect(try ShardDataset(directory: Fixture.dataset(name)).allAsJSON() == expected)
    }

    /// With SLUICE_WRITE_FIXTURES set, keeps a written dataset as a fixture for the Python side to read.
    private func exportForPython(_ dataset: URL, as name: String) throws {
        guard ProcessInfo.processInfo.environment["SLUICE_WRITE_FIXTURES"] != nil else { return }
        let target = Fixture.dataset(name)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: dataset, to: target)
    }
}
