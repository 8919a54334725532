import Foundation
import Models
import Settings
import Tensor
import Testing
import Text
import Training

/// The README's walkthrough ("A new retrieval trainer"), compiled and run: a spoken caption <->
/// caption text trainer is its options and one model+loss file on the retrieval kit; held-out
/// figures, checkpoints and embedding come with the kit.
struct AudioTextOptions: RetrievalSettings, Sendable, Equatable {
    var towers = ClipTowerOptions()
    var captionText = CaptionTextOptions()
    var retrieval = RetrievalOptions()
    var loop = LoopOptions.retrieval

    static var settings: [Setting<Self>] {
        RetrievalOptions.settings(at: \.retrieval) + ClipTowerOptions.settings(at: \.towers)
            + CaptionTextOptions.settings(at: \.captionText) + LoopOptions.settings(at: \.loop)
    }
}

struct AudioTextModel: RetrievalModel {
    let audio: ResDAVEnet, audioHead: ProjectionHead
    let text: CaptionEncoder, textHead: ProjectionHead
    let tokenizer: BertTokenizer, vocabulary: URL
    let options: AudioTextOptions, clip: ClipShape

    init(options: AudioTextOptions, clip: ClipShape, vocabulary: URL) throws {
        tokenizer = try BertTokenizer(contentsOf: vocabulary)
        var rng = RandomGenerator(seed: options.loop.seed)
        audio = options.towers.resDAVEnet(melBins: clip.melBins, rng: &rng)
        text = options.captionText.encoder(vocabularySize: tokenizer.vocabulary.tokens.count, rng: &rng)
        let (width, normalize) = (options.retrieval.embedding, options.retrieval.normalize)
        audioHead = ProjectionHead(audio.embeddingWidth, output: width, normalize: normalize, rng: &rng)
        textHead = ProjectionHead(text.outputWidth, output: width, normalize: normalize, rng: &rng)
        (self.vocabulary, self.options, self.clip) = (vocabulary, options, clip)
    }

    init(checkpoint: RetrievalCheckpoint<AudioTextOptions>) throws {
        try self.init(options: checkpoint.options, clip: checkpoint.clip, vocabulary: try checkpoint.requireVocabulary())
    }

    var modalities: [Modality] { [.audio, .text] }
    var rankedDirections: [(Modality, Modality)] { [(.text, .audio), (.audio, .text)] }
    var captionVocabulary: URL? { vocabulary }
    var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("audio", audio) + prefixed("audio_head", audioHead) + prefixed("text", text) + prefixed("text_head", textHead)
    }
    var namedBuffers: [(name: String, tensor: Tensor)] { prefixedBuffers("audio", audio) }

    func embed(_ batch: ClipBatch, _ modalities: [Modality], training: Bool) throws -> [Modality: Tensor] {
        var embeddings: [Modality: Tensor] = [:]
        for modality in modalities {
            switch modality {
            case .audio: embeddings[.audio] = audioHead(audio(batch.mel, lengths: batch.melLengths, training: training, pooling: .max))
            case .text: embeddings[.text] = textHead(try text(try options.captionText.tokenIds(batch.captions, tokenizer: tokenizer)))
            case .video: throw TrainingError(.data, "video", "this model has no video tower")
            }
        }
        return embeddings
    }

    func loss(on batch: ClipBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let e = try embed(batch, modalities, training: context.training)
        let (loss, terms) = retrieval.loss(over: [("audio_text", retrieval.scores(e[.audio]!, e[.text]!))], step: context.step)
        return LossReport(loss: loss, terms: terms, count: batch.count)
    }
}

struct AudioTextRetrievalTests {
    static func options() -> AudioTextOptions {
        var options = AudioTextOptions()
        (options.towers.audioWidth, options.captionText.width, options.captionText.features, options.retrieval.embedding) = (4, 8, 8, 8)
        return options
    }

    /// Trained on the loop, the model's checkpoint rebuilds it with nothing but the file, and the
    /// kit ranks its held-out clips both ways beside chance.
    @Test func aNewTrainerIsItsModelAndLossOnTheKit() throws {
        let directory = try CapsuleTrainingTests.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CapsuleTrainingTests.dataset(), options = Self.options()
        let model = try AudioTextModel(options: options, clip: CapsuleTrainingTests.clip, vocabulary: try CapsuleTrainingTests.vocabulary(in: directory))
        let trainer = Trainer(model: model, options: options.loop)
        let losses = try (0..<12).map { try trainer.update([data.batch($0)]).loss }
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +), "\(losses)")

        let file = directory.appendingPathComponent("checkpoint.safetensors")
        try trainer.saveCheckpoint(to: file)
        let rebuilt = try AudioTextModel(checkpoint: file)
        #expect(rebuilt.options == options && rebuilt.clip == CapsuleTrainingTests.clip)
        #expect(try rebuilt.embeddings(of: data) == trainer.model.embeddings(of: data))
        let figures = Dictionary(try HeldOutRetrieval(model: rebuilt, clips: data).figures, uniquingKeysWith: { $1 })
        #expect(figures["set_size"] == 8 && figures["chance_r1"] == 1.0 / 8)
        #expect(figures["text_to_audio_r10"] == 1 && figures["audio_to_text_median_rank"].map { (1...8).contains($0) } == true)
        #expect(figures["mean_r10"] != nil && figures["video_to_text_r1"] == nil)
    }

    /// The loop hands the loss its update number: the MMS margin grows with it.
    @Test func theLossFollowsTheLoopsStep() throws {
        let directory = try CapsuleTrainingTests.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = Self.options()
        (options.retrieval.margin, options.retrieval.marginGrowth) = (0.5, 2)
        let model = try AudioTextModel(options: options, clip: CapsuleTrainingTests.clip, vocabulary: try CapsuleTrainingTests.vocabulary(in: directory))
        let batch = try CapsuleTrainingTests.dataset().batch(0)
        func loss(at step: Int) throws -> Float {
            var context = ForwardContext(training: false, rng: RandomGenerator(seed: 0))
            context.step = step
            return try model.loss(on: batch, position: 0, context: &context).loss.item
        }
        #expect(try loss(at: 0) == loss(at: 999) && loss(at: 1000) > loss(at: 999))
    }
}
