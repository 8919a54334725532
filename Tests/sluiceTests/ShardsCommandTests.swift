import Foundation
import Testing

/// `sluice shards inspect|verify|cat` on the committed MDS fixtures (written by mosaicml-streaming).
struct ShardsCommandTests {
    static let fixtures = "Tests/ShardsTests/Fixtures"
    let cli = CommandLineTests()

    @Test func inspectListsColumnsCountsAndCompression() throws {
        let result = try cli.sluice(["shards", "inspect", "\(Self.fixtures)/python_zstd", "--shards"])
        #expect(result.status == 0)
        #expect(result.output.contains("samples: 24 in 6 shard(s)"))
        #expect(result.output.contains("grid: ndarray:int16:2,3 (12 bytes)"))
        #expect(result.output.contains("compression: zstd"))
        #expect(result.output.contains("shard.00005.mds.zstd: 3 samples"))
    }

    @Test func catPrintsOneJSONObjectPerSampleInColumnOrder() throws {
        let result = try cli.sluice(["shards", "cat", "\(Self.fixtures)/python_gz", "--range", "2..<4"])
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 2)
        let expected = try String(contentsOfFile: "\(CommandLineTests.repository.path)/\(Self.fixtures)/expected.jsonl", encoding: .utf8)
            .split(separator: "\n")
        for (line, reference) in zip(lines, expected[2..<4]) {
            let ours = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary
            let theirs = try JSONSerialization.jsonObject(with: Data(reference.utf8)) as? NSDictionary
            #expect(ours == theirs)
        }
        let bad = try cli.sluice(["shards", "cat", "\(Self.fixtures)/python_gz", "--index", "24"])
        #expect(bad.status == 65)
        #expect(bad.errors.contains("sample 24: out of range"))
    }

    @Test func verifyNamesTheDamagedShardAndFails() throws {
        let copy = try cli.scratch().appendingPathComponent("dataset")
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        try FileManager.default.copyItem(atPath: "\(CommandLineTests.repository.path)/\(Self.fixtures)/python_plain", toPath: copy.path)
        #expect(try cli.sluice(["shards", "verify", copy.path]).output.contains("ok: 6 shard(s), 24 samples"))
        try FileManager.default.removeItem(at: copy.appendingPathComponent("shard.00003.mds"))
        let result = try cli.sluice(["shards", "verify", copy.path])
        #expect(result.status == 65)
        #expect(result.output.contains("FAIL \(copy.path)/shard.00003.mds: missing"))
    }

    @Test func mergeJoinsWritersAndRefusesAnUnfinishedOne() throws {
        let root = try cli.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        for part in ["a", "b"] {
            try FileManager.default.copyItem(atPath: "\(CommandLineTests.repository.path)/\(Self.fixtures)/python_plain",
                                             toPath: root.appendingPathComponent(part).path)
        }
        let result = try cli.sluice(["shards", "merge", root.path, "a", "b"])
        #expect(result.status == 0)
        #expect(result.output.contains("merged 2 part(s): 12 shard(s), 48 samples"))
        #expect(try cli.sluice(["shards", "verify", root.path]).output.contains("ok: 12 shard(s), 48 samples"))

        let index = root.appendingPathComponent("b/index.json")
        let text = try String(contentsOf: index, encoding: .utf8)
        try text.replacingOccurrences(of: #""version": 2}"#, with: #""sluice": {"in_progress": true}, "version": 2}"#)
            .write(to: index, atomically: true, encoding: .utf8)
        let refused = try cli.sluice(["shards", "merge", root.path, "a", "b"])
        #expect(refused.status == 65)
        #expect(refused.errors.contains("its writer has not finished"))
    }
}

/// `shards cat` and `shards merge` given numbers and paths a careless or hostile user might type.
struct ShardsCommandHostileTests {
    let cli = CommandLineTests()

    @Test func catWalksAHugeRangeWithoutAllocatingIt() throws {
        let result = try cli.sluice(["shards", "cat", "\(ShardsCommandTests.fixtures)/python_gz", "--range", "20...\(Int.max)"])
        #expect(result.status == 65)
        #expect(result.output.split(separator: "\n").count == 4)
        #expect(result.errors.contains("sample 24: out of range: the dataset has 24 samples"))
        let backwards = try cli.sluice(["shards", "cat", "\(ShardsCommandTests.fixtures)/python_gz", "--range", "5..<2"])
        #expect(backwards.status != 0)
        #expect(backwards.errors.contains("--range takes A..<B or A...B with 0 <= A <= B, got '5..<2'"))
    }

    @Test func mergeKeepsPathsInsideTheDirectory() throws {
        let root = try cli.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
        for part in ["data/p0", "other"] {
            try FileManager.default.copyItem(atPath: "\(CommandLineTests.repository.path)/\(ShardsCommandTests.fixtures)/python_plain",
                                             toPath: root.appendingPathComponent(part).path)
        }
        let outside = try cli.sluice(["shards", "merge", root.appendingPathComponent("data").path, "../other"])
        #expect(outside.status == 65)
        #expect(outside.errors.contains("a part must be a subdirectory of"))
        let twice = try cli.sluice(["shards", "merge", root.appendingPathComponent("data").path, "p0", "p0"])
        #expect(twice.status == 65)
        #expect(twice.errors.contains("p0: is named twice; each part is merged once"))
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("data/index.json").path))
    }
}
