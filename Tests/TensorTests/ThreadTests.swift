import Testing
@testable import Tensor
import TestSupport

struct ThreadTests {
    /// Kernels split large tensors across threads; results must not depend on the thread count.
    @Test func resultsDoNotDependOnThreadCount() {
        let x = randomTensor([300, 700], seed: 60), bias = randomTensor([700], seed: 61)
        func run() -> [[Float]] {
            let y = (x + bias).gelu()
            let normalized = y.layerNorm(gamma: .full([700], 1), beta: .zeros([700]))
            return [y.scalars, normalized.softmax().scalars, [normalized.sum().item]]
        }
        let before = ComputeThreads.count
        defer { ComputeThreads.configure(before) }
        ComputeThreads.configure(1)
        let single = run()
        ComputeThreads.configure(2)
        #expect(ComputeThreads.count == 2)
        #expect(run() == single)
    }

    /// A product large enough to be cut into tiles gives the same bits on two and three threads
    /// as on one, whichever kernels OpenBLAS runs (`make test` runs this under each kernel set the
    /// CPU has), including extents the tiles do not divide evenly, transposed operands and the
    /// gradients.
    @Test func splitProductsEqualOneThread() {
        let cases: [([Int], [Int])] = [([130, 1000], [1000, 33]), ([33, 1000], [1000, 200]), ([3, 150, 1000], [3, 1000, 40]),
                                       ([700, 300], [300, 65]), ([65, 300], [300, 700])]
        for (shapeA, shapeB) in cases {
            let (m, k, n) = (shapeA[shapeA.count - 2], shapeA[shapeA.count - 1], shapeB[shapeB.count - 1])
            #expect(gemmTiles(m: m, n: n, k: k) > 1, "\(shapeA) x \(shapeB) must be cut into tiles")
            let a = randomTensor(shapeA, seed: 62, requiresGrad: true), b = randomTensor(shapeB, seed: 63, requiresGrad: true)
            let bT = b.transposed().detached()
            func run() -> [[Float]] {
                a.zeroGrad()
                b.zeroGrad()
                // op(B) = (B^T)^T: the same product through BLAS's transpose flag.
                let product = matmul(a, b), transposed = matmul(a, bT, transposeB: true)
                (product.squared().sum() + transposed.sum()).backward()
                return [product.scalars, transposed.scalars, a.grad?.scalars ?? [], b.grad?.scalars ?? []]
            }
            let before = ComputeThreads.count
            defer { ComputeThreads.configure(before) }
            ComputeThreads.configure(1)
            let single = run()
            for threads in [2, 3] {
                ComputeThreads.configure(threads)
                let differing = zip(run(), single).map { zip($0, $1).count { $0.bitPattern != $1.bitPattern } }
                #expect(differing == [0, 0, 0, 0],
                        "\(shapeA) x \(shapeB): elements of the product, its transposed twin and the gradients that differ on \(threads) threads (OpenBLAS \(BLASKernels.loaded))")
            }
        }
    }
}
