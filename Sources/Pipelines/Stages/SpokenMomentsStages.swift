import Foundation
import Media
import Models
import PipelineCore
import Shards
import Tensor
import Training

/// The Spoken Moments trainer as a pipeline sink: `clip_batch` batches of raw frames and caption
/// log-mel (and caption text, with the text branch) stream in and train the towers. Its settings
/// are `SpokenMomentsOptions`', the same as `sluice spoken-moments train`'s; held-out shards are
/// ranked as `sluice spoken-moments eval` ranks them (`HeldOutRetrieval`).
enum SpokenMomentsStages {
    static let specs: [StageSpec] = [train]

    static let train = StageSpec(
        type: "spoken_moments_train", role: .sink,
        summary: "trains Spoken Moments (frame CNN + ResDAVEnet, optional caption text tower; NCE/MMS/AMM) on clip_batch batches "
            + "of raw frames, ranking held-out shards as it goes; resumable checkpoints, metrics.jsonl and TensorBoard events under `out`",
        parameters: ClipStages.trainerParameters(vocabUse: "with text_branch: ") + [
            ParameterSpec("backbone_weights", .path(objects: false),
                          help: "with backbone resnet*: torchvision weights converted to safetensors (README, \"Encoders\"); read unless resuming"),
        ] + SpokenMomentsOptions.parameterSpecs()
    ) { parameters, environment in
        let options = try SpokenMomentsOptions(parameters)
        let clip = try ClipShape(parameters)
        let heldout = try ClipStages.heldOut(parameters, clip: clip, text: options.textBranch, overwrite: options.loop.overwrite,
                                                 environment: environment)
        let vocabulary = try options.textBranch ? URL(fileURLWithPath: CaptionVocabulary.path(parameters)) : nil
        let resume = parameters.bool("resume"), weights = parameters.optionalString("backbone_weights")
        if options.backbone != .frameCNN, weights == nil, !resume {
            throw StageError(path: parameters.stageName, reason: "backbone \(options.backbone.rawValue) needs backbone_weights: a frozen random backbone learns nothing")
        }
        let model: SpokenMomentsTraining
        do {
            model = try SpokenMomentsTraining(options: options, clip: clip, vocabulary: vocabulary)
            if let weights, !resume {
                let file = URL(fileURLWithPath: weights), tensors = try SafeTensors.read(file).tensors
                try options.backbone.depth?.check(tensors.keys, file: file)
                try model.video.load(tensors, from: file)
            }
        } catch { throw StageError(path: parameters.stageName, reason: "\(error)") }
        return try ClipStages.trainerSink(model, loop: options.loop, name: "spoken-moments", heldout: heldout, parameters: parameters,
                                          environment: environment)
    }
}
