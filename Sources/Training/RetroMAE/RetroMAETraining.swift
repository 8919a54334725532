import Foundation
import Models
import Settings
import Tensor
import Text

/// Dense or Monarch feed-forward maps, as a setting names them.
public enum FeedForwardKind: String, CaseIterable, Sendable {
    case dense, monarch
}

/// What pre-training optimises.
public enum PretrainingObjective: String, CaseIterable, Sendable {
    /// The encoder's MLM loss plus the enhanced decoder's reconstruction loss (the paper).
    case retromae
    /// The encoder's MLM loss alone: the paper's BERT baseline, the same encoder at the same budget.
    case mlm
}

/// Every setting of a RetroMAE run and its default, written once: `sluice retromae train` and the
/// `retromae_train` pipeline sink are both built from `settings`.
///
/// Two sets of defaults: `init()` for a new model, chosen from runs of a small model trained from
/// scratch on one machine (BENCHMARKS.md, "RetroMAE: what pre-training learns"), and `continuing`
/// for a model read from a checkpoint, at the paper's learning rate for BERT.
public struct RetroMAEOptions: SettingsDescribed, Sendable, Equatable {
    // A new model's shape (a model started from a directory keeps its own).
    public var hidden = 128
    public var layers = 2
    public var heads = 4
    public var intermediate = 512
    public var maxPositions = 512
    public var feedForward = FeedForwardKind.dense
    public var nblocks = 4
    public var tieEmbeddings = true
    /// Update at which Monarch maps become dense ("reverse sparsification"); nil: never.
    public var densifyAt: Int?
    /// No dropout in pre-training from scratch (as Geiping and Goldstein's "Cramming": a model this
    /// size underfits its budget).
    public var dropout: Float = 0
    public var objective = PretrainingObjective.retromae
    /// Share of the updates, at the start, during which the encoder is frozen and only the MLM head
    /// and the decoder learn, when they start random: a checkpoint without them (a bare `BertModel`,
    /// a sentence-transformers model) would otherwise take their random gradients into the encoder.
    public var headWarmup: Float = 0
    // Stage 2: the in-batch contrastive loss on query/passage pairs.
    /// Scores are [CLS] dot products over this (0.02 with `normalize`, as the reference fine-tuners).
    public var temperature: Float = 0.02
    /// Unit-normalise [CLS] embeddings before scoring (cosine similarity).
    public var normalize = true
    public var pairBatchSize = 32
    public var pairMaxLength = 64
    /// The loop's settings; a new model's peak learning rate is 2e-3, twenty times the paper's (of
    /// 1e-4, 1e-3, 2e-3 and 4e-3 it gave the highest MLM accuracy and held-out MRR; 4e-3 diverged).
    public var loop = LoopOptions()

    public init() {
        loop.learningRate = 2e-3
    }

    /// The defaults for a model continued from a checkpoint (`--init-from`, a sink's `init`): the
    /// paper's learning rate of 1e-4 (a new model's would erase what the checkpoint knows), and the
    /// first half of the updates for the MLM head and decoder alone, which kept a public sentence
    /// embedding model's retrieval far better than starting all at once (BENCHMARKS.md).
    public static var continuing: RetroMAEOptions {
        var options = RetroMAEOptions()
        options.loop.learningRate = 1e-4
        options.headWarmup = 0.5
        return options
    }

    /// The settings whose default differs between `init()` and `continuing`.
    public static let startDependentSettings: Set<String> = ["lr", "head_warmup"]

    public static var settings: [Setting<Self>] {
        [
            .int("hidden", \.hidden, max: limit("hidden_size"), "new model: hidden size"),
            .int("layers", \.layers, max: limit("num_hidden_layers"), "new model: encoder layers"),
            .int("heads", \.heads, max: limit("num_attention_heads"), "new model: attention heads"),
            .int("intermediate", \.intermediate, max: limit("intermediate_size"), "new model: feed-forward width"),
            .int("max_positions", \.maxPositions, min: 3, max: limit("max_position_embeddings"), "new model: longest sequence, [CLS] and [SEP] included"),
            .choice("ffn", \.feedForward, "new model: feed-forward maps"),
            .int("nblocks", \.nblocks, max: 1024, "Monarch blocks"),
            .flag("tie_embeddings", \.tieEmbeddings, "new model: the MLM head scores against the input word embeddings (else a table of its own)"),
            .int("densify_at", \.densifyAt, "update at which Monarch maps become dense (reverse sparsification)"),
            .float("dropout", \.dropout, max: 0.99, "dropout"),
            .choice("objective", \.objective, "retromae (MLM + decoder) or mlm (the encoder's MLM loss alone, the paper's BERT baseline)"),
            .float("head_warmup", \.headWarmup, max: 1, "share of the updates, at the start, that train only the MLM head and decoder when they start random (the encoder frozen)"),
            .float("temperature", \.temperature, min: 1e-6, "stage 2: similarity temperature"),
            .flag("normalize", \.normalize, "stage 2: cosine similarity (unit-length [CLS] embeddings)"),
            .int("pair_batch_size", \.pairBatchSize, max: 1 << 20, "stage 2: pairs per batch (per rank; the loss sees all ranks')"),
            .int("pair_max_length", \.pairMaxLength, min: 3, max: limit("max_position_embeddings"), "stage 2: tokens per query or passage"),
        ] + LoopOptions.settings(at: \.loop)
    }

    /// The largest value a config.json may give the same size (`BertConfig.limits`).
    private static func limit(_ key: String) -> Int { BertConfig.limits[key] ?? Int(Int32.max) }

    public func problems() -> [String] {
        var problems: [String] = []
        if hidden % heads != 0 { problems.append("hidden \(hidden) is not divisible by \(heads) heads") }
        return problems
    }

    /// A new model's shape for a vocabulary of `vocabularySize` tokens.
    public func bertConfig(vocabularySize: Int) -> BertConfig {
        var config = BertConfig()
        (config.vocabularySize, config.hidden, config.layers, config.heads) = (vocabularySize, hidden, layers, heads)
        (config.intermediate, config.maxPositions, config.dropout) = (intermediate, maxPositions, dropout)
        config.feedForward = feedForward == .dense ? .dense : .monarch(nblocks: nblocks)
        config.tieWordEmbeddings = tieEmbeddings
        return config
    }

    /// A new model (`init == nil`, BERT's initialisation from the seed) or one read from a model
    /// directory (ours or a Hugging Face BERT); its vocabulary must hold the tokenizer's.
    public func makeModel(init directory: URL?, vocabularySize: Int) throws -> RetroMAEModel {
        var rng = RandomGenerator(seed: loop.seed)
        let model = try directory.map { try RetroMAEModel(directory: $0, rng: &rng) }
            ?? RetroMAEModel(bertConfig(vocabularySize: vocabularySize), rng: &rng)
        guard vocabularySize <= model.config.vocabularySize else {
            throw TrainingError(.data, directory?.path ?? "model", "the vocabulary has \(vocabularySize) tokens, the model only \(model.config.vocabularySize)")
        }
        return model
    }
}

/// RetroMAE on the training loop: the encoder's MLM loss plus the enhanced decoder's, and in stage
/// 2 the in-batch contrastive loss of pair batch k added to collated batch k.
public struct RetroMAETraining: TrainableModel {
    public private(set) var model: RetroMAEModel
    /// Stage 2's query/passage pairs (nil in stage 1).
    public let pairs: PairDataset?
    public let options: RetroMAEOptions
    /// Whether Monarch maps were multiplied out (the checkpoint's parameter names depend on it).
    public private(set) var densified = false

    /// The data-parallel replicas whose pair batches together make the global contrastive batch.
    public let replicas: any ReplicaGroup

    public init(model: RetroMAEModel, pairs: PairDataset? = nil, options: RetroMAEOptions, replicas: any ReplicaGroup = OneReplica()) {
        (self.model, self.pairs, self.options, self.replicas) = (model, pairs, options, replicas)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { model.namedParameters }
    public var namedBuffers: [(name: String, tensor: Tensor)] { model.namedBuffers }

    public func loss(on batch: RetroMAEBatch, position: Int, context: inout ForwardContext) throws -> LossReport {
        let decoding = options.objective == .retromae
        let output = try model(batch, context: &context, decoding: decoding)
        var report = LossReport(loss: output.loss, terms: [("mlm", output.encoderLoss.item)], accuracies: [("mlm", output.encoderAccuracy)],
                                count: batch.attentionMask.reduce(0) { $0 + Int($1) })
        if decoding {
            report.terms.append(("decoder", output.decoderLoss.item))
            report.accuracies.append(("decoder", output.decoderAccuracy))
        }
        guard let pairs else { return report }
        let pairBatch = pairs.batch(position)
        let encode = { (sequences: [[Int32]], context: inout ForwardContext) throws in
            try model.encoder.sentenceEmbeddings(sequences, padId: pairs.padId, pooling: .cls, normalize: options.normalize,
                                                 context: &context)
        }
        var (queries, passages) = (try encode(pairBatch.queries, &context), try encode(pairBatch.passages, &context))
        var positives = pairBatch.positives
        if replicas.count > 1 { (queries, passages, positives) = try gatherGlobalBatch(queries, passages, positives) }
        let (contrastive, accuracy) = try ContrastiveLoss.inBatchSoftmax(queries: queries, passages: passages, positives: positives,
                                                                           temperature: options.temperature)
        // Every replica computes the same global loss but differentiates it through its own rows
        // only; scaling the gradient (not the value) by the replica count makes the replicas'
        // average the whole loss's gradient.
        let replicated = replicas.count > 1
            ? contrastive * Float(replicas.count) - Tensor(contrastive.item * Float(replicas.count - 1)) : contrastive
        report.loss = report.loss + replicated
        report.terms.append(("contrastive", contrastive.item))
        report.accuracies.append(("contrastive", accuracy))
        return report
    }

    /// The global batch's queries and passages (this replica's rows carry gradients, the others'
    /// are constants), with each query's positive as an index into the global passages.
    private func gatherGlobalBatch(_ queries: Tensor, _ passages: Tensor, _ positives: [Int]) throws -> (Tensor, Tensor, [Int]) {
        let hidden = queries.shape[1]
        let gatheredQueries = try replicas.allgather(queries.scalars), gatheredPassages = try replicas.allgather(passages.scalars)
        let gatheredPositives = try replicas.allgather(positives.map(Float.init))
        func join(_ parts: [[Float]], local: Tensor) -> Tensor {
            concat(parts.enumerated().map { rank, values in
                rank == replicas.rank ? local : Tensor(shape: [values.count / hidden, hidden], scalars: values)
            }, axis: 0)
        }
        var globalPositives: [Int] = [], offset = 0
        for (rank, part) in gatheredPositives.enumerated() {
            globalPositives += part.map { offset + Int($0) }
            offset += gatheredPassages[rank].count / hidden
        }
        return (join(gatheredQueries, local: queries), join(gatheredPassages, local: passages), globalPositives)
    }

    /// The encoder: every `bert.` parameter, the word embeddings the head shares among them.
    public func group(ofParameter name: String) -> String { name.hasPrefix("bert.") ? "encoder" : "heads" }

    /// The encoder frozen for the first `headWarmup` share of the updates, unless head and decoder
    /// were read from the checkpoint (a stage-1 model continued in stage 2 needs no warm-up).
    public func groupSettings(at step: Int) -> [String: GroupSettings]? {
        guard options.headWarmup > 0, !model.headAndDecoderLoaded else { return nil }
        let frozenSteps = Int((Double(options.headWarmup) * Double(options.loop.steps)).rounded())
        return ["encoder": GroupSettings(learningRate: options.loop.learningRate, frozen: step < frozenSteps)]
    }

    public mutating func prepareUpdate(_ step: Int) -> Bool {
        guard let densifyAt = options.densifyAt, step >= densifyAt, !densified else { return false }
        model.densifyFeedForward()
        densified = true
        return true
    }

    public var checkpointMetadata: [String: String] { ["densified": densified ? "1" : "0"] }

    public mutating func restore(checkpointMetadata: [String: String]) throws {
        if checkpointMetadata["densified"] == "1", !densified {
            model.densifyFeedForward()
            densified = true
        }
    }

    /// Writes the model directory `sluice retromae embed` and `init` read: config.json,
    /// model.safetensors, and the tokenizer's vocab.txt.
    public func export(to directory: URL, tokenizer: BertTokenizer) throws {
        try model.save(to: directory)
        try tokenizer.vocabulary.write(to: directory.appendingPathComponent("vocab.txt"))
    }
}
