import Foundation
import PipelineCore
@testable import Pipelines
import Tensor
import Testing
import Training

/// The capsule pipelines as users run them, over the sample clips with small widths.
struct CapsuleStagesTests {
    static let smallModel = ["sink.capsules=4", "sink.pose=8", "sink.embedding=32", "sink.video_width=8", "sink.audio_width=8",
                             "sink.text_width=16", "sink.text_features=16", "sink.vocab=\(SpokenMomentsStagesTests.root.path)/samples/text/bert-base-uncased-vocab.txt"]

    @Test func onTheFlyTrainingWritesACheckpointTheEvalCommandReads() throws {
        let dir = try SpokenMomentsStagesTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = SpokenMomentsStagesTests.root.appendingPathComponent("samples/shapes/manifest.jsonl").path
        let outcome = try SpokenMomentsStagesTests.run("capsules-onthefly.yaml", [
            "source.path=\(manifest)", "output=\(dir.path)/out", "source.epochs=1", "sink.steps=3", "sink.log_every=1",
        ] + Self.smallModel)
        #expect(outcome.report.completion == .finished)
        let trainer = dir.appendingPathComponent("out")
        #expect(try SpokenMomentsStagesTests.trainLosses(trainer).count == 3)
        let model = try CapsuleTraining(checkpoint: trainer.appendingPathComponent("checkpoint.safetensors"))
        #expect(model.options.capsules == 4 && model.clip.frames == 8 && model.clip.size == 56)
    }

    @Test func trainingFromPreparedShardsLowersTheLoss() throws {
        let dir = try SpokenMomentsStagesTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = SpokenMomentsStagesTests.root.appendingPathComponent("samples/shapes/manifest.jsonl").path
        #expect(try SpokenMomentsStagesTests.run("spoken-moments-prepare.yaml", ["source.path=\(manifest)", "output=\(dir.path)/prepared"])
            .report.completion == .finished)
        let outcome = try SpokenMomentsStagesTests.run("capsules-train.yaml", [
            "source.paths=\(dir.path)/prepared/train", "output=\(dir.path)/out", "sink.steps=30", "sink.log_every=5", "sink.lr=0.003",
        ] + Self.smallModel)
        #expect(outcome.report.completion == .finished)
        let losses = try SpokenMomentsStagesTests.trainLosses(dir.appendingPathComponent("out/trainer"))
        let (start, end) = (try #require(losses[5]), try #require(losses[30]))
        #expect(end < 0.9 * start, "loss \(start) at step 5, \(end) at step 30")
    }

    @Test func noiseIsRefusedByTheSinkWithTheReason() throws {
        let dir = try SpokenMomentsStagesTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: (any Error).self) {
            try SpokenMomentsStagesTests.run("capsules-onthefly.yaml", ["output=\(dir.path)/out", "sink.noise=0.2"] + Self.smallModel)
        }
        #expect("\(error.map { String(describing: $0) } ?? "")".contains("sluice capsules train --noise"))
    }
}
