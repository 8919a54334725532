import Foundation
import Testing
@testable import WebDataset

/// Writing shards: what the webdataset package reads back, rotation, and samples the format cannot hold.
struct WritingTests {
    /// The samples of the shards the webdataset package wrote, read by Sluice.
    func pythonSamples() throws -> [WebDatasetSample] {
        try ["shard-000000.tar", "shard-000001.tar"].flatMap { name in
            events(of: Fixture.url("python-written/" + name)).events.compactMap(\.sample)
        }
    }

    /// Sluice writes the samples the package wrote into shards of 8, as the package did: the bytes
    /// match the committed shards, which the package read back with the same keys and bytes
    /// (`tools/make-webdataset-fixtures.py read` wrote their python_read.jsonl).
    @Test func shardsSluiceWritesAreReadByTheWebdatasetPackageWithTheSameBytes() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let writer = try WebDatasetWriter(directory: scratch, maximumCount: 8)
        for sample in try pythonSamples() { try writer.write(sample) }
        try writer.close()
        #expect(writer.written.map(\.lastPathComponent) == ["shard-000000.tar", "shard-000001.tar"])
        if ProcessInfo.processInfo.environment["SLUICE_WRITE_FIXTURES"] != nil {
            let target = Fixture.url("sluice-written")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            for file in writer.written {
                let copy = target.appendingPathComponent(file.lastPathComponent)
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(at: file, to: copy)
            }
        }
        for file in writer.written {
            #expect(try Data(contentsOf: file) == Data(contentsOf: Fixture.url("sluice-written/" + file.lastPathComponent)),
                    "\(file.lastPathComponent) differs from the shard the package read")
        }
        let expected = try Fixture.pythonRead("python-written").filter { $0.shard != "upper.tar" }
        #expect(try Fixture.pythonRead("sluice-written") == expected)
    }

    @Test func writtenShardsReadBackAsTheSamplesWritten() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let samples = try pythonSamples()
        let writer = try WebDatasetWriter(directory: scratch, maximumCount: 5)
        for sample in samples { try writer.write(sample) }
        try writer.close()
        #expect(writer.written.count == 3)
        let read = try writer.written.flatMap { events(of: $0).events.compactMap(\.sample) }
        #expect(read == samples)
    }

    @Test func aShardEndsOnceItsMemberDataReachesTheSizeLimit() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let writer = try WebDatasetWriter(directory: scratch, maximumBytes: 1_000)
        let sample = { (i: Int) in WebDatasetSample(key: "k\(i)", fields: [.init(name: "bin", bytes: [UInt8](repeating: 7, count: 400))]) }
        for i in 0..<7 { try writer.write(sample(i)) }
        try writer.close()
        // 400, 800, 1200 >= 1000: three samples per shard, as the package's ShardWriter counts.
        #expect(try writer.written.map { events(of: $0).events.compactMap(\.sample).count } == [3, 3, 1])
    }

    @Test(arguments: [
        ("a.b", "txt"), ("../up", "txt"), ("/abs", "txt"), ("", "txt"), ("dir//x", "txt"), ("fine", "TXT"), ("fine", "a/b"), ("fine", ""),
    ])
    func keysAndFieldsThatWouldReadBackDifferentlyAreRefused(key: String, field: String) throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let writer = try WebDatasetWriter(directory: scratch)
        #expect(throws: WebDatasetError.self) {
            try writer.write(WebDatasetSample(key: key, fields: [.init(name: field, bytes: [1])]))
        }
        #expect(writer.written.isEmpty)
    }

    @Test func aWriterThatIsNotClosedLeavesItsShardPartial() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            let writer = try WebDatasetWriter(directory: scratch)
            try writer.write(WebDatasetSample(key: "k", fields: [.init(name: "txt", bytes: Array("x".utf8))]))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["shard-000000.tar.partial"])
    }
}
