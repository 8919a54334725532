import ArgumentParser
import Foundation
import Models
import PipelineCore
import Tensor
import Text
import Training

/// `sluice embed`: sentence embeddings from a model directory (ours or a Hugging Face BERT).
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed texts (one per line) with a BERT checkpoint directory into a float32 .npy [N, hidden].",
        discussion: """
            The directory holds config.json, model.safetensors and vocab.txt: a model written by
            `sluice retromae train` or a Hugging Face BERT saved with safe_serialization=True.
              sluice embed --checkpoint out/retromae/model --in texts.txt --out emb.npy --pooling cls --normalize
            """)

    @Option(help: ArgumentHelp("Model directory: config.json, model.safetensors, vocab.txt.", valueName: "dir"))
    var checkpoint: String

    @Option(name: .customLong("in"), help: ArgumentHelp("Texts, one per line.", valueName: "file"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the embeddings (.npy).", valueName: "file"))
    var out: String

    @Option(help: "cls (the final [CLS] state) or mean (over real tokens).")
    var pooling: String = "cls"

    @Flag(help: "Scale every embedding to unit length.")
    var normalize = false

    @Flag(help: "Keep case and accents (a cased vocabulary).")
    var cased = false

    @Option(help: "Texts per forward pass.")
    var batchSize = 32

    @Option(help: "Math threads.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        guard let pooling = Pooling(rawValue: pooling) else { throw ValidationError("--pooling must be cls or mean, not '\(pooling)'") }
        ComputeThreads.configure(max(1, threads))
        let directory = URL(fileURLWithPath: checkpoint)
        let texts: [String]
        do {
            texts = try String(contentsOfFile: input, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init).filter { !$0.isEmpty }
        } catch {
            throw ValidationError("\(input): cannot read UTF-8 text (\(error.localizedDescription))")
        }
        guard !texts.isEmpty else { throw ValidationError("\(input): no texts") }
        var rng = RandomGenerator(seed: 0)
        let model = try RetroMAEModel(directory: directory, rng: &rng)
        let tokenizer = try BertTokenizer(contentsOf: directory.appendingPathComponent("vocab.txt"), lowercase: !cased)
        var encoder = try SentenceEncoder(encoder: model.encoder, tokenizer: tokenizer, pooling: pooling, normalize: normalize)
        encoder.batchSize = max(1, batchSize)
        let values = try encoder.embed(texts)
        try NPY.write(NDArray(shape: [texts.count, model.config.hidden], values: values), to: URL(fileURLWithPath: out))
        printError("\(texts.count) embeddings of dimension \(model.config.hidden) -> \(out)")
    }
}

/// RetroMAE training commands.
struct RetroMAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retromae", abstract: "RetroMAE pre-training (stage 1) and contrastive continuation (stage 2).",
        subcommands: [RetroMAETrain.self])
}

struct RetroMAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train RetroMAE on a corpus (stage 1), plus query/passage pairs with --pairs (stage 2).",
        discussion: """
            Writes OUT/model (config.json, model.safetensors, vocab.txt: loadable by `sluice embed` and
            --init) and OUT/checkpoint.safetensors (model, optimizer, RNG, data position). After a
            kill, the same command with --resume continues with the same losses.
              sluice retromae train --in samples/retromae/corpus.txt.gz --format paragraphs \\
                --vocab samples/retromae/vocab.txt --heldout samples/retromae/heldout.tsv --out out/retromae
            """)

    @OptionGroup var corpus: CorpusOptions

    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("vocab.txt for a new model (default: INIT/vocab.txt).", valueName: "file"))
    var vocab: String?

    @Option(help: ArgumentHelp("Start from this model directory (ours or a Hugging Face BERT).", valueName: "dir"))
    var initFrom: String?

    @Flag(help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false

    @Option(help: "New model: hidden size.") var hidden = 128
    @Option(help: "New model: encoder layers.") var layers = 2
    @Option(help: "New model: attention heads.") var heads = 4
    @Option(help: "New model: feed-forward width.") var intermediate = 512
    @Option(help: "New model: dense or monarch feed-forward maps.") var ffn = "dense"
    @Option(help: "Monarch blocks.") var nblocks = 4
    @Option(help: "Update at which Monarch maps become dense (reverse sparsification).") var densifyAt: Int?
    @Option(help: "Dropout.") var dropout: Float = 0.1

    @Option(help: "Max tokens per block, [CLS]/[SEP] included.") var maxLength = 64
    @Option(help: "Blocks per micro-batch.") var batchSize = 16
    @Option(help: "Micro-batches per update.") var accumulation = 1
    @Option(help: "Updates.") var steps = 200
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Warm-up share of the updates.") var warmup: Float = 0.1
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 0.01
    @Option(help: "Encoder mask ratio.") var encoderRatio = 0.3
    @Option(help: "Decoder mask ratio.") var decoderRatio = 0.5
    @Option(help: "Seed of order, masks and dropout.") var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Stage 2: query<TAB>passage[<TAB>negative...] training pairs.", valueName: "file"))
    var pairs: String?
    @Option(help: "Stage 2: contrastive temperature.") var temperature: Float = 0.05

    @Option(help: ArgumentHelp("Held-out query<TAB>passage pairs for MRR@10 / Recall@k.", valueName: "file"))
    var heldout: String?
    @Option(help: "Blocks held out of training for MLM/reconstruction evaluation.") var evalBlocks = 64
    @Option(help: "Evaluate every this many updates (and at the start and end).") var evalEvery = 100
    @Option(help: "Checkpoint every this many updates.") var checkpointEvery = 50
    @Option(help: "Print progress every this many updates.") var logEvery = 10
    @Option(help: "Math threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        ComputeThreads.configure(max(1, threads))
        let outDirectory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        guard let vocabPath = vocab ?? initFrom.map({ $0 + "/vocab.txt" }) else {
            throw ValidationError("give --vocab for a new model or --init-from a model directory")
        }
        let tokenizer = try BertTokenizer(contentsOf: URL(fileURLWithPath: vocabPath))
        var rng = RandomGenerator(seed: seed)
        let model: RetroMAEModel
        if let initFrom {
            model = try RetroMAEModel(directory: URL(fileURLWithPath: initFrom), rng: &rng)
        } else {
            var config = BertConfig()
            (config.vocabularySize, config.hidden, config.layers, config.heads) = (tokenizer.vocabulary.count, hidden, layers, heads)
            (config.intermediate, config.maxPositions, config.dropout) = (intermediate, max(maxLength, 64), dropout)
            config.feedForward = try LinearKind(config: ffn, nblocks: nblocks)
            guard hidden % heads == 0 else { throw ValidationError("--hidden \(hidden) is not divisible by --heads \(heads)") }
            model = RetroMAEModel(config, rng: &rng)
        }
        guard tokenizer.vocabulary.count <= model.config.vocabularySize else {
            throw ValidationError("\(vocabPath) has \(tokenizer.vocabulary.count) tokens, the model only \(model.config.vocabularySize)")
        }

        // Corpus -> sentences -> packed blocks; the last evalBlocks are held out.
        let packer = try BlockPacker(tokenizer: tokenizer, maxLength: maxLength)
        var blocks: [[Int32]] = []
        let reporter = QuarantineReporter()
        for record in try corpus.reader() {
            switch record {
            case .document(let document): blocks += packer.pack(document.text)
            case .quarantined(let quarantine): reporter.report(quarantine)
            }
        }
        guard blocks.count > evalBlocks + batchSize else {
            throw ValidationError("the corpus gives \(blocks.count) blocks: too few for \(evalBlocks) held out and a batch of \(batchSize)")
        }
        var collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: tokenizer))
        (collator.encoderRatio, collator.decoderRatio, collator.maxLength) = (encoderRatio, decoderRatio, maxLength)
        let evalSet = Array(blocks.suffix(evalBlocks))
        let data = try BlockDataset(blocks: Array(blocks.dropLast(evalBlocks)), batchSize: batchSize, collator: collator, seed: seed)
        let evalBatches = try stride(from: 0, to: evalSet.count, by: batchSize).map { start in
            try collator.collate(Array(evalSet[start..<min(evalSet.count, start + batchSize)]), seed: seed &+ UInt64(start))
        }.filter { $0.batchSize > 1 }
        let pairData = try pairs.map { path in
            try PairDataset(pairs: readPairs(path).map { ($0.query, $0.positive, $0.negatives) }, tokenizer: tokenizer,
                            maxLength: maxLength, batchSize: batchSize, seed: seed)
        }
        let heldoutPairs = try heldout.map(readPairs)
        printError("\(blocks.count) blocks of at most \(maxLength) tokens (\(evalSet.count) held out), "
                   + "\(model.parameterCount) parameters" + (pairData.map { ", \($0.queries.count) training pairs" } ?? ""))

        var config = TrainerConfig(totalSteps: steps)
        (config.learningRate, config.warmupRatio, config.weightDecay) = (lr, warmup, weightDecay)
        (config.accumulation, config.seed, config.densifyAtStep, config.temperature) = (max(1, accumulation), seed, densifyAt, temperature)
        let trainer = RetroMAETrainer(model: model, data: data, pairs: pairData, config: config)
        let checkpointFile = outDirectory.appendingPathComponent("checkpoint.safetensors")
        if resume {
            try trainer.resume(from: checkpointFile)
            printError("resumed at update \(trainer.step) (batch \(trainer.dataPosition))")
        }

        func evaluate() throws {
            let e = try trainer.model.evaluate(evalBatches)
            var line = String(format: "eval step %d: mlm loss %.3f acc %.3f | decoder loss %.3f acc %.3f | shuffled-embedding decoder loss %.3f",
                              trainer.step, e.encoderLoss, e.encoderAccuracy.rate, e.decoderLoss, e.decoderAccuracy.rate,
                              e.shuffledDecoderLoss)
            if let heldoutPairs {
                let m = try retrieval(trainer.model.encoder, tokenizer: tokenizer, pairs: heldoutPairs)
                line += String(format: " | retrieval MRR@10 %.4f R@1 %.4f R@10 %.4f R@100 %.4f", m.mrrAt10, m.recallAt1, m.recallAt10, m.recallAt100)
            }
            print(line)
            fflush(nil)  // progress shows live when stdout is a pipe
        }
        if trainer.step == 0 { try evaluate() }
        var window: [StepReport] = []
        while trainer.step < steps {
            let report = try trainer.trainStep()
            window.append(report)
            if trainer.step % logEvery == 0 || trainer.step == steps {
                let seconds = window.reduce(0) { $0 + $1.seconds }, waiting = window.reduce(0) { $0 + $1.dataSeconds }
                let n = Float(window.count)
                print(String(format: "step %d/%d loss %.3f (mlm %.3f, decoder %.3f%@) lr %.2e | %.0f tokens/s, data %.1f%% of step time",
                             trainer.step, steps, window.reduce(0) { $0 + $1.loss } / n, window.reduce(0) { $0 + $1.encoderLoss } / n,
                             window.reduce(0) { $0 + $1.decoderLoss } / n,
                             pairData == nil ? "" : String(format: ", contrastive %.3f", window.reduce(0) { $0 + $1.contrastiveLoss } / n),
                             report.learningRate, Double(window.reduce(0) { $0 + $1.tokens }) / seconds, 100 * waiting / seconds))
                fflush(nil)  // progress shows live when stdout is a pipe
                window.removeAll()
            }
            if trainer.step % checkpointEvery == 0 || trainer.step == steps { try trainer.saveCheckpoint(to: checkpointFile) }
            if trainer.step % evalEvery == 0 && trainer.step < steps { try evaluate() }
        }
        try evaluate()
        let modelDirectory = outDirectory.appendingPathComponent("model")
        try trainer.model.save(to: modelDirectory)
        try tokenizer.vocabulary.write(to: modelDirectory.appendingPathComponent("vocab.txt"))
        printError("model -> \(modelDirectory.path)")
    }

    private func readPairs(_ path: String) throws -> [TextPair] {
        var result: [TextPair] = []
        let reporter = QuarantineReporter()
        for record in try PairReader(paths: [path]) {
            switch record {
            case .pair(let pair): result.append(pair)
            case .quarantined(let quarantine): reporter.report(quarantine)
            }
        }
        return result
    }
}

/// Held-out retrieval: every query against every held-out passage, cosine similarity of [CLS].
func retrieval(_ encoder: BertModel, tokenizer: BertTokenizer, pairs: [TextPair]) throws -> RetrievalMetrics {
    let sentences = try SentenceEncoder(encoder: encoder, tokenizer: tokenizer, pooling: .cls, normalize: true)
    return try RetrievalMetrics(queries: sentences.embed(pairs.map(\.query)), passages: sentences.embed(pairs.map(\.positive)),
                                dimension: encoder.config.hidden, relevant: pairs.indices.map { [$0] })
}
