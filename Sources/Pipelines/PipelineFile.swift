import Foundation
import ObjectStore
import PipelineCore
import Settings

/// A pipeline file checked against the stage catalog: everything needed to run it.
public struct PipelinePlan: Sendable {
    /// One stage as the file declares it.
    public struct Stage: Sendable {
        public var name: String
        public var spec: StageSpec
        public var parameters: StageParameters
        public var workers: Int
        public var ordered: Bool
        public var line: Int
    }

    public var name: String
    public var file: String
    public var outputDirectory: URL
    public var options: PipelineOptions
    /// Where the manifest and the quarantine go; `options.quarantineFile` is the latter's local file.
    public var records: RunRecords
    /// Source first, sink last.
    public var stages: [Stage]
    /// The document after `--set` overrides, recorded in the manifest.
    public var config: ConfigNode

    /// Whether the sink continues an earlier run (`resume: true`).
    public var resumes: Bool {
        if case .bool(true)? = stages.last?.parameters.values["resume"] { return true }
        return false
    }
}

/// Reads and checks pipeline YAML files.
public struct PipelineFile {
    public let catalog: StageCatalog

    public init(catalog: StageCatalog = .standard) { self.catalog = catalog }

    static let topLevelKeys = ["name", "description", "output", "options", "source", "stages", "sink"]
    static let optionKeys = ["chunk_size", "queue_capacity", "on_error", "item_timeout", "manifest", "quarantine"]

    /// Loads `path`, applies `key=value` overrides, and checks everything, reporting every
    /// problem at once with file, line and key.
    public func load(path: String, overrides: [String] = []) throws(Diagnostics) -> PipelinePlan {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Diagnostics([Diagnostic(file: path, line: 0, column: 0, keyPath: "",
                                          message: "cannot read the pipeline file (missing or unreadable)")], failure: .io)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Diagnostics([Diagnostic(file: path, line: 0, column: 0, keyPath: "", message: "the file is not UTF-8")])
        }
        return try plan(yaml: text, file: path, overrides: overrides)
    }

    /// Checks pipeline YAML given as text; `file` names it in diagnostics.
    public func plan(yaml: String, file: String, overrides: [String] = []) throws(Diagnostics) -> PipelinePlan {
        var root = try ConfigNode.parse(yaml: yaml, file: file)
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw Diagnostics([Diagnostic(file: "--set \(override)", line: 0, column: 0, keyPath: "",
                                              message: "expected key=value")])
            }
            let key = override[..<equals].split(separator: ".")
            try root.set(path: key[...], to: String(override[override.index(after: equals)...]), argument: override)
        }
        var checker = Checker(file: file, catalog: catalog)
        // check(_:) returns nil only after recording a problem.
        guard let plan = checker.check(root), checker.problems.isEmpty else { throw Diagnostics(checker.problems) }
        return plan
    }
}

/// Walks one document, collecting problems instead of stopping at the first.
private struct Checker {
    let file: String
    let catalog: StageCatalog
    var problems: [Diagnostic] = []

    /// Records a problem at `node`'s place (`Diagnostic(at:)`).
    mutating func problem(_ node: ConfigNode?, _ keyPath: String, _ message: String, line: Int? = nil) {
        problems.append(Diagnostic(at: node, in: file, line: line, keyPath: keyPath, message: message))
    }

    mutating func check(_ root: ConfigNode) -> PipelinePlan? {
        guard let entries = root.entries else {
            problem(root, "", "a pipeline file is a mapping with name, output, source, stages and sink")
            return nil
        }
        checkKeys(entries, allowed: PipelineFile.topLevelKeys, at: "")
        let name = requiredScalar(root, "name", at: "")
        var output = requiredScalar(root, "output", at: "")
        if let text = output, ObjectURL.urlScheme(text) != nil {
            problem(root["output"], "output", "'\(text)': the run's output must be a local directory (it holds the sinks' files, "
                    + "the records and the staging of uploads); name a bucket in the sink's path or in options.manifest / options.quarantine instead")
            output = nil
        }
        let outputDirectory = URL(fileURLWithPath: output ?? ".")
        var options = checkOptions(root["options"], outputDirectory: outputDirectory)
        let records = RunRecords(outputDirectory: outputDirectory,
                                 manifest: recordPlace(root["options"]?["manifest"], "options.manifest", outputDirectory),
                                 quarantine: recordPlace(root["options"]?["quarantine"], "options.quarantine", outputDirectory))
        options.quarantineFile = records.localFile(records.quarantine)
        if records.localFile(records.manifest).standardizedFileURL == records.localFile(records.quarantine).standardizedFileURL {
            problem(root["options"] ?? root, "options.quarantine", "names the same place as the manifest (\(records.manifest)): one would overwrite the other")
        }

        var stages: [PipelinePlan.Stage] = []
        if let source = root["source"] {
            stages += checkStage(source, at: "source", role: .source, outputDirectory: outputDirectory)
        } else {
            problem(root, "source", "missing: every pipeline needs a source")
        }
        if let list = root["stages"] {
            if let items = list.items {
                for (index, item) in items.enumerated() {
                    stages += checkStage(item, at: "stages[\(index)]", role: .stage, outputDirectory: outputDirectory)
                }
            } else {
                problem(list, "stages", "expected a list of stages")
            }
        }
        if let sink = root["sink"] {
            stages += checkStage(sink, at: "sink", role: .sink, outputDirectory: outputDirectory)
        } else {
            problem(root, "sink", "missing: every pipeline needs a sink")
        }
        var seen: [String: Int] = [:]
        for stage in stages {
            if let first = seen[stage.name] {
                problem(nil, "name", "stage name '\(stage.name)' is used twice (lines \(first) and \(stage.line)); "
                        + "give one a `name:`", line: stage.line)
            }
            seen[stage.name] = stage.line
        }
        guard let name, problems.isEmpty else { return nil }
        return PipelinePlan(name: name, file: file, outputDirectory: outputDirectory, options: options,
                            records: records, stages: stages, config: root)
    }

    /// `options.manifest` or `options.quarantine`: a file (relative to the output directory) or
    /// `s3://bucket/key`; nil when absent or wrong (the default place then).
    mutating func recordPlace(_ node: ConfigNode?, _ keyPath: String, _ outputDirectory: URL) -> RunRecords.Place? {
        guard let node else { return nil }
        guard let text = node.scalar, !text.isEmpty else {
            problem(node, keyPath, "expected a file path or s3://bucket/key")
            return nil
        }
        if refusesURL(text, node, keyPath, objects: true) { return nil }
        guard ObjectURL.isObjectURL(text) else {
            return .file(text.hasPrefix("/") ? URL(fileURLWithPath: text) : outputDirectory.appendingPathComponent(text))
        }
        guard let object = ObjectURL(text), !object.key.isEmpty, !object.key.hasSuffix("/") else {
            problem(node, keyPath, "'\(text)' names no object: expected s3://bucket/key with a key that is not a folder")
            return nil
        }
        return .object(object)
    }

    mutating func requiredScalar(_ node: ConfigNode, _ key: String, at path: String) -> String? {
        let keyPath = path.isEmpty ? key : "\(path).\(key)"
        guard let value = node[key] else {
            problem(node, keyPath, "missing (required)")
            return nil
        }
        guard let text = value.scalar, !text.isEmpty else {
            problem(value, keyPath, "expected a plain value")
            return nil
        }
        return text
    }

    mutating func checkKeys(_ entries: [(key: String, keyLine: Int, value: ConfigNode)], allowed: [String],
                            at path: String) {
        for entry in entries where !allowed.contains(entry.key) {
            let keyPath = path.isEmpty ? entry.key : "\(path).\(entry.key)"
            problem(entry.value, keyPath, "unknown key" + suggestion(entry.key, among: allowed)
                    + "; allowed: \(allowed.joined(separator: ", "))", line: entry.keyLine)
        }
    }

    mutating func checkOptions(_ node: ConfigNode?, outputDirectory: URL) -> PipelineOptions {
        var options = PipelineOptions()
        guard let node else { return options }
        guard let entries = node.entries else {
            problem(node, "options", "expected a mapping")
            return options
        }
        checkKeys(entries, allowed: PipelineFile.optionKeys, at: "options")
        let specs = [
            ParameterSpec("chunk_size", .int(min: 1, max: 1 << 20), help: ""),
            ParameterSpec("queue_capacity", .int(min: 1, max: 1 << 16), help: ""),
            ParameterSpec("on_error", .choice(ErrorPolicy.allCases.map(\.rawValue)), help: ""),
            ParameterSpec("item_timeout", .duration, help: ""),
        ]
        for spec in specs {
            guard let value = node[spec.name], let typed = convert(value, spec, at: "options.\(spec.name)",
                                                                   outputDirectory: outputDirectory)
            else { continue }
            switch typed {
            case let .int(n) where spec.name == "chunk_size": options.chunkSize = n
            case let .int(n): options.queueCapacity = n
            case let .string(policy): options.errorPolicy = ErrorPolicy(rawValue: policy) ?? .fail
            case let .duration(limit): options.itemTimeout = limit
            default: break
            }
        }
        return options
    }

    mutating func checkStage(_ node: ConfigNode, at path: String, role: StageSpec.Role,
                             outputDirectory: URL) -> [PipelinePlan.Stage] {
        guard let entries = node.entries else {
            problem(node, path, "expected a mapping with a `type`")
            return []
        }
        guard let type = requiredScalar(node, "type", at: path) else { return [] }
        guard let spec = catalog.spec(type) else {
            let known = catalog.specs(role: role).map(\.type)
            problem(node["type"], "\(path).type", "unknown stage type '\(type)'" + suggestion(type, among: known)
                    + "; \(role)s: \(known.joined(separator: ", "))")
            return []
        }
        guard spec.role == role else {
            problem(node["type"], "\(path).type", "'\(type)' is a \(spec.role), not a \(role)")
            return []
        }
        let common = ["type", "name"] + (spec.parallel ? ["workers", "ordered"] : [])
        checkKeys(entries, allowed: common + spec.parameters.map(\.name), at: path)

        var values: [String: ParameterValue] = [:]
        for parameter in spec.parameters {
            let keyPath = "\(path).\(parameter.name)"
            if let value = node[parameter.name] {
                if let typed = convert(value, parameter, at: keyPath, outputDirectory: outputDirectory) {
                    values[parameter.name] = typed
                }
                // A source quarantines what it cannot read; any other stage would train or run without it.
                if role != .source, case let .inputs(found)? = values[parameter.name], !found.unusable.isEmpty {
                    problem(value, keyPath, "cannot read " + found.unusable.map(\.description).joined(separator: "; "))
                }
            } else if let fallback = parameter.defaultValue {
                if let typed = convert(ConfigNode(scalar: fallback, line: node.line), parameter, at: keyPath,
                                       outputDirectory: outputDirectory) {
                    values[parameter.name] = typed
                }
            } else if parameter.required {
                problem(node, keyPath, "missing (required): \(parameter.help)")
            }
        }
        let workerSpec = ParameterSpec("workers", .int(min: 1, max: 256), help: "")
        let orderedSpec = ParameterSpec("ordered", .bool, help: "")
        var workers = 1
        var ordered = true
        if let node = node["workers"], case let .int(n)? = convert(node, workerSpec, at: "\(path).workers",
                                                                  outputDirectory: outputDirectory) {
            workers = n
        }
        if let node = node["ordered"], case let .bool(flag)? = convert(node, orderedSpec, at: "\(path).ordered",
                                                                      outputDirectory: outputDirectory) {
            ordered = flag
        }
        let name = node["name"]?.scalar ?? type
        return [PipelinePlan.Stage(name: name, spec: spec, parameters: StageParameters(stageName: name, values: values),
                                   workers: workers, ordered: ordered, line: node.line)]
    }

    mutating func convert(_ node: ConfigNode, _ spec: ParameterSpec, at keyPath: String,
                          outputDirectory: URL) -> ParameterValue? {
        func scalar(_ expected: String) -> String? {
            guard let text = node.scalar else {
                problem(node, keyPath, "expected \(expected), got a \(node.items != nil ? "list" : "mapping")")
                return nil
            }
            return text
        }
        switch spec.kind {
        case .string:
            return scalar("a string").map(ParameterValue.string)
        case .bool:
            guard let text = scalar("true or false") else { return nil }
            switch text.lowercased() {
            case "true", "yes", "on": return .bool(true)
            case "false", "no", "off": return .bool(false)
            default: problem(node, keyPath, "expected true or false, got '\(text)'"); return nil
            }
        case let .int(min, max):
            guard let text = scalar("an integer") else { return nil }
            guard let value = Int(text) else { problem(node, keyPath, "expected an integer, got '\(text)'"); return nil }
            guard value >= min && value <= max else {
                problem(node, keyPath, "\(value) is out of range \(min)...\(max)")
                return nil
            }
            return .int(value)
        case let .double(min, max):
            guard let text = scalar("a number") else { return nil }
            guard let value = Double(text) else { problem(node, keyPath, "expected a number, got '\(text)'"); return nil }
            guard value.isFinite else { problem(node, keyPath, "expected a finite number, got '\(text)'"); return nil }
            guard value >= min && value <= max else {
                problem(node, keyPath, "\(value) is out of range \(min)...\(max)")
                return nil
            }
            return .double(value)
        case let .choice(choices):
            guard let text = scalar("one of \(choices.joined(separator: ", "))") else { return nil }
            guard choices.contains(text) else {
                problem(node, keyPath, "'\(text)' is not one of \(choices.joined(separator: ", "))"
                        + suggestion(text, among: choices))
                return nil
            }
            return .string(text)
        case .strings:
            return stringList(node, keyPath).map(ParameterValue.strings)
        case let .inputs(objects):
            guard let written = stringList(node, keyPath) else { return nil }
            var patterns: [String] = []
            for pattern in written {
                do { patterns += try BracePattern.expand(pattern) } catch {
                    problem(node, keyPath, "'\(pattern)': \(error.reason)")
                }
            }
            var found = InputPaths()
            for pattern in patterns where !refusesURL(pattern, node, keyPath, objects: objects, web: objects) {
                // Objects in a bucket are listed, and web objects fetched, when the run starts (ObjectInputs), not here.
                if ObjectURL.urlScheme(pattern) != nil {
                    guard let url = URL(string: pattern) else {
                        problem(node, keyPath, "'\(pattern)' is not a well-formed URL (spaces and such are written %20)")
                        continue
                    }
                    found.files.append(url)
                    continue
                }
                let matched = FileGlob.expand(pattern)
                if matched.files.isEmpty && matched.unusable.isEmpty {
                    problem(node, keyPath, "no file matches '\(pattern)' (from \(FileManager.default.currentDirectoryPath))")
                }
                found.files += matched.files
                found.unusable += matched.unusable
            }
            return .inputs(found)
        case .output:
            guard let text = scalar("a file path"), !refusesURL(text, node, keyPath, objects: false) else { return nil }
            return .output(text.hasPrefix("/") ? URL(fileURLWithPath: text)
                                               : outputDirectory.appendingPathComponent(text))
        case let .path(objects, list):
            guard let paths = list ? stringList(node, keyPath) : scalar("a path").map({ [$0] }) else { return nil }
            guard !paths.contains(where: { refusesURL($0, node, keyPath, objects: objects) }) else { return nil }
            return list ? .strings(paths) : .string(paths[0])
        case .duration:
            guard let text = scalar("a duration such as 30s or 500ms") else { return nil }
            guard let seconds = Self.seconds(text) else {
                problem(node, keyPath, "expected a duration such as 30s, 500ms or 2m, got '\(text)'")
                return nil
            }
            guard Self.durationRange.contains(seconds) else {
                problem(node, keyPath, "'\(text)' is outside 1ms...365d")
                return nil
            }
            return .duration(.milliseconds(Int64((seconds * 1000).rounded())))
        }
    }

    /// Reports and returns true when `text` is a URL this key cannot take: any URL where it takes
    /// local paths only (it would become a directory named `s3:`), a URL other than
    /// `s3://bucket/...` where it takes objects, and, where it also takes `web` inputs (read-only
    /// keys naming single files: HTTP has no listing), other than `http(s)://host/...`.
    mutating func refusesURL(_ text: String, _ node: ConfigNode, _ keyPath: String, objects: Bool, web: Bool = false) -> Bool {
        guard let scheme = ObjectURL.urlScheme(text) else { return false }
        if objects && scheme == "s3" {
            guard ObjectURL(text) == nil else { return false }
            problem(node, keyPath, "'\(text)' names no bucket: expected s3://bucket/prefix")
        } else if web && (scheme == "http" || scheme == "https") {
            guard let url = URL(string: text), url.host?.isEmpty == false else {
                problem(node, keyPath, "'\(text)' is not a well-formed http(s)://host/path URL (spaces and such are written %20)")
                return true
            }
            return false
        } else if objects {
            problem(node, keyPath, web ? "'\(text)': only s3://, http:// and https:// URLs are read here"
                                       : "'\(text)': only s3:// URLs are read from object storage")
        } else {
            problem(node, keyPath, "'\(text)' is a URL, and this key takes a local path only (the URL would be read as a "
                    + "directory named '\(scheme):'); s3:// goes in the files, manifest and shards sources, the shard_writer "
                    + "sink's path and options.manifest / options.quarantine; http(s):// in the files and manifest sources")
        }
        return true
    }

    mutating func stringList(_ node: ConfigNode, _ keyPath: String) -> [String]? {
        if let text = node.scalar { return [text] }
        guard let items = node.items else {
            problem(node, keyPath, "expected a string or a list of strings")
            return nil
        }
        var result: [String] = []
        for item in items {
            guard let text = item.scalar else {
                problem(item, keyPath, "expected a string in the list")
                return nil
            }
            result.append(text)
        }
        return result
    }

    /// Durations a pipeline takes: a millisecond (the resolution kept) to a year, so any of them
    /// converts to whole milliseconds and nanoseconds without overflow.
    static let durationRange = 0.001...(365 * 86400.0)

    /// The seconds `30s`, `500ms`, `2m`, `1h`, `1d` or a plain number stands for; nil unless a number.
    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        let (number, scale) = units.first { text.hasSuffix($0.0) }.map { (text.dropLast($0.0.count), $0.1) } ?? (Substring(text), 1)
        guard let value = Double(number), value.isFinite else { return nil }
        return value * scale
    }
}
