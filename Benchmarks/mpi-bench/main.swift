import MPIRanks
import Foundation

/// Allreduce bandwidth of `World.allreduceSum` (in place, float32), run under
/// `mpiexec -n 2 mpi-bench ELEMENTS...` beside tools/allreduce_c.c, which times the same
/// MPI_Allreduce loop in plain C on the same sizes. Rank 0 prints one line per size:
///   swift <elements> <seconds per call> <bus GB/s>
/// where bus bandwidth is 2(n-1)/n x bytes / time, the figure NCCL's and MPI's tests report.

let world = try World.current()
let sizes = CommandLine.arguments.dropFirst().compactMap { Int($0) }
for elements in sizes.isEmpty ? [1 << 10, 1 << 16, 1 << 20, 1 << 22] : sizes {
    var buffer = [Float](repeating: 1, count: elements)
    let iterations = max(5, min(2000, (1 << 26) / max(1, elements)))
    try buffer.withUnsafeMutableBufferPointer { pointer in
        for _ in 0..<3 { try world.allreduceSum(pointer) }
        try world.barrier()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { try world.allreduceSum(pointer) }
        try world.barrier()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iterations)
        let n = Double(world.size)
        let bus = 2 * (n - 1) / n * Double(elements * 4) / seconds / 1e9
        if world.isPrimary { print(String(format: "swift %d %.3e %.3f", elements, seconds, bus)) }
    }
}
