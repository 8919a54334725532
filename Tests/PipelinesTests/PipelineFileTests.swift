import Foundation
import Pipelines
import Testing

/// Pipeline files: every problem reported with file, line and key, before anything runs.
struct PipelineFileTests {
    let file = PipelineFile()

    func problems(_ yaml: String, overrides: [String] = []) -> [Diagnostic] {
        do {
            _ = try file.plan(yaml: yaml, file: "p.yaml", overrides: overrides)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func validFileBecomesAPlan() throws {
        let plan = try file.plan(yaml: """
            name: sums
            output: out/sums
            options: {on_error: skip, item_timeout: 250ms, chunk_size: 8}
            source: {type: files, paths: Package.swift}
            stages:
              - {type: checksum, workers: 3, ordered: false, algorithm: md5}
            sink: {type: jsonl, path: sums.jsonl}
            """, file: "p.yaml")
        #expect(plan.name == "sums")
        #expect(plan.stages.map(\.name) == ["files", "checksum", "jsonl"])
        #expect(plan.stages[1].workers == 3)
        #expect(plan.stages[1].ordered == false)
        #expect(plan.stages[1].parameters.string("algorithm") == "md5")
        #expect(plan.stages[2].parameters.output("path").relativePath == "out/sums/sums.jsonl")
        #expect(plan.options.errorPolicy == .skip)
        #expect(plan.options.itemTimeout == .milliseconds(250))
        #expect(plan.options.chunkSize == 8)
    }

    @Test func reportsEveryProblemWithLineAndKey() {
        let found = problems("""
            name: broken
            output: out/x
            options:
              on_eror: skip
            source:
              type: filez
            stages:
              - type: checksum
                wokers: 2
                algorithm: sha3
              - type: jsonl
                path: here.jsonl
            sink:
              type: jsonl
            """)
        let summary = found.map { "\($0.line) \($0.keyPath)" }
        #expect(summary == [
            "4 options.on_eror", "6 source.type", "9 stages[0].wokers", "10 stages[0].algorithm",
            "11 stages[1].type", "14 sink.path",
        ])
        #expect(found[0].message.contains("did you mean 'on_error'"))
        #expect(found[1].message.contains("unknown stage type 'filez'; did you mean 'files'"))
        #expect(found[2].message.contains("did you mean 'workers'"))
        #expect(found[4].message == "'jsonl' is a sink, not a stage")
        #expect(found[5].message.hasPrefix("missing (required)"))
        #expect(found[0].description.hasPrefix("p.yaml:4:"))
    }

    @Test func wrongTypesAndMissingFilesAreNamed() {
        let found = problems("""
            name: types
            output: out/x
            options: {chunk_size: lots, queue_capacity: 0}
            source: {type: files, paths: [no/such/dir/*.wav, Package.swift]}
            stages: [{type: checksum, workers: two}]
            sink: {type: jsonl, path: [a, b]}
            """)
        let messages = found.map { "\($0.line) \($0.keyPath): \($0.message)" }
        #expect(messages.contains("3 options.chunk_size: expected an integer, got 'lots'"))
        #expect(messages.contains("3 options.queue_capacity: 0 is out of range 1...65536"))
        #expect(messages.contains { $0.hasPrefix("4 source.paths: no file matches 'no/such/dir/*.wav'") })
        #expect(messages.contains("5 stages[0].workers: expected an integer, got 'two'"))
        #expect(messages.contains("6 sink.path: expected a file path, got a list"))
    }

    /// Values from `--set` are blamed on the argument, also in a mapping the override created.
    @Test func overrideProblemsNameTheSetArgument() {
        let yaml = "name: n\noutput: out\noptions:\n  on_error: skip\nsource: {type: files, paths: \"\(#filePath)\"}\nsink: {type: jsonl, path: x.jsonl}\n"
        #expect {
            try file.plan(yaml: yaml, file: "p.yaml", overrides: ["options.on_error=skipp", "sink.extra.deep=1", "options"])
        } throws: { error in
            (error as? Diagnostics)?.problems.map(\.description) == ["--set options: expected key=value"]
        }
        #expect {
            try file.plan(yaml: yaml, file: "p.yaml", overrides: ["options.on_error=skipp", "sink.extra.deep=1"])
        } throws: { error in
            let problems = (error as? Diagnostics)?.problems.map(\.description) ?? []
            return problems.count == 2
                && problems.contains("--set options.on_error=skipp: options.on_error: 'skipp' is not one of fail, skip; did you mean 'skip'?")
                && problems.contains { $0.hasPrefix("--set sink.extra.deep=1: sink.extra: unknown key") }
        }
    }

    @Test func yamlSyntaxErrorsCarryTheLine() {
        let found = problems("name: x\nsource: {type: files\nsink: y\n")
        #expect(found.count == 1)
        #expect(found[0].line >= 2)
        #expect(found[0].message.hasPrefix("invalid YAML"))
    }

    @Test func duplicateStageNamesAreRejected() {
        let found = problems("""
            name: dup
            output: out/x
            source: {type: files, paths: Package.swift}
            stages: [{type: checksum}, {type: checksum}]
            sink: {type: jsonl, path: a.jsonl}
            """)
        #expect(found.map(\.message) == ["stage name 'checksum' is used twice (lines 4 and 4); give one a `name:`"])
    }

    @Test func setOverridesValuesBeforeChecking() throws {
        let yaml = """
            name: over
            output: out/x
            source: {type: files, paths: Package.swift}
            stages: [{type: checksum}]
            sink: {type: jsonl, path: a.jsonl}
            """
        let plan = try file.plan(yaml: yaml, file: "p.yaml",
                                 overrides: ["stages.0.workers=4", "options.on_error=skip", "output=out/y"])
        #expect(plan.stages[1].workers == 4)
        #expect(plan.options.errorPolicy == .skip)
        #expect(plan.outputDirectory.relativePath == "out/y")
        #expect(problems(yaml, overrides: ["stages.3.workers=1"]).first?.message == "no item 3 in a list of 1")
        #expect(problems(yaml, overrides: ["stages.0.workers=many"]).first?.keyPath == "stages[0].workers")
    }

    /// A scratch directory for pipeline files and what they write.
    func scratch() throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-obstacles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A pipeline that reads what another writes, before that one has run: its file is right,
    /// but it cannot run yet, and the obstacle names the pipeline file beside it that writes the input.
    @Test func anInputNotWrittenYetNamesThePipelineThatWritesIt() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = RetroMAEStagesTests.root.appendingPathComponent("samples/retromae/vocab.txt").path
        try """
            name: blocks
            output: \(dir.path)/out/blocks
            source: {type: files, paths: "\(#filePath)"}
            sink: {type: shard_writer, path: blocks, columns: ["path:str"]}
            """.write(to: dir.appendingPathComponent("blocks.yaml"), atomically: true, encoding: .utf8)
        try """
            name: train
            output: \(dir.path)/out/train
            source: {type: files, paths: "\(#filePath)"}
            sink: {type: retromae_train, tokenizer: "\(vocab)", out: trainer}
            """.write(to: dir.appendingPathComponent("train.yaml"), atomically: true, encoding: .utf8)
        let reader = dir.appendingPathComponent("continue.yaml")
        try """
            name: continue
            output: \(dir.path)/out/continue
            source: {type: shards, paths: [\(dir.path)/out/blocks/blocks]}
            sink:
              type: retromae_train
              tokenizer: "\(vocab)"
              out: trainer
              init: \(dir.path)/out/train/trainer/model
            """.write(to: reader, atomically: true, encoding: .utf8)

        let plan = try file.load(path: reader.path)
        let found = file.obstacles(plan).map { "\($0.line) \($0.keyPath): \($0.message)" }
        #expect(found == [
            "3 source.paths: \(dir.path)/out/blocks/blocks holds no dataset yet (no index.json); "
                + "it is written by \(dir.path)/blocks.yaml (output \(dir.path)/out/blocks): run that first",
            "8 sink.init: \(dir.path)/out/train/trainer/model holds no model yet (no config.json); "
                + "it is written by \(dir.path)/train.yaml (output \(dir.path)/out/train): run that first",
        ])

        for (made, contents) in [("out/blocks/blocks/index.json", "{}"), ("out/train/trainer/model/config.json", "{}")] {
            let url = dir.appendingPathComponent(made)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        #expect(file.obstacles(plan).isEmpty)
    }

    /// Outputs taken by the wrong kind of file, as the run would find them: a JSON lines sink's
    /// path that is a directory, and a run's output that is a file.
    @Test func anOutputPathOfTheWrongKindIsNamedWithItsKey() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("out/sums.jsonl"), withIntermediateDirectories: true)
        let yaml = """
            name: sums
            output: \(dir.path)/out
            source: {type: files, paths: "\(#filePath)"}
            sink: {type: jsonl, path: sums.jsonl}
            """
        let directory = try file.plan(yaml: yaml, file: "p.yaml")
        #expect(file.obstacles(directory).map(\.description) == [
            "p.yaml:4:27: sink.path: \(dir.path)/out/sums.jsonl: is a directory; this sink writes a JSON lines file there and replaces only files (name a file instead)",
        ])

        try Data().write(to: dir.appendingPathComponent("taken"))
        let taken = try file.plan(yaml: yaml, file: "p.yaml", overrides: ["output=\(dir.path)/taken"])
        #expect(file.obstacles(taken).map(\.description) == [
            "--set output=\(dir.path)/taken: output: \(dir.path)/taken: cannot create the output directory: it is a file",
        ])
    }
}
