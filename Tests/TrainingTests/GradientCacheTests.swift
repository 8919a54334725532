import Models
import Tensor
import Testing
import Training

/// Gradient caching gives the single-pass full-batch gradient of a contrastive loss, dropout
/// included; plain accumulation over micro-batches does not.
struct GradientCacheTests {
    /// Two towers (a linear map with dropout each) over 8 pairs of random inputs.
    struct Towers {
        let a: Linear, b: Linear
        let inputs: (Tensor, Tensor)
        let dropout: Float

        init(dropout: Float = 0.2) {
            self.dropout = dropout
            var rng = RandomGenerator(seed: 4)
            (a, b) = (Linear(6, 5, rng: &rng), Linear(7, 5, rng: &rng))
            inputs = (.normal([8, 6], std: 1, rng: &rng), .normal([8, 7], std: 1, rng: &rng))
        }

        var parameters: [Tensor] { [a.weight, b.weight] + [a.bias, b.bias].compactMap { $0 } }

        func embed(_ range: Range<Int>, _ context: inout ForwardContext) -> [Tensor] {
            [a(inputs.0.slice(axis: 0, range)).dropout(dropout, training: true, rng: &context.rng),
             b(inputs.1.slice(axis: 0, range)).dropout(dropout, training: true, rng: &context.rng)]
        }

        func gradients() -> [[Float]] {
            defer { parameters.forEach { $0.zeroGrad() } }
            return parameters.map { $0.grad?.scalars ?? [] }
        }
    }

    static let loss = ContrastiveLoss(kind: .amm)

    @Test(arguments: [1, 3, 8])
    func chunkedGradientsEqualTheFullBatch(chunkSize: Int) throws {
        let towers = Towers()
        // Reference: the whole batch in one recorded pass, chunk by chunk only for the dropout draws.
        var context = ForwardContext(training: true, rng: RandomGenerator(seed: 9))
        let pieces = stride(from: 0, to: 8, by: chunkSize).map { towers.embed($0..<min(8, $0 + chunkSize), &context) }
        let full = Self.loss(matmul(concat(pieces.map { $0[0] }, axis: 0), concat(pieces.map { $0[1] }, axis: 0), transposeB: true))
        full.backward()
        let expected = towers.gradients()

        var cached = ForwardContext(training: true, rng: RandomGenerator(seed: 9))
        let value = try GradientCache.accumulate(count: 8, chunkSize: chunkSize, context: &cached, embed: towers.embed,
                                                 loss: { Self.loss(matmul($0[0], $0[1], transposeB: true)) })
        #expect(abs(value.item - full.item) < 1e-5)
        for (ours, theirs) in zip(towers.gradients(), expected) {
            #expect(zip(ours, theirs).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        }
        #expect(cached.rng == context.rng)
    }

    @Test func plainAccumulationIsNotTheSameGradient() throws {
        let towers = Towers(dropout: 0)
        var context = ForwardContext.inference
        let whole = towers.embed(0..<8, &context)
        Self.loss(matmul(whole[0], whole[1], transposeB: true)).backward()
        let full = towers.gradients()
        for range in [0..<4, 4..<8] {
            let e = towers.embed(range, &context)
            (Self.loss(matmul(e[0], e[1], transposeB: true)) * 0.5).backward()
        }
        #expect(zip(towers.gradients()[0], full[0]).contains { abs($0 - $1) > 1e-3 })
    }
}
