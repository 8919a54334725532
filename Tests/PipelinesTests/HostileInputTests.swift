import Foundation
import PipelineCore
@testable import Pipelines
import Shards
import Testing

/// Pipeline files and sinks given hostile or careless input: a clear error, never lost data,
/// never a trap.
struct HostileInputTests {
    let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-hostile-\(UUID().uuidString)")

    func problems(_ yaml: String, catalog: StageCatalog = .standard) -> [Diagnostic] {
        do {
            _ = try PipelineFile(catalog: catalog).plan(yaml: yaml, file: "p.yaml")
            return []
        } catch {
            return error.problems
        }
    }

    func run(_ yaml: String) throws -> PipelineRunner.Outcome {
        try PipelineRunner(plan: try PipelineFile().plan(yaml: yaml, file: "p.yaml"), progress: nil).run()
    }

    func samples(_ count: Int, _ make: (Int) -> Sample) -> [Sample] { (0..<count).map(make) }

    // MARK: Data loss

    /// A manifest and a quarantine in one place would overwrite each other: refused with the key.
    @Test func manifestAndQuarantineMustDiffer() {
        let found = problems("""
            name: same
            output: out/same
            options: {manifest: records.jsonl, quarantine: ./records.jsonl}
            source: {type: files, paths: Package.swift}
            sink: {type: jsonl, path: results.jsonl}
            """)
        #expect(found.contains { $0.keyPath == "options.quarantine" && $0.message.contains("same place as the manifest") }, "\(found)")
    }

    /// A sink path naming a directory the user made: refused before the run, the directory intact.
    @Test func jsonlSinkRefusesAnExistingDirectory() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let kept = root.appendingPathComponent("out/results/keep.txt")
        try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: kept)
        #expect(throws: StageError.self) {
            _ = try run("""
                name: clobber
                output: \(root.path)/out
                source: {type: files, paths: Package.swift}
                sink: {type: jsonl, path: results}
                """)
        }
        #expect(try String(contentsOf: kept, encoding: .utf8) == "precious")
        let error = #expect(throws: StageError.self) { try JSONLinesSink(url: kept.deletingLastPathComponent()) }
        #expect(error?.code == .outputTaken)
        #expect(error?.reason == "is a directory; this sink writes a JSON lines file there and replaces only files (name a file instead)")
    }

    /// Ctrl-C (a stopped run) keeps the `.partial`; only a finished run gets the final name.
    @Test func stoppedRunDoesNotCommitThePartialFile() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let url = root.appendingPathComponent("rows.jsonl")
        for completion in [Completion.stopped, .failed, .finished] {
            let sink = try JSONLinesSink(url: url)
            try sink.consume(Sample(["id": .string("a")]))
            try sink.finish(completion)
            #expect(FileManager.default.fileExists(atPath: url.path) == (completion == .finished), "\(completion)")
        }
        #expect(try String(contentsOf: url, encoding: .utf8) == "{\"id\":\"a\"}\n")
    }

    /// An output directory that cannot be created names the blocking file, not an NSError.
    @Test func outputDirectoryBlockedByAFileIsNamed() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data().write(to: root.appendingPathComponent("out"))
        do {
            _ = try run("""
                name: blocked
                output: \(root.path)/out/run
                source: {type: files, paths: Package.swift}
                sink: {type: jsonl, path: rows.jsonl}
                """)
            Issue.record("the run should not start")
        } catch let error as StageError {
            #expect(error.description == "\(root.path)/out/run: cannot create the output directory: \(root.path)/out is a file")
        }
    }

    /// Items without ids (batches) get their position; a repeated id is refused (quarantined
    /// under skip); every index row names files that exist, and each file is in one row.
    @Test func npySinkNamesAreUniqueBoundedAndIndexed() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("arrays")
        let array = Value.array(NDArray(shape: [2], values: [Int32(1), 2]))
        let long = String(repeating: "x", count: 400)
        let items = [
            Sample(["ids": array]), Sample(["ids": array]),                      // no id: positions 0, 1
            Sample(["id": .string("clip/a"), "ids": array]),                     // clip_a
            Sample(["id": .string("clip/a"), "ids": array]),                     // collision
            Sample(["id": .string(long), "ids": array]),                         // too long: position 4
        ]
        let report = try Pipeline(name: "npy", options: PipelineOptions(errorPolicy: .skip))
            .source("items", SequenceSource(items))
            .sink("npy", try NPYFilesSink(directory: directory)).run()
        #expect(report.quarantined.count == 1)
        #expect(report.quarantined.first?.error.contains("clip_a.*.npy, which clip/a already wrote") == true)
        let rows = try String(contentsOf: directory.appendingPathComponent("index.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let named = rows.map { $0["ids"] as! String }
        #expect(named == ["00000000.ids.npy", "00000001.ids.npy", "clip_a.ids.npy", "00000004.ids.npy"])
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".npy") }
        #expect(Set(files) == Set(named))
    }

    // MARK: Numbers that used to trap

    @Test func durationsOutsideAMillisecondToAYearAreRejected() {
        for (text, message) in [("inf", "expected a duration"), ("1e19s", "outside 1ms...365d"),
                                ("0.0001ms", "outside 1ms...365d"), ("nan", "expected a duration"),
                                ("-5s", "outside 1ms...365d")] {
            let found = problems("""
                name: t
                output: out/t
                options: {item_timeout: \(text)}
                source: {type: files, paths: Package.swift}
                sink: {type: jsonl, path: x.jsonl}
                """)
            #expect(found.map(\.description) == ["p.yaml:3:25: options.item_timeout: " + (message == "expected a duration"
                ? "expected a duration such as 30s, 500ms or 2m, got '\(text)'" : "'\(text)' is outside 1ms...365d")], "\(text)")
        }
    }

    @Test func nonFiniteNumbersAreRejected() {
        let spec = StageSpec(type: "wait", role: .stage, summary: "", parameters: [
            ParameterSpec("seconds", .double(min: 0), help: ""),
        ]) { _, _ in .map { [$0] } }
        let catalog = StageCatalog(StageCatalog.standard.all + [spec])
        let found = problems("""
            name: t
            output: out/t
            source: {type: files, paths: Package.swift}
            stages: [{type: wait, seconds: inf}]
            sink: {type: jsonl, path: x.jsonl}
            """, catalog: catalog)
        #expect(found.map(\.description) == ["p.yaml:4:32: stages[0].seconds: expected a finite number, got 'inf'"])
    }

    @Test func watchdogWithAHugeLimitDoesNotTrap() throws {
        let report = try Pipeline(name: "slow", options: PipelineOptions(itemTimeout: .seconds(Int64.max)))
            .source("n", SequenceSource([1, 2, 3])).forEach("f") { _ in }.run()
        #expect(report.completion == .finished)
    }

    @Test func maxLineBytesHasAnUpperBound() {
        let found = problems("""
            name: t
            output: out/t
            source: {type: text, paths: Package.swift, max_line_bytes: 9223372036854775807}
            sink: {type: jsonl, path: x.jsonl}
            """)
        #expect(found.map(\.message) == ["9223372036854775807 is out of range 1...1073741824"])
    }

    /// An index claiming 2^62 samples stops the run at once with the reason, instead of the
    /// source spinning through 2^62 failing positions.
    @Test(.timeLimit(.minutes(1))) func shardsSourceRefusesAnImpossibleSampleCount() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let dataset = root.appendingPathComponent("data")
        let writer = try ShardWriter(directory: dataset, config: ShardConfig(columns: ["id": .int]))
        for i in 0..<5 { try writer.write(["id": .int(Int64(i))]) }
        try writer.finish()
        // A share of inf made the mixture's counts NaN, which trapped converting to Int.
        let share = #expect(throws: PlanError.self) {
            _ = try run("""
                name: mix
                output: \(root.path)/out
                source: {type: shards, paths: \(dataset.path), proportions: inf}
                sink: {type: jsonl, path: rows.jsonl}
                """)
        }
        #expect(share?.description == "stage 'shards': proportions must be 1 finite non-negative numbers, one per path")
        let index = dataset.appendingPathComponent("index.json")
        try String(contentsOf: index, encoding: .utf8).replacingOccurrences(of: #""samples": 5"#, with: #""samples": 4611686018427387904"#)
            .write(to: index, atomically: true, encoding: .utf8)
        let error = #expect(throws: ShardError.self) {
            _ = try run("""
                name: spin
                output: \(root.path)/out
                options: {on_error: skip}
                source: {type: shards, paths: \(dataset.path)}
                sink: {type: jsonl, path: rows.jsonl}
                """)
        }
        #expect(error?.code == .damaged)
        #expect(error?.description.hasPrefix("\(index.path) (shard 0): claims 4611686018427387904 samples") == true)
    }

    // MARK: YAML

    @Test func everyDuplicateKeyIsReportedWhereItIs() {
        let found = problems("""
            name: t
            output: out/t
            name: again
            source: {type: files, paths: Package.swift, paths: x}
            stages:
              - type: checksum
                algorithm: md5
                algorithm: sha1
            sink: {type: jsonl, path: x.jsonl}
            """)
        #expect(found.map(\.description) == [
            "p.yaml:3:1: name: duplicate key (first at line 1)",
            "p.yaml:4:45: source.paths: duplicate key (first at line 4)",
            "p.yaml:8:5: stages[0].algorithm: duplicate key (first at line 7)",
        ])
    }

    /// The "billion laughs": 642 bytes that expand to 10^9 values through aliases.
    @Test(.timeLimit(.minutes(1))) func aliasExpansionIsBounded() {
        var yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...8 {
            let previous = "*a\(level - 1)"
            yaml += "a\(level): &a\(level) [" + Array(repeating: previous, count: 10).joined(separator: ", ") + "]\n"
        }
        yaml += "name: boom\n"
        let found = problems(yaml)
        #expect(found.count == 1)
        #expect(found.first?.message == "aliases expand the document past 100000 values; write them out or use fewer aliases")
    }
}
