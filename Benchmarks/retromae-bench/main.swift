import Dispatch
import Foundation
import Models
import Tensor
import Text
import Training

/// One RetroMAE training step (encoder MLM + enhanced decoder, backward, AdamW) of a BERT-small
/// shape, as the training loop takes it (`Trainer.update`), timed; tools/bench-retromae.sh runs it
/// beside the same model in PyTorch.
///   retromae-bench VOCAB.txt [--ffn dense|monarch] [--threads N] [--steps N]
let arguments = CommandLine.arguments
func option(_ name: String) -> String? { arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil } }
guard arguments.count > 1 else {
    FileHandle.standardError.write(Data("usage: retromae-bench VOCAB.txt [--ffn dense|monarch] [--threads N] [--steps N]\n".utf8))
    exit(2)
}
let (batchSize, length) = (32, 128)
let steps = Int(option("--steps") ?? "") ?? 3
ComputeThreads.configure(Int(option("--threads") ?? "") ?? 2)
let tokenizer = try BertTokenizer(vocabFile: URL(fileURLWithPath: arguments[1]))
var collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: tokenizer))
collator.options.maxLength = length
var config = BertConfig()
(config.vocabularySize, config.hidden, config.layers, config.heads, config.intermediate) = (tokenizer.vocabulary.count, 256, 4, 4, 1024)
config.feedForward = try LinearKind(config: option("--ffn") ?? "dense")
var rng = RandomGenerator(seed: 0)
// As the PyTorch side: AdamW at a constant 1e-4, no clipping.
var loop = LoopOptions()
(loop.steps, loop.learningRate, loop.schedule, loop.warmup, loop.clipNorm) = (steps + 1, 1e-4, .constant, 0, 0)
let trainer = Trainer(model: RetroMAETraining(model: RetroMAEModel(config, rng: &rng), options: RetroMAEOptions()), options: loop)
// Random word-piece blocks filling every row: the same shapes the PyTorch side uses.
var ids = SplitMix64(seed: 1)
let ordinary = (0..<Int32(tokenizer.vocabulary.count)).filter { !tokenizer.specialIds.contains($0) }
let blocks = (0..<batchSize).map { _ in (0..<(length - 2)).map { _ in ordinary[ids.below(ordinary.count)] } }

var times: [Double] = [], losses: [Float] = []
for step in 0..<(steps + 1) {
    let batch = try collator.collate(blocks, seed: UInt64(step))
    let start = DispatchTime.now().uptimeNanoseconds
    let report = try trainer.update([batch])
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if step > 0 { times.append(seconds) }   // step 0 warms up caches and the buffer pool
    losses.append(report.loss)
}
let median = times.sorted()[times.count / 2]
print(String(format: "sluice retromae step: %.1f ms, %.0f tokens/s (median of %d; losses %@)", median * 1000,
             Double(batchSize * length) / median, times.count, losses.map { String(format: "%.3f", $0) }.joined(separator: " ")))
