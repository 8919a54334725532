import Foundation
import Testing
@testable import Tensor
import TestSupport

struct MonarchTests {
    /// (in, out, nblocks): square, widening (a < c), narrowing, and padded/cropped shapes.
    static let shapes = [(16, 16, 4), (12, 20, 4), (20, 12, 4), (10, 7, 3)]

    /// The dense weight written straight from the paper's formula:
    /// M[s'k + l, i p + t] = sum over r' of w2[l, s', r'] w1[i, j, t] with r'k + l = i q + j.
    func denseFromFormula(_ layer: MonarchLinear) -> [Float] {
        let (k, q, p) = (layer.blkdiag1.shape[0], layer.blkdiag1.shape[1], layer.blkdiag1.shape[2])
        let (s, r) = (layer.blkdiag2.shape[1], layer.blkdiag2.shape[2])
        let w1 = layer.blkdiag1.scalars, w2 = layer.blkdiag2.scalars
        var dense = [Float](repeating: 0, count: layer.outFeatures * layer.inFeatures)
        for l in 0..<k {
            for row in 0..<s where row * k + l < layer.outFeatures {
                for column in 0..<r {
                    let (i, j) = ((column * k + l) / q, (column * k + l) % q)
                    for t in 0..<p where i * p + t < layer.inFeatures {
                        dense[(row * k + l) * layer.inFeatures + i * p + t] += w2[(l * s + row) * r + column] * w1[(i * q + j) * p + t]
                    }
                }
            }
        }
        return dense
    }

    @Test(arguments: shapes)
    func forwardEqualsDenseMaterialisation(_ shape: (Int, Int, Int)) {
        var rng = RandomGenerator(seed: 40)
        let layer = MonarchLinear(shape.0, shape.1, nblocks: shape.2, rng: &rng)
        let dense = layer.denseWeight()
        #expect(dense.shape == [shape.1, shape.0])
        #expect(zip(dense.scalars, denseFromFormula(layer)).allSatisfy { abs($0 - $1) < 1e-5 })
        let x = randomTensor([5, shape.0], seed: 41)
        let viaDense = layer.densified()(x)
        #expect(relativeError(layer(x), viaDense) < 1e-5)
    }

    @Test(arguments: shapes)
    func gradientsMatchFiniteDifferences(_ shape: (Int, Int, Int)) {
        var rng = RandomGenerator(seed: 42)
        let layer = MonarchLinear(shape.0, shape.1, nblocks: shape.2, rng: &rng)
        let x = randomTensor([2, 3, shape.0], seed: 43)
        expectGradientsMatch([x, layer.blkdiag1, layer.blkdiag2]) { _ in layer(x) }
    }

    @Test func projectionRecoversAMonarchMatrix() throws {
        var rng = RandomGenerator(seed: 44)
        for (inFeatures, outFeatures, k) in [(64, 64, 4), (48, 96, 4), (96, 48, 8)] {
            let original = MonarchLinear(inFeatures, outFeatures, nblocks: k, rng: &rng)
            let projected = try MonarchLinear(projecting: original.densified(), nblocks: k)
            #expect(relativeError(projected.denseWeight(), original.denseWeight()) < 1e-5)
        }
    }

    @Test func projectionErrorOfRandomMatrixIsInBand() throws {
        var rng = RandomGenerator(seed: 45)
        let dense = Linear(weight: .normal([256, 256], rng: &rng), bias: nil)
        let projected = try MonarchLinear(projecting: dense, nblocks: 4)
        let difference = zip(projected.denseWeight().scalars, dense.weight.scalars).map { ($0 - $1) * ($0 - $1) }
        let error = (difference.reduce(0, +) / dense.weight.scalars.map { $0 * $0 }.reduce(0, +)).squareRoot()
        // Each 64x64 slice keeps its top 16 singular values: about 0.6 of the norm is lost.
        #expect(error > 0.55 && error < 0.65, "relative Frobenius error \(error)")
    }

    @Test func parameterCounts() {
        var rng = RandomGenerator(seed: 46)
        let wide = MonarchLinear(768, 3072, nblocks: 4, bias: false, rng: &rng)
        #expect(wide.blkdiag1.shape == [4, 192, 192] && wide.blkdiag2.shape == [4, 768, 192])
        #expect(wide.parameterCount * 10_000 == 768 * 3072 * 3125)  // 31.25% of dense
        let narrow = MonarchLinear(3072, 768, nblocks: 4, bias: false, rng: &rng)
        #expect(narrow.blkdiag1.shape == [4, 192, 768] && narrow.blkdiag2.shape == [4, 192, 192])
        #expect(MonarchLinear(768, 768, nblocks: 4, bias: false, rng: &rng).parameterCount * 2 == 768 * 768)
        #expect(MonarchLinear(768, 768, nblocks: 8, bias: false, rng: &rng).parameterCount * 4 == 768 * 768)
        #expect(MonarchLinear(768, 768, nblocks: 4, rng: &rng).parameterCount == 768 * 768 / 2 + 768)
    }

    @Test func usableWhereverALinearIs() {
        var rng = RandomGenerator(seed: 47)
        let maps: [any LinearMap] = [LinearKind.dense.make(8, 12, rng: &rng), LinearKind.monarch(nblocks: 2).make(8, 12, rng: &rng)]
        for map in maps { #expect(map(randomTensor([3, 8], seed: 48)).shape == [3, 12]) }
    }
}
