// Release-build benchmarks of the encoders; tools/bench-encoders.sh runs them beside PyTorch
// (tools/encoders_bench.py builds the same models) in alternating rounds.
//
//   encoders-bench resdavenet   ResDAVEnet forward + backward, 32 clips x 1024 frames of 40-bin mel
//   encoders-bench resnet18     ResNet-18 forward (eval), 32 clips x 8 frames of 112 x 112
//   encoders-bench framecnn     the TSM frame CNN forward + backward, 32 clips x 8 frames of 64 x 64
//   encoders-bench peak         raw cblas_sgemm GFLOP/s at n = 1024 (the peak the shares use)
// Prints `<name>_ms=... gflops=...`; honours TENSOR_THREADS (default: all cores).
import COpenBLAS
import Foundation
import Models
import Tensor

/// Median wall time in ms of `runs` calls of `body` after one warm-up call.
func median(runs: Int, _ body: () -> Void) -> Double {
    body()
    let times = (0..<runs).map { _ in
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }
    return times.sorted()[times.count / 2]
}

func report(_ name: String, ms: Double, gflop: Double) {
    print(String(format: "%@_ms=%.1f gflops=%.1f", name, ms, gflop / ms * 1e3))
}

/// FLOPs of one convolution (2 per multiply-add): 2 * N * O * OH * OW * C * KH * KW.
func convFlops(n: Int, o: Int, positions: Int, c: Int, k: Int) -> Double { 2 * Double(n * o * positions * c * k) }

func resdavenetFlops(frames: Int, batch: Int, config: ResDAVEnet.Config) -> Double {
    var total = convFlops(n: batch, o: config.stemWidth, positions: frames, c: 1, k: config.melBins)
    var (channels, length) = (config.stemWidth, frames)
    for (width, blocks) in zip(config.stageWidths, config.blocks) {
        length = (length + 1) / 2
        for block in 0..<blocks {
            let input = block == 0 ? channels : width
            total += convFlops(n: batch, o: width, positions: length, c: input, k: config.kernel)
            total += convFlops(n: batch, o: width, positions: length, c: width, k: config.kernel)
            // The first block of every stage strides, so it has a 1x1 projection shortcut.
            if block == 0 { total += convFlops(n: batch, o: width, positions: length, c: input, k: 1) }
        }
        channels = width
    }
    return total
}

let threads = ProcessInfo.processInfo.environment["TENSOR_THREADS"].flatMap { Int($0) }
    ?? ProcessInfo.processInfo.activeProcessorCount
ComputeThreads.configure(threads)
let runs = ProcessInfo.processInfo.environment["RUNS"].flatMap { Int($0) } ?? 3
var rng = RandomGenerator(seed: 1)

switch CommandLine.arguments.dropFirst().first {
case "resdavenet":
    let model = ResDAVEnet(rng: &rng)
    let mel = Tensor.uniform([32, 40, 1024], low: -1, high: 1, rng: &rng)
    let lengths = [Int](repeating: 1024, count: 32)
    let ms = median(runs: runs) {
        model.zeroGradients()
        model(mel, lengths: lengths, training: true).sum().backward()
    }
    report("resdavenet_fwd_bwd", ms: ms, gflop: 3 * resdavenetFlops(frames: 1024, batch: 32, config: model.config) / 1e9)
case "resnet18":
    let model = ResNet(.resnet18, rng: &rng)
    let clips = Tensor.uniform([32, 8, 3, 112, 112], low: -1, high: 1, rng: &rng)
    let ms = median(runs: runs) { _ = GradMode.withoutGradients { model.frameFeatures(clips, training: false) } }
    // torchvision ResNet-18: 1.814 GMAC at 224 x 224; the convolutions scale with the pixels.
    report("resnet18_fwd", ms: ms, gflop: 256 * 2 * 1.814 / 4)
case "framecnn":
    let model = FrameCNN(rng: &rng)
    let clips = Tensor.uniform([32, 8, 3, 64, 64], low: -1, high: 1, rng: &rng)
    let ms = median(runs: runs) {
        model.zeroGradients()
        FeaturePooling.max(model.frameFeatures(clips, training: true), axis: 1).sum().backward()
    }
    let flops = convFlops(n: 256, o: 32, positions: 32 * 32, c: 3, k: 9) + convFlops(n: 256, o: 64, positions: 16 * 16, c: 32, k: 9)
        + convFlops(n: 256, o: 128, positions: 8 * 8, c: 64, k: 9)
    report("framecnn_fwd_bwd", ms: ms, gflop: 3 * flops / 1e9)
case "peak":
    // Raw sgemm as a user calling OpenBLAS gets it, on its own threads (the engine keeps OpenBLAS
    // single-threaded and splits products itself).
    openblas_set_num_threads(Int32(ComputeThreads.count))
    let n = 1024
    let a = Tensor.uniform([n, n], low: -1, high: 1, rng: &rng), b = Tensor.uniform([n, n], low: -1, high: 1, rng: &rng)
    let c = Tensor.zeros([n, n])
    let ms = median(runs: 20) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                    a.storage.pointer, Int32(n), b.storage.pointer, Int32(n), 0, c.storage.pointer, Int32(n))
    }
    report("sgemm_peak", ms: ms, gflop: 2 * Double(n * n * n) / 1e9)
default:
    print("usage: encoders-bench resdavenet | resnet18 | framecnn | peak")
    exit(2)
}
