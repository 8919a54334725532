import Foundation
import Models
import PipelineCore
import Pipelines
import Tensor
import Testing

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
                   log_every: 100, resume: \(resume)}
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

        #expect(try PipelineRunner(plan: Self.plan(dir, steps: 5, resume: true), progress: nil).run().report.completion == .finished)
        #expect(try SafeTensors.read(checkpoint).metadata["step"] == "5")
        #expect(try Checkpoint.extra(from: checkpoint)["data.position"] == "10")
    }
}
