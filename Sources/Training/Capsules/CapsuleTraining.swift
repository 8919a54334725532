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
/// for the text (up to 20 words), the retrieval kit's loss (MMS) summed over the three modality
/// pairs, Adam at 1e-3.
public struct CapsuleOptions: RetrievalSettings, Sendable, Equatable {
    public var routing = CapsuleRouting.selfAttention
    /// Output capsules M and the pose dimension D of every capsule.
    public var capsules = 8
    public var pose = 16
    public var towers = ClipTowerOptions()
    public var captionText = CaptionTextOptions()
    public var retrieval = RetrievalOptions()
    /// Share of training clips whose caption (spoken and text) is swapped with another clip's.
    public var noise: Float = 0
    public var loop = LoopOptions.retrieval

    public init() {}

    public static var settings: [Setting<Self>] {
        [
            .choice("routing", \.routing, "self_attention (one pass), dynamic (3 iterations) or none (mean-pooled tokens)"),
            .int("capsules", \.capsules, max: 1024, "output capsules"),
            .int("pose", \.pose, max: 256, "pose dimension of every capsule"),
            .float("noise", \.noise, max: 1, "share of training clips given another clip's caption (seeded)"),
        ] + RetrievalOptions.settings(at: \.retrieval) + ClipTowerOptions.settings(at: \.towers) + CaptionTextOptions.settings(at: \.captionText) + LoopOptions.settings(at: \.loop)
    }
}

/// The multimodal capsule network on the training loop: each modality's encoder gives a token
/// sequence (frame features before temporal pooling, ResDAVEnet time steps before the masked mean,
/// caption word tokens), the shared `CapsuleNetwork` embeds each modality alone into the joint
/// space, and the loss is `L = L(S_av) + L(S_at) + L(S_tv)` over the three pairs' score matrices
/// (audio-video, audio-text, text-video), each L both directions.
public struct CapsuleTraining: RetrievalModel {
    public let video: FrameCNN
    public let audio: ResDAVEnet
    public let text: CaptionEncoder
    public let capsules: CapsuleNetwork
    public let tokenizer: BertTokenizer
    /// The vocab.txt the tokenizer reads, recorded in checkpoints (`vocab`).
    public let vocabulary: URL
    public let options: CapsuleOptions
    public let clip: ClipShape

    /// The modality pairs the loss sums over, as (queries, candidates).
    public static let pairs: [(Modality, Modality)] = [(.audio, .video), (.audio, .text), (.text, .video)]

    public init(options: CapsuleOptions, clip: ClipShape, vocabulary: URL) throws {
        tokenizer = try BertTokenizer(contentsOf: vocabulary)
        var rng = RandomGenerator(seed: options.loop.seed)
        video = options.towers.frameCNN(rng: &rng)
        audio = options.towers.resDAVEnet(melBins: clip.melBins, rng: &rng)
        text = options.captionText.encoder(vocabularySize: tokenizer.vocabulary.tokens.count, rng: &rng)
        capsules = CapsuleNetwork(features: [.video: video.featureWidth, .audio: audio.embeddingWidth, .text: text.outputWidth],
                                  poseWidth: options.pose, outputCapsules: options.capsules, embedding: options.retrieval.embedding,
                                  routing: options.routing, normalize: options.retrieval.normalize, rng: &rng)
        (self.vocabulary, self.options, self.clip) = (vocabulary.standardizedFileURL, options, clip)
    }

    /// The network a checkpoint's settings ask for, checked against its tensors first.
    public init(checkpoint: RetrievalCheckpoint<CapsuleOptions>) throws {
        try checkpoint.options.towers.checkWidths(against: checkpoint.tensors, video: "video", audio: "audio", file: checkpoint.file.path)
        try self.init(options: checkpoint.options, clip: checkpoint.clip, vocabulary: try checkpoint.requireVocabulary())
    }

    public var captionVocabulary: URL? { vocabulary }
    public var modalities: [Modality] { Modality.allCases }
    public var rankedDirections: [(Modality, Modality)] { [(.text, .video), (.video, .text), (.audio, .video)] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("video", video) + prefixed("audio", audio) + prefixed("text", text) + prefixed("capsules", capsules)
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] { prefixedBuffers("video", video) + prefixedBuffers("audio", audio) }

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
    public func embed(_ batch: ClipBatch, _ modalities: [Modality], training: Bool) throws -> [Modality: Tensor] {
        var result: [Modality: Tensor] = [:]
        for modality in modalities { result[modality] = capsules([try tokens(modality, of: batch, training: training)]) }
        return result
    }

    public func loss(on batch: ClipBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let embeddings = try embed(batch, modalities, training: context.training)
        let pairs = Self.pairs.map { a, b in ("\(a.rawValue)_\(b.rawValue)", retrieval.scores(embeddings[a]!, embeddings[b]!)) }
        let (loss, terms) = retrieval.loss(over: pairs, step: context.step)
        return LossReport(loss: loss, terms: terms, count: batch.count)
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
