import Foundation
import Models
import SystemErrors
import Tensor

/// A training run as both front-ends drive it: `sluice <trainer> train` pulls batches from its
/// dataset and a pipeline sink pushes streamed ones, and each feeds them here one micro-batch at a
/// time. The run owns what happens between updates: accumulation, progress lines, `metrics.jsonl`
/// and TensorBoard records, checkpoints, evaluations, and the final export.
///
/// Files in `directory`: `checkpoint.safetensors`, `best.safetensors` (with `keepBest`),
/// `metrics.jsonl`, `events.out.tfevents.*`, and whatever `export` writes.
public final class TrainingRun<Model: TrainableModel> {
    public let trainer: Trainer<Model>
    public let directory: URL
    /// The trainer's name at the start of progress lines (`retromae`).
    public let name: String
    /// What `LossReport.count` counts (`tokens`, `examples`), for throughput.
    public let unit: String
    /// Figures on held-out data, at the start, every `evalEvery` updates and at the end.
    public var evaluate: ((Model) throws -> [(name: String, value: Double)])?
    /// The held-out figure (higher is better) by which `best.safetensors` is kept: every evaluation
    /// that beats all earlier ones of the run rewrites it, so the model to use is there even when
    /// later updates only memorise the training set.
    public var keepBest: String?
    /// The figure a random model gets for `keepBest` (`chance_r10`), printed beside its history
    /// when the run finishes.
    public var chanceOfBest: String?
    /// Writes the trained model (e.g. a model directory) when the run finishes.
    public var export: ((Model) throws -> Void)?
    /// Where progress lines go (standard output by default, flushed so a pipe shows them live).
    public var progress: (String) -> Void = { line in
        print(line)
        fflush(nil)
    }

    /// Whether this process writes the run's files and progress: in data-parallel training only
    /// rank 0 does (every replica holds the same model), the others only train.
    public let isPrimary: Bool
    private let log: RunLog?
    private var pending: [Model.Batch] = []
    private var pendingWait = 0.0
    private var window: [StepReport] = []
    /// Seconds of data wait per stage waited on, over the log window.
    private var waits: [String: Double] = [:]
    /// Micro-batches offered so far, counting those a resumed run skips.
    private var offered = 0
    /// How far the source was read through the last micro-batch in `pending`.
    private var pendingPoint: StreamPoint?
    /// Where the checkpoint a run resumed from says the stream was read to: a source that can
    /// seek starts there, and `feed` skips batches read before it.
    public private(set) var resumePoint: StreamPoint?
    private var evaluatedAt: Int?
    private var best: Double?
    /// `keepBest` at each of this process's evaluations, and where it beat all before it.
    private var bestHistory: [(step: Int, value: Double)] = []
    private var bestStep: Int?
    private var chance: Double?

    public var checkpointFile: URL { directory.appendingPathComponent("checkpoint.safetensors") }
    public var bestFile: URL { directory.appendingPathComponent("best.safetensors") }
    /// At `steps`, or past the loop's `time_limit` (counted from this process's start of the run).
    public var isComplete: Bool {
        trainer.step >= trainer.options.steps
            || (trainer.options.timeLimit > 0 && (ContinuousClock.now - started).inSeconds >= Double(trainer.options.timeLimit))
    }
    private let started = ContinuousClock.now

    /// Creates `directory`; with `resume`, continues from its checkpoint: `feed` skips what the
    /// checkpoint consumed, so the stream may start again from the beginning or, when its batches
    /// say how far they read (`resumePoint`), where the checkpoint stopped. A run that is
    /// not `primary` reads the checkpoint but writes nothing. A directory holding another run is
    /// refused unless `resume` or the loop's `overwrite` (which removes that run's files) is set, so
    /// one run's log never silently gains a second run's records.
    public init(trainer: Trainer<Model>, directory: URL, name: String, unit: String, resume: Bool, primary: Bool = true) throws {
        (self.trainer, self.directory, self.name, self.unit, isPrimary) = (trainer, directory, name, unit, primary)
        if primary {
            try RunDirectory.claim(directory, resume: resume, overwrite: trainer.options.overwrite)
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw TrainingError(.writeFailed, directory.path, "cannot create the run directory: \(SystemErrorText.words(error))")
            }
        }
        log = primary ? try RunLog(directory: directory) : nil
        if resume {
            try trainer.resume(from: checkpointFile)
            resumePoint = trainer.streamPoint
            let read = resumePoint.map { ", the source read to \($0)" } ?? ""
            if primary { FileHandle.standardError.write(Data("\(name): resumed at update \(trainer.step) (batch \(trainer.dataPosition)\(read))\n".utf8)) }
        }
        // metrics.jsonl is appended to, never cleared: a record marks where each run starts.
        try log?.write(step: trainer.step, group: "start", numbers: [], texts: [("resumed", String(resume))])
    }

    /// Feeds the next micro-batch of the stream; `point`, when the stream tells it, is how far the
    /// source was read through this batch. `batch` is only evaluated when it will be trained on
    /// (not for batches a resumed run skips: by point when both it and the checkpoint have one,
    /// else the first `dataPosition` offered); the time it takes counts as data wait, attributed to
    /// `collatedBy` (`waitingOn` unless given), plus `waited` (time spent waiting before this
    /// call), attributed to `waitingOn` (a stage, or `collate`).
    public func feed(_ batch: @autoclosure () throws -> Model.Batch, through point: StreamPoint? = nil, waited: Double = 0,
                     waitingOn: String, collatedBy: String? = nil) throws {
        offered += 1
        let consumed = if let point, let resumePoint { point <= resumePoint } else { offered <= trainer.dataPosition }
        guard !consumed, !isComplete else { return }
        if isPrimary, trainer.step == 0, pending.isEmpty, evaluatedAt == nil { try evaluateNow() }
        let start = ContinuousClock.now
        pending.append(try batch())
        pendingPoint = point
        let collating = (ContinuousClock.now - start).inSeconds
        pendingWait += waited + collating
        waits[waitingOn, default: 0] += waited
        waits[collatedBy ?? waitingOn, default: 0] += collating
        guard pending.count == trainer.options.accumulation else { return }
        let report = try trainer.update(pending, dataSeconds: pendingWait)
        trainer.streamPoint = pendingPoint
        (pending, pendingWait) = ([], 0)
        window.append(report)
        let step = trainer.step, options = trainer.options
        guard isPrimary else { return window.removeAll() }
        if step % options.logEvery == 0 || isComplete { try writeWindow() }
        if step % options.checkpointEvery == 0 || isComplete { try trainer.saveCheckpoint(to: checkpointFile) }
        if step % options.evalEvery == 0, !isComplete { try evaluateNow() }
    }

    /// Ends the run: micro-batches short of a whole update are dropped (an update is never made of
    /// fewer than `accumulation` of them), then a last log line, checkpoint, evaluation and export.
    public func finish() throws {
        pending = []
        guard let log else { return window.removeAll() }
        if !window.isEmpty { try writeWindow() }
        try trainer.saveCheckpoint(to: checkpointFile)
        if evaluatedAt != trainer.step { try evaluateNow() }
        if let keepBest, bestHistory.count > 1 {
            let curve = bestHistory.map { "\($0.step): \(String(format: "%.3f", $0.value))" }.joined(separator: ", ")
            progress("\(name) held-out \(keepBest) by update: \(curve)" + (chance.map { String(format: " (chance %.3f)", $0) } ?? "")
                     + (bestStep.map { "; the best, at update \($0), is kept in \(bestFile.lastPathComponent)" } ?? ""))
        }
        try export?(trainer.model)
        try log.close()
    }

    private func evaluateNow() throws {
        guard let evaluate else { return }
        evaluatedAt = trainer.step
        let figures = try GradMode.withoutGradients { try evaluate(trainer.model) }
        try log?.write(step: trainer.step, group: "eval", numbers: figures)
        progress("\(name) eval step \(trainer.step): " + figures.map { "\($0.name) \(format($0.value))" }.joined(separator: ", "))
        try keepIfBest(figures)
    }

    /// Rewrites `best.safetensors` when `figures` beat the best so far (a resumed run reads that
    /// from the file, in its metadata `best.FIGURE`).
    private func keepIfBest(_ figures: [(name: String, value: Double)]) throws {
        guard let keepBest, let value = figures.first(where: { $0.name == keepBest })?.value, value.isFinite else { return }
        bestHistory.append((trainer.step, value))
        chance = chanceOfBest.flatMap { name in figures.first { $0.name == name }?.value }
        let key = "best." + keepBest
        if best == nil, FileManager.default.fileExists(atPath: bestFile.path) {
            best = try Checkpoint.extra(from: bestFile)[key].flatMap(Double.init)
        }
        guard value > best ?? -.infinity else { return }
        (best, bestStep) = (value, trainer.step)
        try trainer.saveCheckpoint(to: bestFile, extra: [key: String(value)])
    }

    /// Averages the window's updates into one progress line and one log record.
    private func writeWindow() throws {
        let n = Double(window.count)
        let seconds = window.reduce(0) { $0 + $1.seconds }, waited = window.reduce(0) { $0 + $1.dataSeconds }
        var numbers: [(name: String, value: Double)] = [("loss", window.reduce(0) { $0 + Double($1.loss) } / n)]
        for (name, _) in window[0].terms {
            numbers.append((name, window.reduce(0) { $0 + Double($1[term: name] ?? 0) } / n))
        }
        for (name, _) in window[0].accuracies {
            let pooled = window.reduce(TokenAccuracy()) { $0 + ($1[accuracy: name] ?? TokenAccuracy()) }
            numbers.append((name + "_accuracy", pooled.rate))
        }
        let last = window[window.count - 1]
        let throughput = Double(window.reduce(0) { $0 + $1.count }) / max(seconds, 1e-9)
        let waitShare = waited / max(seconds, 1e-9)
        numbers += [("lr", Double(last.learningRate)), (unit + "_per_second", throughput), ("data_wait_share", waitShare)]
        if let norm = last.gradientNorm { numbers.append(("gradient_norm", Double(norm))) }
        let resident = ResidentMemory.bytes().map { Double($0) / 1_048_576 }
        if let resident { numbers.append(("resident_mb", resident)) }
        let waitedOn = waits.max { $0.value < $1.value }?.key ?? "-"
        try log?.write(step: trainer.step, group: "train", numbers: numbers, texts: [("waiting_on", waitedOn)])

        let parts = numbers.dropFirst().prefix(window[0].terms.count).map { "\($0.name) \(format($0.value))" }
        progress(String(format: "%@ step %d/%d loss %@%@ lr %.2e | %.0f %@/s, data wait %.1f%% (on %@)%@",
                        name, trainer.step, trainer.options.steps, format(numbers[0].value),
                        parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")", last.learningRate, throughput, unit,
                        100 * waitShare, waitedOn, resident.map { String(format: ", %.0f MB resident", $0) } ?? ""))
        window.removeAll()
        waits.removeAll()
    }
}

private func format(_ value: Double) -> String { String(format: abs(value) >= 1e-3 || value == 0 ? "%.4f" : "%.3e", value) }
