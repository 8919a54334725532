import Foundation
import Models
import PipelineCore
import Tensor
import Training

/// The multimodal capsule trainer as a pipeline sink: `clip_batch` batches (raw frames, caption
/// log-mel and caption text) stream in and train the three encoders and the capsule layer. Its
/// settings are `CapsuleOptions`', the same as `sluice capsules train`'s; the checkpoint records the
/// clip shape and vocabulary so `sluice capsules eval|embed|search` read it as they read the CLI's.
enum CapsuleStages {
    static let specs: [StageSpec] = [train]

    static let train = StageSpec(
        type: "capsules_train", role: .sink,
        summary: "trains the multimodal capsule network (video, spoken caption, caption text; MMS over the three pairs) "
            + "on clip_batch batches; resumable checkpoints, metrics.jsonl and TensorBoard events under `out`",
        parameters: ClipStages.trainerParameters(vocabUse: "") + CapsuleOptions.parameterSpecs()
    ) { parameters, environment in
        let options = try CapsuleOptions(parameters)
        guard options.noise == 0 else {
            throw StageError(path: parameters.stageName, reason: "noise mismatches captions across the whole training set: give the manifest source `mismatch: \(options.noise)` (as `sluice capsules train --noise` does)")
        }
        let clip = try ClipShape(parameters)
        let vocab = URL(fileURLWithPath: try CaptionVocabulary.path(parameters))
        let model: CapsuleTraining
        do { model = try CapsuleTraining(options: options, clip: clip, vocabulary: vocab) } catch {
            throw StageError(path: parameters.stageName, reason: "vocab: \(error)")
        }
        let heldout = try ClipStages.heldOut(parameters, clip: clip, text: true, overwrite: options.loop.overwrite, environment: environment)
        return try ClipStages.trainerSink(model, loop: options.loop, name: "capsules", heldout: heldout, parameters: parameters, environment: environment)
    }
}
