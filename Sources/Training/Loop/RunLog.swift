import Foundation
import SystemErrors

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
            throw TrainingError(.writeFailed, metricsURL.path, "cannot append to the metrics log: \(SystemErrorText.words(error))")
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
            throw TrainingError(.writeFailed, metricsURL.path, "cannot write the metrics log: \(SystemErrorText.words(error))")
        }
        if !numbers.isEmpty { try events.write(scalars: numbers.map { ("\(group)/\($0.name)", Float($0.value)) }, step: step) }
    }

    func close() throws {
        try metrics.close()
        try events.close()
    }
}

/// Where a run's files go. One run per directory: a second one appending its records to the first's
/// log, with a second event file beside the first, would leave curves no one can tell apart.
public enum RunDirectory {
    /// The files a run writes that mark a directory as holding one (exports are left alone: a run
    /// starting over rewrites them; another tool's event files are not ours to remove). Regular
    /// files only: a directory or link under such a name is no run's, and `overwrite` must never
    /// remove a tree it did not write.
    static func runFiles(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { name in
            var status = stat()
            guard ["metrics.jsonl", "checkpoint.safetensors", "best.safetensors"].contains(name) || TensorBoardEventFile.isWritten(name: name),
                  lstat(directory.appendingPathComponent(name).path, &status) == 0 else { return false }
            return status.st_mode & S_IFMT == S_IFREG
        }
        .sorted()
    }

    /// Refuses `directory` if it holds another run, unless `resume` continues it or `overwrite`
    /// removes that run's files (both at once is refused: either choice would surprise). `TrainingRun` calls it; a command that writes into the directory
    /// before its run opens (a quarantine list) calls it first, so a refusal changes nothing.
    public static func claim(_ directory: URL, resume: Bool, overwrite: Bool) throws(TrainingError) {
        guard !(resume && overwrite) else {
            throw TrainingError(.inconsistentSettings, directory.path, "resume continues the run there and overwrite "
                                + "removes it: give one of them")
        }
        let found = runFiles(in: directory)
        guard !resume, !found.isEmpty else { return }
        guard overwrite else {
            throw TrainingError(.runExists, directory.path, "holds another run (\(found.joined(separator: ", "))); "
                                + "continue it with --resume (resume: true) or start over with --overwrite (overwrite: true)")
        }
        for name in found {
            let file = directory.appendingPathComponent(name)
            do {
                try FileManager.default.removeItem(at: file)
            } catch {
                throw TrainingError(.writeFailed, file.path, "cannot remove the earlier run's file: \(SystemErrorText.words(error))")
            }
        }
    }
}
