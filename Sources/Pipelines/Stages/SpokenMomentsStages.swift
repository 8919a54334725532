import Foundation
import Models
import PipelineCore
import Tensor
import Training

/// The Spoken Moments trainer as a pipeline sink: `clip_batch` batches of raw frames and caption
/// log-mel stream in and train the video and spoken-caption towers. Its settings are
/// `SpokenMomentsOptions`', the same as `sluice spoken-moments train`'s.
enum SpokenMomentsStages {
    static let specs: [StageSpec] = [train]

    static let train = StageSpec(
        type: "spoken_moments_train", role: .sink,
        summary: "trains Spoken Moments (frame CNN + ResDAVEnet, NCE/MMS/AMM) on clip_batch batches of raw frames; "
            + "resumable checkpoints, metrics.jsonl and TensorBoard events under `out`",
        parameters: [
            ParameterSpec("out", .output, required: true, help: "directory for checkpoint.safetensors, metrics.jsonl and events"),
            ParameterSpec("resume", .bool, default: "false", help: "continue from out/checkpoint.safetensors, skipping the batches it consumed"),
            ParameterSpec("mel_bins", .int(min: 1, max: 1024), default: "40", help: "mel bins of the captions (log_mel's n_mels)"),
        ] + SpokenMomentsOptions.parameterSpecs
    ) { parameters, environment in
        let options = try SpokenMomentsOptions(parameters)
        let melBins = parameters.int("mel_bins")
        let trainer = Trainer(model: SpokenMomentsTraining(options: options, melBins: melBins), options: options.loop)
        let run = try TrainingRun(trainer: trainer, directory: parameters.output("out"), name: "spoken-moments", unit: "examples",
                                  resume: parameters.bool("resume"))
        return .sink(TrainerSink(run: run, environment: environment) { item in
            let batch = try ClipBatch(clipBatch: item)
            guard batch.frames.shape.count == 5, batch.frames.shape[2] == 3, batch.mel.shape[1] == melBins else {
                throw StageError(item: item.itemDescription, reason: "frames \(batch.frames.shape) and mel \(batch.mel.shape): "
                    + "the trainer takes raw frames B x T x 3 x H x W (video_frames, not video_features) and \(melBins) mel bins")
            }
            return batch
        })
    }
}
