import Testing
@testable import Tensor

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

    /// A product large enough to split into bands gives the same bits on two threads as on one,
    /// including extents that do not divide evenly into the bands (33 rows or columns).
    @Test func splitProductsEqualOneThread() {
        let cases: [([Int], [Int])] = [([33, 1000], [1000, 33]), ([3, 33, 1000], [3, 1000, 40]), ([700, 300], [300, 65])]
        for (shapeA, shapeB) in cases {
            let a = randomTensor(shapeA, seed: 62), b = randomTensor(shapeB, seed: 63)
            let before = ComputeThreads.count
            defer { ComputeThreads.configure(before) }
            ComputeThreads.configure(1)
            let single = matmul(a, b).scalars
            ComputeThreads.configure(2)
            #expect(matmul(a, b).scalars == single, "\(shapeA) x \(shapeB)")
        }
    }
}
