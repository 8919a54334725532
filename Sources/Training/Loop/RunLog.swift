import Foundation
import PipelineCore

/// The log a training run writes next to its checkpoints: `metrics.jsonl` (one JSON object per
/// record, appended, so a resumed run continues the same file) and TensorBoard event files, so
/// `tensorboard --logdir OUT` shows the curves.
final class RunLog {
    let metricsURL: URL
    private let metrics: FileHandle
    private let events: TensorBoardEventFile

    init(directory: URL) throws {
        metricsURL = directory.appendingPathComponent("metrics.jsonl")
        if !FileManager.default.fileExists(atPath: metricsURL.path) {
            _ = FileManager.default.createFile(atPath: metricsURL.path, contents: nil)  // opening it reports failure
        }
        do {
            metrics = try FileHandle(forWritingTo: metricsURL)
            try metrics.seekToEnd()
        } catch {
            throw TrainingError(.checkpoint, metricsURL.path, "cannot append to the metrics log: \(SystemErrorText.words(error))")
        }
        events = try TensorBoardEventFile(directory: directory)
    }

    /// One record at `step`: numbers go to both logs (TensorBoard tags as `group/name`), texts (the
    /// stage the run waited on) to metrics.jsonl only.
    func write(step: Int, group: String, numbers: [(name: String, value: Double)], texts: [(name: String, value: String)] = []) throws {
        var object: [String: Any] = ["step": step, "kind": group, "time": ISO8601DateFormatter().string(from: Date())]
        for (name, value) in numbers { object[name] = value.isFinite ? value : nil }
        for (name, value) in texts { object[name] = value }
        let line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) + Data("\n".utf8)
        do {
            try metrics.write(contentsOf: line)
        } catch {
            throw TrainingError(.checkpoint, metricsURL.path, "cannot write the metrics log: \(SystemErrorText.words(error))")
        }
        if !numbers.isEmpty { try events.write(scalars: numbers.map { ("\(group)/\($0.name)", Float($0.value)) }, step: step) }
    }

    func close() throws {
        try metrics.close()
        try events.close()
    }
}
