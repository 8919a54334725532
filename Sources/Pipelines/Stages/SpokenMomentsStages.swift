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
        parameters: [
            ParameterSpec("out", .output, required: true, help: "directory for checkpoint.safetensors, metrics.jsonl and events"),
            ParameterSpec("resume", .bool, default: "false", help: "continue from out/checkpoint.safetensors, skipping the batches it consumed"),
            ParameterSpec("frames", .int(min: 1, max: 64), default: String(ClipShape().frames), help: "frames per clip (what video_frames took)"),
            ParameterSpec("size", .int(min: 8, max: 512), default: String(ClipShape().size), help: "frame width and height"),
            ParameterSpec("seconds", .double(min: ClipShape.secondsRange.lowerBound, max: ClipShape.secondsRange.upperBound), default: String(ClipShape().seconds),
                          help: "longest caption window, recorded for eval and search: must be clip_batch's max_frames x the mel hop (checked)"),
            ParameterSpec("mel_bins", .int(min: 1, max: 512), default: String(ClipShape().melBins), help: "mel bins of the captions (log_mel's n_mels)"),
            ParameterSpec("vocab", .path(objects: false), default: CaptionVocabulary.defaultPath,
                          help: "with text_branch: BERT WordPiece vocab.txt of the caption text (the default is relative to the current directory: a clone's top directory)"),
            ParameterSpec("heldout", .path(objects: false), help: "MDS shards of held-out clips (spoken-moments-prepare.yaml with source.split=test): "
                + "R@1/5/10, median rank and mAP both ways beside set size and chance, at the start, every eval_every updates and at the end"),
            ParameterSpec("heldout_clips", .int(min: 2, max: 10_000), default: "1000",
                          help: "held-out clips read, the first ones (held in memory: about 260 kB each at 8 x 32 x 32 and 10 s)"),
        ] + SpokenMomentsOptions.parameterSpecs()
    ) { parameters, environment in
        let options = try SpokenMomentsOptions(parameters)
        let clip = ClipShape(frames: parameters.int("frames"), size: parameters.int("size"), seconds: parameters.double("seconds"),
                             melBins: parameters.int("mel_bins"))
        let maxFrames = try checkWindow(seconds: clip.seconds, environment: environment, stage: parameters.stageName)
        let heldout = try parameters.optionalString("heldout").map { path in
            try heldOut(path, clip: clip, maxFrames: maxFrames, limit: parameters.int("heldout_clips"), text: options.textBranch, stage: parameters.stageName)
        }
        let vocabulary = try options.textBranch ? URL(fileURLWithPath: CaptionVocabulary.path(parameters)) : nil
        let model: SpokenMomentsTraining
        do {
            model = try SpokenMomentsTraining(options: options, clip: clip, vocabulary: vocabulary)
        } catch { throw StageError(item: parameters.stageName, reason: "\(error)") }
        let trainer = Trainer(model: model, options: options.loop)
        let run = try TrainingRun(trainer: trainer, directory: parameters.output("out"), name: "spoken-moments", unit: "examples",
                                  resume: parameters.bool("resume"))
        if let heldout { run.evaluate = { try HeldOutRetrieval(model: $0, clips: heldout).figures } }
        return .sink(TrainerSink(run: run, environment: environment) { item in
            let batch = try ClipBatch(clipBatch: item)
            guard batch.frames.shape.count == 5, Array(batch.frames.shape.dropFirst()) == clip.frameShape, batch.mel.shape[1] == clip.melBins else {
                throw StageError(item: item.itemDescription, reason: "frames \(batch.frames.shape) and mel \(batch.mel.shape): the trainer "
                    + "takes raw frames B x \(clip.frameShape.map(String.init).joined(separator: " x ")) (video_frames, not video_features; "
                    + "its frames and size parameters) and \(clip.melBins) mel bins")
            }
            if options.textBranch, let bare = batch.captions.firstIndex(where: \.isEmpty) {
                throw StageError(item: item.itemDescription, reason: "clip \(bare) of the batch has no caption text (text_branch embeds it)")
            }
            return batch
        })
    }

    /// The caption window the sink records (`seconds`: what eval and search cut captions to) must
    /// be the one the upstream `clip_batch` cuts (`max_frames` at the mel hop of the upstream
    /// `log_mel` and `audio_decode`, else their defaults, 10 ms), or the model would be evaluated
    /// and searched on captions of another length than it trained on. Returns `max_frames`.
    static func checkWindow(seconds: Double, environment: RunEnvironment, stage: String) throws -> Int {
        guard let batch = environment.upstream("clip_batch") else {
            throw StageError(item: stage, reason: "no clip_batch stage upstream: the trainer takes clip_batch batches")
        }
        let (mel, decode) = (environment.upstream("log_mel"), environment.upstream("audio_decode"))
        let hop = Double(mel?.int("hop_length") ?? MelOptions().hopLength) / Double(decode?.int("sample_rate") ?? MelOptions().sampleRate)
        let maxFrames = batch.int("max_frames")
        let window = Double(maxFrames) * hop
        guard abs(window - seconds) < hop else {
            throw StageError(item: stage, reason: String(
                format: "seconds %g, but %@ cuts captions to max_frames %d, %g s at the %g ms mel hop; set seconds: %g, or max_frames: %d",
                seconds, batch.stageName, maxFrames, window, hop * 1000, window, Int((seconds / hop).rounded())))
        }
        return maxFrames
    }

    /// The first `limit` clips of held-out MDS shards as spoken-moments-prepare.yaml writes them,
    /// each caption cut to its first `maxFrames` frames, every one checked against the clip shape.
    static func heldOut(_ path: String, clip: ClipShape, maxFrames: Int, limit: Int, text: Bool, stage: String) throws -> ClipDataset {
        var frames: [[Float]] = [], mels: [[Float]] = [], ids: [String] = [], captions: [String] = []
        let total: Int
        do {
            let dataset = try ShardDataset(directory: URL(fileURLWithPath: path))
            total = dataset.count
            for i in 0..<min(total, limit) {
                let sample = try dataset.sample(i)
                let id: String = if case let .string(id)? = sample["id"] { id } else { "sample \(i)" }
                guard case let .array(pixels)? = sample["frames"], pixels.shape == [clip.frames, clip.size, clip.size, 3],
                      let planar = pixels.planarFrames() else {
                    throw StageError(item: "\(path): \(id)", reason: "heldout: no uint8 frames \(clip.frames) x \(clip.size) x \(clip.size) x 3 (the sink's frames and size)")
                }
                guard case let .array(mel)? = sample["mel"], mel.dtype == .float32, mel.shape.count == 2, mel.shape[0] > 0, mel.shape[1] == clip.melBins else {
                    throw StageError(item: "\(path): \(id)", reason: "heldout: no float32 frames x \(clip.melBins) log-mel in 'mel'")
                }
                let caption: String = if case let .string(caption)? = sample["caption"] { caption } else { "" }
                if text, caption.isEmpty { throw StageError(item: "\(path): \(id)", reason: "heldout: no caption text (text_branch embeds it)") }
                frames.append(planar)
                mels.append(Array(mel.values(as: Float.self).prefix(maxFrames * clip.melBins)))
                ids.append(id)
                captions.append(caption)
            }
        } catch let error as ShardError {
            throw StageError(item: stage, reason: "heldout: \(error)")
        }
        if total > limit {
            FileHandle.standardError.write(Data("\(stage): the first \(limit) of \(total) held-out clips are ranked (heldout_clips)\n".utf8))
        }
        do {
            return try ClipDataset(frames: frames, mels: mels, ids: ids, captions: captions, frameShape: clip.frameShape, melBins: clip.melBins,
                                   batchSize: 2, seed: 0)
        } catch { throw StageError(item: stage, reason: "heldout \(path): \(error)") }
    }
}
