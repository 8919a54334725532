import COpenBLAS
import Dispatch
import Foundation
import Synchronization

/// The one place that decides how many cores tensor math uses.
///
/// The engine owns every compute thread: OpenBLAS runs single-threaded in whichever thread calls
/// it, and `gemm` splits a large product across the engine's threads itself. Two pools would
/// fight over the cores: after each GEMM OpenBLAS's idle workers spin in `sched_yield` for a
/// while, taking the cores the engine's next elementwise kernel needs (19% of a two-thread BERT
/// step went to that spinning, measured with `perf`).
///
/// A trainer that also runs data-pipeline threads calls `configure` once, e.g. with the cores left
/// after decoding, so compute threads and decode threads do not oversubscribe the machine.
public enum ComputeThreads {
    private static let current = Atomic<Int>(ProcessInfo.processInfo.activeProcessorCount)

    /// Threads the math uses now.
    public static var count: Int { current.load(ordering: .relaxed) }

    /// Sets the threads for the engine's GEMMs and kernels (at least one).
    public static func configure(_ threads: Int) {
        singleThreadedBLAS()
        current.store(max(1, threads), ordering: .relaxed)
    }
}

/// Puts OpenBLAS in single-threaded mode once, before the first BLAS or LAPACK call of the
/// process (it must not be reconfigured while another thread is inside a call).
func singleThreadedBLAS() { _ = blasConfigured }

private let blasConfigured: Void = {
    if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
}()

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
