import Foundation
import Models
import Tensor

/// The video tower's frame encoder: a small CNN trained from scratch, or a torchvision ResNet
/// (weights converted to safetensors) trained in two phases.
public enum VideoBackbone: String, Sendable, CaseIterable {
    case frameCNN = "frame_cnn", resnet18, resnet34, resnet50

    var depth: ResNet.Depth? { ResNet.Depth(rawValue: ["resnet18": 18, "resnet34": 34, "resnet50": 50][rawValue] ?? 0) }
}

/// Every setting of a Spoken Moments run (video <-> spoken-caption retrieval) and its default,
/// written once; `sluice spoken-moments train` is built from `settings`.
///
/// Defaults follow the paper where it has one (Adam, a fixed learning rate of 1e-3, the AMM loss
/// with alpha 0.5, GLU projection heads, max pooling over time, two phases over a pretrained
/// backbone), scaled to small frames and a CPU: by default a frame CNN with the temporal shift,
/// trained from scratch, instead of an ImageNet/TSM backbone.
public struct SpokenMomentsOptions: SettingsDescribed, Sendable, Equatable {
    public var backbone = VideoBackbone.frameCNN
    /// With a ResNet backbone, the paper's two phases: the backbone frozen for `frozenSteps`
    /// updates (the other groups at the learning rate), then every parameter at `finetuneRate`.
    public var frozenSteps = 1000
    public var finetuneRate: Float = 1e-5
    public var towers = ClipTowerOptions()
    public var pooling = TemporalPooling.max
    /// The shared space.
    public var embedding = 256
    /// Unit-length embeddings and scores over `temperature` (cosine), instead of raw dot products.
    public var normalize = false
    public var temperature: Float = 0.05
    public var loss = ContrastiveLoss.Kind.amm
    public var alpha: Float = 0.5
    /// MMS: the margin at the start, times `marginGrowth` every 1000 updates (the paper's schedule).
    public var margin: Float = 0.001
    public var marginGrowth: Float = 1.002
    /// AMM: whether the margin is a constant (no gradient through it), and whether negative margins
    /// become zero. Clamped and not detached by default: with raw dot products a detached margin
    /// that starts negative (the positive below the mean negative) lets the scale run away.
    public var detachMargin = false
    public var clampMargin = true
    /// Examples per forward pass under gradient caching (0: the whole batch in one pass).
    public var chunkSize = 0
    public var loop = LoopOptions.retrieval

    public init() {}

    public static var settings: [Setting<Self>] {
        [
            .choice("backbone", \.backbone, "video frame encoder: frame_cnn (from scratch) or a ResNet (--backbone-weights, two phases)"),
            .int("frozen_steps", \.frozenSteps, min: 0, max: 1 << 40, "ResNet backbone: updates with it frozen (phase 1)"),
            .float("finetune_rate", \.finetuneRate, max: 1, "ResNet backbone: learning rate of every group in phase 2"),
            .choice("pooling", \.pooling, "frame features over time"),
            .int("embedding", \.embedding, max: 1 << 14, "size of the shared space"),
            .flag("normalize", \.normalize, "cosine scores over the temperature instead of raw dot products"),
            .float("temperature", \.temperature, min: 1e-4, "with normalize: the scores' temperature"),
            .choice("loss", \.loss, "contrastive loss: nce, mms (margin schedule) or amm (adaptive margin)"),
            .float("alpha", \.alpha, max: 1, "amm: share of the positive-to-mean-negative gap taken as margin"),
            .float("margin", \.margin, "mms: margin at the start"),
            .float("margin_growth", \.marginGrowth, min: 1, max: 2, "mms: factor applied to the margin every 1000 updates"),
            .flag("detach_margin", \.detachMargin, "amm: no gradient through the margin"),
            .flag("clamp_margin", \.clampMargin, "amm: negative margins become zero"),
            .int("chunk_size", \.chunkSize, min: 0, "examples per forward pass under gradient caching (0: one pass)"),
        ] + ClipTowerOptions.settings(at: \.towers) + LoopOptions.settings(at: \.loop)
    }

    /// Refuses settings whose widest tensors the checkpoint does not hold (see `ClipTowerOptions`).
    func checkWidths(against tensors: [String: Tensor], file: String) throws(TrainingError) {
        try towers.checkWidths(against: tensors, video: backbone == .frameCNN ? "video" : nil, audio: "audio", file: file)
        try checkRows([("video_head.1.weight", 2 * embedding), ("audio_head.1.weight", 2 * embedding)], in: tensors, file: file)
    }

    /// The MMS margin at update `step`.
    public func margin(at step: Int) -> Float { margin * powf(marginGrowth, Float(step / 1000)) }
}

/// The Spoken Moments model on the training loop: a video tower (frame CNN, pooled over time) and
/// a spoken-caption tower (ResDAVEnet over log-mel, masked mean over true frames), each through a
/// GLU projection head into a shared space; scores are dot products; the loss is NCE, MMS or AMM
/// over both directions.
public struct SpokenMomentsTraining: TrainableModel {
    public let video: any FrameEncoder, videoHead: ProjectionHead
    public let audio: ResDAVEnet, audioHead: ProjectionHead
    public let options: SpokenMomentsOptions
    public let clip: ClipShape
    /// The update being taken (the MMS margin grows with it).
    public private(set) var step = 0

    public init(options: SpokenMomentsOptions, clip: ClipShape) {
        var rng = RandomGenerator(seed: options.loop.seed)
        if let depth = options.backbone.depth {
            var resnet = ResNet(depth, classes: nil, rng: &rng)
            resnet.temporalShift = options.towers.temporalShift
            video = resnet
        } else {
            video = options.towers.frameCNN(rng: &rng)
        }
        audio = options.towers.resDAVEnet(melBins: clip.melBins, rng: &rng)
        videoHead = ProjectionHead(video.featureWidth, output: options.embedding, normalize: options.normalize, rng: &rng)
        audioHead = ProjectionHead(audio.embeddingWidth, output: options.embedding, normalize: options.normalize, rng: &rng)
        (self.options, self.clip) = (options, clip)
    }

    /// The model a checkpoint holds: its settings and clip shape from the metadata, then its weights.
    public init(checkpoint file: URL) throws {
        let (extra, tensors) = try Checkpoint.open(file)
        let settings = Dictionary(uniqueKeysWithValues: extra.compactMap { key, value in
            key.hasPrefix("setting.") ? (String(key.dropFirst(8)), value) : nil
        })
        let options = try SpokenMomentsOptions(settingValues: settings)
        try options.checkWidths(against: tensors, file: file.path)
        self.init(options: options, clip: try ClipShape(metadata: extra, file: file.path))
        try load(tensors, from: file)
    }

    /// Its settings and clip shape, so `init(checkpoint:)` rebuilds the same towers.
    public var checkpointMetadata: [String: String] {
        clip.metadata.merging(options.settingValues.map { ("setting." + $0.key, $0.value) }) { $1 }
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("video", video) + prefixed("video_head", videoHead) + prefixed("audio", audio) + prefixed("audio_head", audioHead)
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("video", video) + prefixedBuffers("audio", audio)
    }

    /// `video` and `audio` are the backbones; the heads are `heads` (a two-phase run freezes a backbone).
    public func group(ofParameter name: String) -> String { name.hasPrefix("video.") ? "video" : name.hasPrefix("audio.") ? "audio" : "heads" }

    /// `[B, embedding]` of the clips' frames and of their spoken captions.
    public func embed(_ batch: ClipBatch, training: Bool) -> (video: Tensor, audio: Tensor) {
        (embedVideo(batch.frames, training: training), embedCaptions(batch.mel, lengths: batch.melLengths, training: training))
    }

    /// `[B, embedding]` of frames `[B, T, 3, H, W]`.
    public func embedVideo(_ frames: Tensor, training: Bool) -> Tensor {
        let input = options.backbone.depth == nil ? frames : ResNet.imageNetNormalized(frames)
        return videoHead(options.pooling(video.frameFeatures(input, training: training)))
    }

    /// `[B, embedding]` of spoken captions' log-mel `[B, melBins, frames]` with their true frame counts.
    public func embedCaptions(_ mel: Tensor, lengths: [Int], training: Bool) -> Tensor {
        audioHead(audio(mel, lengths: lengths, training: training))
    }

    /// Every clip's and caption's embedding, `[count * embedding]` each, in chunks without gradients.
    public func embed(_ clips: ClipDataset) -> (video: [Float], audio: [Float]) {
        var video: [Float] = [], audio: [Float] = []
        GradMode.withoutGradients {
            for start in stride(from: 0, to: clips.count, by: 64) {
                let (v, a) = embed(clips.batch(of: Array(start..<min(clips.count, start + 64))), training: false)
                video += v.scalars
                audio += a.scalars
            }
        }
        return (video, audio)
    }

    /// S[i][j] = <video_i, caption_j> (over the temperature when normalised).
    public func scores(video: Tensor, audio: Tensor) -> Tensor {
        let s = matmul(video, audio, transposeB: true)
        return options.normalize ? s * (1 / options.temperature) : s
    }

    var contrastiveLoss: ContrastiveLoss {
        ContrastiveLoss(kind: options.loss, margin: options.margin(at: step), alpha: options.alpha,
                        detachMargin: options.detachMargin, clampMargin: options.clampMargin)
    }

    public func loss(on batch: ClipBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let (v, a) = embed(batch, training: context.training)
        let s = scores(video: v, audio: a)
        return LossReport(loss: contrastiveLoss(s), terms: [("score_gap", scoreGap(s))], count: batch.count)
    }

    /// With `chunk_size`, the batch goes through the towers chunk by chunk (gradient caching): the
    /// same gradient as one pass over the whole batch.
    public func accumulateGradients(on batch: ClipBatch, position: Int, scale: Float, context: inout ForwardContext) throws -> LossReport {
        guard options.chunkSize > 0, options.chunkSize < batch.count else {
            let report = try loss(on: batch, position: position, context: &context)
            (report.loss * scale).backward()
            return report
        }
        var gap: Float = 0
        let value = try GradientCache.accumulate(
            count: batch.count, chunkSize: options.chunkSize, context: &context,
            embed: { range, context in
                let (v, a) = embed(batch.slice(range), training: context.training)
                return [v, a]
            },
            loss: { towers in
                let s = scores(video: towers[0], audio: towers[1])
                gap = scoreGap(s)
                return contrastiveLoss(s)
            }, scale: scale)
        return LossReport(loss: value, terms: [("score_gap", gap)], count: batch.count)
    }

    /// With a ResNet backbone: phase 1 freezes it, phase 2 trains every group at `finetuneRate`.
    public func groupSettings(at step: Int) -> [String: GroupSettings]? {
        guard options.backbone.depth != nil else { return nil }
        if step < options.frozenSteps { return ["video": GroupSettings(learningRate: options.loop.learningRate, frozen: true)] }
        return Dictionary(uniqueKeysWithValues: ["video", "audio", "heads"].map { ($0, GroupSettings(learningRate: options.finetuneRate)) })
    }

    public mutating func prepareUpdate(_ step: Int) -> Bool {
        self.step = step
        return false
    }
}

/// The mean positive score minus the mean negative one: how far apart the model holds pairs.
func scoreGap(_ s: Tensor) -> Float {
    let b = s.shape[0], values = s.scalars
    let positive = (0..<b).reduce(Float(0)) { $0 + values[$1 * b + $1] } / Float(b)
    let all = values.reduce(0, +)
    return positive - (all - positive * Float(b)) / Float(b * (b - 1))
}
