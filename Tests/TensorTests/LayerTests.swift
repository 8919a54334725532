import Foundation
import Testing
@testable import Tensor

/// Committed fixtures made by tools/torch_fixtures.py.
func fixture(_ name: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name)
    return try SafeTensors.read(url)
}

/// max |a - b| / max |b|: relative error of a whole tensor.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let scale = b.scalars.map(abs).max() ?? 1
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max().map { $0 / max(scale, 1e-30) } ?? 0
}

struct LayerTests {
    @Test func bertLayerMatchesPyTorch() throws {
        let (reference, metadata) = try fixture("bert_layer.safetensors")
        let hidden = Int(metadata["hidden"] ?? "") ?? 0, heads = Int(metadata["heads"] ?? "") ?? 0
        let intermediate = Int(metadata["intermediate"] ?? "") ?? 0
        var rng = RandomGenerator(seed: 1)
        let layer = BertLayer(hidden: hidden, heads: heads, intermediate: intermediate, rng: &rng)
        try layer.load(reference, from: URL(fileURLWithPath: "bert_layer.safetensors"))
        let input = try #require(reference["input"]), mask = try #require(reference["mask"])
        let probe = try #require(reference["probe"])
        input.requiresGrad = true
        var context = ForwardContext(training: false, rng: rng)
        let output = layer(input, mask: mask, context: &context)
        #expect(relativeError(output, try #require(reference["output"])) < 1e-4)
        (output * probe).sum().backward()
        #expect(relativeError(try #require(input.grad), try #require(reference["grad.input"])) < 1e-4)
        for (name, parameter) in layer.namedParameters {
            // The key bias's gradient vanishes: it shifts a row's scores equally, which softmax cancels.
            expectMatchesReference(try #require(parameter.grad), try #require(reference["grad." + name]), "grad." + name)
        }
    }

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

    @Test func bertLayerParameterNamesAndCount() {
        var rng = RandomGenerator(seed: 3)
        let layer = BertLayer(hidden: 256, heads: 4, intermediate: 1024, rng: &rng)
        // 4 attention projections, FFN in and out, 2 LayerNorms.
        #expect(layer.parameterCount == 4 * (256 * 256 + 256) + (256 * 1024 + 1024) + (1024 * 256 + 256) + 2 * 2 * 256)
        #expect(layer.namedParameters.map(\.name).prefix(3) ==
                ["attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight"])
        #expect(layer.namedParameters.last?.name == "output.LayerNorm.bias")
        let monarch = BertLayer(hidden: 256, heads: 4, intermediate: 1024, ffn: .monarch(nblocks: 4), rng: &rng)
        #expect(monarch.namedParameters.contains { $0.name == "intermediate.dense.blkdiag1" })
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
