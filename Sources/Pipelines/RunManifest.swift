import Foundation
import PipelineCore
import SystemErrors

/// Sluice's version, recorded in every manifest.
public let sluiceVersion = "0.1.0"

/// What a run did, written next to its output so the run can be understood and repeated:
/// resolved config, inputs with sizes and times, seeds, code version, times, counts, skips.
struct RunManifest {
    let plan: PipelinePlan
    let environment: RunEnvironment
    let report: PipelineReport
    let started: Date
    let finished: Date

    func write(to url: URL) throws {
        let time = ISO8601DateFormatter()
        var seeds: [String: Any] = [:]
        for stage in plan.stages {
            if let seed = stage.parameters.optionalInt("seed") { seeds["\(stage.name).seed"] = seed }
        }
        let encoder = JSONEncoder()
        let stages = try JSONSerialization.jsonObject(with: encoder.encode(report.snapshot.stages))
        let inputs = try JSONSerialization.jsonObject(with: encoder.encode(environment.inputs.all))
        let quarantined = try JSONSerialization.jsonObject(with: encoder.encode(report.quarantined))
        var object: [String: Any] = [
            "sluice_version": sluiceVersion,
            "pipeline": plan.name,
            "pipeline_file": plan.file,
            "config": plan.config.plain,
            "started": time.string(from: started),
            "finished": time.string(from: finished),
            "elapsed_seconds": report.snapshot.elapsedSeconds,
            "completion": report.completion.rawValue,
            "seeds": seeds,
            "inputs": inputs,
            "stages": stages,
            "quarantined": quarantined,
        ]
        if let failure = report.failure { object["error"] = failure.description }
        if !report.quarantined.isEmpty { object["quarantine_file"] = plan.records.quarantine.description }
        if let commit = Self.git(["rev-parse", "HEAD"]) {
            object["git_commit"] = commit
            object["git_dirty"] = !(Self.git(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys,
                                                                                .withoutEscapingSlashes])
        do { try data.write(to: url, options: .atomic) } catch {
            throw StageError(.outputFailed, path: url.relativePath, reason: "cannot write the run manifest: \(SystemErrorText.words(error))")
        }
    }

    /// Output of a git command in the current directory, or nil outside a repository.
    static func git(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
