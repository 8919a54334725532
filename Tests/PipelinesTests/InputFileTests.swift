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

    /// A checksum run over `paths` (a YAML value) into `scratch/out/sums.jsonl`, bad inputs skipped
    /// into the quarantine when `skipping`.
    func checksums(_ scratch: Scratch, paths: String, skipping: Bool = false) throws -> PipelineRunner.Outcome {
        try run("""
            name: sums
            output: \(scratch.path)/out
            \(skipping ? "options: {on_error: skip}" : "")
            source: {type: files, paths: \(paths)}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: sums.jsonl}
            """)
    }

    /// The lines of the run's sums.jsonl.
    func sums(_ scratch: Scratch) throws -> [Substring] {
        try String(contentsOfFile: "\(scratch.path)/out/sums.jsonl", encoding: .utf8).split(separator: "\n")
    }

    /// Without `item_timeout`, a FIFO among the inputs used to block the checksum stage forever.
    @Test(.timeLimit(.minutes(1)), arguments: ["in", "in/*.txt", "in/**"])
    func aFIFOInADirectoryOrGlobIsLeftOutAndTheRunEnds(pattern: String) throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let outcome = try checksums(scratch, paths: "\"\(scratch.path)/\(pattern)\"")
        #expect(outcome.report.completion == .finished)
        let lines = try sums(scratch)
        #expect(lines.count == 1 && lines[0].contains("a.txt"))
    }

    /// Named on its own, a FIFO or a device is quarantined with what it is, not called empty.
    @Test(.timeLimit(.minutes(1)))
    func aFIFOOrDeviceNamedDirectlyIsQuarantinedWithWhatItIs() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        let outcome = try checksums(scratch, paths: "[\"\(scratch.path)/in/pipe.txt\", /dev/zero, \"\(scratch.path)/in/a.txt\"]",
                                    skipping: true)
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

    /// Adds to `in/` a file whose name ends in the byte 0xFF (not UTF-8), a link to itself and a
    /// link to its own directory, made from bytes with creat(2) and symlink(2).
    func addUnreadableEntries(_ scratch: Scratch) throws {
        let bad = Array("\(scratch.path)/in/bad-".utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0]
        let descriptor = creat(bad, 0o644)
        guard descriptor >= 0, close(descriptor) == 0, symlink("loop", "\(scratch.path)/in/loop") == 0,
              symlink(".", "\(scratch.path)/in/up") == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// A name that is not UTF-8 and symbolic link loops used to vanish from the run without a word:
    /// now each is quarantined with the reason, the name's other bytes kept as \xHH.
    @Test(.timeLimit(.minutes(1)), arguments: ["in", "in/**", "in/*"])
    func entriesThatCannotBeReadAreQuarantinedWithTheReason(pattern: String) throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        try addUnreadableEntries(scratch)
        let outcome = try checksums(scratch, paths: "\"\(scratch.path)/\(pattern)\"", skipping: true)
        #expect(outcome.report.completion == .finished)
        let lines = try sums(scratch)
        #expect(lines.count == 1 && lines[0].contains("a.txt"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: outcome.manifest)) as? [String: Any]
        let quarantined = (manifest?["quarantined"] as? [[String: Any]] ?? []).map { "\($0["item"] ?? ""): \($0["error"] ?? "")" }
        let records = try String(contentsOfFile: "\(scratch.path)/out/quarantine.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == quarantined.count)
        #expect(quarantined.contains { $0.contains("in/bad-\\xFF: ") && $0.contains("the name is not valid UTF-8") })
        #expect(quarantined.contains { $0.contains("in/loop: ") && $0.contains("is a symbolic link loop") })
        // A glob's `*` does not descend, so the link to the directory is a loop only when walked.
        let walked = pattern != "in/*"
        #expect(quarantined.contains { $0.contains("in/up") && $0.contains("symbolic link loop") } == walked)
        #expect(quarantined.count == (walked ? 3 : 2))
    }

    /// Outside a source nothing can quarantine them, so they stop the plan, naming the key.
    @Test func entriesThatCannotBeReadOutsideASourceAreAProblemOfTheKey() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(at: scratch.root) }
        try addUnreadableEntries(scratch)
        #expect {
            try PipelineFile().plan(yaml: """
                name: ids
                output: \(scratch.path)/out
                source: {type: text, paths: "\(scratch.path)/in/a.txt"}
                stages: [{type: tokenize, tokenizer: "\(scratch.path)/in"}]
                sink: {type: jsonl, path: ids.jsonl}
                """, file: "test.yaml")
        } throws: { error in
            let problems = (error as? Diagnostics)?.problems ?? []
            return problems.count == 1 && problems[0].keyPath == "stages[0].tokenizer"
                && problems[0].message.contains("bad-\\xFF: the name is not valid UTF-8")
        }
    }
}
