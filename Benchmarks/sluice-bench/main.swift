import Foundation
import PipelineCore

// Engine benchmarks, release build only: `make bench`.
// 1. Overhead per item of a 3-stage pipeline of trivial stages, against the same work in a loop.
// 2. Speed-up of a CPU-bound parallel map on 2 workers over 1 worker.

/// Wall seconds of `body`, best of `repeats`.
func best(of repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    var fastest = Double.infinity
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return fastest
}

/// A sink that folds items into a checksum, so no stage's work can be optimised away.
final class Checksum: @unchecked Sendable {
    var value = 0
}

/// About `rounds` of integer mixing: a stand-in for CPU-bound per-item work (decode, tokenize).
@inline(never)
func spin(_ seed: Int, rounds: Int) -> Int {
    var x = UInt64(truncatingIfNeeded: seed) | 1
    for _ in 0..<rounds {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
    }
    return Int(truncatingIfNeeded: x)
}

/// The trivial stage bodies, called through the same indirection in the loop and the pipeline
/// so the baseline cannot be folded away.
nonisolated(unsafe) var double: @Sendable (Int) -> Int = { $0 &* 2 }

let items = 10_000_000
print("sluice-bench: engine (\(ProcessInfo.processInfo.activeProcessorCount) cores)")

let loopSum = Checksum()
let loop = best(of: 3) {
    loopSum.value = 0
    for n in 0..<items { loopSum.value &+= double(n) }
}
for chunk in [64, 256, 1024] {
    let sum = Checksum()
    let seconds = try best(of: 3) {
        sum.value = 0
        try Pipeline(name: "overhead", options: PipelineOptions(chunkSize: chunk))
            .source("numbers", SequenceSource(0..<items))
            .map("double", double)
            .forEach("sum") { sum.value &+= $0 }
            .run()
    }
    precondition(sum.value == loopSum.value, "pipeline lost items")
    let overhead = (seconds - loop) / Double(items) * 1e9
    print(String(format: "  overhead, source -> map -> sink, chunk %4d: %6.1f ns/item "
                 + "(pipeline %.3f s, plain loop %.3f s, %d items)", chunk, overhead, seconds, loop, items))
}

let cpuItems = 4_000
let rounds = 20_000
var perWorker: [Int: Double] = [:]
for workers in [1, 2] {
    let sum = Checksum()
    perWorker[workers] = try best(of: 3) {
        try Pipeline(name: "parallel", options: PipelineOptions(chunkSize: 16))
            .source("numbers", SequenceSource(0..<cpuItems))
            .map("spin", workers: workers) { spin($0, rounds: rounds) }
            .forEach("sum") { sum.value &+= $0 }
            .run()
    }
    print(String(format: "  parallel map, %d worker(s): %.3f s (%.0f items/s)", workers, perWorker[workers]!,
                 Double(cpuItems) / perWorker[workers]!))
}
print(String(format: "  parallel map speed-up, 2 workers over 1: %.2fx", perWorker[1]! / perWorker[2]!))
