import Foundation
import Models
import PipelineCore
@testable import Pipelines
import Tensor
import Training
import Testing
import Text

/// The RetroMAE trainer as the sink of a pipeline file.
struct RetroMAEStagesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func plan(_ dir: URL, steps: Int, resume: Bool) throws -> PipelinePlan {
        let vocab = root.appendingPathComponent("samples/retromae/vocab.txt").path
        return try PipelineFile().plan(yaml: """
            name: retromae
            output: \(dir.path)/out
            source: {type: text, paths: "\(root.path)/samples/text/corpus.txt", format: paragraphs}
            stages:
              - {type: pack, tokenizer: "\(vocab)", max_length: 32}
              - {type: retromae_collate, tokenizer: "\(vocab)", max_length: 32, batch_size: 4}
            sink: {type: retromae_train, tokenizer: "\(vocab)", out: trainer, hidden: 32, layers: 1, heads: 2,
                   intermediate: 64, max_positions: 32, steps: \(steps), accumulation: 2, checkpoint_every: 2,
                   log_every: 100, resume: \(resume), heldout: "\(root.path)/samples/retromae/heldout.tsv"}
            """, file: "retromae.yaml")
    }

    @Test func trainsFromStreamedBatchesAndResumesWhereTheCheckpointStopped() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-retromae-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let trainer = dir.appendingPathComponent("out/trainer")
        let checkpoint = trainer.appendingPathComponent("checkpoint.safetensors")

        #expect(try PipelineRunner(plan: Self.plan(dir, steps: 3, resume: false), progress: nil).run().report.completion == .finished)
        #expect(try SafeTensors.read(checkpoint).metadata["step"] == "3")
        #expect(try Checkpoint.extra(from: checkpoint)["data.position"] == "6")
        var rng = RandomGenerator(seed: 0)
        let model = try RetroMAEModel(directory: trainer.appendingPathComponent("model"), rng: &rng)
        #expect(model.config.hidden == 32)
        // `heldout`: retrieval and anisotropy at the start and the end, in metrics.jsonl.
        let metrics = try String(contentsOf: trainer.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.components(separatedBy: "\"anisotropy_mean\"").count - 1 == 2)
        #expect(metrics.contains("\"mrr_at_10\""))

        #expect(try PipelineRunner(plan: Self.plan(dir, steps: 5, resume: true), progress: nil).run().report.completion == .finished)
        #expect(try SafeTensors.read(checkpoint).metadata["step"] == "5")
        #expect(try Checkpoint.extra(from: checkpoint)["data.position"] == "10")
    }
}

extension RetroMAEStagesTests {
    /// A pipeline file and the command line spell the same settings differently (`densify_at: 3`,
    /// `--densify-at 3`); both give the same options, so the same model and the same losses.
    @Test func pipelineFileAndCommandLineGiveTheSameOptionsModelAndLosses() throws {
        let vocab = Self.root.appendingPathComponent("samples/retromae/vocab.txt").path
        let plan = try PipelineFile().plan(yaml: """
            name: same
            output: /tmp/unused
            source: {type: text, paths: "\(Self.root.path)/samples/text/corpus.txt"}
            sink: {type: retromae_train, tokenizer: "\(vocab)", out: t, hidden: 32, layers: 1, heads: 2, intermediate: 64,
                   max_positions: 32, ffn: monarch, nblocks: 2, densify_at: 2, lr: 0.002, warmup: 0.25, seed: 3,
                   optimizer: adam, schedule: cosine, normalize: false, steps: 4}
            """, file: "same.yaml")
        let fromFile = try RetroMAEOptions(try #require(plan.stages.last).parameters)
        var fromFlags = RetroMAEOptions()
        try fromFlags.apply([("--hidden", "32"), ("--layers", "1"), ("--heads", "2"), ("--intermediate", "64"),
                             ("--max-positions", "32"), ("--ffn", "monarch"), ("--nblocks", "2"), ("--densify-at", "2"),
                             ("--lr", "2e-3"), ("--warmup", "0.25"), ("--seed", "3"), ("--optimizer", "adam"),
                             ("--schedule", "cosine"), ("--normalize", "false"), ("--steps", "4")])
        #expect(fromFile == fromFlags)
        #expect(try RetroMAEOptions(try PipelineFile().plan(yaml: """
            name: defaults
            output: /tmp/unused
            source: {type: text, paths: "\(Self.root.path)/samples/text/corpus.txt"}
            sink: {type: retromae_train, tokenizer: "\(vocab)", out: t}
            """, file: "defaults.yaml").stages.last!.parameters) == RetroMAEOptions())

        // The learning rate and head warm-up a file leaves out follow the start: a new model's, or
        // the continuing defaults for `init`.
        func options(_ sink: String) throws -> RetroMAEOptions {
            let parameters = try #require(try PipelineFile().plan(yaml: """
                name: start
                output: /tmp/unused
                source: {type: text, paths: "\(Self.root.path)/samples/text/corpus.txt"}
                sink: {type: retromae_train, tokenizer: "\(vocab)", out: t\(sink)}
                """, file: "start.yaml").stages.last).parameters
            let continued = parameters.optionalString("init") != nil
            return try RetroMAEOptions(parameters, defaults: continued ? .continuing : RetroMAEOptions())
        }
        #expect(try options("") == RetroMAEOptions())
        #expect(try options(", init: \(Self.root.path)/samples") == RetroMAEOptions.continuing)
        #expect(try options(", init: \(Self.root.path)/samples, lr: 0.0005").loop.learningRate == 5e-4)
        #expect(RetroMAEOptions.continuing.loop.learningRate < RetroMAEOptions().loop.learningRate)
        #expect(RetroMAEOptions.continuing.headWarmup > 0 && RetroMAEOptions().headWarmup == 0)

        let tokenizer = try BertTokenizer(contentsOf: URL(fileURLWithPath: vocab))
        let collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: tokenizer))
        let blocks = ["rivers flow downhill toward the quiet sea", "every cat sleeps most of the warm afternoon",
                      "a stitch in time saves nine", "the quick brown fox jumps over the lazy dog"].map { tokenizer.tokenIds($0) }
        func losses(_ options: RetroMAEOptions) throws -> [Float] {
            let model = try options.makeModel(init: nil, vocabularySize: tokenizer.vocabulary.count)
            let trainer = Trainer(model: RetroMAETraining(model: model, options: options), options: options.loop)
            return try (0..<4).map { try trainer.update([collator.collate(blocks, seed: UInt64($0))]).loss }
        }
        #expect(try losses(fromFile) == losses(fromFlags))
    }
}
