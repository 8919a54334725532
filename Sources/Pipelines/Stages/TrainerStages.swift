import Foundation
import PipelineCore
import Training

/// A trainer as a pipeline sink: each item is decoded into one micro-batch and fed to the run; the
/// time between items is data wait attributed to the busiest stage upstream, and decoding the item
/// into tensors (on the trainer's thread) data wait attributed to `collate`.
final class TrainerSink<Model: TrainableModel>: Sink {
    let run: TrainingRun<Model>
    let environment: RunEnvironment
    let decode: (Sample) throws -> Model.Batch
    private var lastReturn: ContinuousClock.Instant?

    init(run: TrainingRun<Model>, environment: RunEnvironment, decode: @escaping (Sample) throws -> Model.Batch) {
        (self.run, self.environment, self.decode) = (run, environment, decode)
        if let point = run.resumePoint { environment.resumeSource(at: point) }
    }

    func consume(_ item: Sample) throws {
        let waited = lastReturn.map { (ContinuousClock.now - $0).inSeconds } ?? 0
        try run.feed(try decode(item), through: item.streamPoint, waited: waited, waitingOn: busiestUpstreamStage(),
                     collatedBy: "collate")
        lastReturn = .now
        // The source may have epochs left; decoding them would be wasted.
        if run.isComplete { environment.endRun() }
    }

    func finish(_ completion: Completion) throws {
        switch completion {
        case .finished: try run.finish()
        // Ctrl-C: keep what was trained so far; `resume: true` continues from here.
        case .stopped: try run.trainer.saveCheckpoint(to: run.checkpointFile)
        case .failed: break
        }
    }

    private func busiestUpstreamStage() -> String {
        guard let snapshot = environment.snapshot() else { return "-" }
        let upstream = snapshot.stages.dropLast()
        return upstream.max { $0.utilisation(over: snapshot.elapsedSeconds) < $1.utilisation(over: snapshot.elapsedSeconds) }?.name ?? "-"
    }
}


extension Sample {
    /// How far a seeking source was read through this item (fields `stream_epoch` and
    /// `stream_position`). A batch carries its last item's, a trainer's checkpoint the last
    /// consumed batch's, so a resumed run's source begins there (`RunEnvironment.resumeSource(at:)`).
    var streamPoint: StreamPoint? {
        get {
            guard case let .int(epoch)? = self["stream_epoch"], case let .int(position)? = self["stream_position"] else { return nil }
            return StreamPoint(epoch: epoch, position: position)
        }
        set {
            (self["stream_epoch"], self["stream_position"]) = (newValue.map { .int($0.epoch) }, newValue.map { .int($0.position) })
        }
    }
}

/// The clip trainers' vocabulary default (`--vocab`, a sink's `vocab`): a file of a clone's samples,
/// relative to the current directory, so found only from a clone's top directory (an installed
/// binary carries no samples).
public enum CaptionVocabulary {
    public static let defaultPath = "samples/text/bert-base-uncased-vocab.txt"

    /// Why `path` cannot be used when it is the default and missing, asking for `option`; nil otherwise.
    public static func missingDefault(_ path: String, option: String) -> String? {
        guard path == defaultPath, !FileManager.default.fileExists(atPath: path) else { return nil }
        return "the vocabulary \(path) (the default of \(option)) was not found relative to the current directory "
            + "\(FileManager.default.currentDirectoryPath); give \(option) PATH (\(path) in a clone of sluice)"
    }

    /// A sink's `vocab` parameter, refused when it is the missing default.
    static func path(_ parameters: StageParameters) throws -> String {
        let path = parameters.string("vocab")
        if let reason = missingDefault(path, option: "vocab:") { throw StageError(path: parameters.stageName, reason: reason) }
        return path
    }
}
