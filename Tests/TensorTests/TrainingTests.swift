import Foundation
import Testing
@testable import Tensor

/// A tiny transformer that must reverse a sequence: token i of the output is token L-1-i of the
/// input, which it can only learn through attention.
struct ReverseModel: Layer {
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

    /// Mean cross-entropy of predicting the reversed sequences.
    func loss(_ sequences: [[Int]], context: inout ForwardContext) throws -> Tensor {
        let batch = sequences.count, length = Self.length
        let x = try embedding(sequences.flatMap { $0 }, shape: [batch, length])
            + positions(Array(0..<length), shape: [length])
        let logits = head(encoder(x, mask: nil, context: &context)).reshaped([batch * length, Self.vocabulary])
        return try crossEntropy(logits, targets: sequences.flatMap { $0.reversed() })
    }

    /// The batch for a step: a deterministic function of the step.
    static func batch(step: Int) -> [[Int]] {
        var rng = RandomGenerator(seed: UInt64(step))
        return (0..<16).map { _ in (0..<length).map { _ in Int(rng.next() % UInt64(vocabulary)) } }
    }
}

struct TrainingTests {
    @Test func smallTransformerLearnsToReverse() throws {
        let model = ReverseModel(seed: 7)
        var optimizer = AdamW(parameters: model.namedParameters, weightDecay: 0)
        let schedule = LearningRateSchedule(peak: 1e-2, warmupSteps: 20, totalSteps: 300, decay: .cosine)
        var context = ForwardContext(training: true, rng: RandomGenerator(seed: 8))
        var losses: [Float] = []
        for step in 0..<300 {
            model.zeroGradients()
            let loss = try model.loss(ReverseModel.batch(step: step), context: &context)
            loss.backward()
            clipGradientNorm(model.parameters, maxNorm: 1)
            optimizer.step(learningRate: schedule.rate(at: step))
            losses.append(loss.item)
        }
        #expect(losses[0] > 1.5)
        #expect(losses.suffix(10).allSatisfy { $0 < 0.02 }, "last losses \(losses.suffix(10))")
    }

    @Test func optimizersMatchPyTorch() throws {
        let (reference, _) = try fixture("optimizers.safetensors")
        for (label, make) in [("adamw", { (p: Tensor) -> any Optimizer in
                                   AdamW(parameters: [("p", p)], weightDecay: 0.1) }),
                              ("sgd", { (p: Tensor) -> any Optimizer in
                                   SGD(parameters: [("p", p)], momentum: 0.9, weightDecay: 0.01) })] {
            let p = try #require(reference["start"]).copy()
            p.requiresGrad = true
            var optimizer = make(p)
            for i in 0..<3 {
                p.zeroGrad()
                (p * (try #require(reference["grad\(i)"]))).sum().backward()
                optimizer.step(learningRate: label == "adamw" ? 0.01 : 0.1)
            }
            #expect(relativeError(p, try #require(reference[label])) < 1e-5, "\(label)")
        }
    }

    @Test func schedules() {
        let linear = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, decay: .linear)
        #expect(linear.rate(at: 0) == 0 && linear.rate(at: 5) == 0.5 && linear.rate(at: 10) == 1)
        #expect(linear.rate(at: 60) == 0.5 && linear.rate(at: 110) == 0)
        let cosine = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 100, decay: .cosine)
        #expect(abs(cosine.rate(at: 50) - 1) < 1e-6 && abs(cosine.rate(at: 100)) < 1e-6)
    }

    @Test func clippingScalesToTheGlobalNorm() throws {
        let a = Tensor.zeros([2], requiresGrad: true), b = Tensor.zeros([1], requiresGrad: true)
        (a * Tensor(shape: [2], scalars: [3, 0]) + (b * 4).sum()).sum().backward()
        // Gradients (3, 0) and 8 (b is broadcast over 2): norm sqrt(9 + 64).
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(abs(norm - Float(73).squareRoot()) < 1e-5)
        let clipped = try (#require(a.grad).scalars + #require(b.grad).scalars).map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(abs(clipped - 1) < 1e-4)
    }

    @Test func resumedRunContinuesWithIdenticalLosses() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tensor-resume-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("checkpoint.safetensors")

        func train(_ model: ReverseModel, _ optimizer: inout AdamW, _ rng: inout RandomGenerator,
                   steps: Range<Int>) throws -> [Float] {
            try steps.map { step in
                var context = ForwardContext(training: true, rng: rng)
                model.zeroGradients()
                let loss = try model.loss(ReverseModel.batch(step: step), context: &context)
                loss.backward()
                optimizer.step(learningRate: 1e-2)
                rng = context.rng
                return loss.item
            }
        }
        // Uninterrupted: 6 steps with dropout (so the generator matters).
        let reference = ReverseModel(seed: 1, dropout: 0.1)
        var referenceOptimizer = AdamW(parameters: reference.namedParameters)
        var referenceRng = RandomGenerator(seed: 2)
        let expected = try train(reference, &referenceOptimizer, &referenceRng, steps: 0..<6)

        // Interrupted after 3 steps, saved, and resumed into a differently initialised model.
        let first = ReverseModel(seed: 1, dropout: 0.1)
        var firstOptimizer = AdamW(parameters: first.namedParameters)
        var rng = RandomGenerator(seed: 2)
        let before = try train(first, &firstOptimizer, &rng, steps: 0..<3)
        try Checkpoint.save(to: file, model: first, optimizer: firstOptimizer, rng: rng, step: 3)

        let resumed = ReverseModel(seed: 99, dropout: 0.1)
        var resumedOptimizer = AdamW(parameters: resumed.namedParameters)
        var (resumedRng, step) = try Checkpoint.restore(from: file, model: resumed, optimizer: &resumedOptimizer)
        let after = try train(resumed, &resumedOptimizer, &resumedRng, steps: step..<6)
        #expect(before + after == expected)
    }
}
