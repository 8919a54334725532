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
        defer { ComputeThreads.setKernelThreads(before) }
        ComputeThreads.setKernelThreads(1)
        let single = run()
        ComputeThreads.setKernelThreads(2)
        #expect(ComputeThreads.count == 2)
        #expect(run() == single)
    }
}
