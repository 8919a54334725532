// Release-build benchmarks of the Tensor engine; tools/bench-tensor.sh runs them beside PyTorch.
//
//   tensor-bench matmul            engine matmul against raw cblas_sgemm, n = 256..2048 (best ms)
//   tensor-bench monarch           MonarchLinear against Linear, forward + backward
//   tensor-bench bert [steps] [masked|all]
//                                  one small-BERT training step (forward, backward, AdamW), the
//                                  MLM head on the masked positions only (default) or on all
// Every mode honours TENSOR_THREADS (default: all cores).
import COpenBLAS
import Foundation
import Models
import Tensor

/// Best wall times in milliseconds of each of `bodies`, run in turn until about `budget` seconds
/// pass: taking turns spreads load from other processes on this shared machine over all of them,
/// and the best run is the one that load disturbed least.
func measure(budget: Double = 1.0, minimumRuns: Int = 5, _ bodies: [() -> Void]) -> [Double] {
    bodies.forEach { $0() }  // warm-up
    var times = [[Double]](repeating: [], count: bodies.count)
    let start = Date()
    while times[0].count < minimumRuns || Date().timeIntervalSince(start) < budget {
        for (i, body) in bodies.enumerated() {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        if times[0].count >= 200 { break }
    }
    return times.map { $0.min() ?? 0 }
}

func randomTensor(_ shape: [Int], seed: UInt64, requiresGrad: Bool = false) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return .uniform(shape, low: -1, high: 1, rng: &rng, requiresGrad: requiresGrad)
}

/// `cblas_sgemm` as a user calling OpenBLAS directly gets it: OpenBLAS's own threads, as many as
/// the engine uses (the engine keeps OpenBLAS single-threaded and splits products itself).
func rawSgemm(_ n: Int, _ a: Tensor, _ b: Tensor, _ c: Tensor) {
    openblas_set_num_threads(Int32(ComputeThreads.count))
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                a.storage.pointer, Int32(n), b.storage.pointer, Int32(n), 0, c.storage.pointer, Int32(n))
    openblas_set_num_threads(1)
}

/// Raw sgemm GFLOP/s at n = 1024: the peak the other figures are compared with.
func sgemmPeak() -> Double {
    let n = 1024
    let a = randomTensor([n, n], seed: 1), b = randomTensor([n, n], seed: 2), c = Tensor.zeros([n, n])
    let ms = measure([{ rawSgemm(n, a, b, c) }])[0]
    return 2 * Double(n * n * n) / ms / 1e6
}

func benchMatmul() {
    print("| n | raw cblas_sgemm ms | engine matmul ms | engine A^T B ms | engine / raw (GFLOP/s ratio) |")
    print("|---|---|---|---|---|")
    for n in [256, 512, 1024, 2048] {
        let a = randomTensor([n, n], seed: 1), b = randomTensor([n, n], seed: 2), c = Tensor.zeros([n, n])
        let times = measure(budget: n >= 1024 ? 3 : 1, [
            { rawSgemm(n, a, b, c) },
            { _ = matmul(a, b) },
            { _ = matmul(a, b, transposeA: true) },
        ])
        let (raw, engine, transposed) = (times[0], times[1], times[2])
        print(String(format: "| %d | %.2f | %.2f | %.2f | %.3f |", n, raw, engine, transposed, raw / engine))
    }
}

func benchMonarch() {
    func forwardBackward(_ layer: any LinearMap, _ x: Tensor) -> () -> Void {
        let seed = Tensor.full([x.shape[0], layer.outFeatures], 1)
        return {
            layer.zeroGradients()
            layer(x).backward(seed: seed)
        }
    }
    print("| batch | in -> out | Linear ms | Monarch k=4 ms | speed-up k=4 | Monarch k=8 ms | speed-up k=8 |")
    print("|---|---|---|---|---|---|---|")
    let cases = [(2048, 768, 3072), (2048, 3072, 768), (2048, 768, 768), (2048, 256, 256),
                 (512, 768, 3072), (64, 768, 3072), (64, 256, 256)]
    for (batch, inFeatures, outFeatures) in cases {
        var rng = RandomGenerator(seed: 3)
        let x = randomTensor([batch, inFeatures], seed: 4)
        let times = measure(budget: 2, [
            forwardBackward(Linear(inFeatures, outFeatures, rng: &rng), x),
            forwardBackward(MonarchLinear(inFeatures, outFeatures, nblocks: 4, rng: &rng), x),
            forwardBackward(MonarchLinear(inFeatures, outFeatures, nblocks: 8, rng: &rng), x),
        ])
        let (dense, k4, k8) = (times[0], times[1], times[2])
        print(String(format: "| %d | %d -> %d | %.2f | %.2f | %.2fx | %.2f | %.2fx |",
                     batch, inFeatures, outFeatures, dense, k4, dense / k4, k8, dense / k8))
    }
}

/// The benchmark's small BERT for masked-language modelling (mirrored in tools/tensor_bench.py).
struct SmallBert: Layer {
    static let (vocabulary, hidden, heads, intermediate, layers, length) = (8192, 256, 4, 1024, 4, 128)
    let words: Embedding, positions: Embedding, norm: LayerNorm, encoder: [BertLayer], head: Linear

    init(rng: inout RandomGenerator) {
        words = Embedding(Self.vocabulary, Self.hidden, rng: &rng)
        positions = Embedding(Self.length, Self.hidden, rng: &rng)
        norm = LayerNorm(Self.hidden, eps: 1e-12)
        encoder = (0..<Self.layers).map { _ in
            BertLayer(hidden: Self.hidden, heads: Self.heads, intermediate: Self.intermediate, rng: &rng)
        }
        head = Linear(Self.hidden, Self.vocabulary, rng: &rng)
    }

    var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embeddings.word_embeddings", words) + prefixed("embeddings.position_embeddings", positions)
            + prefixed("embeddings.LayerNorm", norm)
            + encoder.enumerated().flatMap { prefixed("encoder.layer.\($0.offset)", $0.element) }
            + prefixed("cls", head)
    }

    /// `allPositions` sends every position through the head, as transformers' BertForMaskedLM
    /// does; otherwise only the masked ones go, as in RetroMAE's MLM loss (the other rows' logits
    /// never reach the loss, and the vocabulary projection is the step's largest GEMM).
    func loss(tokens: [Int], targets: [Int], batch: Int, allPositions: Bool, context: inout ForwardContext) throws -> Tensor {
        var x = try norm(words(tokens, shape: [batch, Self.length]) + positions(Array(0..<Self.length), shape: [Self.length]))
            .dropout(0.1, training: context.training, rng: &context.rng)
        for layer in encoder { x = layer(x, mask: nil, context: &context) }
        let flat = x.reshaped([batch * Self.length, Self.hidden])
        if allPositions { return try crossEntropy(head(flat), targets: targets) }
        let rows = targets.indices.filter { targets[$0] != -100 }
        return try crossEntropy(head(try embedding(flat, indices: rows, indexShape: [rows.count])), targets: rows.map { targets[$0] })
    }

    /// Matrix-multiply FLOPs of one training step (backward counted as twice the forward), with
    /// `predicted` rows through the head.
    static func gemmFlops(batch: Int, predicted: Int) -> Double {
        let t = Double(batch * length), h = Double(hidden)
        let perLayer = 8 * t * h * h + 4 * t * h * Double(intermediate) + 4 * Double(batch * length * length) * h
        return 3 * (Double(layers) * perLayer + 2 * Double(predicted) * h * Double(vocabulary))
    }
}

func benchBert(steps: Int, allPositions: Bool) throws {
    let batch = 32
    var rng = RandomGenerator(seed: 5)
    let model = SmallBert(rng: &rng)
    var optimizer = Adam(parameters: model.namedParameters)
    var context = ForwardContext(training: true, rng: RandomGenerator(seed: 6))
    let tokens = (0..<batch * SmallBert.length).map { _ in Int(rng.next() % UInt64(SmallBert.vocabulary)) }
    let targets = tokens.map { rng.nextUniform() < 0.15 ? $0 : -100 }
    var times: [Double] = [], cpuTimes: [Double] = []
    func cpuMilliseconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }
    for step in 0...steps {
        let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuMilliseconds()
        model.zeroGradients()
        let loss = try model.loss(tokens: tokens, targets: targets, batch: batch, allPositions: allPositions, context: &context)
        loss.backward()
        optimizer.step(learningRate: 1e-4)
        if step > 0 {
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            cpuTimes.append(cpuMilliseconds() - c0)
        }
    }
    let median = times.sorted()[times.count / 2], cpuMedian = cpuTimes.sorted()[cpuTimes.count / 2]
    let peak = sgemmPeak()
    let predicted = allPositions ? targets.count : targets.filter { $0 != -100 }.count
    let achieved = SmallBert.gemmFlops(batch: batch, predicted: predicted) / median / 1e6
    // CPU time (all threads) beside wall time: on a loaded machine it still shows the work done.
    print(String(format: "bert_step_ms=%.1f gemm_gflops=%.1f sgemm_peak_gflops=%.1f share_of_peak=%.2f cpu_ms=%.1f",
                 median, achieved, peak, achieved / peak, cpuMedian))
}

let arguments = CommandLine.arguments.dropFirst()
if let threads = ProcessInfo.processInfo.environment["TENSOR_THREADS"].flatMap({ Int($0) }) {
    ComputeThreads.configure(threads)
} else {
    ComputeThreads.configure(ProcessInfo.processInfo.activeProcessorCount)
}
print("threads: \(ComputeThreads.count)")
switch arguments.first {
case "matmul": benchMatmul()
case "monarch": benchMonarch()
case "bert":
    let options = Array(arguments.dropFirst())
    guard options.count < 2 || ["masked", "all"].contains(options[1]) else {
        print("tensor-bench bert: the head runs on `masked` or `all` positions, not \(options[1])")
        exit(2)
    }
    try benchBert(steps: options.first.flatMap { Int($0) } ?? 3, allPositions: options.count > 1 && options[1] == "all")
default:
    print("usage: tensor-bench matmul | monarch | bert [steps] [masked|all]")
    exit(2)
}
