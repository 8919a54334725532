import Foundation
import Models
import Tensor
import Testing
import Text
import Training

/// The capsule trainer on the loop, on tiny synthetic clips whose frames, mel and caption words all
/// carry one seeded pattern, so the three modalities have something to agree on.
struct CapsuleTrainingTests {
    static let (frames, size, melBins) = (2, 16, 40)
    static let clip = ClipShape(frames: frames, size: size, seconds: 10, melBins: melBins)
    static let words = ["red", "green", "blue", "circle", "square", "up", "down", "left"]

    static func vocabulary(in directory: URL) throws -> URL {
        let file = directory.appendingPathComponent("vocab.txt")
        try (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "moves"] + words).joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    static func dataset(clips: Int = 8, seed: UInt64 = 1) throws -> ClipDataset {
        var rng = RandomGenerator(seed: seed)
        var pictures: [[Float]] = [], mels: [[Float]] = [], captions: [String] = []
        for _ in 0..<clips {
            let pattern = (0..<3).map { _ in Int(rng.next() % 8) }
            pictures.append((0..<frames * 3 * size * size).map { Float(pattern[($0 / 7) % 3]) / 8 })
            mels.append((0..<(12 + pattern[0]) * melBins).map { Float(pattern[($0 / 5) % 3]) * -5 })
            captions.append("a " + pattern.map { words[$0] }.joined(separator: " ") + " moves")
        }
        return try ClipDataset(frames: pictures, mels: mels, ids: (0..<clips).map { "clip\($0)" }, captions: captions,
                               frameShape: [frames, 3, size, size], melBins: melBins, batchSize: 4, seed: seed)
    }

    static func options(_ routing: CapsuleRouting) -> CapsuleOptions {
        var options = CapsuleOptions()
        (options.towers.videoLayers, options.towers.videoWidth, options.towers.audioWidth, options.captionText.width, options.captionText.features) = (2, 4, 4, 8, 8)
        (options.capsules, options.pose, options.retrieval.embedding, options.routing) = (3, 4, 8, routing)
        options.loop.steps = 12
        return options
    }

    static func temporary() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capsules-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(arguments: CapsuleRouting.allCases)
    func trainingLowersTheSummedLoss(routing: CapsuleRouting) throws {
        let directory = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try Self.dataset(), options = Self.options(routing)
        let model = try CapsuleTraining(options: options, clip: Self.clip, vocabulary: try Self.vocabulary(in: directory))
        let trainer = Trainer(model: model, options: options.loop)
        let reports = try (0..<12).map { try trainer.update([data.batch($0)]) }
        #expect(reports.allSatisfy { $0.loss.isFinite })
        #expect(reports[0].terms.map(\.name) == ["audio_video", "audio_text", "text_video"])
        let losses = reports.map(\.loss)
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +), "\(routing): \(losses)")
    }

    /// A checkpoint rebuilds the model on its own (settings, mel bins, vocabulary from its metadata)
    /// and embeds exactly as the trained one; the figures name set size and chance.
    @Test func checkpointRebuildsTheModel() throws {
        let directory = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = try Self.vocabulary(in: directory)
        let data = try Self.dataset(), options = Self.options(.selfAttention)
        let model = try CapsuleTraining(options: options, clip: Self.clip, vocabulary: vocab)
        let trainer = Trainer(model: model, options: options.loop)
        _ = try (0..<3).map { try trainer.update([data.batch($0)]) }
        let file = directory.appendingPathComponent("checkpoint.safetensors")
        try trainer.saveCheckpoint(to: file)
        let rebuilt = try CapsuleTraining(checkpoint: file)
        #expect(rebuilt.options == options)
        #expect(try rebuilt.embeddings(of: data) == (try trainer.model.embeddings(of: data)))
        let figures = Dictionary(try HeldOutRetrieval(model: rebuilt, clips: data).figures, uniquingKeysWith: { $1 })
        #expect(figures["set_size"] == 8 && figures["chance_r1"] == 1.0 / 8)
        #expect(figures["text_to_video_r10"] == 1 && figures["audio_to_video_median_rank"].map { $0 >= 1 && $0 <= 8 } == true)
    }

    @Test func aCheckpointOfAnotherTrainerIsAClearError() throws {
        let directory = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = SpokenMomentsTests.options()
        let trainer = Trainer(model: try SpokenMomentsTraining(options: options, clip: SpokenMomentsTests.clip), options: options.loop)
        let file = directory.appendingPathComponent("checkpoint.safetensors")
        try trainer.saveCheckpoint(to: file)
        #expect(throws: TrainingError.self) { try CapsuleTraining(checkpoint: file) }
    }

    /// `noise` swaps the captions of exactly that share of clips, every one of them away from its
    /// own, the same way for the same seed; frames never move.
    @Test func noiseMismatchesTheShareAsked() throws {
        let data = try Self.dataset(clips: 20)
        let noisy = try data.mismatchingCaptions(share: 0.2, seed: 5)
        let moved = (0..<20).filter { noisy.captions[$0] != data.captions[$0] || noisy.mels[$0] != data.mels[$0] }
        #expect(moved.count == 4)
        #expect(noisy.frames == data.frames)
        #expect(try data.mismatchingCaptions(share: 0.2, seed: 5).captions == noisy.captions)
        #expect(try data.mismatchingCaptions(share: 0.2, seed: 6).captions != noisy.captions)
        #expect(try data.mismatchingCaptions(share: 0, seed: 5).captions == data.captions)
    }
}
