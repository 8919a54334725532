import Foundation
import ObjectStore

/// Why a stage cannot run as things stand though its file is right: an input an earlier pipeline
/// has not written yet, an output path taken by the wrong kind of file. Found before the run
/// (`StageSpec.obstacles`), from what is on disk.
public struct Obstacle: Sendable {
    /// The stage's key at fault (`paths`, `init`, `path`).
    public var key: String
    public var message: String
    /// The local input that is not there yet, so the pipeline file that writes it can be named.
    public var missing: URL?

    public init(key: String, _ message: String, missing: URL? = nil) {
        (self.key, self.message, self.missing) = (key, message, missing)
    }
}

extension PipelineFile {
    /// What stops `plan` from running now, each with file, line and key, as `run` would meet it:
    /// the output directory taken by a file, and every stage's obstacles. An input that is not
    /// there yet is said with the pipeline file beside this one whose output holds it ("run it
    /// first"). Empty when nothing on disk is in the way.
    public func obstacles(_ plan: PipelinePlan) -> [Diagnostic] {
        var found: [Diagnostic] = []
        if let taken = OutputPaths.blocked(plan.outputDirectory) {
            found.append(Diagnostic(at: plan.config["output"], in: plan.file, keyPath: "output", message: taken.description))
        }
        let middle = plan.config["stages"]?.items ?? []
        for (index, stage) in plan.stages.enumerated() {
            let (path, node) = switch stage.spec.role {
            case .source: ("source", plan.config["source"])
            case .sink: ("sink", plan.config["sink"])
            case .stage: ("stages[\(index - 1)]", middle.indices.contains(index - 1) ? middle[index - 1] : nil)
            }
            for obstacle in stage.spec.obstacles?(stage.parameters) ?? [] {
                let makers = obstacle.missing.map { writers(of: $0, besides: plan.file) } ?? []
                let hint = makers.isEmpty ? "" : "; it is written by \(makers.joined(separator: " or ")): run that first"
                found.append(Diagnostic(at: node?[obstacle.key] ?? node, in: plan.file, keyPath: "\(path).\(obstacle.key)",
                                        message: obstacle.message + hint))
            }
        }
        return found
    }

    /// The pipeline files in `file`'s directory (but `file`) whose `output` holds `url`, each with
    /// that output: `pipelines/retromae-pretrain.yaml (output out/retromae-pretrain)`.
    func writers(of url: URL, besides file: String) -> [String] {
        let directory = (file as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        let target = url.standardizedFileURL.path
        return names.sorted().compactMap { name -> String? in
            let sibling = (directory as NSString).appendingPathComponent(name)
            guard name.hasSuffix(".yaml") || name.hasSuffix(".yml"),
                  URL(fileURLWithPath: sibling).standardizedFileURL != URL(fileURLWithPath: file).standardizedFileURL,
                  let text = try? String(contentsOfFile: sibling, encoding: .utf8),
                  let output = (try? ConfigNode.parse(yaml: text, file: sibling))?["output"]?.scalar,
                  ObjectURL.urlScheme(output) == nil else { return nil }
            let written = URL(fileURLWithPath: output).standardizedFileURL.path
            guard target == written || target.hasPrefix(written + "/") else { return nil }
            return "\(sibling) (output \(output))"
        }
    }
}
