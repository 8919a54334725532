import COpenBLAS
import Dispatch
import Foundation
import Synchronization

/// The one place that decides how many cores tensor math uses: OpenBLAS's GEMM threads and the
/// engine's own elementwise and reduction kernels.
///
/// A trainer that also runs data-pipeline threads calls `configure` once, e.g. with the cores left
/// after decoding, so GEMM threads and decode threads do not oversubscribe the machine.
public enum ComputeThreads {
    private static let current = Atomic<Int>(ProcessInfo.processInfo.activeProcessorCount)

    /// Threads the math uses now.
    public static var count: Int { current.load(ordering: .relaxed) }

    /// Sets the threads for OpenBLAS and for the engine's kernels (at least one). OpenBLAS is
    /// left alone when it already has that many, so asking again for the same count is safe
    /// while other threads are inside BLAS calls.
    public static func configure(_ threads: Int) {
        let threads = max(1, threads)
        if openblas_get_num_threads() != Int32(threads) { openblas_set_num_threads(Int32(threads)) }
        setKernelThreads(threads)
    }

    /// Sets only the engine's own kernels' threads. OpenBLAS must not be reconfigured while
    /// another thread is inside a BLAS call, so tests running in parallel use this.
    static func setKernelThreads(_ threads: Int) {
        current.store(max(1, threads), ordering: .relaxed)
    }
}

/// Tensors smaller than this run their elementwise kernels on the calling thread: below it the
/// cost of waking threads exceeds the work.
let parallelThreshold = 1 << 16

/// Runs `body` over `0..<count` split into contiguous chunks, one per compute thread when the
/// work is large enough to pay for the threads.
@inline(__always)
func parallelFor(_ count: Int, cost: Int = 1, _ body: (Int, Int) -> Void) {
    let threads = ComputeThreads.count
    guard threads > 1, count &* cost >= parallelThreshold, count > 1 else {
        body(0, count)
        return
    }
    let chunks = min(threads, count)
    let size = (count + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        let work = DisjointWork(body: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk &* size
            let end = min(count, start &+ size)
            if start < end { work.body(start, end) }
        }
    }
}

/// A kernel body handed to several threads at once. Unchecked: every kernel given to
/// `parallelFor` writes only inside its own `start..<end` chunk and reads shared inputs.
private struct DisjointWork: @unchecked Sendable {
    let body: (Int, Int) -> Void
}
