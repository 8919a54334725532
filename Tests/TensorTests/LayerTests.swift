import Foundation
import Testing
@testable import Tensor
import TestSupport

/// Committed fixtures made by tools/torch_fixtures.py.
func fixture(_ name: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name)
    return try SafeTensors.read(url)
}

struct LayerTests {
    @Test func attentionGradientsSelfAndCross() throws {
        var rng = RandomGenerator(seed: 2)
        let attention = MultiHeadAttention(hidden: 8, heads: 2, dropout: 0, rng: &rng)
        let x = randomTensor([2, 3, 8], seed: 30), memory = randomTensor([2, 5, 8], seed: 31)
        let padding = MultiHeadAttention.paddingMask([[true, true, true, true, false], [true, true, false, false, false]])
        var rows = [Float](repeating: 0, count: 2 * 3 * 3)
        for b in 0..<2 { for i in 0..<3 { for j in 0..<3 where j > i { rows[b * 9 + i * 3 + j] = MultiHeadAttention.maskedValue } } }
        let causal = MultiHeadAttention.rowMask(Tensor(shape: [2, 3, 3], scalars: rows))
        var context = ForwardContext.inference
        let valueBias = try #require(attention.value.bias)
        expectGradientsMatch([x, memory, attention.query.weight, valueBias]) {
            attention($0[0], memory: $0[1], mask: padding, context: &context)
        }
        expectGradientsMatch([x, attention.key.weight, attention.output.weight]) {
            attention($0[0], memory: $0[0], mask: causal, context: &context)
        }
    }

    @Test func linearInitialisesLikePyTorch() {
        var rng = RandomGenerator(seed: 4)
        let linear = Linear(400, 300, rng: &rng)
        let bound = 1 / Float(400).squareRoot()
        let weights = linear.weight.scalars
        #expect(weights.allSatisfy { abs($0) <= bound })
        // Uniform in +-bound has standard deviation bound/sqrt(3).
        let std = (weights.map { $0 * $0 }.reduce(0, +) / Float(weights.count)).squareRoot()
        #expect(abs(std - bound / Float(3).squareRoot()) < 0.01 * bound)
        let embedding = Embedding(100, 50, rng: &rng)
        let values = embedding.weight.scalars
        #expect(abs(values.map { $0 * $0 }.reduce(0, +) / Float(values.count) - 1) < 0.05)
    }
}
