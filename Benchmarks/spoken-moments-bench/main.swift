// Release-build benchmark of one Spoken Moments training update (both towers, GLU heads, the AMM
// loss both ways, Adam) at the trainer's defaults; tools/bench-spoken-moments.sh runs it beside
// the same model in PyTorch (tools/spoken_moments_bench.py) in alternating rounds.
//
//   spoken-moments-bench    32 clips x 8 frames of 32 x 32, captions of 40-bin mel padded to 256 frames
// Prints `spoken_moments_step_ms=...`; honours TENSOR_THREADS (default: all cores) and RUNS.
import Foundation
import Models
import Tensor
import Training

let threads = ProcessInfo.processInfo.environment["TENSOR_THREADS"].flatMap { Int($0) }
    ?? ProcessInfo.processInfo.activeProcessorCount
ComputeThreads.configure(threads)
let runs = ProcessInfo.processInfo.environment["RUNS"].flatMap { Int($0) } ?? 5

var rng = RandomGenerator(seed: 1)
let clip = ClipShape()
let (batch, longest) = (32, 256)
// Caption lengths spread over 150...256 frames, as padded batches of spoken captions are.
let lengths = (0..<batch).map { 150 + $0 * (longest - 150) / (batch - 1) }
var mel = Tensor.uniform([batch, clip.melBins, longest], low: -1, high: 1, rng: &rng).scalars
for (row, length) in lengths.enumerated() {
    for m in 0..<clip.melBins { for t in length..<longest { mel[(row * clip.melBins + m) * longest + t] = 0 } }
}
let clips = ClipBatch(frames: Tensor.uniform([batch] + clip.frameShape, low: 0, high: 1, rng: &rng),
                      mel: Tensor(shape: [batch, clip.melBins, longest], scalars: mel), melLengths: lengths,
                      captions: [String](repeating: "", count: batch))
let options = SpokenMomentsOptions()
let trainer = Trainer(model: try SpokenMomentsTraining(options: options, clip: clip), options: options.loop)

_ = try trainer.update([clips])
let times = try (0..<runs).map { _ in
    let start = ContinuousClock.now
    _ = try trainer.update([clips])
    return (ContinuousClock.now - start) / .milliseconds(1)
}
print(String(format: "threads: %d\nspoken_moments_step_ms=%.1f", threads, times.sorted()[runs / 2]))
