import Foundation
import Models
import PipelineCore
import Tensor
import Text
import Training

/// The RetroMAE trainer as a pipeline sink: `retromae_collate` batches stream in and train a model.
enum RetroMAEStages {
    static let specs: [StageSpec] = [train]

    static let train = StageSpec(
        type: "retromae_train", role: .sink,
        summary: "trains RetroMAE on retromae_collate batches (+ contrastive on `pairs`: stage 2); resumable checkpoints and a model under `out`",
        parameters: TextStages.tokenizerParameters + [
            ParameterSpec("out", .output, required: true, help: "directory for checkpoint.safetensors and model/"),
            ParameterSpec("init", .string, help: "start from this model directory (ours or a Hugging Face BERT)"),
            ParameterSpec("resume", .bool, default: "false", help: "continue from out/checkpoint.safetensors, skipping the batches it consumed"),
            ParameterSpec("hidden", .int(min: 1), default: "128", help: "new model: hidden size"),
            ParameterSpec("layers", .int(min: 1), default: "2", help: "new model: encoder layers"),
            ParameterSpec("heads", .int(min: 1), default: "4", help: "new model: attention heads"),
            ParameterSpec("intermediate", .int(min: 1), default: "512", help: "new model: feed-forward width"),
            ParameterSpec("max_positions", .int(min: 3), default: "512", help: "new model: longest sequence"),
            ParameterSpec("ffn", .choice(["dense", "monarch"]), default: "dense", help: "new model: feed-forward maps"),
            ParameterSpec("nblocks", .int(min: 1), default: "4", help: "Monarch blocks"),
            ParameterSpec("dropout", .double(min: 0, max: 0.99), default: "0.1", help: "dropout"),
            ParameterSpec("steps", .int(min: 1), required: true, help: "updates (later batches are ignored)"),
            ParameterSpec("accumulation", .int(min: 1), default: "1", help: "batches per update"),
            ParameterSpec("lr", .double(min: 0), default: "0.0001", help: "peak learning rate"),
            ParameterSpec("warmup", .double(min: 0, max: 1), default: "0.1", help: "warm-up share of the updates"),
            ParameterSpec("weight_decay", .double(min: 0), default: "0.01", help: "AdamW weight decay"),
            ParameterSpec("seed", .int(min: 0), default: "0", help: "model initialisation and dropout"),
            ParameterSpec("pairs", .inputs, help: "stage 2: query<TAB>passage[<TAB>negative...] files for the contrastive loss"),
            ParameterSpec("pair_batch_size", .int(min: 1), default: "32", help: "stage 2: pairs per batch"),
            ParameterSpec("pair_max_length", .int(min: 3), default: "64", help: "stage 2: tokens per query or passage"),
            ParameterSpec("temperature", .double(min: 1e-6), default: "0.05", help: "stage 2: similarity temperature"),
            ParameterSpec("checkpoint_every", .int(min: 1), default: "100", help: "updates between checkpoints"),
            ParameterSpec("log_every", .int(min: 1), default: "10", help: "updates between progress lines"),
        ]
    ) { parameters, _ in
        let tokenizer = try TextStages.loadTokenizer(parameters)
        var rng = RandomGenerator(seed: UInt64(parameters.int("seed") ?? 0))
        let model: RetroMAEModel
        if let initial = parameters.string("init") {
            model = try RetroMAEModel(directory: URL(fileURLWithPath: initial), rng: &rng)
        } else {
            var config = BertConfig()
            config.vocabularySize = tokenizer.vocabulary.count
            (config.hidden, config.layers, config.heads) = (parameters.int("hidden") ?? 128, parameters.int("layers") ?? 2, parameters.int("heads") ?? 4)
            (config.intermediate, config.maxPositions) = (parameters.int("intermediate") ?? 512, parameters.int("max_positions") ?? 512)
            config.dropout = Float(parameters.double("dropout") ?? 0.1)
            config.feedForward = try LinearKind(config: parameters.string("ffn") ?? "dense", nblocks: parameters.int("nblocks"))
            guard config.hidden % config.heads == 0 else {
                throw StageError(item: parameters.stageName, reason: "hidden \(config.hidden) is not divisible by \(config.heads) heads")
            }
            model = RetroMAEModel(config, rng: &rng)
        }
        var config = TrainerConfig(totalSteps: parameters.int("steps") ?? 1)
        config.accumulation = parameters.int("accumulation") ?? 1
        config.learningRate = Float(parameters.double("lr") ?? 1e-4)
        config.warmupRatio = Float(parameters.double("warmup") ?? 0.1)
        config.weightDecay = Float(parameters.double("weight_decay") ?? 0.01)
        config.seed = UInt64(parameters.int("seed") ?? 0)
        config.temperature = Float(parameters.double("temperature") ?? 0.05)
        guard let out = parameters.output("out") else { throw StageError(item: parameters.stageName, reason: "no out directory") }
        let pairFiles = parameters.inputs("pairs")
        let pairs = try pairFiles.isEmpty ? nil : PairDataset(
            pairs: readPairs(pairFiles), tokenizer: tokenizer, maxLength: parameters.int("pair_max_length") ?? 64,
            batchSize: parameters.int("pair_batch_size") ?? 32, seed: config.seed)
        return .sink(try RetroMAESink(trainer: RetroMAETrainer(model: model, data: nil, pairs: pairs, config: config), tokenizer: tokenizer, out: out,
                                      resume: parameters.bool("resume"), checkpointEvery: parameters.int("checkpoint_every") ?? 100,
                                      logEvery: parameters.int("log_every") ?? 10))
    }
}

/// Every query/passage pair of `files`; a malformed line is an error naming file and line.
private func readPairs(_ files: [URL]) throws -> [(query: String, positive: String, negatives: [String])] {
    var pairs: [(query: String, positive: String, negatives: [String])] = []
    for record in try PairReader(paths: files.map(\.path)) {
        switch record {
        case .pair(let pair): pairs.append((pair.query, pair.positive, pair.negatives))
        case .quarantined(let quarantine): throw StageError(item: "\(quarantine.source):\(quarantine.line)", reason: quarantine.description)
        }
    }
    return pairs
}

/// Feeds streamed batches to a `RetroMAETrainer`, `accumulation` at a time.
final class RetroMAESink: Sink {
    let trainer: RetroMAETrainer
    let tokenizer: BertTokenizer
    let out: URL
    let checkpointEvery: Int
    let logEvery: Int
    private var pending: [RetroMAEBatch] = []
    /// Batches seen, including those a resumed run skips.
    private var seen = 0
    private var window: [StepReport] = []

    init(trainer: RetroMAETrainer, tokenizer: BertTokenizer, out: URL, resume: Bool, checkpointEvery: Int, logEvery: Int) throws {
        (self.trainer, self.tokenizer, self.out, self.checkpointEvery, self.logEvery) = (trainer, tokenizer, out, checkpointEvery, logEvery)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        if resume { try trainer.resume(from: checkpoint) }
    }

    private var checkpoint: URL { out.appendingPathComponent("checkpoint.safetensors") }

    func consume(_ item: Sample) throws {
        seen += 1
        guard seen > trainer.dataPosition, trainer.step < trainer.config.totalSteps else { return }
        pending.append(try Self.batch(item))
        guard pending.count == trainer.config.accumulation else { return }
        window.append(try trainer.trainStep(on: pending))
        pending.removeAll()
        if trainer.step % logEvery == 0 {
            let n = Float(window.count), seconds = window.reduce(0) { $0 + $1.seconds }
            print(String(format: "retromae step %d/%d loss %.3f (mlm %.3f, decoder %.3f, contrastive %.3f) | %.0f tokens/s", trainer.step,
                         trainer.config.totalSteps, window.reduce(0) { $0 + $1.loss } / n, window.reduce(0) { $0 + $1.encoderLoss } / n,
                         window.reduce(0) { $0 + $1.decoderLoss } / n, window.reduce(0) { $0 + $1.contrastiveLoss } / n,
                         Double(window.reduce(0) { $0 + $1.tokens }) / seconds))
            window.removeAll()
        }
        if trainer.step % checkpointEvery == 0 { try trainer.saveCheckpoint(to: checkpoint) }
    }

    func finish(_ completion: Completion) throws {
        guard case .finished = completion else { return }
        try trainer.saveCheckpoint(to: checkpoint)
        let directory = out.appendingPathComponent("model")
        try trainer.model.save(to: directory)
        try tokenizer.vocabulary.write(to: directory.appendingPathComponent("vocab.txt"))
    }

    /// The collated arrays of a `retromae_collate` sample.
    static func batch(_ item: Sample) throws -> RetroMAEBatch {
        func array(_ field: String, _ dtype: DType, rank: Int) throws -> NDArray {
            guard case let .array(value)? = item[field], value.dtype == dtype, value.shape.count == rank else {
                throw StageError(item: item.itemDescription, reason: "field '\(field)' is not a \(rank)-D \(dtype) array (expected retromae_collate output)")
            }
            return value
        }
        let ids = try array("encoder_input_ids", .int32, rank: 2)
        let (b, l) = (ids.shape[0], ids.shape[1])
        let mask = try array("decoder_attention_mask", .uint8, rank: 3)
        let others = try [("encoder_labels", DType.int32), ("attention_mask", .uint8), ("decoder_input_ids", .int32),
                          ("decoder_labels", .int32)].map { try array($0.0, $0.1, rank: 2) }
        guard mask.shape == [b, l, l], others.allSatisfy({ $0.shape == [b, l] }) else {
            throw StageError(item: item.itemDescription, reason: "batch arrays disagree on batch size and length \(b) x \(l)")
        }
        return RetroMAEBatch(batchSize: b, length: l, encoderInputIds: ids.values(as: Int32.self),
                             encoderLabels: others[0].values(as: Int32.self), attentionMask: others[1].values(as: UInt8.self),
                             decoderInputIds: others[2].values(as: Int32.self), decoderLabels: others[3].values(as: Int32.self),
                             decoderAttentionMask: mask.values(as: UInt8.self))
    }
}
