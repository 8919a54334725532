import Foundation
import Media
import PipelineCore
import Shards
import Tensor
import Training

/// Clips into training batches, for every clip trainer (Spoken Moments, and any other that reads
/// frames, a spoken caption and its text): `clip_record` checks one decoded clip and gives it the
/// columns the trainers read, `clip_batch` stacks clips into a batch, and `ClipBatch(clipBatch:)`
/// reads that batch back in a trainer sink. Prepared shards and decoding on the fly meet here.
enum ClipStages {
    static let specs: [StageSpec] = [record, batch]

    static let record = StageSpec(
        type: "clip_record", role: .stage,
        summary: "checks a decoded clip for the clip trainers (frames there, a caption of at least `min_seconds` of speech), "
            + "writes the caption's true frame count to `mel_length`, caption \"\" and split \"train\" where the manifest has none, "
            + "and drops the waveform",
        parameters: [
            ParameterSpec("frames", .string, default: "frames", help: "the frames (video_frames) or features (video_features)"),
            ParameterSpec("mel", .string, default: "mel", help: "the caption's log-mel, frames x mels (log_mel)"),
            ParameterSpec("waveform", .string, default: "waveform", help: "the caption's waveform (audio_decode), measured then dropped"),
            ParameterSpec("min_seconds", .double(min: 0, max: 60), default: String(ClipShape.secondsRange.lowerBound),
                          help: "shortest caption kept (default: one 25 ms mel window)"),
        ],
        parallel: true
    ) { parameters, _ in
        let (framesField, melField, waveformField) = (parameters.string("frames"), parameters.string("mel"), parameters.string("waveform"))
        let minSeconds = parameters.double("min_seconds")
        return .map { sample in
            guard case let .array(frames)? = sample[framesField], frames.count > 0 else {
                throw StageError(path: sample.origin, reason: "no frames in '\(framesField)'")
            }
            guard case let .array(mel)? = sample[melField], mel.dtype == .float32, mel.shape.count == 2, mel.shape[0] > 0 else {
                throw StageError(path: sample.origin, reason: "no float32 frames x mels log-mel in '\(melField)'")
            }
            var out = sample
            if case let .array(waveform)? = sample[waveformField] {
                guard case let .int(rate)? = sample["sample_rate"], rate > 0 else {
                    throw StageError(path: sample.origin, reason: "no 'sample_rate' for the waveform in '\(waveformField)'")
                }
                // [frames] or [frames, channels]: the duration is the frame count.
                let frames = waveform.shape.first ?? 0
                let seconds = Double(frames) / Double(rate)
                guard seconds >= minSeconds else {
                    throw StageError(path: sample.origin, reason: String(
                        format: "the spoken caption lasts %.1f ms (%d samples), shorter than one mel frame of %.1f ms",
                        seconds * 1000, frames, minSeconds * 1000))
                }
                (out[waveformField], out["sample_rate"]) = (nil, nil)
            }
            out["mel_length"] = .int(mel.shape[0])
            if out["caption"] == nil { out["caption"] = .string("") }
            if out["split"] == nil { out["split"] = .string("train") }
            return [out]
        }
    }

    static let batch = StageSpec(
        type: "clip_batch", role: .stage,
        summary: "stacks `size` clips into a training batch: frames float32 B x T x 3 x H x W in [0, 1] (features as they are), "
            + "log-mel B x mels x L cut to a `max_frames` window and padded to the longest with `mel_lengths` kept, "
            + "captions and ids; a last short batch is dropped or padded (`last`), never passed on short",
        parameters: [
            ParameterSpec("size", .int(min: 2, max: 1 << 16), required: true, help: "clips per batch"),
            ParameterSpec("last", .choice(["drop", "pad"]), default: "drop",
                          help: "a last short batch: drop it, or fill it with clips of the first batch"),
            ParameterSpec("max_frames", .int(min: 1, max: 1 << 20), default: String(ClipShape().windowFrames),
                          help: "longest caption window in mel frames (the default: the clip trainers' default seconds at the 10 ms hop)"),
            ParameterSpec("window", .choice(["random", "start"]), default: "random",
                          help: "where a longer caption's window starts: random (seeded by seed, clip and epoch) or at the start"),
            ParameterSpec("seed", .int(min: 0), default: "0", help: "seed of the random windows"),
        ]
    ) { parameters, _ in
        .transform(ClipBatcher(size: parameters.int("size"), padLast: parameters.string("last") == "pad",
                               maxFrames: parameters.int("max_frames"), randomWindow: parameters.string("window") == "random",
                               seed: UInt64(parameters.int("seed"))))
    }
}

extension ClipStages {
    /// A clip trainer sink's held-out parameters.
    /// What every clip trainer sink takes besides its settings: where the run goes, whether it
    /// continues, the clip shape (checked on every batch, recorded in checkpoints), the caption
    /// vocabulary (`vocabUse` says when it is read) and the held-out clips.
    static func trainerParameters(vocabUse: String) -> [ParameterSpec] {
        [
            ParameterSpec("out", .output, required: true, help: "directory for checkpoint.safetensors, metrics.jsonl and events"),
            ParameterSpec("resume", .bool, default: "false", help: "continue from out/checkpoint.safetensors, skipping the batches it consumed"),
        ] + ClipShape.parameterSpecs() + [
            ParameterSpec("vocab", .path(objects: false), default: CaptionVocabulary.defaultPath,
                          help: vocabUse + "BERT WordPiece vocab.txt of the caption text (the default is relative to the current directory: a clone's top directory)"),
        ] + heldoutParameters
    }

    /// A clip trainer's sink: `model` on the training loop, its held-out clips ranked by
    /// `HeldOutRetrieval` (the checkpoint of the best mean R@10 kept), fed `clip_batch` batches
    /// checked against the model's clip shape and, when it embeds caption text, for text on every clip.
    static func trainerSink<Model: RetrievalModel>(_ model: Model, loop: LoopOptions, name: String, heldout: ClipDataset?,
                                                   parameters: StageParameters, environment: RunEnvironment) throws -> StageBody {
        let run = try TrainingRun(trainer: Trainer(model: model, options: loop), directory: parameters.output("out"), name: name,
                                  unit: "examples", resume: parameters.bool("resume"))
        if let heldout {
            run.evaluate = { try HeldOutRetrieval(model: $0, clips: heldout).figures }
            (run.keepBest, run.chanceOfBest) = ("mean_r10", "chance_r10")
        }
        let (clip, text) = (model.clip, model.modalities.contains(.text))
        return .sink(TrainerSink(run: run, environment: environment) { item in
            let batch = try ClipBatch(clipBatch: item)
            guard batch.frames.shape.count == 5, Array(batch.frames.shape.dropFirst()) == clip.frameShape, batch.mel.shape[1] == clip.melBins else {
                throw StageError(path: item.itemDescription, reason: "frames \(batch.frames.shape) and mel \(batch.mel.shape): the trainer "
                    + "takes raw frames B x \(clip.frameShape.map(String.init).joined(separator: " x ")) (video_frames, not video_features; "
                    + "its frames and size parameters) and \(clip.melBins) mel bins")
            }
            if text, let bare = batch.captions.firstIndex(where: \.isEmpty) {
                throw StageError(path: item.itemDescription, reason: "clip \(bare) of the batch has no caption text (the model's text tower embeds it)")
            }
            return batch
        })
    }

    static let heldoutParameters = [
        ParameterSpec("heldout", .path(objects: false), help: "held-out clips: a JSONL clip manifest (its `heldout_split`) or MDS shards "
            + "(spoken-moments-prepare.yaml with source.split=test), ranked both ways beside set size and chance, "
            + "at the start, every eval_every updates and at the end"),
        ParameterSpec("heldout_split", .string, default: "test", help: "with a manifest `heldout`: the split ranked"),
        ParameterSpec("heldout_clips", .int(min: 2, max: 10_000), default: "1000",
                      help: "held-out clips read, the first ones (held in memory: about 260 kB each at 8 x 32 x 32 and 10 s)"),
    ]

    /// The caption window the sink records (`seconds`: what eval and search cut captions to) must
    /// be the one the upstream `clip_batch` cuts (`max_frames` at the mel hop of the upstream
    /// `log_mel` and `audio_decode`, else their defaults, 10 ms), or the model would be evaluated
    /// and searched on captions of another length than it trained on. Returns `max_frames`.
    static func checkWindow(seconds: Double, environment: RunEnvironment, stage: String) throws -> Int {
        guard let batch = environment.upstream("clip_batch") else {
            throw StageError(path: stage, reason: "no clip_batch stage upstream: the trainer takes clip_batch batches")
        }
        let (mel, decode) = (environment.upstream("log_mel"), environment.upstream("audio_decode"))
        let hop = Double(mel?.int("hop_length") ?? MelOptions().hopLength) / Double(decode?.int("sample_rate") ?? MelOptions().sampleRate)
        let maxFrames = batch.int("max_frames")
        let window = Double(maxFrames) * hop
        guard abs(window - seconds) < hop else {
            throw StageError(path: stage, reason: String(
                format: "seconds %g, but %@ cuts captions to max_frames %d, %g s at the %g ms mel hop; set seconds: %g, or max_frames: %d",
                seconds, batch.stageName, maxFrames, window, hop * 1000, window, Int((seconds / hop).rounded())))
        }
        return maxFrames
    }

    /// The held-out clips a clip trainer sink's `heldout` names: MDS shards, or a manifest's
    /// `heldout_split` decoded as the CLI decodes clips; nil without `heldout`. Checks the caption
    /// window first (`checkWindow`), and claims `out` (`RunDirectory.claim`) before the held-out
    /// quarantine is written there, so a directory holding another run is refused untouched.
    static func heldOut(_ parameters: StageParameters, clip: ClipShape, text: Bool, overwrite: Bool,
                        environment: RunEnvironment) throws -> ClipDataset? {
        let stage = parameters.stageName
        let maxFrames = try checkWindow(seconds: clip.seconds, environment: environment, stage: stage)
        guard let path = parameters.optionalString("heldout") else { return nil }
        try RunDirectory.claim(parameters.output("out"), resume: parameters.bool("resume"), overwrite: overwrite)
        let limit = parameters.int("heldout_clips")
        guard path.hasSuffix(".jsonl") || ManifestRows.delimiter(of: path) != nil else {
            return try heldOutShards(path, clip: clip, maxFrames: maxFrames, limit: limit, text: text, stage: stage)
        }
        let split = parameters.string("heldout_split")
        let quarantine = parameters.output("out").appendingPathComponent("heldout-quarantine.jsonl")
        let clips = try ClipManifest(path: path, quarantine: quarantine).decode(clip, split: split, limit: limit)
        if clips.count == limit {
            FileHandle.standardError.write(Data("\(stage): the first \(limit) held-out clips of split '\(split)' are ranked (heldout_clips); later rows are not read\n".utf8))
        }
        if text, let bare = clips.first(where: { $0.caption.isEmpty }) {
            throw StageError(path: "\(path): \(bare.id)", reason: "heldout: no caption text (the trainer embeds it)")
        }
        guard clips.count >= 2 else { throw StageError(path: path, reason: "heldout: \(clips.count) clip of split '\(split)'; ranking needs at least 2") }
        do { return try ClipDataset(clips, clip: clip, batchSize: 2, seed: 0) } catch { throw StageError(path: stage, reason: "heldout \(path): \(error)") }
    }

    /// The first `limit` clips of held-out MDS shards as spoken-moments-prepare.yaml writes them,
    /// each caption cut to its first `maxFrames` frames, every one checked against the clip shape.
    private static func heldOutShards(_ path: String, clip: ClipShape, maxFrames: Int, limit: Int, text: Bool, stage: String) throws -> ClipDataset {
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
                    throw StageError(path: "\(path): \(id)", reason: "heldout: no uint8 frames \(clip.frames) x \(clip.size) x \(clip.size) x 3 (the sink's frames and size)")
                }
                guard case let .array(mel)? = sample["mel"], mel.dtype == .float32, mel.shape.count == 2, mel.shape[0] > 0, mel.shape[1] == clip.melBins else {
                    throw StageError(path: "\(path): \(id)", reason: "heldout: no float32 frames x \(clip.melBins) log-mel in 'mel'")
                }
                let caption: String = if case let .string(caption)? = sample["caption"] { caption } else { "" }
                if text, caption.isEmpty { throw StageError(path: "\(path): \(id)", reason: "heldout: no caption text (text_branch embeds it)") }
                frames.append(planar)
                mels.append(Array(mel.values(as: Float.self).prefix(maxFrames * clip.melBins)))
                ids.append(id)
                captions.append(caption)
            }
        } catch let error as ShardError {
            throw StageError(path: stage, reason: "heldout: \(error)")
        }
        if total > limit {
            FileHandle.standardError.write(Data("\(stage): the first \(limit) of \(total) held-out clips are ranked (heldout_clips)\n".utf8))
        }
        do {
            return try ClipDataset(frames: frames, mels: mels, ids: ids, captions: captions, frameShape: clip.frameShape, melBins: clip.melBins,
                                   batchSize: 2, seed: 0)
        } catch { throw StageError(path: stage, reason: "heldout \(path): \(error)") }
    }
}

/// Stacks clips (`frames`, `mel`, optional `mel_length`, `caption`, `id`) into batches of `size`.
/// A caption's window is drawn from (seed, clip, epoch), so a resumed stream, replayed or begun
/// where the checkpoint stopped, builds the same batches; a batch carries its last clip's
/// stream point, which the trainer's checkpoint keeps. The last short batch is dropped or padded
/// with clips of the first batch (as the shard reader's `remainder: pad` repeats the first
/// samples), and either is said on standard error and in the batch's `padded` count.
struct ClipBatcher: Transform {
    let size: Int, padLast: Bool, maxFrames: Int, randomWindow: Bool, seed: UInt64
    private var held: [Sample] = []
    private var first: [Sample] = []
    private var made = 0

    init(size: Int, padLast: Bool, maxFrames: Int, randomWindow: Bool, seed: UInt64) {
        (self.size, self.padLast, self.maxFrames, self.randomWindow, self.seed) = (size, padLast, maxFrames, randomWindow, seed)
    }

    mutating func process(_ item: Sample, into output: inout [Sample]) throws {
        held.append(item)
        guard held.count == size else { return }
        if made == 0, padLast { first = held }
        let clips = held
        held = []
        output.append(try stack(clips))
    }

    mutating func finish(into output: inout [Sample]) throws {
        guard !held.isEmpty else { return }
        let short = held.count
        guard padLast else {
            notice("clip_batch: the last \(short) clips dropped (fewer than a batch of \(size); last: drop)")
            return held = []
        }
        guard !first.isEmpty else {
            throw StageError(path: "clip_batch", reason: "\(short) clips in all cannot fill one batch of \(size) (last: pad repeats the first batch)")
        }
        notice("clip_batch: the last batch of \(short) clips padded with \(size - short) clips of the first (last: pad)")
        let clips = held + first.prefix(size - short)
        held = []
        output.append(try stack(clips, padded: size - short))
    }

    /// One batch sample: `frames`, `mel` [B, mels, L], `mel_lengths` int32 [B], `captions`, `ids`,
    /// `padded` (rows repeated to fill it) and `id` (`batch k`, for errors).
    mutating func stack(_ clips: [Sample], padded: Int = 0) throws -> Sample {
        let index = made
        made += 1
        var frameShape: [Int] = [], frames: [Float] = []
        var windows: [ArraySlice<Float>] = [], bins = 0
        for (row, clip) in clips.enumerated() {
            guard case let .array(clipFrames)? = clip["frames"] else {
                throw StageError(path: clip.origin, reason: "no 'frames' to batch")
            }
            let (shape, values) = try Self.planar(clipFrames, of: clip)
            guard row == 0 || shape == frameShape else {
                throw StageError(path: clip.origin, reason: "frames \(shape) differ from the batch's \(frameShape)")
            }
            frameShape = shape
            frames += values
            guard case let .array(mel)? = clip["mel"], mel.dtype == .float32, mel.shape.count == 2, mel.shape[0] > 0, mel.shape[1] > 0 else {
                throw StageError(path: clip.origin, reason: "no float32 frames x mels log-mel in 'mel'")
            }
            guard row == 0 || mel.shape[1] == bins else {
                throw StageError(path: clip.origin, reason: "\(mel.shape[1]) mel bins, the batch has \(bins)")
            }
            bins = mel.shape[1]
            let length = mel.shape[0]
            if case let .int(stated)? = clip["mel_length"], stated != length {
                throw StageError(path: clip.origin, reason: "mel_length \(stated) but the log-mel has \(length) frames")
            }
            let kept = min(length, maxFrames)
            var start = 0
            if randomWindow, length > kept {
                var rng = RandomGenerator(seed: clip.randomSeed(seed, stage: "clip_batch"))
                start = Int.random(in: 0...(length - kept), using: &rng)
            }
            windows.append(mel.values(as: Float.self)[(start * bins)..<((start + kept) * bins)])
        }
        let lengths = windows.map { $0.count / bins }, longest = lengths.max() ?? 1
        // [frames, mels] per clip -> [B, mels, longest], zero past each caption's end.
        var mel = [Float](repeating: 0, count: clips.count * bins * longest)
        for (row, window) in windows.enumerated() {
            let base = window.startIndex
            for t in 0..<lengths[row] {
                for m in 0..<bins { mel[(row * bins + m) * longest + t] = window[base + t * bins + m] }
            }
        }
        func text(_ key: String, _ clip: Sample) -> Value {
            if case let .string(value)? = clip[key] { .string(value) } else { .string("") }
        }
        var batch = Sample([
            "id": .string("batch \(index)"),
            "frames": .array(NDArray(shape: [clips.count] + frameShape, values: frames)),
            "mel": .array(NDArray(shape: [clips.count, bins, longest], values: mel)),
            "mel_lengths": .array(NDArray(shape: [clips.count], values: lengths.map(Int32.init))),
            "captions": .list(clips.map { text("caption", $0) }),
            "ids": .list(clips.map { text("id", $0) }),
            "padded": .int(padded),
        ])
        let points = clips.compactMap(\.streamPoint)
        if points.count == clips.count { batch.streamPoint = points.max() }
        return batch
    }

    /// A clip's frames for the model: uint8 T x H x W x 3 become float32 T x 3 x H x W in [0, 1];
    /// float32 frames or features pass as they are.
    static func planar(_ frames: NDArray, of clip: Sample) throws -> (shape: [Int], values: [Float]) {
        if frames.dtype == .float32 { return (frames.shape, frames.values(as: Float.self)) }
        guard let values = frames.planarFrames() else {
            throw StageError(path: clip.origin, reason: "frames \(frames.dtype) \(frames.shape) are neither uint8 T x H x W x 3 nor float32")
        }
        return ([frames.shape[0], 3, frames.shape[1], frames.shape[2]], values)
    }

    private func notice(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

extension NDArray {
    /// A float32 array as a tensor of its shape, its bytes copied once (no [Float] between: on a
    /// trainer's thread, every copy of a batch is data wait).
    func tensor() -> Tensor {
        precondition(dtype == .float32, "tensor() takes float32 arrays, got \(dtype)")
        return data.withUnsafeBytes { bytes in
            bytes.withMemoryRebound(to: Float.self) { Tensor(shape: shape, copying: $0) }
        }
    }

    /// Decoded frames (uint8 T x H x W x 3, as video_frames gives them) as the clip trainers take
    /// them: float32 T x 3 x H x W in [0, 1]; nil for any other array.
    public func planarFrames() -> [Float]? {
        guard dtype == .uint8, shape.count == 4, shape[3] == 3 else { return nil }
        let (t, plane) = (shape[0], shape[1] * shape[2])
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { bytes in
            for n in 0..<t { for p in 0..<plane { for c in 0..<3 {
                out[(n * 3 + c) * plane + p] = Float(bytes[(n * plane + p) * 3 + c]) / 255
            } } }
        }
        return out
    }
}

extension ClipBatch {
    /// The batch a `clip_batch` sample holds, checked before any tensor is made.
    init(clipBatch item: Sample) throws {
        guard case let .array(frames)? = item["frames"], frames.dtype == .float32, frames.shape.count >= 2,
              case let .array(mel)? = item["mel"], mel.dtype == .float32, mel.shape.count == 3,
              case let .array(lengths)? = item["mel_lengths"], lengths.dtype == .int32,
              frames.shape[0] == mel.shape[0], lengths.shape == [mel.shape[0]] else {
            throw StageError(path: item.itemDescription, reason: "not a clip_batch batch (float32 frames and mel, int32 mel_lengths, one row per clip)")
        }
        // The trainers' losses rank every clip against the others: one clip has no negative.
        guard mel.shape[0] >= 2, mel.shape[2] >= 1 else {
            throw StageError(path: item.itemDescription, reason: "a batch of \(mel.shape[0]) clips and \(mel.shape[2]) mel frames; a contrastive batch needs at least 2 clips of 1 frame")
        }
        let melLengths = lengths.values(as: Int32.self).map(Int.init)
        guard melLengths.allSatisfy({ $0 >= 1 && $0 <= mel.shape[2] }) else {
            throw StageError(path: item.itemDescription, reason: "mel_lengths \(melLengths) outside 1...\(mel.shape[2])")
        }
        var captions = Array(repeating: "", count: mel.shape[0])
        if case let .list(values)? = item["captions"], values.count == captions.count {
            for (row, value) in values.enumerated() { if case let .string(text) = value { captions[row] = text } }
        }
        self.init(frames: frames.tensor(), mel: mel.tensor(), melLengths: melLengths, captions: captions)
    }
}
