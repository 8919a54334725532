import Foundation
import Models
import PipelineCore
import Tensor
import Text
import Training

/// The RetroMAE trainer as a pipeline sink: `retromae_collate` batches stream in and train a model.
/// Its settings are `RetroMAEOptions`', the same as `sluice retromae train`'s.
enum RetroMAEStages {
    static let specs: [StageSpec] = [train]

    static let train = StageSpec(
        type: "retromae_train", role: .sink,
        summary: "trains RetroMAE on retromae_collate batches (+ contrastive on `pairs`: stage 2); resumable checkpoints, metrics.jsonl, TensorBoard events and a model under `out`",
        parameters: TextStages.tokenizerParameters + [
            ParameterSpec("out", .output, required: true, help: "directory for checkpoint.safetensors, metrics.jsonl, events and model/"),
            ParameterSpec("init", .path(objects: false), help: "start from this model directory (ours or a Hugging Face BERT)"),
            ParameterSpec("resume", .bool, default: "false", help: "continue from out/checkpoint.safetensors, skipping the batches it consumed"),
            ParameterSpec("pairs", .inputs(objects: false), help: "stage 2: query<TAB>passage[<TAB>negative...] files for the contrastive loss"),
            ParameterSpec("heldout", .inputs(objects: false), help: "query<TAB>passage files: held-out MRR@10, recall and anisotropy ([CLS] and mean pooling) at every evaluation"),
        ] + RetroMAEOptions.parameterSpecs(leftOpen: RetroMAEOptions.startDependentSettings),
        obstacles: { parameters in
            guard let initial = parameters.optionalString("init"), !FileManager.default.fileExists(atPath: initial + "/config.json") else {
                return []
            }
            return [Obstacle(key: "init", "\(initial) holds no model yet (no config.json)", missing: URL(fileURLWithPath: initial))]
        }
    ) { parameters, environment in
        let tokenizer = try TextStages.loadTokenizer(parameters)
        let initial = parameters.optionalString("init").map { URL(fileURLWithPath: $0) }
        let options = try RetroMAEOptions(parameters, defaults: initial == nil ? RetroMAEOptions() : .continuing)
        let model = try options.makeModel(init: initial, vocabularySize: tokenizer.vocabulary.count)
        let out = parameters.output("out")
        let pairFiles = parameters.inputs("pairs")
        let pairs = try pairFiles.isEmpty ? nil : PairDataset(
            pairs: readPairs(pairFiles).map { ($0.query, $0.positive, $0.negatives) }, tokenizer: tokenizer, maxLength: options.pairMaxLength,
            batchSize: options.pairBatchSize, seed: options.loop.seed)
        let trainer = Trainer(model: RetroMAETraining(model: model, pairs: pairs, options: options), options: options.loop)
        let run = try TrainingRun(trainer: trainer, directory: out, name: "retromae", unit: "tokens", resume: parameters.bool("resume"))
        let heldoutFiles = parameters.inputs("heldout")
        if !heldoutFiles.isEmpty {
            let heldout = try readPairs(heldoutFiles)
            run.evaluate = { try $0.model.figures(batches: [], tokenizer: tokenizer, heldout: heldout, decoding: options.objective == .retromae) }
        }
        run.export = { try $0.export(to: out.appendingPathComponent("model"), tokenizer: tokenizer) }
        return .sink(TrainerSink(run: run, environment: environment, decode: retroMAEBatch))
    }
}

/// Every query/passage pair of `files`; a malformed line is an error naming file and line.
private func readPairs(_ files: [URL]) throws -> [TextPair] {
    var pairs: [TextPair] = []
    for record in try PairReader(paths: files.map(\.path)) {
        switch record {
        case .pair(let pair): pairs.append(pair)
        case .quarantined(let quarantine): throw StageError(path: "\(quarantine.source):\(quarantine.line)", reason: quarantine.description)
        }
    }
    return pairs
}

/// The collated arrays of a `retromae_collate` sample.
func retroMAEBatch(_ item: Sample) throws -> RetroMAEBatch {
    func array(_ field: String, _ dtype: DType, rank: Int) throws -> NDArray {
        guard case let .array(value)? = item[field], value.dtype == dtype, value.shape.count == rank else {
            throw StageError(path: item.itemDescription, reason: "field '\(field)' is not a \(rank)-D \(dtype) array (expected retromae_collate output)")
        }
        return value
    }
    let ids = try array("encoder_input_ids", .int32, rank: 2)
    let (b, l) = (ids.shape[0], ids.shape[1])
    let mask = try array("decoder_attention_mask", .uint8, rank: 3)
    let others = try [("encoder_labels", DType.int32), ("attention_mask", .uint8), ("decoder_input_ids", .int32),
                      ("decoder_labels", .int32)].map { try array($0.0, $0.1, rank: 2) }
    guard mask.shape == [b, l, l], others.allSatisfy({ $0.shape == [b, l] }) else {
        throw StageError(path: item.itemDescription, reason: "batch arrays disagree on batch size and length \(b) x \(l)")
    }
    return RetroMAEBatch(batchSize: b, length: l, encoderInputIds: ids.values(as: Int32.self),
                         encoderLabels: others[0].values(as: Int32.self), attentionMask: others[1].values(as: UInt8.self),
                         decoderInputIds: others[2].values(as: Int32.self), decoderLabels: others[3].values(as: Int32.self),
                         decoderAttentionMask: mask.values(as: UInt8.self))
}
