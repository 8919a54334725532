import ArgumentParser
import Foundation
import MPIRanks
import Models
import PipelineCore
import Pipelines
import SystemErrors
import Tensor
import Text
import Training

/// `sluice retromae train|embed|eval`.
struct RetroMAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retromae",
        abstract: "RetroMAE: pre-training (stage 1), contrastive continuation (stage 2), embedding and evaluation.",
        subcommands: [RetroMAETrain.self, RetroMAEEmbed.self, RetroMAEEval.self])
}

extension Pooling: ExpressibleByArgument {}

/// The model-directory, tokenizer and thread options every RetroMAE command takes.
struct ModelDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: ArgumentHelp("Model directory: config.json, model.safetensors, vocab.txt (ours or a Hugging Face BERT).", valueName: "dir"),
            transform: localPath)
    var directory: String

    @Flag(help: "Keep case and accents (a cased vocabulary).")
    var cased = false

    @OptionGroup var threads: ThreadsOption

    func load() throws -> (model: RetroMAEModel, tokenizer: BertTokenizer) {
        threads.configure()
        let url = URL(fileURLWithPath: directory)
        var rng = RandomGenerator(seed: 0)
        let model = try RetroMAEModel(directory: url, rng: &rng)
        let tokenizer = try BertTokenizer(contentsOf: url.appendingPathComponent("vocab.txt"), lowercase: !cased)
        return (model, tokenizer)
    }
}

struct RetroMAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train RetroMAE on a corpus (stage 1), plus query/passage pairs with --pairs (stage 2).",
        discussion: """
            Writes into OUT: model/ (config.json, model.safetensors, vocab.txt: read by `sluice retromae embed` and --init-from), checkpoint.safetensors (model, optimizer, RNG, data position), metrics.jsonl and TensorBoard event files (`tensorboard --logdir OUT`). After a kill, the same command with --resume continues with the same losses.

              sluice retromae train --in samples/retromae/corpus.txt.gz \\
                --format paragraphs --vocab samples/retromae/vocab.txt \\
                --heldout samples/retromae/heldout.tsv --out out/retromae

            Trainer settings (the `retromae_train` pipeline sink takes the same, in snake_case). The defaults are a new model's; with --init-from, --lr defaults to \(RetroMAEOptions.continuing.loop.learningRate) (the paper's) and --head-warmup to \(RetroMAEOptions.continuing.headWarmup).
            \(TrainerSettings<RetroMAEOptions>.help)
            """)

    @OptionGroup var corpus: CorpusOptions

    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"), transform: localPath)
    var out: String

    @Option(help: ArgumentHelp("vocab.txt for a new model (default: INIT/vocab.txt).", valueName: "file"), transform: localPath)
    var vocab: String?

    @Option(help: ArgumentHelp("Start from this model directory (ours or a Hugging Face BERT).", valueName: "dir"), transform: localPath)
    var initFrom: String?

    @Flag(help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false

    @Option(help: "Max tokens per block, [CLS]/[SEP] included.") var maxLength = 64
    @Option(help: "Blocks per micro-batch.") var batchSize = 16
    @Option(help: "Encoder mask ratio.") var encoderRatio = RetroMAECollator.Options().encoderRatio
    @Option(help: "Decoder mask ratio.") var decoderRatio = RetroMAECollator.Options().decoderRatio

    @Option(help: ArgumentHelp("Stage 2: query<TAB>passage[<TAB>negative...] training pairs.", valueName: "file"), transform: localPath)
    var pairs: String?

    @Option(help: ArgumentHelp("Held-out query<TAB>passage pairs for MRR@10 / Recall@k.", valueName: "file"), transform: localPath)
    var heldout: String?
    @Option(help: "Blocks held out of training for MLM/reconstruction evaluation.") var evalBlocks = 64
    @OptionGroup var threads: ThreadsOption

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Trainer settings (listed above).", valueName: "setting"))
    var settings: [String] = []

    /// The settings given, over the defaults for a new model or for one continued with --init-from.
    private func options() throws -> RetroMAEOptions {
        try TrainerSettings<RetroMAEOptions>.parse(settings, defaults: initFrom == nil ? RetroMAEOptions() : .continuing)
    }

    func validate() throws {
        let options = try options()
        if initFrom == nil, maxLength > options.maxPositions {
            throw ValidationError("--max-length \(maxLength) exceeds --max-positions \(options.maxPositions)")
        }
        guard maxLength >= 3, batchSize >= 1, evalBlocks >= 0 else {
            throw ValidationError("--max-length must be at least 3, --batch-size at least 1, --eval-blocks at least 0")
        }
    }

    func run() throws {
        let world = try jobWorld()
        try world.abortingOnError { try train(world) }
    }

    /// Trains as one rank of `world`: its part of every global batch of --batch-size x ranks blocks,
    /// gradients averaged over the ranks, rank 0 writing the run's files.
    private func train(_ world: World) throws {
        let options = try options()
        let say = { (line: String) in if world.isPrimary { printError(line) } }
        threads.configure()
        let outDirectory = URL(fileURLWithPath: out)
        guard let vocabPath = vocab ?? initFrom.map({ $0 + "/vocab.txt" }) else {
            throw ValidationError("give --vocab for a new model or --init-from a model directory")
        }
        let tokenizer = try BertTokenizer(contentsOf: URL(fileURLWithPath: vocabPath))
        let model = try options.makeModel(init: initFrom.map { URL(fileURLWithPath: $0) }, vocabularySize: tokenizer.vocabulary.count)

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
            throw InputError(.tooSmall, path: corpus.inputs.joined(separator: ", "),
                             "\(blocks.count) blocks: too few for \(evalBlocks) held out and a batch of \(batchSize)")
        }
        var collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: tokenizer))
        (collator.options.maxLength, collator.options.encoderRatio, collator.options.decoderRatio) = (maxLength, encoderRatio, decoderRatio)
        let seed = options.loop.seed
        let evalSet = Array(blocks.suffix(evalBlocks))
        let data = try BlockDataset(blocks: Array(blocks.dropLast(evalBlocks)), batchSize: batchSize, collator: collator, seed: seed,
                                    replica: world.rank, of: world.size)
        let evalBatches = try stride(from: 0, to: evalSet.count, by: batchSize).map { start in
            try collator.collate(Array(evalSet[start..<min(evalSet.count, start + batchSize)]), seed: seed &+ UInt64(start))
        }.filter { $0.batchSize > 1 }
        let pairData = try pairs.map { path in
            try PairDataset(pairs: readPairs(path).map { ($0.query, $0.positive, $0.negatives) }, tokenizer: tokenizer,
                            maxLength: options.pairMaxLength, batchSize: options.pairBatchSize, seed: seed,
                            replica: world.rank, of: world.size)
        }
        let heldoutPairs = try heldout.map(readPairs)
        say("\(blocks.count) blocks of at most \(maxLength) tokens (\(evalSet.count) held out), "
                   + "\(model.parameterCount) parameters" + (pairData.map { ", \($0.queries.count) training pairs" } ?? ""))

        let (reducer, replicas): (any GradientReducer, any ReplicaGroup)
        if world.size > 1 {
            let ranks = MPIGradientReducer(world: world)
            (reducer, replicas) = (ranks, ranks)
        } else {
            (reducer, replicas) = (SingleProcess(), OneReplica())
        }
        let training = RetroMAETraining(model: model, pairs: pairData, options: options, replicas: replicas)
        let trainer = Trainer(model: training, options: options.loop, reducer: reducer)
        let run = try TrainingRun(trainer: trainer, directory: outDirectory, name: "retromae", unit: "tokens", resume: resume,
                                  primary: world.isPrimary)
        run.evaluate = { training in
            try training.model.figures(batches: evalBatches, tokenizer: tokenizer, heldout: heldoutPairs,
                                       decoding: options.objective == .retromae)
        }
        run.export = { try $0.export(to: outDirectory.appendingPathComponent("model"), tokenizer: tokenizer) }
        var index = 0
        while !run.isComplete {
            try run.feed(data.batch(index), waitingOn: "collate")
            index += 1
        }
        try run.finish()
        say("model -> \(outDirectory.appendingPathComponent("model").path)")
    }
}

/// `sluice retromae embed`: sentence embeddings from a model directory (ours or a Hugging Face BERT).
struct RetroMAEEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed texts (one per line) with a BERT model directory into a float32 .npy [N, hidden].",
        discussion: """
            The directory holds config.json, model.safetensors and vocab.txt: a model written by
            `sluice retromae train` or a Hugging Face BERT saved with safe_serialization=True.
              sluice retromae embed --model out/retromae/model --in samples/text/corpus.txt --out emb.npy --pooling cls --normalize
            """)

    @OptionGroup var model: ModelDirectoryOptions

    @Option(name: .customLong("in"), help: ArgumentHelp("Texts, one per line.", valueName: "file"), transform: localPath)
    var input: String

    @Option(help: ArgumentHelp("Where to write the embeddings (.npy).", valueName: "file"), transform: localPath)
    var out: String

    @Option(help: "cls (the final [CLS] state) or mean (over real tokens).")
    var pooling = Pooling.cls

    @Flag(help: "Scale every embedding to unit length.")
    var normalize = false

    @Option(help: "Texts per forward pass.")
    var batchSize = 32

    func run() throws {
        let texts = try readLines(input)
        let (bert, tokenizer) = try model.load()
        var encoder = try SentenceEncoder(encoder: bert.encoder, tokenizer: tokenizer, pooling: pooling, normalize: normalize)
        encoder.batchSize = max(1, batchSize)
        let values = try encoder.embed(texts)
        try NPY.write(NDArray(shape: [texts.count, bert.config.hidden], values: values), to: URL(fileURLWithPath: out))
        printError("\(texts.count) embeddings of dimension \(bert.config.hidden) -> \(out)")
    }
}

/// `sluice retromae eval`: a model's MLM and reconstruction figures on a corpus, and retrieval on pairs.
struct RetroMAEEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a RetroMAE model: MLM/decoder loss and accuracy on a corpus, MRR@10 and Recall@k on pairs.",
        discussion: """
              sluice retromae eval --model out/retromae/model --in samples/retromae/corpus.txt.gz --format paragraphs \\
                --heldout samples/retromae/heldout.tsv
            """)

    @OptionGroup var model: ModelDirectoryOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(help: ArgumentHelp("query<TAB>passage pairs for MRR@10 / Recall@k.", valueName: "file"), transform: localPath)
    var heldout: String?
    @Option(help: "Max tokens per block, [CLS]/[SEP] included.") var maxLength = 64
    @Option(help: "Blocks per batch.") var batchSize = 16
    @Option(help: "Blocks evaluated (the corpus's first).") var blocks = 256
    @Option(help: "Seed of the evaluation masks.") var seed: UInt64 = 0

    func run() throws {
        let (bert, tokenizer) = try model.load()
        let packer = try BlockPacker(tokenizer: tokenizer, maxLength: maxLength)
        var packed: [[Int32]] = []
        let reporter = QuarantineReporter()
        for record in try corpus.reader() where packed.count < blocks {
            switch record {
            case .document(let document): packed += packer.pack(document.text)
            case .quarantined(let quarantine): reporter.report(quarantine)
            }
        }
        packed = Array(packed.prefix(blocks))
        var collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: tokenizer))
        collator.options.maxLength = maxLength
        let batches = try stride(from: 0, to: packed.count, by: max(1, batchSize)).map { start in
            try collator.collate(Array(packed[start..<min(packed.count, start + batchSize)]), seed: seed &+ UInt64(start))
        }.filter { $0.batchSize > 1 }
        guard !batches.isEmpty else {
            throw InputError(.tooSmall, path: corpus.inputs.joined(separator: ", "), "\(packed.count) blocks: too few for a batch of two")
        }
        let figures = try GradMode.withoutGradients {
            try bert.figures(batches: batches, tokenizer: tokenizer, heldout: try heldout.map(readPairs))
        }
        print(figures.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", "))
    }
}

/// Every query/passage pair of `path`; malformed lines are reported and skipped.
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

/// The non-empty lines of a UTF-8 file.
private func readLines(_ path: String) throws -> [String] {
    let texts: [String]
    do {
        texts = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
    } catch {
        throw FileSystemError(.readFailed, path: path, "cannot read the texts: \(SystemErrorText.words(error))")
    }
    guard !texts.isEmpty else { throw InputError(.empty, path: path, "no texts") }
    return texts
}
