import Foundation
import Models
import Tensor
import Testing
import Text
import TestSupport

@Suite struct RetroMAEModelTests {
    @Test func lossesStartNearLogVocabulary() throws {
        var rng = RandomGenerator(seed: 1)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 7)
        var context = ForwardContext.inference
        let output = try model(batch, context: &context)
        let expected = Float(log(Double(TinyCorpus.tokenizer.vocabulary.count)))
        #expect(abs(output.encoderLoss.item - expected) < 0.15 * expected)
        #expect(abs(output.decoderLoss.item - expected) < 0.15 * expected)
        #expect(abs(output.loss.item - output.encoderLoss.item - output.decoderLoss.item) < 1e-5)
        #expect(output.embeddings.shape == [4, 32])
    }

    /// Only decoder row 2 is labelled, so the decoder loss is a function of what row 2 attends to:
    /// changing a content token hidden from row 2 (or row 2's own token) must not move it, changing
    /// a visible one must.
    @Test func decoderRowSeesOnlyWhatItsMaskAllows() throws {
        var rng = RandomGenerator(seed: 2)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        var batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 3)
        let (length, row) = (batch.length, 2)
        batch.decoderLabels = batch.decoderLabels.indices.map { $0 == row ? batch.decoderLabels[$0] : ignoreLabel }
        let maskRow = Array(batch.decoderAttentionMask[row * length..<(row + 1) * length])
        #expect(maskRow[row] == 0 && maskRow[0] == 1)
        let realLength = TinyCorpus.blocks[0].count + 2
        let hidden = (1..<realLength).filter { maskRow[$0] == 0 }
        let visible = (1..<realLength).filter { maskRow[$0] == 1 }
        #expect(hidden.contains(row) && !visible.isEmpty && hidden.count > 1)

        func decoderLoss(replacing position: Int?) throws -> Float {
            var changed = batch
            if let position { changed.decoderInputIds[position] = changed.decoderInputIds[position] == 5 ? 6 : 5 }
            var context = ForwardContext.inference
            return try model(changed, context: &context).decoderLoss.item
        }
        let base = try decoderLoss(replacing: nil)
        for position in hidden { #expect(try decoderLoss(replacing: position) == base) }
        for position in visible { #expect(try decoderLoss(replacing: position) != base) }
    }

    @Test func tinyModelOverfitsAHandfulOfSentencesAndItsDecoderUsesTheEmbedding() throws {
        var rng = RandomGenerator(seed: 3)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        var optimizer = Adam(parameters: model.namedParameters, weightDecay: 0)
        let collator = TinyCorpus.collator()
        var context = ForwardContext(training: true, rng: rng)
        var first: Float = 0, last: RetroMAEOutput?
        for step in 0..<250 {
            let output = try model(collator.collate(TinyCorpus.blocks, seed: UInt64(step)), context: &context)
            if step == 0 { first = output.loss.item }
            model.zeroGradients()
            output.loss.backward()
            optimizer.step(learningRate: 3e-3)
            last = output
        }
        let final = try #require(last)
        #expect(final.loss.item < 0.1 * first)
        #expect(final.decoderAccuracy.rate > 0.9)

        // Held-out masks: the decoder rebuilds each sentence from its own embedding, not from another's.
        let batch = try collator.collate(TinyCorpus.blocks, seed: 999)
        var evaluation = ForwardContext.inference
        let own = try model(batch, context: &evaluation)
        let shuffled = try model(batch, context: &evaluation, embeddingOrder: [1, 2, 3, 0])
        #expect(own.decoderAccuracy.rate > 0.8)
        #expect(shuffled.decoderLoss.item > own.decoderLoss.item + 1)
    }

    @Test func savedModelReloadsWithTheSameLosses() throws {
        var rng = RandomGenerator(seed: 4)
        let model = RetroMAEModel(TinyCorpus.config(feedForward: .monarch(nblocks: 4)), rng: &rng)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retromae-save-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try model.save(to: directory)
        var other = RandomGenerator(seed: 5)
        let loaded = try RetroMAEModel(directory: directory, rng: &other)
        #expect(loaded.config == model.config)
        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 1)
        var context = ForwardContext.inference
        #expect(try loaded(batch, context: &context).loss.item == model(batch, context: &context).loss.item)
    }

    /// An untied head (`tie_word_embeddings: false`) keeps its own table, under transformers' name.
    @Test func anUntiedHeadIsSavedAndReloadedWithItsOwnTable() throws {
        var config = TinyCorpus.config()
        config.tieWordEmbeddings = false
        var rng = RandomGenerator(seed: 4)
        let model = RetroMAEModel(config, rng: &rng)
        #expect(model.namedParameters.contains { $0.name == "cls.predictions.decoder.weight" })
        #expect(model.head.outputEmbeddings.scalars != model.encoder.embeddings.words.weight.scalars)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retromae-untied-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try model.save(to: directory)
        var other = RandomGenerator(seed: 5)
        let loaded = try RetroMAEModel(directory: directory, rng: &other)
        #expect(loaded.config.tieWordEmbeddings == false)
        #expect(loaded.head.outputEmbeddings.scalars == model.head.outputEmbeddings.scalars)
        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 1)
        var context = ForwardContext.inference
        #expect(try loaded(batch, context: &context).loss.item == model(batch, context: &context).loss.item)
    }

    @Test func badInputIsAnErrorNamingTheProblem() throws {
        var rng = RandomGenerator(seed: 6)
        let model = RetroMAEModel(TinyCorpus.config(), rng: &rng)
        var batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 1)
        batch.encoderInputIds[3] = 10_000
        var context = ForwardContext.inference
        #expect { try model(batch, context: &context) } throws: { "\($0)".contains("token id 10000 in row 0") }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retromae-bad-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(#"{"vocab_size": 10, "hidden_size": 30, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8}"#.utf8)
            .write(to: directory.appendingPathComponent("config.json"))
        #expect { try RetroMAEModel(directory: directory, rng: &rng) } throws: { "\($0)".contains("not divisible") }
    }

    @Test func densifiedMonarchModelComputesTheSameLosses() throws {
        var rng = RandomGenerator(seed: 7)
        var model = RetroMAEModel(TinyCorpus.config(feedForward: .monarch(nblocks: 2)), rng: &rng)
        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 2)
        var context = ForwardContext.inference
        let before = try model(batch, context: &context).loss.item
        model.densifyFeedForward()
        #expect(model.namedParameters.allSatisfy { !$0.name.contains("blkdiag") })
        #expect(abs(try model(batch, context: &context).loss.item - before) < 1e-4)
    }
}
