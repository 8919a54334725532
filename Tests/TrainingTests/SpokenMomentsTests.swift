import Foundation
import Models
import Settings
import Tensor
import Testing
import Text
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
        (options.towers.videoLayers, options.towers.videoWidth, options.towers.audioWidth, options.retrieval.embedding) = (2, 4, 4, 8)
        options.retrieval.loss = loss
        options.loop.steps = 12
        return options
    }

    @Test(arguments: ContrastiveLoss.Kind.allCases)
    func trainingLowersTheLoss(loss: ContrastiveLoss.Kind) throws {
        let data = try Self.dataset()
        let trainer = Trainer(model: try SpokenMomentsTraining(options: Self.options(loss), clip: Self.clip), options: Self.options(loss).loop)
        let losses = try (0..<12).map { try trainer.update([data.batch($0)]).loss }
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +), "\(loss): \(losses)")
    }

    /// Head dropout draws its masks from the loop's generator (so a rerun draws the same ones) and
    /// is off in evaluation.
    @Test func headDropoutIsDrawnFromTheLoopsGeneratorAndOffInEvaluation() throws {
        let data = try Self.dataset()
        var options = Self.options()
        options.headDropout = 0.5
        func losses(_ options: SpokenMomentsOptions) throws -> [Float] {
            let trainer = Trainer(model: try SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
            return try (0..<3).map { try trainer.update([data.batch($0)]).loss }
        }
        let dropped = try losses(options)
        #expect(try dropped == losses(options) && dropped != losses(Self.options()))
        let batch = data.batch(0)
        let (with, without) = (try SpokenMomentsTraining(options: options, clip: Self.clip), try SpokenMomentsTraining(options: Self.options(), clip: Self.clip))
        #expect(try with.embed(batch, [.video], training: false)[.video]?.scalars == without.embed(batch, [.video], training: false)[.video]?.scalars)
    }

    @Test func resumeContinuesWithTheSameLosses() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sm-resume-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try Self.dataset(), options = Self.options()
        func trainer() throws -> Trainer<SpokenMomentsTraining> {
            Trainer(model: try SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
        }
        let whole = try trainer()
        let expected = try (0..<6).map { try whole.update([data.batch($0)]).loss }
        let first = try trainer()
        _ = try (0..<3).map { try first.update([data.batch($0)]) }
        try first.saveCheckpoint(to: directory.appendingPathComponent("c.safetensors"))
        let resumed = try trainer()
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
        let trainer = Trainer(model: try SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
        _ = try (0..<2).map { try trainer.update([data.batch($0)]) }
        let file = directory.appendingPathComponent("checkpoint.safetensors")
        try trainer.saveCheckpoint(to: file)

        let loaded = try SpokenMomentsTraining(checkpoint: file)
        #expect(loaded.options == options && loaded.clip == Self.clip)
        #expect(try loaded.embeddings(of: data) == trainer.model.embeddings(of: data))
        #expect(throws: TensorError.self) { try SpokenMomentsTraining(checkpoint: URL(fileURLWithPath: "/nonexistent.safetensors")) }

        // Metadata claiming towers far wider than the tensors the file holds is refused before they are built.
        let (tensors, metadata) = try SafeTensors.read(file)
        let hostile = directory.appendingPathComponent("hostile.safetensors")
        try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                              metadata: metadata.merging(["extra.setting.video_width": "1024", "extra.setting.video_layers": "8"]) { $1 }, to: hostile)
        #expect(throws: TrainingError.self) { try SpokenMomentsTraining(checkpoint: hostile) }
    }

    /// A checkpoint written before `frame_pooling` and `audio_pooling` existed (both pooled by the
    /// mean) loads as the model it was, not with today's defaults.
    @Test func aCheckpointWithoutThePoolingsLoadsWithTheMean() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sm-old-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = Self.options(.mms)
        (options.towers.framePooling, options.audioPooling) = (.mean, .mean)
        #expect(SpokenMomentsOptions().towers.framePooling == .max && SpokenMomentsOptions().audioPooling == .max)
        let data = try Self.dataset()
        let trainer = Trainer(model: try SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
        _ = try trainer.update([data.batch(0)])
        let file = directory.appendingPathComponent("checkpoint.safetensors"), old = directory.appendingPathComponent("old.safetensors")
        try trainer.saveCheckpoint(to: file)
        let (tensors, metadata) = try SafeTensors.read(file)
        #expect(metadata["extra.setting.frame_pooling"] == "mean" && metadata["extra.setting.audio_pooling"] == "mean")
        try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                              metadata: metadata.filter { !$0.key.hasSuffix("_pooling") || $0.key == "extra.setting.pooling" }, to: old)
        let loaded = try SpokenMomentsTraining(checkpoint: old)
        #expect(loaded.options == options)
        #expect(try loaded.embeddings(of: data) == trainer.model.embeddings(of: data))
    }

    /// Over a ResNet backbone the paper's two phases: the backbone frozen while the rest learns at
    /// the learning rate, then everything at the fine-tuning rate.
    @Test func aBackboneIsFrozenThenFineTuned() throws {
        var options = Self.options()
        (options.backbone, options.frozenSteps, options.finetuneRate) = (.resnet18, 2, 1e-5)
        let data = try Self.dataset()
        let trainer = Trainer(model: try SpokenMomentsTraining(options: options, clip: Self.clip), options: options.loop)
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

    /// Window lengths come from seconds within the range, whatever a caller put in the shape.
    @Test func unvalidatedSecondsAreBoundedBeforeAnyCount() {
        let bounded = [3.5, .nan, .infinity, -1, 1e300].map { ClipShape(frames: 8, size: 32, seconds: $0, melBins: 40).boundedSeconds }
        #expect(bounded == [3.5, 0.025, 600, 0.025, 600])
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
        #expect(options.retrieval.margin(at: 999) == 0.01 && abs(options.retrieval.margin(at: 2500) - 0.01 * 1.002 * 1.002) < 1e-9)
        #expect(options.loop.optimizer == .adam && options.loop.learningRate == 1e-3)
    }

    /// Sizes that would allocate without bound, or a step count whose warm-up share cannot be an
    /// integer, are refused by the settings themselves, on the command line and in pipeline files.
    @Test func hugeSizesAndCountsAreRefused() {
        for (name, text) in [("--hidden", "1048576"), ("--layers", "100000"), ("--steps", "9223372036854775807"),
                             ("--steps", "1e19"), ("--accumulation", "1000000"), ("--nblocks", "1000000000")] {
            var options = RetroMAEOptions()
            #expect(throws: SettingError.self, "\(name) \(text)") { try options.apply([(name, text)]) }
        }
        var video = SpokenMomentsOptions()
        #expect(throws: SettingError.self) { try video.apply([("--video-width", "1000000")]) }
    }
}

/// The optional caption text branch, on the capsule tests' clips (frames, mel and caption words
/// carry one pattern) and their small vocabulary.
extension SpokenMomentsTests {
    static func textOptions(chunkSize: Int = 0) -> SpokenMomentsOptions {
        var options = Self.options()
        (options.textBranch, options.captionText.width, options.captionText.features, options.chunkSize) = (true, 8, 8, chunkSize)
        return options
    }

    /// A trainer of `textOptions` with its vocabulary in `directory`, and the clips.
    static func textTrainer(in directory: URL) throws -> (Trainer<SpokenMomentsTraining>, ClipDataset) {
        let vocab = try CapsuleTrainingTests.vocabulary(in: directory), options = Self.textOptions()
        let model = try SpokenMomentsTraining(options: options, clip: Self.clip, vocabulary: vocab)
        return (Trainer(model: model, options: options.loop), try CapsuleTrainingTests.dataset())
    }

    @Test func theTextBranchTrainsWithAllThreePairsInTheLoss() throws {
        let directory = try CapsuleTrainingTests.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (trainer, data) = try Self.textTrainer(in: directory), options = Self.textOptions()
        let reports = try (0..<12).map { try trainer.update([data.batch($0)]) }
        #expect(reports[0].terms.map(\.name) == ["video_audio", "video_text", "audio_text", "score_gap"])
        let sums = reports.map { $0.terms.prefix(3).reduce(Float(0)) { $0 + $1.value } }
        #expect(zip(reports, sums).allSatisfy { abs($0.loss - $1) <= 1e-4 * max(1, abs($1)) }, "the loss is the sum of the three pairs")
        let losses = reports.map(\.loss)
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +), "\(losses)")
        #expect(trainer.model.namedParameters.contains { $0.name == "text.embedding.weight" })
        #expect(trainer.model.group(ofParameter: "text.projection.weight") == "text" && trainer.model.group(ofParameter: "text_head.0.weight") == "heads")

        // Without a vocabulary, or a clip without caption text, the error says what is missing.
        #expect(throws: TrainingError.self) { try SpokenMomentsTraining(options: options, clip: Self.clip, vocabulary: nil) }
        var bare = data.batch(0)
        bare.captions[1] = ""
        #expect(throws: TrainingError.self) { try trainer.update([bare]) }
    }

    /// Gradient caching over three towers gives the gradient of the whole batch in one pass (with
    /// BatchNorm's running statistics: batch statistics differ per chunk by definition).
    @Test func gradientCachingWithTheTextBranchEqualsOnePass() throws {
        let directory = try CapsuleTrainingTests.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = try CapsuleTrainingTests.vocabulary(in: directory)
        let batch = try CapsuleTrainingTests.dataset().batch(0)
        func gradients(chunkSize: Int) throws -> [[Float]] {
            let model = try SpokenMomentsTraining(options: Self.textOptions(chunkSize: chunkSize), clip: Self.clip, vocabulary: vocab)
            var context = ForwardContext(training: false, rng: RandomGenerator(seed: 3))
            _ = try model.accumulateGradients(on: batch, position: 0, scale: 1, context: &context)
            return model.namedParameters.map { $0.tensor.grad?.scalars ?? [] }
        }
        let (whole, chunked) = (try gradients(chunkSize: 0), try gradients(chunkSize: 1))
        #expect(whole.count == chunked.count && !whole.flatMap { $0 }.isEmpty)
        for (a, b) in zip(whole, chunked) {
            #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($0)) })
        }
    }

    /// A checkpoint with the branch rebuilds it (vocabulary from its metadata) and embeds text as
    /// the trained model did; one written before the branch existed (no text settings) still loads.
    @Test func checkpointsWithAndWithoutTheTextBranchLoad() throws {
        let directory = try CapsuleTrainingTests.temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (trainer, data) = try Self.textTrainer(in: directory), options = Self.textOptions()
        _ = try (0..<2).map { try trainer.update([data.batch($0)]) }
        let file = directory.appendingPathComponent("text.safetensors")
        try trainer.saveCheckpoint(to: file)
        let loaded = try SpokenMomentsTraining(checkpoint: file)
        #expect(loaded.options == options && loaded.text != nil)
        #expect(try loaded.embeddings(of: data) == trainer.model.embeddings(of: data))
        #expect(try loaded.embeddings(of: data).keys.sorted { $0.rawValue < $1.rawValue } == [.audio, .text, .video])

        // The text tensors claimed wider than they are, or the vocabulary gone: refused, naming the file.
        let (tensors, metadata) = try SafeTensors.read(file)
        func variant(_ name: String, _ changes: [String: String?]) throws -> URL {
            var changed = metadata
            for (key, value) in changes { changed[key] = value }
            let out = directory.appendingPathComponent(name)
            try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: changed, to: out)
            return out
        }
        #expect(throws: TrainingError.self) { try SpokenMomentsTraining(checkpoint: try variant("wide.safetensors", ["extra.setting.text_width": "4096"])) }
        #expect(throws: TrainingError.self) { try SpokenMomentsTraining(checkpoint: try variant("novocab.safetensors", ["extra.vocab": nil])) }

        // An older checkpoint: no text settings at all, no text tensors.
        let plain = Trainer(model: try SpokenMomentsTraining(options: Self.options(), clip: Self.clip), options: Self.options().loop)
        let plainFile = directory.appendingPathComponent("plain.safetensors")
        try plain.saveCheckpoint(to: plainFile)
        let (plainTensors, plainMetadata) = try SafeTensors.read(plainFile)
        let old = directory.appendingPathComponent("old.safetensors")
        try SafeTensors.write(plainTensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                              metadata: plainMetadata.filter { !["text_branch", "text_width", "text_features", "max_words"].map { "extra.setting." + $0 }.contains($0.key) },
                              to: old)
        let older = try SpokenMomentsTraining(checkpoint: old)
        #expect(older.text == nil && older.options == Self.options())
        #expect(throws: TrainingError.self) { try older.embed(data.batch(0), [.text], training: false) }
    }
}
