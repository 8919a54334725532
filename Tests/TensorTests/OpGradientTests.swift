import Foundation
import Testing
@testable import Tensor
import TestSupport

/// Every differentiable op, its gradient checked against finite differences.
struct OpGradientTests {
    @Test func matmulAllTransposeCombinations() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randomTensor(ta ? [4, 3] : [3, 4], seed: 1)
            let b = randomTensor(tb ? [5, 4] : [4, 5], seed: 2)
            expectGradientsMatch([a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        }
    }

    @Test func matmulValues() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        #expect(matmul(a, b).scalars == [58, 64, 139, 154])
        #expect(matmul(b, a, transposeA: true, transposeB: true).scalars == [58, 139, 64, 154])
    }

    @Test func matmulFoldsLeadingAxesAndBatches() {
        let x = randomTensor([2, 3, 4], seed: 3), w = randomTensor([5, 4], seed: 4)
        expectGradientsMatch([x, w]) { matmul($0[0], $0[1], transposeB: true) }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randomTensor(ta ? [2, 2, 4, 3] : [2, 2, 3, 4], seed: 5)
            let b = randomTensor(tb ? [2, 2, 5, 4] : [2, 2, 4, 5], seed: 6)
            expectGradientsMatch([a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        }
    }

    /// The GEMM's own scale and bias give what a separate multiply and add would, gradients included.
    @Test func matmulScalesAndAddsABiasInTheProduct() {
        let x = randomTensor([2, 3, 4], seed: 10), w = randomTensor([5, 4], seed: 11), bias = randomTensor([5], seed: 12)
        let fused = matmul(x, w, transposeB: true, scale: 0.5, bias: bias).scalars
        let separate = (matmul(x, w, transposeB: true) * 0.5 + bias).scalars
        for (f, s) in zip(fused, separate) { #expect(abs(f - s) <= 1e-6) }
        expectGradientsMatch([x, w, bias]) { matmul($0[0], $0[1], transposeB: true, scale: 0.5, bias: $0[2]) }
        let q = randomTensor([2, 3, 4], seed: 13), k = randomTensor([2, 5, 4], seed: 14)
        expectGradientsMatch([q, k]) { matmul($0[0], $0[1], transposeB: true, scale: 0.25) }
    }

    /// Per-head products on head-packed tensors equal splitting the heads out with permutes,
    /// forward and backward, with keys longer than queries (cross-attention).
    @Test func headProductsEqualPermutedHeads() {
        let (batch, heads, width) = (2, 3, 12)
        let q = randomTensor([batch, 4, width], seed: 15), k = randomTensor([batch, 5, width], seed: 16)
        let v = randomTensor([batch, 5, width], seed: 17)
        func split(_ t: Tensor) -> Tensor { t.reshaped([batch, t.shape[1], heads, width / heads]).permuted([0, 2, 1, 3]) }
        func permuted(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Tensor {
            let p = matmul(split(q), split(k), transposeB: true, scale: 0.5).softmax()
            return matmul(p, split(v)).permuted([0, 2, 1, 3]).reshaped([batch, 4, width])
        }
        func packed(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Tensor {
            headMix(headScores(q, k, heads: heads, scale: 0.5).softmax(), v, heads: heads)
        }
        let seed = randomTensor([batch, 4, width], seed: 18, requiresGrad: false)
        var results: [[[Float]]] = []
        for f in [permuted, packed] {
            [q, k, v].forEach { $0.zeroGrad() }
            let out = f(q, k, v)
            out.backward(seed: seed)
            results.append([out.scalars] + [q, k, v].map { $0.grad?.scalars ?? [] })
        }
        for (expected, actual) in zip(results[0], results[1]) {
            #expect(expected.count == actual.count && expected.count > 0)
            for (e, a) in zip(expected, actual) { #expect(abs(e - a) <= 1e-6) }
        }
        expectGradientsMatch([q, k, v]) { packed($0[0], $0[1], $0[2]) }
    }

    @Test func broadcastingArithmetic() {
        let a = randomTensor([2, 3, 4], seed: 7), bias = randomTensor([4], seed: 8)
        let column = randomTensor([2, 1, 4], seed: 9)
        let positive = Tensor(shape: [3, 1], scalars: [1.5, 2, 2.5], requiresGrad: true)
        expectGradientsMatch([a, bias]) { $0[0] + $0[1] }
        expectGradientsMatch([a, column]) { $0[0] - $0[1] }
        expectGradientsMatch([a, column]) { $0[0] * $0[1] }
        expectGradientsMatch([a, positive]) { $0[0] / $0[1] }
        expectGradientsMatch([a]) { ($0[0] * 3 + 1) / 2 - 0.5 }
    }

    @Test func activations() {
        // Keep inputs off ReLU's kink at 0.
        let x = randomTensor([3, 5], seed: 11)
        let offKink = Tensor(shape: x.shape, scalars: x.scalars.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }, requiresGrad: true)
        expectGradientsMatch([x]) { $0[0].gelu() }
        expectGradientsMatch([offKink]) { $0[0].relu() }
        expectGradientsMatch([x]) { $0[0].tanh() }
        expectGradientsMatch([x]) { $0[0].sigmoid() }
        expectGradientsMatch([x]) { $0[0].exp() }
        expectGradientsMatch([x]) { ($0[0] + 2).log() }
        expectGradientsMatch([x]) { ($0[0] + 2).sqrt() }
        expectGradientsMatch([x]) { $0[0].squared() }
    }

    @Test func geluMatchesErfForm() {
        let x = Tensor(shape: [3], scalars: [-1, 0, 2])
        let expected: [Float] = [-0.158_655_25, 0, 1.954_499_7]
        for (a, b) in zip(x.gelu().scalars, expected) { #expect(abs(a - b) < 1e-6) }
    }

    @Test func softmaxWithMasks() {
        let scores = randomTensor([2, 3, 4, 4], seed: 12)
        let padding = Tensor(shape: [2, 1, 1, 4], scalars: [0, 0, 0, -1e9, 0, 0, -1e9, -1e9])
        var rows = [Float](repeating: 0, count: 2 * 4 * 4)
        for b in 0..<2 { for i in 0..<4 { for j in 0..<4 where j > i { rows[b * 16 + i * 4 + j] = -1e9 } } }
        let causal = Tensor(shape: [2, 1, 4, 4], scalars: rows)
        expectGradientsMatch([scores]) { $0[0].softmax() }
        expectGradientsMatch([scores]) { $0[0].softmax(mask: padding) }
        expectGradientsMatch([scores]) { $0[0].softmax(mask: causal) }
        // Log-probabilities of -1e9-masked positions are ~-1e9, too coarse for finite differences
        // in Float32: check log-softmax with a moderate additive mask.
        let soft = Tensor(shape: [2, 1, 1, 4], scalars: [0, -1, 0, -3, 0, 0, -2, 0])
        expectGradientsMatch([scores]) { $0[0].logSoftmax(mask: soft) }
        let probabilities = scores.softmax(mask: causal).scalars
        #expect(probabilities[1] == 0 && probabilities[2] == 0 && abs(probabilities[0] - 1) < 1e-6)
        let masked = scores.softmax(mask: padding).scalars
        #expect(masked[3] == 0)
        #expect(abs(masked[0..<4].reduce(0, +) - 1) < 1e-6)
    }

    @Test func fullyMaskedRowIsZeros() {
        let x = Tensor(shape: [1, 3], scalars: [1, 2, 3])
        let mask = Tensor.full([3], -.infinity)
        #expect(x.softmax(mask: mask).scalars == [0, 0, 0])
    }

    @Test func layerNorm() {
        let x = randomTensor([3, 6], seed: 13), gamma = randomTensor([6], seed: 14), beta = randomTensor([6], seed: 15)
        expectGradientsMatch([x, gamma, beta]) { $0[0].layerNorm(gamma: $0[1], beta: $0[2]) }
        let y = x.layerNorm(gamma: .full([6], 1), beta: .zeros([6]))
        let row = Array(y.scalars[0..<6])
        #expect(abs(row.reduce(0, +)) < 1e-5)
        #expect(abs(row.map { $0 * $0 }.reduce(0, +) / 6 - 1) < 1e-3)
    }

    @Test func embeddingScatterAddsRepeatedRows() throws {
        let table = randomTensor([5, 3], seed: 16)
        try expectGradientsMatch([table]) { try embedding($0[0], indices: [1, 4, 1, 0], indexShape: [2, 2]) }
        table.zeroGrad()
        try embedding(table, indices: [2, 2, 2], indexShape: [3]).sum().backward()
        #expect(table.grad?.scalars[6..<9].allSatisfy { $0 == 3 } == true)
        #expect(table.grad?.scalars[0..<6].allSatisfy { $0 == 0 } == true)
    }

    @Test func outOfRangeIndicesFromDataAreErrors() {
        let table = randomTensor([5, 3], seed: 16)
        #expect(throws: TensorError.self) { try embedding(table, indices: [1, 5], indexShape: [2]) }
        do {
            _ = try crossEntropy(.zeros([2, 4]), targets: [1, 7])
            Issue.record("target 7 of 4 classes accepted")
        } catch {
            #expect(error.description == "crossEntropy: target 7 at row 1 is outside 4 classes")
        }
    }

    @Test func crossEntropyIgnoresPadding() throws {
        let logits = randomTensor([4, 5], seed: 17)
        try expectGradientsMatch([logits]) { try crossEntropy($0[0], targets: [1, -100, 4, 0]) }
        let uniform = try crossEntropy(.zeros([2, 4]), targets: [3, -100])
        #expect(abs(uniform.item - Foundation.log(4)) < 1e-6)
    }

    @Test func reductions() {
        let x = randomTensor([2, 3, 4], seed: 18)
        expectGradientsMatch([x]) { $0[0].sum() }
        expectGradientsMatch([x]) { $0[0].mean() }
        expectGradientsMatch([x]) { $0[0].sum(axis: 1) }
        expectGradientsMatch([x]) { $0[0].mean(axis: -1, keepingAxis: true) }
        expectGradientsMatch([x]) { $0[0].max(axis: 1) }
        #expect(Tensor(shape: [2, 2], scalars: [1, 5, 3, 2]).max(axis: 0).scalars == [3, 5])
        expectGradientsMatch([x]) { $0[0].l2Normalized() }
    }

    @Test func shapeOps() {
        let x = randomTensor([2, 3, 4], seed: 19), y = randomTensor([2, 2, 4], seed: 20)
        expectGradientsMatch([x]) { $0[0].reshaped([6, -1]).transposed() }
        expectGradientsMatch([x]) { $0[0].permuted([2, 0, 1]) }
        expectGradientsMatch([x, y]) { concat([$0[0], $0[1]], axis: 1) }
        expectGradientsMatch([x]) { $0[0].slice(axis: 1, 1..<3) }
        expectGradientsMatch([x]) { $0[0].split(axis: -1, sizes: [1, 3])[1] }
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(t.transposed().scalars == [1, 4, 2, 5, 3, 6])
        #expect(t.slice(axis: 1, 1..<3).scalars == [2, 3, 5, 6])
        #expect(concat([t, t], axis: 0).shape == [4, 3])
    }

    @Test func dropoutIsSeededAndScaled() {
        let x = Tensor.full([1000], 1, requiresGrad: true)
        var rng1 = RandomGenerator(seed: 5), rng2 = RandomGenerator(seed: 5)
        let a = x.dropout(0.25, training: true, rng: &rng1), b = x.dropout(0.25, training: true, rng: &rng2)
        #expect(a.scalars == b.scalars)
        let kept = a.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
        #expect(abs(Float(kept.count) / 1000 - 0.75) < 0.05)
        a.sum().backward()
        #expect(x.grad?.scalars == a.scalars)
        #expect(x.dropout(0.25, training: false, rng: &rng1) === x)
    }

    @Test func gradientsAccumulateAndInferenceRecordsNothing() {
        let w = randomTensor([3], seed: 21)
        (w * 2).sum().backward()
        (w * 3).sum().backward()
        #expect(w.grad?.scalars == [5, 5, 5])
        let y = GradMode.withoutGradients { w * 2 }
        #expect(!y.requiresGrad && y.node == nil)
        // A tensor used twice gets both contributions.
        w.zeroGrad()
        (w * w).sum().backward()
        #expect(w.grad?.scalars == w.scalars.map { 2 * $0 })
        // Two leaves handed the same gradient buffer keep separate sums, and the caller's seed
        // is never written to.
        let a = Tensor.zeros([2], requiresGrad: true), b = Tensor.zeros([2], requiresGrad: true)
        let seed = Tensor.full([2], 1)
        for _ in 0..<2 { (a + b).backward(seed: seed) }
        (a + b).sum().backward()
        #expect(a.grad?.scalars == [3, 3] && b.grad?.scalars == [3, 3] && seed.scalars == [1, 1])
    }
}
