import Foundation
import Models
import Tensor
import Testing
import Text
import Training
import TestSupport

@Suite struct RetroMAEPretrainingTests {
    /// `objective: mlm` is the paper's BERT baseline: one update moves the encoder and leaves the
    /// decoder layer exactly as it was, and the run reports no decoder figures.
    @Test func mlmObjectiveTrainsTheEncoderAlone() throws {
        var rng = RandomGenerator(seed: 3)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        var options = TrainerTests.options(steps: 4)
        options.objective = .mlm
        let trainer = Trainer(model: RetroMAETraining(model: model, options: options), options: options.loop)
        let before = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.tensor.scalars) })
        let data = try TrainerTests.dataset()
        let report = try trainer.update([try data.batch(0)])
        #expect(report.terms.map(\.name) == ["mlm"])
        let after = trainer.model.model.namedParameters
        let moved = after.filter { before[$0.name] != $0.tensor.scalars }.map(\.name)
        #expect(moved.contains("bert.embeddings.word_embeddings.weight"))
        #expect(!moved.contains { $0.hasPrefix("c_head.") }, "decoder parameters moved: \(moved.filter { $0.hasPrefix("c_head.") })")

        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 1)
        let names = try trainer.model.model.figures(batches: [batch], tokenizer: TinyCorpus.tokenizer, heldout: nil, decoding: false).map(\.name)
        #expect(names == ["mlm_loss", "mlm_accuracy"])
    }

    /// `head_warmup`: the first share of the updates leaves every encoder parameter as it was (the word
    /// embeddings the head shares among them) while head and decoder learn; then all learn.
    @Test func headWarmupFreezesTheEncoderFirst() throws {
        var rng = RandomGenerator(seed: 5)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        var options = TrainerTests.options(steps: 6)
        options.headWarmup = 1.0 / 3  // 2 of 6 updates
        let trainer = Trainer(model: RetroMAETraining(model: model, options: options), options: options.loop)
        let data = try TrainerTests.dataset()
        func snapshot() -> [String: [Float]] {
            Dictionary(uniqueKeysWithValues: trainer.model.model.namedParameters.map { ($0.name, $0.tensor.scalars) })
        }
        func moved(since before: [String: [Float]]) -> [String] {
            trainer.model.model.namedParameters.filter { before[$0.name] != $0.tensor.scalars }.map(\.name)
        }
        var before = snapshot()
        for position in 0..<2 { _ = try trainer.update([try data.batch(position)]) }
        let warm = moved(since: before)
        #expect(!warm.contains { $0.hasPrefix("bert.") }, "encoder moved during the warm-up: \(warm.filter { $0.hasPrefix("bert.") })")
        #expect(warm.contains("cls.predictions.transform.dense.weight") && warm.contains { $0.hasPrefix("c_head.") })
        before = snapshot()
        _ = try trainer.update([try data.batch(2)])
        #expect(moved(since: before).contains("bert.encoder.layer.0.attention.self.query.weight"))

        // A model read back with its head and decoder needs no warm-up: the encoder learns at once.
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-warmup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try trainer.model.model.save(to: directory)
        let reloaded = try RetroMAEModel(directory: directory, rng: &rng)
        #expect(reloaded.headAndDecoderLoaded)
        let continued = Trainer(model: RetroMAETraining(model: reloaded, options: options), options: options.loop)
        let encoderBefore = reloaded.encoder.namedParameters.map(\.tensor.scalars)
        for position in 0..<2 { _ = try continued.update([try data.batch(position)]) }  // the first at warm-up's rate 0
        let encoderMoved = continued.model.model.encoder.namedParameters.map(\.tensor.scalars) != encoderBefore
        #expect(encoderMoved)
    }

    /// Held-out retrieval is reported for [CLS] and mean pooling, each with the anisotropy of its
    /// passage embeddings: the mean cosine over all pairs of distinct passages, checked here
    /// against the pairs summed one by one.
    @Test func heldOutFiguresGiveBothPoolingsAndTheirAnisotropy() throws {
        var rng = RandomGenerator(seed: 4)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        let sentences = TinyCorpus.sentences
        let heldout = sentences.indices.map { TextPair(query: sentences[$0].split(separator: " ").prefix(3).joined(separator: " "),
                                                       positive: sentences[$0], source: "tiny", line: $0 + 1) }
        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 1)
        let figures = try Dictionary(uniqueKeysWithValues: model.figures(batches: [batch], tokenizer: TinyCorpus.tokenizer, heldout: heldout)
            .map { ($0.name, $0.value) })
        for name in ["mrr_at_10", "recall_at_10", "anisotropy", "mrr_at_10_mean", "recall_at_10_mean", "anisotropy_mean",
                     "decoder_accuracy", "shuffled_decoder_loss"] {
            #expect(figures[name] != nil, "no \(name)")
        }
        for (pooling, name) in [(Pooling.cls, "anisotropy"), (.mean, "anisotropy_mean")] {
            let encoder = try SentenceEncoder(encoder: model.encoder, tokenizer: TinyCorpus.tokenizer, pooling: pooling, normalize: true)
            let rows = try encoder.embed(sentences), hidden = model.config.hidden
            var (sum, pairs) = (0.0, 0)
            for i in sentences.indices {
                for j in sentences.indices where j != i {
                    sum += (0..<hidden).reduce(0.0) { $0 + Double(rows[i * hidden + $1] * rows[j * hidden + $1]) }
                    pairs += 1
                }
            }
            let value = try #require(figures[name])
            #expect(abs(value - sum / Double(pairs)) < 1e-5, "\(name) \(value) against \(sum / Double(pairs))")
            #expect(value > -1 && value < 1)
        }
    }
}
