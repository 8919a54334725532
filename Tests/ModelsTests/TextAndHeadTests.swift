import Foundation
import Testing
@testable import Models
@testable import Tensor
import Text

struct CaptionEncoderTests {
    @Test func poolingIgnoresPaddingAndMatchesHandComputedValues() throws {
        var rng = RandomGenerator(seed: 4)
        let encoder = CaptionEncoder(vocabularySize: 6, embeddingWidth: 2, outputWidth: 2, rng: &rng)
        encoder.embedding.weight.assign(Tensor(shape: [6, 2], scalars: [0, 0, 1, 5, 3, -1, -2, 4, 9, 9, 0, 1]))
        encoder.projection.weight.assign(Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]))
        encoder.projection.bias?.assign(Tensor(shape: [2], scalars: [0, 0]))
        // Caption [1, 2, 3] max-pools to (3, 5); [3] alone is (-2, 4) even padded to length 3.
        #expect(try encoder([[1, 2, 3], [3]]).scalars == [3, 5, -2, 4])
        var mean = encoder
        mean.pooling = .mean
        let pooled = try mean([[1, 2, 3], [3]]).scalars
        #expect(zip(pooled, [2.0 / 3, 8.0 / 3, -2, 4]).allSatisfy { abs($0 - Float($1)) < 1e-6 })
        #expect { try encoder([[1, 6]]) } throws: { "\($0)".contains("token id 6 in caption 0 is outside the vocabulary of 6") }
        #expect { try encoder([[1], []]) } throws: { "\($0)".contains("caption 1 has no tokens") }
    }

    @Test func gradientsReachTheEmbeddingRowsUsed() throws {
        var rng = RandomGenerator(seed: 5)
        let encoder = CaptionEncoder(vocabularySize: 10, embeddingWidth: 4, outputWidth: 3, rng: &rng)
        try encoder([[1, 2], [3]]).sum().backward()
        let grad = try #require(encoder.embedding.weight.grad).scalars
        #expect(grad[0..<4].allSatisfy { $0 == 0 } && grad[4..<16].contains { $0 != 0 })
    }

    /// A Hugging Face BERT directory as a frozen caption encoder: its encoder mean-pooled over
    /// real tokens, no gradients, embeddings as transformers computes them.
    @Test func frozenBertMeanPoolsLikeTransformers() throws {
        let (_, _, expected) = try HuggingFaceBertTests.load()
        let directory = HuggingFaceBertTests.directory
        var rng = RandomGenerator(seed: 0)
        let model = try RetroMAEModel(directory: directory, rng: &rng)
        for parameter in model.encoder.parameters { parameter.requiresGrad = false }
        let tokenizer = try BertTokenizer(vocabFile: directory.appendingPathComponent("vocab.txt"))
        let encoder = try SentenceEncoder(encoder: model.encoder, tokenizer: tokenizer, pooling: .mean)
        let embeddings = try encoder.embed(expected.texts)
        #expect(embeddings.count == expected.texts.count * model.encoder.config.hidden)
        #expect(HuggingFaceBertTests.maxDifference(embeddings, expected.mean) < 1e-4)
        #expect(model.encoder.parameters.allSatisfy { !$0.requiresGrad })
    }
}

struct ProjectionHeadTests {
    @Test(arguments: [LinearKind.dense, .monarch(nblocks: 4)])
    func gatedOutputOfTheConfiguredWidth(kind: LinearKind) {
        var rng = RandomGenerator(seed: 6)
        let head = ProjectionHead(16, hidden: 32, output: 8, kind: kind, normalize: true, rng: &rng)
        let x = Tensor.uniform([3, 16], low: -1, high: 1, rng: &rng, requiresGrad: true)
        let y = head(x)
        #expect(y.shape == [3, 8] && head.outputWidth == 8)
        for row in 0..<3 {
            let norm = y.scalars[(row * 8)..<(row * 8 + 8)].reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-5)
        }
        y.sum().backward()
        #expect(head.parameters.allSatisfy { $0.grad != nil })
    }

    @Test func theGateIsTheSigmoidOfTheSecondHalf() {
        var rng = RandomGenerator(seed: 7)
        let head = ProjectionHead(1, hidden: 1, output: 1, rng: &rng)
        let first = head.first as! Linear, second = head.second as! Linear
        first.weight.assign(Tensor(shape: [1, 1], scalars: [2]))
        first.bias?.assign(Tensor(shape: [1], scalars: [0]))
        second.weight.assign(Tensor(shape: [2, 1], scalars: [1, 1]))
        second.bias?.assign(Tensor(shape: [2], scalars: [0, -2]))
        // x = 1.5: hidden relu(3) = 3; halves 3 and 1; 3 * sigmoid(1).
        let y = head(Tensor(shape: [1, 1], scalars: [1.5])).item
        #expect(abs(y - Float(3 / (1 + exp(-1.0)))) < 1e-5)
    }
}
