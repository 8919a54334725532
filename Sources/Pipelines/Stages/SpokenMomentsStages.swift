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
            ParameterSpec("frames", .int(min: 1, max: 64), default: String(ClipShape().frames), help: "frames per clip (what video_frames took)"),
            ParameterSpec("size", .int(min: 8, max: 512), default: String(ClipShape().size), help: "frame width and height"),
            ParameterSpec("seconds", .double(min: ClipShape.secondsRange.lowerBound, max: ClipShape.secondsRange.upperBound), default: String(ClipShape().seconds),
                          help: "longest caption window (clip_batch's max_frames x the hop), recorded for eval and search"),
            ParameterSpec("mel_bins", .int(min: 1, max: 512), default: String(ClipShape().melBins), help: "mel bins of the captions (log_mel's n_mels)"),
        ] + SpokenMomentsOptions.parameterSpecs
    ) { parameters, environment in
        let options = try SpokenMomentsOptions(parameters)
        let clip = ClipShape(frames: parameters.int("frames"), size: parameters.int("size"), seconds: parameters.double("seconds"),
                             melBins: parameters.int("mel_bins"))
        let trainer = Trainer(model: SpokenMomentsTraining(options: options, clip: clip), options: options.loop)
        let run = try TrainingRun(trainer: trainer, directory: parameters.output("out"), name: "spoken-moments", unit: "examples",
                                  resume: parameters.bool("resume"))
        return .sink(TrainerSink(run: run, environment: environment) { item in
            let batch = try ClipBatch(clipBatch: item)
            guard batch.frames.shape.count == 5, Array(batch.frames.shape.dropFirst()) == clip.frameShape, batch.mel.shape[1] == clip.melBins else {
                throw StageError(item: item.itemDescription, reason: "frames \(batch.frames.shape) and mel \(batch.mel.shape): the trainer "
                    + "takes raw frames B x \(clip.frameShape.map(String.init).joined(separator: " x ")) (video_frames, not video_features; "
                    + "its frames and size parameters) and \(clip.melBins) mel bins")
            }
            return batch
        })
    }
}
