import Testing
@testable import Tensor

struct BLASKernelsTests {
    /// A process on OpenBLAS's Prescott fallback is steered to the kernels its CPU can run; a
    /// user's own OPENBLAS_CORETYPE, or kernels OpenBLAS chose itself, are left alone.
    @Test func picksKernelsForTheCPUOnlyOverTheFallback() {
        let avx512: Set<Substring> = ["sse2", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
        let avx2: Set<Substring> = ["sse2", "avx", "avx2", "fma"]
        #expect(BLASKernels.better(environment: ["OPENBLAS_CORETYPE": "Haswell"], cpuFlags: avx512) == nil)
        if BLASKernels.loaded.lowercased() == "prescott" {
            #expect(BLASKernels.better(environment: [:], cpuFlags: avx512) == "SkylakeX")
            #expect(BLASKernels.better(environment: [:], cpuFlags: avx2) == "Haswell")
            #expect(BLASKernels.better(environment: [:], cpuFlags: ["sse2", "sse3"]) == nil)
        } else {
            #expect(BLASKernels.better(environment: [:], cpuFlags: avx512) == nil)
        }
        #expect(!BLASKernels.cpuFlags().isEmpty)
    }
}
