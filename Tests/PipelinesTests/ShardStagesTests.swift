import Foundation
import PipelineCore
import Pipelines
import Testing

/// Pipeline files that write MDS shards and read them back, shuffled, for one rank.
struct ShardStagesTests {
    @Test func yamlWritesShardsAndReadsThemBackShuffled() throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-shards-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for i in 0..<12 {
            let url = root.appendingPathComponent("in/file\(i).txt")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(repeating: 65, count: i).write(to: url)
        }
        let write = try PipelineFile().plan(yaml: """
            name: to-shards
            output: \(root.path)/out
            source: {type: files, paths: "\(root.path)/in"}
            sink: {type: shard_writer, path: dataset, columns: ["path:str", "bytes:int32"], compression: zstd, size_limit: 200}
            """, file: "write.yaml")
        #expect(try PipelineRunner(plan: write, progress: nil).run().report.completion == .finished)

        let read = try PipelineFile().plan(yaml: """
            name: from-shards
            output: \(root.path)/out
            source: {type: shards, paths: "\(root.path)/out/dataset", seed: 3, rank: 1, world_size: 2}
            sink: {type: jsonl, path: rank1.jsonl}
            """, file: "read.yaml")
        #expect(try PipelineRunner(plan: read, progress: nil).run().report.completion == .finished)
        let lines = try String(contentsOfFile: "\(root.path)/out/rank1.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.count == 6, "rank 1 of 2 reads half of 12")
        for record in records {
            let path = record["path"] as! String
            #expect(record["bytes"] as? Int == Int(path.split(separator: "file").last!.dropLast(4)))
        }

        // Resuming after 4 global positions (2 per rank) gives rank 1 the rest of the same order.
        let resumed = try PipelineFile().plan(yaml: """
            name: resumed
            output: \(root.path)/out
            source: {type: shards, paths: "\(root.path)/out/dataset", seed: 3, rank: 1, world_size: 2, start_position: 4}
            sink: {type: jsonl, path: resumed.jsonl}
            """, file: "resumed.yaml")
        #expect(try PipelineRunner(plan: resumed, progress: nil).run().report.completion == .finished)
        let rest = try String(contentsOfFile: "\(root.path)/out/resumed.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rest == Array(lines.dropFirst(2)))
    }

    @Test func badColumnDeclarationIsAPlanError() throws {
        let plan = try PipelineFile().plan(yaml: """
            name: bad
            output: /tmp/sluice-never-written
            source: {type: files, paths: "\(FileManager.default.currentDirectoryPath)/Package.swift"}
            sink: {type: shard_writer, path: d, columns: ["path:pickle"]}
            """, file: "bad.yaml")
        #expect(throws: (any Error).self) { try PipelineRunner(plan: plan, progress: nil).run() }
    }
}
