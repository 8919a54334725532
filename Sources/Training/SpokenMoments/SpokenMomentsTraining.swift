import Foundation
import Models
import Settings
import Tensor
import Text

/// The video tower's frame encoder: a small CNN trained from scratch, or a torchvision ResNet
/// (weights converted to safetensors) trained in two phases.
public enum VideoBackbone: String, Sendable, CaseIterable {
    case frameCNN = "frame_cnn", resnet18, resnet34, resnet50

    public var depth: ResNet.Depth? { ResNet.Depth(rawValue: ["resnet18": 18, "resnet34": 34, "resnet50": 50][rawValue] ?? 0) }
}

/// Every setting of a Spoken Moments run (video <-> spoken-caption retrieval) and its default,
/// written once; `sluice spoken-moments train` is built from `settings`.
///
/// Defaults follow the paper where it has one (Adam, a fixed learning rate of 1e-3, GLU projection
/// heads, max pooling over time, two phases over a pretrained backbone), scaled to small frames and
/// a CPU: by default a frame CNN with the temporal shift, trained from scratch, instead of an
/// ImageNet/TSM backbone. Scores and loss are the held-out table's best (BENCHMARKS.md, "What the
/// clip trainers learn"): cosine over a temperature with MMS, where the paper's AMM on raw dot
/// products ranked held-out clips far worse at the same wall-clock. The spoken caption is pooled by
/// its maximum over time, as frames are over their map: on clips with busy backgrounds and many
/// voices the means ranked held-out clips at chance.
public struct SpokenMomentsOptions: SettingsDescribed, Sendable, Equatable {
    public var backbone = VideoBackbone.frameCNN
    /// With a ResNet backbone, the paper's two phases: the backbone frozen for `frozenSteps`
    /// updates (the other groups at the learning rate), then every parameter at `finetuneRate`.
    public var frozenSteps = 1000
    public var finetuneRate: Float = 1e-5
    /// The clip towers with a spoken-caption tower twice as wide as the capsule trainer's: speech
    /// alone must carry the caption here, and at 64 held-out clips ranked twice as well at the same
    /// wall-clock on the development world (BENCHMARKS.md, "What the clip trainers learn").
    public var towers = ClipTowerOptions(audioWidth: 64)
    public var pooling = FeaturePooling.max
    public var audioPooling = FeaturePooling.max
    /// The shared space.
    public var embedding = 256
    /// Unit-length embeddings and scores over `temperature` (cosine), instead of raw dot products.
    public var normalize = true
    public var temperature: Float = 0.05
    public var loss = ContrastiveLoss.Kind.mms
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
    /// While training, this share of each tower's pooled features is dropped before its head.
    public var headDropout: Float = 0
    /// The optional third tower: caption text (`captionText`) through its own projection head into
    /// the shared space, with video<->text and audio<->text terms of the same loss added.
    public var textBranch = false
    public var captionText = CaptionTextOptions()
    public var loop = LoopOptions.retrieval

    public init() {}

    public static var settings: [Setting<Self>] {
        [
            .choice("backbone", \.backbone, "video frame encoder: frame_cnn (from scratch) or a ResNet (--backbone-weights, two phases)"),
            .int("frozen_steps", \.frozenSteps, min: 0, max: 1 << 40, "ResNet backbone: updates with it frozen (phase 1)"),
            .float("finetune_rate", \.finetuneRate, max: 1, "ResNet backbone: learning rate of every group in phase 2"),
            .choice("pooling", \.pooling, "frame features over time"),
            .choice("audio_pooling", \.audioPooling, "spoken caption features over its true frames"),
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
            .float("head_dropout", \.headDropout, max: 0.9, "while training: share of each tower's pooled features dropped before its head"),
            .flag("text_branch", \.textBranch, "a caption text tower too (needs caption text and a vocabulary); adds video<->text and audio<->text loss terms"),
        ] + ClipTowerOptions.settings(at: \.towers) + CaptionTextOptions.settings(at: \.captionText) + LoopOptions.settings(at: \.loop)
    }

    /// Refuses settings whose widest tensors the checkpoint does not hold (see `ClipTowerOptions`).
    func checkWidths(against tensors: [String: Tensor], vocabularySize: Int?, file: String) throws(TrainingError) {
        try towers.checkWidths(against: tensors, video: backbone == .frameCNN ? "video" : nil, audio: "audio", file: file)
        try checkRows([("video_head.1.weight", 2 * embedding), ("audio_head.1.weight", 2 * embedding)], in: tensors, file: file)
        if let vocabularySize {
            try captionText.checkWidths(against: tensors, prefix: "text", vocabularySize: vocabularySize, file: file)
            try checkRows([("text_head.1.weight", 2 * embedding)], in: tensors, file: file)
        }
    }

    /// The MMS margin at update `step`.
    public func margin(at step: Int) -> Float { margin * powf(marginGrowth, Float(step / 1000)) }
}

/// The Spoken Moments model on the training loop: a video tower (frame CNN, pooled over time) and
/// a spoken-caption tower (ResDAVEnet over log-mel, masked mean over true frames), optionally a
/// caption text tower, each through a GLU projection head into a shared space; scores are dot
/// products; the loss is NCE, MMS or AMM over both directions of every pair of towers.
public struct SpokenMomentsTraining: TrainableModel {
    public let video: any FrameEncoder, videoHead: ProjectionHead
    public let audio: ResDAVEnet, audioHead: ProjectionHead
    /// With `text_branch`: the caption text tower, its head and its vocabulary.
    public private(set) var text: TextBranch?
    public let options: SpokenMomentsOptions
    public let clip: ClipShape
    /// The update being taken (the MMS margin grows with it).
    public private(set) var step = 0

    /// The caption text tower: WordPiece ids -> `CaptionEncoder` -> GLU head.
    public struct TextBranch {
        public let encoder: CaptionEncoder, head: ProjectionHead
        public let tokenizer: BertTokenizer
        /// The vocab.txt it reads, recorded in checkpoints (`vocab`) as the capsule trainer's are.
        public let vocabulary: URL
    }

    /// The towers `options` ask for; with `text_branch`, `vocabulary` (a BERT vocab.txt) is needed.
    public init(options: SpokenMomentsOptions, clip: ClipShape, vocabulary: URL? = nil) throws {
        self.init(videoAndAudio: options, clip: clip)
        guard options.textBranch else { return }
        guard let vocabulary else {
            throw TrainingError(.data, "text_branch", "the caption text branch needs a WordPiece vocabulary (vocab.txt)")
        }
        let tokenizer = try BertTokenizer(contentsOf: vocabulary)
        var rng = RandomGenerator(seed: options.loop.seed ^ 0x7465_7874)
        let encoder = options.captionText.encoder(vocabularySize: tokenizer.vocabulary.tokens.count, rng: &rng)
        let head = ProjectionHead(encoder.outputWidth, output: options.embedding, normalize: options.normalize, rng: &rng)
        text = TextBranch(encoder: encoder, head: head, tokenizer: tokenizer, vocabulary: vocabulary.standardizedFileURL)
    }

    /// The video and spoken-caption towers.
    private init(videoAndAudio options: SpokenMomentsOptions, clip: ClipShape) {
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
        let settings = ClipTowerOptions.settings(ofCheckpoint: extra)
        let options = try SpokenMomentsOptions(settingValues: settings)
        var vocabulary: URL?
        if options.textBranch {
            guard let path = extra["vocab"] else { throw TrainingError(.checkpoint, file.path, "its text branch has no vocabulary (metadata 'extra.vocab')") }
            vocabulary = URL(fileURLWithPath: path)
        }
        let vocabularySize = try vocabulary.map { try Vocabulary(contentsOf: $0).tokens.count }
        try options.checkWidths(against: tensors, vocabularySize: vocabularySize, file: file.path)
        try self.init(options: options, clip: try ClipShape(metadata: extra, file: file.path), vocabulary: vocabulary)
        try load(tensors, from: file)
    }

    /// Its settings, clip shape and (with the text branch) vocabulary, so `init(checkpoint:)`
    /// rebuilds the same towers.
    public var checkpointMetadata: [String: String] {
        var metadata = clip.metadata.merging(options.settingValues.map { ("setting." + $0.key, $0.value) }) { $1 }
        if let text { metadata["vocab"] = text.vocabulary.path }
        return metadata
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("video", video) + prefixed("video_head", videoHead) + prefixed("audio", audio) + prefixed("audio_head", audioHead)
            + (text.map { prefixed("text", $0.encoder) + prefixed("text_head", $0.head) } ?? [])
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("video", video) + prefixedBuffers("audio", audio)
    }

    /// `video`, `audio` and `text` are the encoders; the heads are `heads` (a two-phase run freezes a backbone).
    public func group(ofParameter name: String) -> String {
        let tower = String(name.prefix { $0 != "." })
        return ["video", "audio", "text"].contains(tower) ? tower : "heads"
    }

    /// `[B, embedding]` of the clips' frames and of their spoken captions.
    public func embed(_ batch: ClipBatch, training: Bool) -> (video: Tensor, audio: Tensor) {
        (embedVideo(batch.frames, training: training), embedCaptions(batch.mel, lengths: batch.melLengths, training: training))
    }

    /// Every tower's `[B, embedding]`: video, spoken caption, then caption text with the text
    /// branch; while training, `headDropout` of each tower's features dropped before its head
    /// (masks from the context's generator).
    func towers(_ batch: ClipBatch, context: inout ForwardContext) throws -> [Tensor] {
        let training = context.training
        func dropped(_ features: Tensor) -> Tensor { features.dropout(options.headDropout, training: training, rng: &context.rng) }
        var towers = [videoHead(dropped(videoFeatures(batch.frames, training: training))),
                      audioHead(dropped(captionFeatures(batch.mel, lengths: batch.melLengths, training: training)))]
        if let text { towers.append(text.head(dropped(try textFeatures(batch.captions, text)))) }
        return towers
    }

    /// `[captions.count, embedding]` of caption texts; an error without the text branch.
    public func embedText(_ captions: [String]) throws -> Tensor {
        guard let text else { throw TrainingError(.data, "text", "this model has no caption text branch (trained without text_branch)") }
        return text.head(try textFeatures(captions, text))
    }

    private func textFeatures(_ captions: [String], _ text: TextBranch) throws -> Tensor {
        try text.encoder(try options.captionText.tokenIds(captions, tokenizer: text.tokenizer))
    }

    /// `[B, embedding]` of frames `[B, T, 3, H, W]`.
    public func embedVideo(_ frames: Tensor, training: Bool) -> Tensor { videoHead(videoFeatures(frames, training: training)) }

    /// The video tower's features pooled over time, before the head.
    private func videoFeatures(_ frames: Tensor, training: Bool) -> Tensor {
        let input = options.backbone.depth == nil ? frames : ResNet.imageNetNormalized(frames)
        return options.pooling(video.frameFeatures(input, training: training), axis: 1)
    }

    /// `[B, embedding]` of spoken captions' log-mel `[B, melBins, frames]` with their true frame counts.
    public func embedCaptions(_ mel: Tensor, lengths: [Int], training: Bool) -> Tensor {
        audioHead(captionFeatures(mel, lengths: lengths, training: training))
    }

    private func captionFeatures(_ mel: Tensor, lengths: [Int], training: Bool) -> Tensor {
        audio(mel, lengths: lengths, training: training, pooling: options.audioPooling)
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

    /// Every clip's caption text embedded, `[count * embedding]`, in chunks without gradients.
    public func embedTexts(_ clips: ClipDataset) throws -> [Float] {
        try GradMode.withoutGradients {
            try stride(from: 0, to: clips.count, by: 64).flatMap { start in
                try embedText(Array(clips.captions[start..<min(clips.count, start + 64)])).scalars
            }
        }
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

    /// The loss over the towers' embeddings (video, audio[, text]) and its logged terms: the
    /// video-audio score gap, and with the text branch each pair's loss.
    func loss(over towers: [Tensor]) -> (loss: Tensor, terms: [(name: String, value: Float)]) {
        let s = scores(video: towers[0], audio: towers[1])
        let gap = ("score_gap", scoreGap(s))
        guard towers.count == 3 else { return (contrastiveLoss(s), [gap]) }
        let pairs = [("video_audio", s), ("video_text", scores(video: towers[0], audio: towers[2])),
                     ("audio_text", scores(video: towers[1], audio: towers[2]))].map { ($0.0, contrastiveLoss($0.1)) }
        return (pairs.dropFirst().reduce(pairs[0].1) { $0 + $1.1 }, pairs.map { ($0.0, $0.1.item) } + [gap])
    }

    public func loss(on batch: ClipBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let (loss, terms) = loss(over: try towers(batch, context: &context))
        return LossReport(loss: loss, terms: terms, count: batch.count)
    }

    /// With `chunk_size`, the batch goes through the towers chunk by chunk (gradient caching): the
    /// same gradient as one pass over the whole batch.
    public func accumulateGradients(on batch: ClipBatch, position: Int, scale: Float, context: inout ForwardContext) throws -> LossReport {
        guard options.chunkSize > 0, options.chunkSize < batch.count else {
            let report = try loss(on: batch, position: position, context: &context)
            (report.loss * scale).backward()
            return report
        }
        var terms: [(name: String, value: Float)] = []
        let value = try GradientCache.accumulate(
            count: batch.count, chunkSize: options.chunkSize, context: &context,
            embed: { range, context in try towers(batch.slice(range), context: &context) },
            loss: { towers in
                let (loss, chunkTerms) = loss(over: towers)
                terms = chunkTerms
                return loss
            }, scale: scale)
        return LossReport(loss: value, terms: terms, count: batch.count)
    }

    /// With a ResNet backbone: phase 1 freezes it, phase 2 trains every group at `finetuneRate`.
    public func groupSettings(at step: Int) -> [String: GroupSettings]? {
        guard options.backbone.depth != nil else { return nil }
        if step < options.frozenSteps { return ["video": GroupSettings(learningRate: options.loop.learningRate, frozen: true)] }
        return Dictionary(uniqueKeysWithValues: ["video", "audio", "text", "heads"].map { ($0, GroupSettings(learningRate: options.finetuneRate)) })
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
