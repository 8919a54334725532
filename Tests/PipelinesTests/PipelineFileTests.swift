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
}
