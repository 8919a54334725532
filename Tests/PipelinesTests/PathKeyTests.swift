import Foundation
import Pipelines
import Testing

/// Keys that name files meet `s3://` URLs: each either takes the URL as it is (the stage reads or
/// writes the bucket) or refuses it, naming the key, before anything runs. None may take it as a
/// local path, which once ran a whole pipeline into a directory named `s3:`.
struct PathKeyTests {
    static let url = "s3://bucket/prefix"

    /// A value of `kind` the checker accepts; files named must exist, so they name this test's source.
    static func placeholder(_ kind: ParameterSpec.Kind) -> String {
        switch kind {
        case let .int(min, max): String(Swift.min(Swift.max(min, 1), max))
        case let .double(min, max): String(Swift.min(Swift.max(min, 1), max))
        case let .choice(choices): choices[0]
        case .bool: "false"
        case .duration: "1s"
        case .output: "o"
        case .inputs, .path: "\"\(#filePath)\""
        case .string, .strings: "x"
        }
    }

    /// The pipeline holding `spec` as its source, middle stage or sink, its required parameters
    /// filled in and `key` set to `value`.
    static func yaml(_ spec: StageSpec, _ key: String, _ value: String) -> String {
        let parameters = spec.parameters.filter { $0.required || $0.name == key }.map {
            "\($0.name): \($0.name == key ? "\"\(value)\"" : placeholder($0.kind))"
        }
        let stage = "{" + (["type: \(spec.type)"] + parameters).joined(separator: ", ") + "}"
        return """
            name: urls
            output: out
            source: \(spec.role == .source ? stage : "{type: files, paths: \"\(#filePath)\"}")
            stages: [\(spec.role == .stage ? stage : "")]
            sink: \(spec.role == .sink ? stage : "{type: jsonl, path: x.jsonl}")
            """
    }

    static func keyPath(_ spec: StageSpec, _ key: String) -> String {
        switch spec.role {
        case .source: "source.\(key)"
        case .stage: "stages[0].\(key)"
        case .sink: "sink.\(key)"
        }
    }

    @Test func everyPathKeyOfEveryStageTakesAnS3URLOrRefusesItByName() throws {
        var checked = 0
        for spec in StageCatalog.standard.all {
            for parameter in spec.parameters {
                guard let objects = parameter.kind.objects else { continue }
                checked += 1
                let keyPath = Self.keyPath(spec, parameter.name)
                let yaml = Self.yaml(spec, parameter.name, Self.url)
                if objects {
                    let plan = try PipelineFile().plan(yaml: yaml, file: "urls.yaml")
                    let stage = try #require(plan.stages.first { $0.spec.type == spec.type })
                    let taken = [stage.parameters.optionalString(parameter.name)].compactMap { $0 }
                        + stage.parameters.strings(parameter.name) + stage.parameters.inputs(parameter.name).map(\.absoluteString)
                    #expect(taken == [Self.url], "\(keyPath) takes \(Self.url) as \(taken)")
                } else {
                    #expect("\(keyPath) takes \(Self.url) as a local path") {
                        try PipelineFile().plan(yaml: yaml, file: "urls.yaml")
                    } throws: { error in
                        let problems = (error as? Diagnostics)?.problems ?? []
                        return problems.contains { $0.keyPath == keyPath && $0.message.contains("'\(Self.url)' is a URL") }
                    }
                }
            }
        }
        #expect(checked >= 15)
    }

    /// A key declared a plain string but described as a file would escape the walk above.
    @Test func everyKeyDescribedAsAFileOrDirectoryIsDeclaredAPath() {
        for spec in StageCatalog.standard.all {
            for parameter in spec.parameters where parameter.kind == .string || parameter.kind == .strings {
                let help = parameter.help.lowercased()
                let namesFile = ["file", "director", "s3://", "vocab.txt", "shards"].contains { help.contains($0) }
                    && !help.hasPrefix("the field")
                #expect(!namesFile, "\(spec.type).\(parameter.name) is described as a path but declared \(parameter.kind)")
            }
        }
    }

    @Test func aURLAsTheRunsOutputIsRefusedWithTheReason() {
        #expect {
            try PipelineFile().plan(yaml: """
                name: urls
                output: \(Self.url)
                source: {type: files, paths: "\(#filePath)"}
                sink: {type: jsonl, path: x.jsonl}
                """, file: "urls.yaml")
        } throws: { error in
            let problems = (error as? Diagnostics)?.problems ?? []
            return problems.count == 1 && problems[0].keyPath == "output"
                && problems[0].message.contains("the run's output must be a local directory")
        }
    }

    /// Run records take buckets, but only as s3://; inputs also http(s), but no other scheme.
    @Test func aURLOtherThanS3IsRefusedWhereBucketsAreTaken() {
        #expect {
            try PipelineFile().plan(yaml: """
                name: urls
                output: out
                options: {quarantine: "https://example.com/q.jsonl"}
                source: {type: files, paths: "ftp://example.com/data"}
                sink: {type: jsonl, path: x.jsonl}
                """, file: "urls.yaml")
        } throws: { error in
            let problems = (error as? Diagnostics)?.problems ?? []
            return problems.map(\.keyPath) == ["options.quarantine", "source.paths"]
                && problems[0].message.contains("only s3:// URLs")
                && problems[1].message.contains("only s3://, http:// and https:// URLs")
        }
    }
}
