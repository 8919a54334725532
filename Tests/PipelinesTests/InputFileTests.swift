import Foundation
import PipelineCore
import Pipelines
import Testing

/// Inputs that are not plain files: named pipes, devices and symbolic links, from pipeline files.
struct InputFileTests {
    /// A scratch directory holding `in/a.txt` ("abc") and a FIFO `in/pipe.txt` that no one writes.
    struct Scratch {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-inputs-\(UUID().uuidString)")
        var path: String { root.path }

        init() throws {
            try FileManager.default.createDirectory(at: root.appendingPathComponent("in"), withIntermediateDirectories: true)
            try Data("abc".utf8).write(to: root.appendingPathComponent("in/a.txt"))
            guard mkfifo(root.appendingPathComponent("in/pipe.txt").path, 0o600) == 0 else {
                throw CocoaError(.fileWriteUnknown)
            }
        }
    }

    func run(_ yaml: String) throws -> PipelineRunner.Outcome {
        try PipelineRunner(plan: PipelineFile().plan(yaml: yaml, file: "test.yaml"), progress: nil).run()
    }

    /// Without `item_timeout`, a FIFO among the inputs used to block the checksum stage forever.
    @Test(.timeLimit(.minutes(1)), arguments: ["in", "in/*.txt", "in/**"])
    func aFIFOInADirectoryOrGlobIsLeftOutAndTheRunEnds(pattern: String) throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let outcome = try run("""
            name: sums
            output: \(scratch.path)/out
            source: {type: files, paths: "\(scratch.path)/\(pattern)"}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """)
        #expect(outcome.report.completion == .finished)
        let lines = try String(contentsOfFile: "\(scratch.path)/out/sums.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("a.txt"))
    }

    /// Named on its own, a FIFO or a device is quarantined with what it is, not called empty.
    @Test(.timeLimit(.minutes(1)))
    func aFIFOOrDeviceNamedDirectlyIsQuarantinedWithWhatItIs() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let outcome = try run("""
            name: sums
            output: \(scratch.path)/out
            options: {on_error: skip}
            source: {type: files, paths: ["\(scratch.path)/in/pipe.txt", /dev/zero, "\(scratch.path)/in/a.txt"]}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """)
        #expect(outcome.report.completion == .finished)
        let reasons = outcome.report.quarantined.map { "\($0)" }
        #expect(reasons.count == 2)
        #expect(reasons.contains { $0.contains("pipe.txt") && $0.contains("is a named pipe (FIFO), not a regular file") })
        #expect(reasons.contains { $0.contains("/dev/zero") && $0.contains("is a device, not a regular file") })
    }

    /// The files source and the run manifest give a link the size of the file it names.
    @Test func aSymbolicLinkIsRecordedWithItsTargetsSize() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let target = "\(scratch.path)/a-file-with-a-long-name-so-the-link-is-longer-than-it.txt"
        try Data("hello, world".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: "\(scratch.path)/link.txt", withDestinationPath: target)
        let outcome = try run("""
            name: sums
            output: \(scratch.path)/out
            source: {type: files, paths: "\(scratch.path)/link.txt"}
            sink: {type: jsonl, path: files.jsonl}
            """)
        let line = try String(contentsOfFile: "\(scratch.path)/out/files.jsonl", encoding: .utf8)
        let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(row?["bytes"] as? Int == 12)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: outcome.manifest)) as? [String: Any]
        #expect((manifest?["inputs"] as? [[String: Any]])?.first?["bytes"] as? Int == 12)
    }
}
