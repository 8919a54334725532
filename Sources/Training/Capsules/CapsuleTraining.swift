import Foundation
import Models
import Settings
import Tensor
import Text

/// Every setting of a multimodal capsule run (video, spoken caption and caption text in one joint
/// space) and its default, written once; `sluice capsules train` and the `capsules_train` sink are
/// built from `settings`.
///
/// The substrate follows AVLnet/MCN scaled to a CPU: a trainable frame CNN (temporal shift) for
/// video, ResDAVEnet over log-mel for the spoken caption, WordPiece embeddings and a linear layer
/// for the text (up to 20 words), MMS summed over the three modality pairs, Adam at 1e-3.
public struct CapsuleOptions: SettingsDescribed, Sendable, Equatable {
    public var routing = CapsuleRouting.selfAttention
    /// Output capsules M and the pose dimension D of every capsule.
    public var capsules = 8
    public var pose = 16
    public var towers = ClipTowerOptions()
    public var captionText = CaptionTextOptions()
    public var embedding = 256
    /// Cosine scores by default: the output capsules start short (squashed agreement of random
    /// votes), and raw dot products of short vectors give the loss almost no gradient.
    public var normalize = true
    public var temperature: Float = 0.05
    public var loss = ContrastiveLoss.Kind.mms
    public var margin: Float = 0.001
    public var marginGrowth: Float = 1.002
    public var alpha: Float = 0.5
    /// Share of training clips whose caption (spoken and text) is swapped with another clip's.
    public var noise: Float = 0
    public var loop = LoopOptions.retrieval

    public init() {}

    public static var settings: [Setting<Self>] {
        [
            .choice("routing", \.routing, "self_attention (one pass), dynamic (3 iterations) or none (mean-pooled tokens)"),
            .int("capsules", \.capsules, max: 1024, "output capsules"),
            .int("pose", \.pose, max: 256, "pose dimension of every capsule"),
            .int("embedding", \.embedding, max: 1 << 14, "size of the joint space"),
            .flag("normalize", \.normalize, "cosine scores over the temperature instead of raw dot products"),
            .float("temperature", \.temperature, min: 1e-4, "with normalize: the scores' temperature"),
            .choice("loss", \.loss, "contrastive loss per modality pair: mms (margin schedule), amm (adaptive margin) or nce"),
            .float("margin", \.margin, "mms: margin at the start"),
            .float("margin_growth", \.marginGrowth, min: 1, max: 2, "mms: factor applied to the margin every 1000 updates"),
            .float("alpha", \.alpha, max: 1, "amm: share of the positive-to-mean-negative gap taken as margin"),
            .float("noise", \.noise, max: 1, "share of training clips given another clip's caption (seeded)"),
        ] + ClipTowerOptions.settings(at: \.towers) + CaptionTextOptions.settings(at: \.captionText) + LoopOptions.settings(at: \.loop)
    }

    /// The MMS margin at update `step`.
    public func margin(at step: Int) -> Float { margin * powf(marginGrowth, Float(step / 1000)) }

}

/// The multimodal capsule network on the training loop: each modality's encoder gives a token
/// sequence (frame features before temporal pooling, ResDAVEnet time steps before the masked mean,
/// caption word tokens), the shared `CapsuleNetwork` embeds each modality alone into the joint
/// space, and the loss is `L = L(S_av) + L(S_at) + L(S_tv)` over the three pairs' score matrices
/// (audio-video, audio-text, text-video), each L both directions.
public struct CapsuleTraining: TrainableModel {
    public let video: FrameCNN
    public let audio: ResDAVEnet
    public let text: CaptionEncoder
    public let capsules: CapsuleNetwork
    public let tokenizer: BertTokenizer
    public let options: CapsuleOptions
    /// What else rebuilds this model (vocabulary path, clip shape), kept in its checkpoints.
    public var metadata: [String: String] = [:]
    public private(set) var step = 0

    /// The modality pairs the loss sums over, as (queries, candidates).
    public static let pairs: [(Modality, Modality)] = [(.audio, .video), (.audio, .text), (.text, .video)]

    public init(options: CapsuleOptions, melBins: Int, tokenizer: BertTokenizer) {
        var rng = RandomGenerator(seed: options.loop.seed)
        video = options.towers.frameCNN(rng: &rng)
        audio = options.towers.resDAVEnet(melBins: melBins, rng: &rng)
        text = options.captionText.encoder(vocabularySize: tokenizer.vocabulary.tokens.count, rng: &rng)
        capsules = CapsuleNetwork(features: [.video: video.featureWidth, .audio: audio.embeddingWidth, .text: text.outputWidth],
                                  poseWidth: options.pose, outputCapsules: options.capsules, embedding: options.embedding,
                                  routing: options.routing, normalize: options.normalize, rng: &rng)
        (self.tokenizer, self.options) = (tokenizer, options)
    }

    /// The model a checkpoint holds, rebuilt from its settings, mel bins and vocabulary (the
    /// metadata `sluice capsules train` writes), with its weights loaded.
    public init(checkpoint file: URL) throws {
        let extra = try Checkpoint.extra(from: file)
        let settings = ClipTowerOptions.settings(ofCheckpoint: extra)
        guard !settings.isEmpty else { throw TrainingError(.checkpoint, file.path, "no 'extra.setting.*' entries: not a capsule checkpoint") }
        let options = try CapsuleOptions(settingValues: settings)
        let clip = try ClipShape(metadata: extra, file: file.path)
        let tensors = try SafeTensors.read(file).tensors
        try options.towers.checkWidths(against: tensors, video: "video", audio: "audio", file: file.path)
        guard let vocab = extra["vocab"] else { throw TrainingError(.checkpoint, file.path, "metadata 'extra.vocab' is missing") }
        self.init(options: options, melBins: clip.melBins, tokenizer: try BertTokenizer(contentsOf: URL(fileURLWithPath: vocab)))
        metadata = extra.filter { !$0.key.hasPrefix("setting.") && $0.key != "data.position" }
        try load(tensors, from: file)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("video", video) + prefixed("audio", audio) + prefixed("text", text) + prefixed("capsules", capsules)
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] { prefixedBuffers("video", video) + prefixedBuffers("audio", audio) }

    public var checkpointMetadata: [String: String] {
        metadata.merging(options.settingValues.map { ("setting." + $0.key, $0.value) }) { $1 }
    }

    /// `video`, `audio` and `text` are the encoders; the capsule layer and head are `capsules`.
    public func group(ofParameter name: String) -> String { String(name.prefix { $0 != "." }) }

    /// One modality's token sequence for the batch's clips.
    public func tokens(_ modality: Modality, of batch: ClipBatch, training: Bool) throws -> ModalityTokens {
        switch modality {
        case .video:
            let features = video.frameFeatures(batch.frames, training: training)
            return ModalityTokens(.video, features: features, lengths: Array(repeating: features.shape[1], count: batch.count))
        case .audio:
            let (features, lengths) = audio.frames(batch.mel, lengths: batch.melLengths, training: training)
            return ModalityTokens(.audio, features: features.transposed(1, 2), lengths: lengths)
        case .text:
            let ids = try options.captionText.tokenIds(batch.captions, tokenizer: tokenizer)
            return ModalityTokens(.text, features: try text.tokenStates(ids), lengths: ids.map(\.count))
        }
    }

    /// `[B, embedding]` of each modality alone, through the one capsule layer.
    public func embed(_ batch: ClipBatch, _ modalities: [Modality] = Modality.allCases, training: Bool) throws -> [Modality: Tensor] {
        var result: [Modality: Tensor] = [:]
        for modality in modalities { result[modality] = capsules([try tokens(modality, of: batch, training: training)]) }
        return result
    }

    /// S[i][j] = <a_i, b_j> (over the temperature when normalised).
    public func scores(_ a: Tensor, _ b: Tensor) -> Tensor {
        let s = matmul(a, b, transposeB: true)
        return options.normalize ? s * (1 / options.temperature) : s
    }

    public func loss(on batch: ClipBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let embeddings = try embed(batch, training: context.training)
        let contrastive = ContrastiveLoss(kind: options.loss, margin: options.margin(at: step), alpha: options.alpha, clampMargin: true)
        var total: Tensor?, terms: [(name: String, value: Float)] = []
        for (a, b) in Self.pairs {
            guard let x = embeddings[a], let y = embeddings[b] else { continue }
            let pair = contrastive(scores(x, y))
            terms.append(("\(a.rawValue)_\(b.rawValue)", pair.item))
            total = total.map { $0 + pair } ?? pair
        }
        return LossReport(loss: total ?? Tensor(0), terms: terms, count: batch.count)
    }

    public mutating func prepareUpdate(_ step: Int) -> Bool {
        self.step = step
        return false
    }

    /// Every clip's embedding per modality (rows in clip order), in batches of 64, no gradients.
    public func embeddings(of clips: ClipDataset, _ modalities: [Modality] = Modality.allCases) throws -> [Modality: [Float]] {
        try GradMode.withoutGradients {
            var result: [Modality: [Float]] = [:]
            for start in stride(from: 0, to: clips.count, by: 64) {
                let batch = clips.batch(of: Array(start..<min(clips.count, start + 64)))
                for (modality, tensor) in try embed(batch, modalities, training: false) { result[modality, default: []] += tensor.scalars }
            }
            return result
        }
    }

    /// Held-out retrieval: text->video, video->text and audio->video R@1/5/10 and median rank,
    /// with the set size and chance (R@k of a random ranking) beside them.
    public func retrievalFigures(on clips: ClipDataset) throws -> [(name: String, value: Double)] {
        let e = try embeddings(of: clips)
        let dimension = options.embedding
        let textVideo = try PairedRetrieval(a: e[.text] ?? [], b: e[.video] ?? [], dimension: dimension)
        let audioVideo = try PairedRetrieval(a: e[.audio] ?? [], b: e[.video] ?? [], dimension: dimension)
        var figures: [(name: String, value: Double)] = [("set_size", Double(textVideo.setSize))]
        figures += [1, 5, 10].map { ("chance_r\($0)", textVideo.forward.chance(at: $0)) }
        let directions = [("text_to_video", textVideo.forward), ("video_to_text", textVideo.backward), ("audio_to_video", audioVideo.forward)]
        for (direction, f) in directions {
            figures += [1, 5, 10].map { ("\(direction)_r\($0)", f.recall[$0] ?? 0) }
            figures.append(("\(direction)_median_rank", f.medianRank))
        }
        return figures + [RankingFigures.meanRecallAt10(directions.map { $0.1 })]
    }
}

extension ClipDataset {
    /// The same clips with the captions (spoken and text) of a `share` of them swapped among
    /// themselves: the chosen clips, drawn by `seed`, each take the next chosen clip's caption, so
    /// every one of them is mismatched (a noisy training set; video-caption pairs are wrong,
    /// spoken and text captions still agree).
    public func mismatchingCaptions(share: Float, seed: UInt64) throws(TrainingError) -> ClipDataset {
        var rng = RandomGenerator(seed: seed ^ 0x6E6F_6973_6520_2020)
        let chosen = Array(Array(0..<count).shuffled(using: &rng).prefix(Int((share * Float(count)).rounded())))
        guard chosen.count >= 2 else { return self }
        var mels = self.mels, captions = self.captions
        for (index, clip) in chosen.enumerated() {
            let donor = chosen[(index + 1) % chosen.count]
            (mels[clip], captions[clip]) = (self.mels[donor], self.captions[donor])
        }
        return try ClipDataset(frames: frames, mels: mels, ids: ids, captions: captions, frameShape: frameShape, melBins: melBins,
                               batchSize: batchSize, seed: seed)
    }
}
