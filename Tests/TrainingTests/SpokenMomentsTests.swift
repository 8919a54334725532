import Foundation
import Models
import Tensor
import Testing
import Training

/// The Spoken Moments trainer on the loop, on tiny synthetic clips: a seeded pattern per clip in
/// both its frames and its caption's mel, so the towers have something to match.
struct SpokenMomentsTests {
    static let (frames, size, melBins) = (2, 16, 40)
    static let clip = ClipShape(frames: frames, size: size, seconds: 10, melBins: melBins)

    static func dataset(clips: Int = 8, seed: UInt64 = 1) throws -> ClipDataset {
        var rng = RandomGenerator(seed: seed)
        var pictures: [[Float]] = [], mels: [[Float]] = []
        for _ in 0..<clips {
            let pattern = (0..<4).map { _ in Float(rng.next() % 1000) / 1000 }
            pictures.append((0..<frames * 3 * size * size).map { pattern[($0 / 7) % 4] })
            let length = 12 + Int(rng.next() % 8)
            mels.append((0..<length * melBins).map { pattern[($0 / 5) % 4] * -40 })
        }
        return try ClipDataset(frames: pictures, mels: mels, ids: (0..<clips).map { "clip\($0)" },
                               frameShape: [frames, 3, size, size], melBins: melBins, batchSize: 4, seed: seed)
    }

    static func options(_ loss: ContrastiveLoss.Kind = .amm) -> SpokenMomentsOptions {
        var options = SpokenMomentsOptions()
        (options.towers.videoLayers, options.towers.videoWidth, options.towers.audioWidth, options.embedding) = (2, 4, 4, 8)
        options.loss = loss
        options.loop.steps = 12
        return options
    }

    @Test(arguments: ContrastiveLoss.Kind.allCases)
    func trainingLowersTheLoss(loss: ContrastiveLoss.Kind) throws {
        let data = try Self.dataset()
        let trainer = Trainer(model: SpokenMomentsTraining(options: Self.options(loss), clip: Self.clip), options: Self.options(loss).loop)
        let losses = try (0..<12).map { try trainer.update([data.batch($0)]).loss }
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +), "\(loss): \(losses)")
    }

    @Test func resumeContinuesWithTheSameLosses() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sm-resume-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try Self.dataset(), options = Self.options()
        func trainer() -> Trainer<SpokenMomentsTraining> {
            Trainer(model: SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
        }
        let whole = trainer()
        let expected = try (0..<6).map { try whole.update([data.batch($0)]).loss }
        let first = trainer()
        _ = try (0..<3).map { try first.update([data.batch($0)]) }
        try first.saveCheckpoint(to: directory.appendingPathComponent("c.safetensors"))
        let resumed = trainer()
        try resumed.resume(from: directory.appendingPathComponent("c.safetensors"))
        let after = try (3..<6).map { try resumed.update([data.batch($0)]).loss }
        #expect(after == Array(expected[3...]))
    }

    /// eval, embed and search rebuild the trained towers from the checkpoint alone.
    @Test func aCheckpointRebuildsTheModelItWasTrainedAs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sm-load-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = Self.options(.mms)
        options.pooling = .mean
        let data = try Self.dataset()
        let trainer = Trainer(model: SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
        _ = try (0..<2).map { try trainer.update([data.batch($0)]) }
        let file = directory.appendingPathComponent("checkpoint.safetensors")
        try trainer.saveCheckpoint(to: file)

        let loaded = try SpokenMomentsTraining(checkpoint: file)
        #expect(loaded.options == options && loaded.clip == Self.clip)
        let (video, audio) = trainer.model.embed(data), (again, audioAgain) = loaded.embed(data)
        #expect(video == again && audio == audioAgain)
        #expect(throws: TensorError.self) { try SpokenMomentsTraining(checkpoint: URL(fileURLWithPath: "/nonexistent.safetensors")) }

        // Metadata claiming towers far wider than the tensors the file holds is refused before they are built.
        let (tensors, metadata) = try SafeTensors.read(file)
        let hostile = directory.appendingPathComponent("hostile.safetensors")
        try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                              metadata: metadata.merging(["extra.setting.video_width": "1024", "extra.setting.video_layers": "8"]) { $1 }, to: hostile)
        #expect(throws: TrainingError.self) { try SpokenMomentsTraining(checkpoint: hostile) }
    }

    /// Over a ResNet backbone the paper's two phases: the backbone frozen while the rest learns at
    /// the learning rate, then everything at the fine-tuning rate.
    @Test func aBackboneIsFrozenThenFineTuned() throws {
        var options = Self.options()
        (options.backbone, options.frozenSteps, options.finetuneRate) = (.resnet18, 2, 1e-5)
        let data = try Self.dataset()
        let trainer = Trainer(model: SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
        func snapshot(_ prefix: String) -> [[Float]] {
            trainer.model.namedParameters.filter { $0.name.hasPrefix(prefix) }.map(\.tensor.scalars)
        }
        let (backbone, head) = (snapshot("video."), snapshot("video_head."))
        let phase1 = try (0..<2).map { try trainer.update([data.batch($0)]) }
        #expect(snapshot("video.") == backbone && snapshot("video_head.") != head)
        #expect(phase1.allSatisfy { $0.learningRate == options.loop.learningRate })
        let phase2 = try trainer.update([data.batch(2)])
        #expect(snapshot("video.") != backbone && phase2.learningRate == 1e-5)
    }

    @Test func batchesPadCaptionsAndKeepTheirLengths() throws {
        let data = try Self.dataset()
        let batch = data.batch(of: [0, 1, 2])
        #expect(batch.frames.shape == [3, Self.frames, 3, Self.size, Self.size])
        #expect(batch.mel.shape == [3, Self.melBins, batch.melLengths.max() ?? 0])
        #expect(batch.melLengths == [0, 1, 2].map { data.mels[$0].count / Self.melBins })
        #expect(throws: TrainingError.self) {
            try ClipDataset(frames: [[0]], mels: [[0]], ids: ["x"], frameShape: [1], melBins: 40, batchSize: 2, seed: 0)
        }
    }

    @Test func theMarginGrowsOnThePapersSchedule() throws {
        var options = SpokenMomentsOptions()
        try options.apply([("--loss", "mms"), ("--margin", "0.01")])
        #expect(options.margin(at: 999) == 0.01 && abs(options.margin(at: 2500) - 0.01 * 1.002 * 1.002) < 1e-9)
        #expect(options.loop.optimizer == .adam && options.loop.learningRate == 1e-3)
    }

    /// Sizes that would allocate without bound, or a step count whose warm-up share cannot be an
    /// integer, are refused by the settings themselves, on the command line and in pipeline files.
    @Test func hugeSizesAndCountsAreRefused() {
        for (name, text) in [("--hidden", "1048576"), ("--layers", "100000"), ("--steps", "9223372036854775807"),
                             ("--steps", "1e19"), ("--accumulation", "1000000"), ("--nblocks", "1000000000")] {
            var options = RetroMAEOptions()
            #expect(throws: TrainingError.self, "\(name) \(text)") { try options.apply([(name, text)]) }
        }
        var video = SpokenMomentsOptions()
        #expect(throws: TrainingError.self) { try video.apply([("--video-width", "1000000")]) }
    }
}
