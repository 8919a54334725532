import Foundation
import Models
import Tensor
import Testing
import Text
import Training

@Suite struct TrainerTests {
    /// The tiny corpus repeated, so an epoch holds several batches.
    static func dataset(batchSize: Int = 4, seed: UInt64 = 11) throws -> BlockDataset {
        try BlockDataset(blocks: Array(repeating: TinyCorpus.blocks, count: 3).flatMap { $0 }, batchSize: batchSize,
                         collator: TinyCorpus.collator(), seed: seed)
    }

    static func trainer(modelSeed: UInt64, feedForward: LinearKind = .dense, densifyAt: Int? = nil) throws -> RetroMAETrainer {
        var rng = RandomGenerator(seed: modelSeed)
        let model = RetroMAEModel(TinyCorpus.config(dropout: 0.1, feedForward: feedForward), rng: &rng)
        var config = TrainerConfig(totalSteps: 8)
        config.learningRate = 2e-3
        config.accumulation = 2
        config.seed = 5
        config.densifyAtStep = densifyAt
        return RetroMAETrainer(model: model, data: try dataset(), config: config)
    }

    @Test func everyEpochVisitsEachBlockOnceInADifferentOrder() throws {
        let data = try Self.dataset()
        #expect(data.batchesPerEpoch == 3)
        let first = (0..<3).flatMap { data.blockIndices(ofBatch: $0) }
        let second = (3..<6).flatMap { data.blockIndices(ofBatch: $0) }
        #expect(first.sorted() == Array(0..<12) && second.sorted() == Array(0..<12))
        #expect(first != second)
        #expect(try data.batch(4).encoderInputIds == data.batch(4).encoderInputIds)
    }

    /// Resuming (into a model initialised differently) continues with bit-identical losses, with
    /// dropout, gradient accumulation, and Monarch maps densified mid-run on either side of the checkpoint.
    @Test(arguments: [2, 5])
    func resumeFromCheckpointGivesIdenticalLosses(checkpointStep: Int) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retromae-resume-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("checkpoint.safetensors")

        let original = try Self.trainer(modelSeed: 1, feedForward: .monarch(nblocks: 2), densifyAt: 4)
        var losses: [Float] = []
        for step in 1...7 {
            losses.append(try original.trainStep().loss)
            if step == checkpointStep { try original.saveCheckpoint(to: file) }
        }
        #expect(original.densified)

        let resumed = try Self.trainer(modelSeed: 99, feedForward: .monarch(nblocks: 2), densifyAt: 4)
        try resumed.resume(from: file)
        #expect(resumed.step == checkpointStep && resumed.dataPosition == 2 * checkpointStep)
        let continued = try (checkpointStep..<7).map { _ in try resumed.trainStep().loss }
        #expect(continued == Array(losses[checkpointStep...]))
    }

    @Test func trainingRaisesAccuracyAndTheDecoderComesToRelyOnTheEmbedding() throws {
        var rng = RandomGenerator(seed: 3)
        let model = RetroMAEModel(TinyCorpus.config(dropout: 0), rng: &rng)
        var config = TrainerConfig(totalSteps: 200)
        config.learningRate = 5e-3
        // Distinct sentences only: a shuffled embedding must then come from another sentence.
        let data = try BlockDataset(blocks: TinyCorpus.blocks, batchSize: 4, collator: TinyCorpus.collator(), seed: 1)
        let trainer = RetroMAETrainer(model: model, data: data, config: config)
        let heldOut = [try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 12345)]
        let before = try trainer.model.evaluate(heldOut)
        var reports: [StepReport] = []
        for _ in 0..<200 { reports.append(try trainer.trainStep()) }
        let after = try trainer.model.evaluate(heldOut)
        #expect(reports[0].learningRate == 0 && reports[20].learningRate == 5e-3 && reports[199].learningRate < 1e-4)
        #expect(after.encoderAccuracy.rate > before.encoderAccuracy.rate + 0.3)
        #expect(after.decoderAccuracy.rate > before.decoderAccuracy.rate + 0.5)
        #expect(after.shuffledDecoderLoss > after.decoderLoss + 1)
        #expect(abs(before.shuffledDecoderLoss - before.decoderLoss) < 0.2)
    }

    @Test func stageTwoLearnsToMatchQueriesWithTheirPassages() throws {
        // The query is a sentence's last three words.
        let pairs = TinyCorpus.sentences.map { sentence in
            (query: sentence.split(separator: " ").suffix(3).joined(separator: " "), positive: sentence, negatives: [String]())
        }
        let pairData = try PairDataset(pairs: pairs, tokenizer: TinyCorpus.tokenizer, maxLength: 32, batchSize: 4, seed: 2)
        #expect(pairData.batch(0).passages.count == 4 && pairData.batch(0).positives == [0, 1, 2, 3])
        var rng = RandomGenerator(seed: 8)
        var config = TrainerConfig(totalSteps: 100)
        config.learningRate = 2e-3
        config.temperature = 0.05
        let data = try BlockDataset(blocks: TinyCorpus.blocks, batchSize: 4, collator: TinyCorpus.collator(), seed: 1)
        let trainer = RetroMAETrainer(model: RetroMAEModel(TinyCorpus.config(), rng: &rng), data: data, pairs: pairData,
                                      config: config)
        let reports = try (0..<100).map { _ in try trainer.trainStep() }
        #expect(reports[0].contrastiveLoss > 1)
        #expect(reports.suffix(5).allSatisfy { $0.contrastiveLoss < 0.1 && $0.contrastiveAccuracy.rate == 1 })
    }

    @Test func retrievalMetricsOfAKnownRanking() throws {
        // Query 0 ranks passages 2, 0, 1 (relevant: 0, rank 2); query 1 ranks 1 first (relevant: 1, rank 1).
        let passages: [Float] = [0.5, 0, 0, 1, 1, 0]
        let queries: [Float] = [1, 0, 0, 1]
        let metrics = try RetrievalMetrics(queries: queries, passages: passages, dimension: 2, relevant: [[0], [1]])
        #expect(metrics.mrrAt10 == 0.75 && metrics.recallAt1 == 0.5 && metrics.recallAt10 == 1 && metrics.recallAt100 == 1)
        #expect(throws: ModelError.self) { try RetrievalMetrics(queries: queries, passages: passages, dimension: 2, relevant: [[0]]) }
    }
}
