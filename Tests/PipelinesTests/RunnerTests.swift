import Foundation
import PipelineCore
import Pipelines
import Testing

/// Running pipeline files end to end: output, manifest, quarantine.
struct RunnerTests {
    /// A scratch directory with a few input files.
    struct Scratch {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-\(UUID().uuidString)")
        init(files: [String: String]) throws {
            for (name, text) in files {
                let url = root.appendingPathComponent("in/\(name)")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(text.utf8).write(to: url)
            }
        }
        var path: String { root.path }
    }

    func run(_ yaml: String, _ scratch: Scratch) throws -> PipelineRunner.Outcome {
        let plan = try PipelineFile().plan(yaml: yaml, file: "test.yaml")
        return try PipelineRunner(plan: plan, progress: nil).run()
    }

    @Test func checksumsEveryFileAndWritesAManifest() throws {
        let scratch = try Scratch(files: ["a.txt": "abc", "sub/b.txt": "", "sub/c.bin": "hello\n"])
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let outcome = try run("""
            name: sums
            output: \(scratch.path)/out
            source: {type: files, paths: "\(scratch.path)/in/**/*.txt"}
            stages: [{type: checksum, workers: 2}]
            sink: {type: jsonl, path: sums.jsonl}
            """, scratch)
        #expect(outcome.report.completion == .finished)
        let lines = try String(contentsOfFile: "\(scratch.path)/out/sums.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.map { ($0["path"] as! String).hasSuffix("a.txt") } == [true, false])
        // Known SHA-256 values of "abc" and of the empty string.
        #expect(lines.map { $0["sha256"] as! String } == [
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ])
        #expect(lines.map { $0["bytes"] as! Int } == [3, 0])

        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: outcome.manifest)) as! [String: Any]
        #expect(manifest["completion"] as? String == "finished")
        #expect(manifest["sluice_version"] as? String == sluiceVersion)
        #expect((manifest["inputs"] as? [[String: Any]])?.count == 2)
        #expect((manifest["inputs"] as? [[String: Any]])?.first?["bytes"] as? Int == 3)
        let stages = manifest["stages"] as? [[String: Any]]
        #expect(stages?.map { $0["name"] as? String } == ["files", "checksum", "jsonl"])
        #expect(stages?.last?["itemsIn"] as? Int == 2)
        #expect((manifest["config"] as? [String: Any])?["name"] as? String == "sums")
        #expect(manifest["started"] is String && manifest["finished"] is String)
    }

    @Test func unreadableFileIsQuarantinedUnderSkip() throws {
        let scratch = try Scratch(files: ["a.txt": "abc", "b.txt": "def"])
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let locked = "\(scratch.path)/in/b.txt"
        // A path that vanishes between listing and reading, as on a busy file server.
        let plan = try PipelineFile().plan(yaml: """
            name: skip
            output: \(scratch.path)/out
            options: {on_error: skip}
            source: {type: files, paths: "\(scratch.path)/in"}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """, file: "test.yaml")
        try FileManager.default.removeItem(atPath: locked)
        let outcome = try PipelineRunner(plan: plan, progress: nil).run()
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.count == 1)
        #expect(outcome.report.quarantined.first?.item.hasSuffix("b.txt") == true)
        #expect(outcome.report.quarantined.first?.error.contains("missing or unreadable") == true)
        let quarantine = try String(contentsOfFile: "\(scratch.path)/out/quarantine.jsonl", encoding: .utf8)
        #expect(quarantine.contains("b.txt"))
        let output = try String(contentsOfFile: "\(scratch.path)/out/sums.jsonl", encoding: .utf8)
        #expect(output.split(separator: "\n").count == 1)
    }

    @Test func failureKeepsOnlyAPartialFileAndSaysWhy() throws {
        let scratch = try Scratch(files: ["a.txt": "abc", "b.txt": "def"])
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let plan = try PipelineFile().plan(yaml: """
            name: fail
            output: \(scratch.path)/out
            source: {type: files, paths: "\(scratch.path)/in"}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """, file: "test.yaml")
        try FileManager.default.removeItem(atPath: "\(scratch.path)/in/b.txt")
        let outcome = try PipelineRunner(plan: plan, progress: nil).run()
        #expect(outcome.report.completion == .failed)
        #expect(outcome.report.failure?.description.contains("b.txt") == true)
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/out/sums.jsonl"))
        #expect(FileManager.default.fileExists(atPath: "\(scratch.path)/out/sums.jsonl.partial"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: outcome.manifest)) as! [String: Any]
        #expect(manifest["completion"] as? String == "failed")
        #expect((manifest["error"] as? String)?.contains("b.txt") == true)
    }
}
