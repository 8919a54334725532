// Release-build benchmarks of the capsule layer; tools/bench-capsules.sh runs them beside PyTorch
// (tools/capsules_bench.py builds the same training step) in alternating rounds.
//
//   capsules-bench routing [ROUNDS]   forward + backward of self-attention and dynamic routing on
//                                     votes [4, M, N, 16] for N in 32/128/512/2048, M in 8/32/128,
//                                     the two routings interleaved in every round
//   capsules-bench step [ROUNDS]      one whole training step (encoders, capsules, MMS over three
//                                     pairs, Adam) of the model tools/capsules_bench.py builds
// Prints one `key=value` line per measurement; honours TENSOR_THREADS (default: all cores).
import Foundation
import Models
import Tensor
import Text
import Training

func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first ?? "routing"
let rounds = arguments.dropFirst().first.flatMap { Int($0) } ?? 5
if let threads = ProcessInfo.processInfo.environment["TENSOR_THREADS"].flatMap({ Int($0) }) { ComputeThreads.configure(threads) }

switch mode {
case "routing":
    let (batch, pose) = (4, 16)
    var rng = RandomGenerator(seed: 1)
    for outputs in [8, 32, 128] {
        for primaries in [32, 128, 512, 2048] {
            let votes = Tensor.normal([batch, outputs, primaries, pose], std: 0.5, rng: &rng, requiresGrad: true)
            let activations = Tensor.uniform([batch, primaries], low: 0.05, high: 0.95, rng: &rng)
            let valid = Tensor.full([batch, primaries], 1)
            var times: [CapsuleRouting: [Double]] = [:]
            for round in 0..<(rounds + 1) {
                // Alternate which routing goes first; round 0 is a warm-up.
                let order: [CapsuleRouting] = round % 2 == 0 ? [.selfAttention, .dynamic] : [.dynamic, .selfAttention]
                for routing in order {
                    votes.zeroGrad()
                    let ms = milliseconds { routing.route(votes: votes, activations: activations, valid: valid).sum().backward() }
                    if round > 0 { times[routing, default: []].append(ms) }
                }
            }
            print(String(format: "routing N=%d M=%d self_attention_ms=%.3f dynamic_ms=%.3f", primaries, outputs,
                         median(times[.selfAttention]!), median(times[.dynamic]!)))
        }
    }
case "step":
    // The model of tools/capsules_bench.py: 16 clips of 8 frames of 32 x 32, 200 mel frames of 40
    // bins, 12-token captions; frame CNN 16/32/64, ResDAVEnet 16..128, 8 output capsules of 16.
    var options = CapsuleOptions()
    (options.towers.videoWidth, options.towers.audioWidth, options.captionText.width, options.captionText.features, options.retrieval.embedding) = (16, 16, 64, 64, 128)
    (options.capsules, options.pose) = (8, 16)
    let vocabulary = FileManager.default.temporaryDirectory.appendingPathComponent("capsules-bench-vocab-\(getpid()).txt")
    try (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (0..<995).map { "w\($0)" }).joined(separator: "\n").write(to: vocabulary, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: vocabulary) }
    let (clips, frames, size, melFrames, words) = (16, 8, 32, 200, 12)
    var rng = RandomGenerator(seed: 2)
    let batch = ClipBatch(
        frames: Tensor.uniform([clips, frames, 3, size, size], low: 0, high: 1, rng: &rng),
        mel: Tensor.normal([clips, 40, melFrames], rng: &rng), melLengths: (0..<clips).map { melFrames - 5 * $0 },
        captions: (0..<clips).map { c in (0..<(words - c % 4)).map { "w\((c * 31 + $0 * 7) % 995)" }.joined(separator: " ") })
    for routing in [CapsuleRouting.selfAttention, .dynamic] {
        options.routing = routing
        let trainer = Trainer(model: try CapsuleTraining(options: options, clip: ClipShape(frames: frames, size: size, seconds: 10, melBins: 40), vocabulary: vocabulary), options: options.loop)
        var times: [Double] = []
        for round in 0..<(rounds + 1) {
            let ms = try milliseconds { _ = try trainer.update([batch]) }
            if round > 0 { times.append(ms) }
        }
        print(String(format: "step routing=%@ ms=%.1f parameters=%d", routing.rawValue, median(times), trainer.model.parameterCount))
    }
default:
    print("usage: capsules-bench routing|step [ROUNDS]")
    exit(2)
}
