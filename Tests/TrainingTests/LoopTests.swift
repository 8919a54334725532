import Foundation
import Models
import Tensor
import Testing
import Training

/// A tiny transformer that must reverse a sequence: token i of the output is token L-1-i of the
/// input, which it can only learn through attention. The smallest model on the training loop.
struct ReverseModel: TrainableModel {
    let embedding: Embedding, positions: Embedding, encoder: BertLayer, head: Linear
    static let (vocabulary, length) = (6, 4)

    init(seed: UInt64, dropout: Float = 0) {
        var rng = RandomGenerator(seed: seed)
        embedding = Embedding(Self.vocabulary, 16, rng: &rng)
        positions = Embedding(Self.length, 16, rng: &rng)
        encoder = BertLayer(hidden: 16, heads: 2, intermediate: 32, dropout: dropout, rng: &rng)
        head = Linear(16, Self.vocabulary, rng: &rng)
    }

    var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embeddings.word_embeddings", embedding) + prefixed("embeddings.position_embeddings", positions)
            + prefixed("encoder.layer.0", encoder) + prefixed("cls", head)
    }

    /// The encoder is the "backbone", embeddings and head the rest: enough for two-phase tests.
    func group(ofParameter name: String) -> String { name.hasPrefix("encoder.") ? "backbone" : "head" }

    /// Mean cross-entropy of predicting the reversed sequences.
    func loss(on sequences: [[Int]], position: Int, context: inout ForwardContext) throws -> LossReport {
        let batch = sequences.count, length = Self.length
        let x = try embedding(sequences.flatMap { $0 }, shape: [batch, length])
            + positions(Array(0..<length), shape: [length])
        let logits = head(encoder(x, mask: nil, context: &context)).reshaped([batch * length, Self.vocabulary])
        return LossReport(loss: try crossEntropy(logits, targets: sequences.flatMap { $0.reversed() }), count: batch)
    }

    /// The batch at a position of the stream: a deterministic function of it.
    static func batch(_ position: Int) -> [[Int]] {
        var rng = RandomGenerator(seed: UInt64(position))
        return (0..<16).map { _ in (0..<length).map { _ in Int(rng.next() % UInt64(vocabulary)) } }
    }
}

struct LoopTests {
    static func options(steps: Int = 300, optimizer: OptimizerKind = .adamw) -> LoopOptions {
        var options = LoopOptions()
        (options.steps, options.learningRate, options.warmup, options.schedule) = (steps, 1e-2, 20 / Float(steps), .cosine)
        (options.weightDecay, options.optimizer, options.seed) = (0, optimizer, 8)
        return options
    }

    @Test(arguments: [OptimizerKind.adamw, .adam])
    func smallTransformerLearnsToReverse(optimizer: OptimizerKind) throws {
        let trainer = Trainer(model: ReverseModel(seed: 7), options: Self.options(optimizer: optimizer))
        let losses = try (0..<300).map { try trainer.update([ReverseModel.batch($0)]).loss }
        #expect(losses[0] > 1.5)
        #expect(losses.suffix(10).allSatisfy { $0 < 0.02 }, "last losses \(losses.suffix(10))")
    }

    /// Two micro-batches of 8 give the gradient of one batch of 16 (the loss is a mean): the same
    /// update. (SGD, whose update is linear in the gradient: Adam's first steps would amplify rounding.)
    @Test func accumulationEqualsOneLargeBatch() throws {
        var options = Self.options(steps: 4, optimizer: .sgd)
        options.clipNorm = 0
        let whole = Trainer(model: ReverseModel(seed: 3), options: options)
        options.accumulation = 2
        let split = Trainer(model: ReverseModel(seed: 3), options: options)
        for step in 0..<4 {
            let batch = ReverseModel.batch(step)
            _ = try whole.update([batch])
            _ = try split.update([Array(batch.prefix(8)), Array(batch.suffix(8))])
        }
        for (a, b) in zip(whole.model.parameters, split.model.parameters) {
            #expect(zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        }
    }

    /// Phase 1 trains the head with the backbone frozen; phase 2 unfreezes it at a lower rate, and
    /// its Adam bias correction starts afresh (as PyTorch's per-parameter step counts do).
    @Test func frozenGroupsStayPutUntilUnfrozen() throws {
        let trainer = Trainer(model: ReverseModel(seed: 5), options: Self.options(steps: 10))
        trainer.setGroup("backbone", frozen: true)
        let backbone = trainer.model.encoder.attention.query.weight, head = trainer.model.head.weight
        let (backboneStart, headStart) = (backbone.scalars, head.scalars)
        for step in 0..<3 { _ = try trainer.update([ReverseModel.batch(step)]) }
        #expect(backbone.scalars == backboneStart && head.scalars != headStart)
        #expect(backbone.grad == nil)
        trainer.setGroup("backbone", learningRate: 1e-3, frozen: false)
        _ = try trainer.update([ReverseModel.batch(3)])
        #expect(backbone.scalars != backboneStart)
    }

    @Test func resumedRunContinuesWithIdenticalLosses() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loop-resume-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("checkpoint.safetensors")
        for optimizer in OptimizerKind.allCases {
            let options = Self.options(steps: 6, optimizer: optimizer)
            // Dropout on, so the generator's state matters.
            let reference = Trainer(model: ReverseModel(seed: 1, dropout: 0.1), options: options)
            let expected = try (0..<6).map { try reference.update([ReverseModel.batch($0)]).loss }

            let first = Trainer(model: ReverseModel(seed: 1, dropout: 0.1), options: options)
            let before = try (0..<3).map { try first.update([ReverseModel.batch($0)]).loss }
            try first.saveCheckpoint(to: file)
            let resumed = Trainer(model: ReverseModel(seed: 99, dropout: 0.1), options: options)
            try resumed.resume(from: file)
            #expect(resumed.step == 3 && resumed.dataPosition == 3)
            let after = try (3..<6).map { try resumed.update([ReverseModel.batch($0)]).loss }
            #expect(before + after == expected, "\(optimizer)")
        }
        // The last checkpoint holds SGD's state: an Adam run cannot continue from it.
        let adam = Trainer(model: ReverseModel(seed: 1), options: Self.options(optimizer: .adamw))
        #expect(throws: TrainingError.self) { try adam.resume(from: file) }
    }
}
