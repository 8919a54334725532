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
/// ImageNet/TSM backbone; scores and loss are the retrieval kit's (`RetrievalOptions`). The spoken caption is pooled by
/// its maximum over time, as frames are over their map: on clips with busy backgrounds and many
/// voices the means ranked held-out clips at chance.
public struct SpokenMomentsOptions: RetrievalSettings, Sendable, Equatable {
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
    public var retrieval = RetrievalOptions()
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
            .int("chunk_size", \.chunkSize, min: 0, "examples per forward pass under gradient caching (0: one pass)"),
            .float("head_dropout", \.headDropout, max: 0.9, "while training: share of each tower's pooled features dropped before its head"),
            .flag("text_branch", \.textBranch, "a caption text tower too (needs caption text and a vocabulary); adds video<->text and audio<->text loss terms"),
        ] + RetrievalOptions.settings(at: \.retrieval) + ClipTowerOptions.settings(at: \.towers) + CaptionTextOptions.settings(at: \.captionText) + LoopOptions.settings(at: \.loop)
    }

    /// Refuses settings whose widest tensors the checkpoint does not hold (see `ClipTowerOptions`).
    func checkWidths(against tensors: [String: Tensor], vocabularySize: Int?, file: String) throws(TrainingError) {
        try towers.checkWidths(against: tensors, video: backbone == .frameCNN ? "video" : nil, audio: "audio", file: file)
        let embedding = retrieval.embedding
        try checkRows([("video_head.1.weight", 2 * embedding), ("audio_head.1.weight", 2 * embedding)], in: tensors, file: file)
        if let vocabularySize {
            try captionText.checkWidths(against: tensors, prefix: "text", vocabularySize: vocabularySize, file: file)
            try checkRows([("text_head.1.weight", 2 * embedding)], in: tensors, file: file)
        }
    }
}

/// The Spoken Moments model on the training loop: a video tower (frame CNN, pooled over time) and
/// a spoken-caption tower (ResDAVEnet over log-mel, pooled over true frames), optionally a caption
/// text tower, each through a GLU projection head into a shared space; the retrieval kit's loss
/// (NCE, MMS or AMM, both ways) over every pair of towers.
public struct SpokenMomentsTraining: RetrievalModel {
    public let video: any FrameEncoder, videoHead: ProjectionHead
    public let audio: ResDAVEnet, audioHead: ProjectionHead
    /// With `text_branch`: the caption text tower, its head and its vocabulary.
    public private(set) var text: TextBranch?
    public let options: SpokenMomentsOptions
    public let clip: ClipShape

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
        let head = ProjectionHead(encoder.outputWidth, output: options.retrieval.embedding, normalize: options.retrieval.normalize, rng: &rng)
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
        let (embedding, normalize) = (options.retrieval.embedding, options.retrieval.normalize)
        videoHead = ProjectionHead(video.featureWidth, output: embedding, normalize: normalize, rng: &rng)
        audioHead = ProjectionHead(audio.embeddingWidth, output: embedding, normalize: normalize, rng: &rng)
        (self.options, self.clip) = (options, clip)
    }

    /// The towers a checkpoint's settings ask for, checked against its tensors first.
    public init(checkpoint: RetrievalCheckpoint<SpokenMomentsOptions>) throws {
        let options = checkpoint.options
        let vocabulary = options.textBranch ? try checkpoint.requireVocabulary() : nil
        let vocabularySize = try vocabulary.map { try Vocabulary(contentsOf: $0).tokens.count }
        try options.checkWidths(against: checkpoint.tensors, vocabularySize: vocabularySize, file: checkpoint.file.path)
        try self.init(options: options, clip: checkpoint.clip, vocabulary: vocabulary)
    }

    public var captionVocabulary: URL? { text?.vocabulary }
    public var modalities: [Modality] { text == nil ? [.video, .audio] : [.video, .audio, .text] }
    public var rankedDirections: [(Modality, Modality)] { [(.video, .audio), (.audio, .video), (.video, .text), (.text, .video)] }
    public static func name(of modality: Modality) -> String { modality == .audio ? "caption" : modality.rawValue }

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

    public func embed(_ batch: ClipBatch, _ modalities: [Modality], training: Bool) throws -> [Modality: Tensor] {
        var context = ForwardContext(training: training, rng: RandomGenerator(seed: 0))
        let towers = try towers(batch, modalities, dropout: false, context: &context)
        return Dictionary(uniqueKeysWithValues: zip(modalities, towers))
    }

    /// Each of `modalities`' `[B, embedding]` (video, spoken caption, caption text); with `dropout`
    /// while training, `headDropout` of each tower's features dropped before its head (masks from
    /// the context's generator).
    private func towers(_ batch: ClipBatch, _ modalities: [Modality], dropout: Bool, context: inout ForwardContext) throws -> [Tensor] {
        let training = context.training
        func dropped(_ features: Tensor) -> Tensor {
            dropout ? features.dropout(options.headDropout, training: training, rng: &context.rng) : features
        }
        return try modalities.map { modality in
            switch modality {
            case .video:
                let input = options.backbone.depth == nil ? batch.frames : ResNet.imageNetNormalized(batch.frames)
                return videoHead(dropped(options.pooling(video.frameFeatures(input, training: training), axis: 1)))
            case .audio:
                return audioHead(dropped(audio(batch.mel, lengths: batch.melLengths, training: training, pooling: options.audioPooling)))
            case .text:
                guard let text else { throw TrainingError(.data, "text", "this model has no caption text branch (trained without text_branch)") }
                return text.head(dropped(try text.encoder(try options.captionText.tokenIds(batch.captions, tokenizer: text.tokenizer))))
            }
        }
    }

    /// The loss over the towers' embeddings (video, audio[, text]) at update `step`, and its logged
    /// terms: each pair's loss and the video-audio score gap.
    func loss(over towers: [Tensor], step: Int) -> (loss: Tensor, terms: [(name: String, value: Float)]) {
        let s = retrieval.scores(towers[0], towers[1])
        var pairs = [("video_audio", s)]
        if towers.count == 3 { pairs += [("video_text", retrieval.scores(towers[0], towers[2])), ("audio_text", retrieval.scores(towers[1], towers[2]))] }
        let (loss, terms) = retrieval.loss(over: pairs, step: step)
        return (loss, terms + [("score_gap", scoreGap(s))])
    }

    public func loss(on batch: ClipBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let (loss, terms) = loss(over: try towers(batch, modalities, dropout: true, context: &context), step: context.step)
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
        let step = context.step
        let value = try GradientCache.accumulate(
            count: batch.count, chunkSize: options.chunkSize, context: &context,
            embed: { range, context in try towers(batch.slice(range), modalities, dropout: true, context: &context) },
            loss: { towers in
                let (loss, chunkTerms) = loss(over: towers, step: step)
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
}

/// The mean positive score minus the mean negative one: how far apart the model holds pairs.
func scoreGap(_ s: Tensor) -> Float {
    let b = s.shape[0], values = s.scalars
    let positive = (0..<b).reduce(Float(0)) { $0 + values[$1 * b + $1] } / Float(b)
    let all = values.reduce(0, +)
    return positive - (all - positive * Float(b)) / Float(b * (b - 1))
}
