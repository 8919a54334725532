import Foundation
import Testing
import Models
@testable import Tensor
import TestSupport

/// Loading a Hugging Face BERT checkpoint (tools/hf_bert_fixture.py: transformers 4.30.2
/// BertForMaskedLM, Hub file layout) by its usual names.
struct BertTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf_bert")

    @Test func configFromHuggingFaceJSON() throws {
        let config = try BertConfig(configFile: Self.folder.appendingPathComponent("config.json"))
        #expect(config.vocabularySize == 64 && config.hidden == 32 && config.layers == 2 && config.heads == 4)
        #expect(config.intermediate == 64 && config.maxPositions == 16 && config.layerNormEps == 1e-12)
        #expect(throws: ModelError.self) {
            try BertConfig(configFile: Self.folder.appendingPathComponent("model.safetensors"))
        }
    }

    @Test func encoderMatchesTransformers() throws {
        let config = try BertConfig(configFile: Self.folder.appendingPathComponent("config.json"))
        var rng = RandomGenerator(seed: 1)
        let model = BertModel(config, rng: &rng)
        let weights = Self.folder.appendingPathComponent("model.safetensors")
        let (tensors, _) = try SafeTensors.read(weights)
        #expect(tensors["bert.embeddings.position_ids"]?.scalars.last == 15)  // an I64 buffer, read as Float
        try model.load(tensors, prefix: "bert.", from: weights)
        let (expected, _) = try SafeTensors.read(Self.folder.appendingPathComponent("expected.safetensors"))
        let ids = try #require(expected["input_ids"]).scalars.map { Int($0) }
        let types = try #require(expected["token_type_ids"]).scalars.map { Int($0) }
        let valid = try #require(expected["attention_mask"]).scalars.map { $0 == 1 }
        var context = ForwardContext.inference
        let hidden = try model(ids, tokenTypes: types, valid: [Array(valid[0..<7]), Array(valid[7..<14])], batch: 2,
                           context: &context)
        #expect(relativeError(hidden, try #require(expected["hidden"])) < 1e-4)
        let head = BertMaskedLMHead(config, tiedTo: model.embeddings, rng: &rng)
        try head.load(tensors, prefix: "cls.", from: weights)
        #expect(relativeError(head(hidden), try #require(expected["logits"])) < 1e-4)
        #expect(throws: ModelError.self) { try model(Array(repeating: 1, count: 17), batch: 1, context: &context) }
        #expect(throws: ModelError.self) { try model([1, 64], batch: 1, context: &context) }
    }

    @Test func tiedWordEmbeddingsGetGradientFromBothUses() throws {
        var rng = RandomGenerator(seed: 4)
        let model = BertModel(.tiny, rng: &rng)
        let head = BertMaskedLMHead(.tiny, tiedTo: model.embeddings, rng: &rng)
        #expect(head.tied && head.outputEmbeddings === model.embeddings.words.weight)
        var context = ForwardContext.inference
        let logits = head(try model([3, 7, 9], batch: 1, context: &context)).reshaped([3, 50])
        try crossEntropy(logits, targets: [-100, 4, -100]).backward()
        // Rows never looked up still get gradient through the output projection.
        let grad = try #require(model.embeddings.words.weight.grad)
        #expect(grad.scalars[(20 * 16)..<(21 * 16)].contains { $0 != 0 })
        try expectGradientsMatch([head.transform.weight], samples: 8) { _ in try head(model([3, 7, 9], batch: 1, context: &context)) }
    }

    @Test func legacyGammaBetaNamesLoad() throws {
        var rng = RandomGenerator(seed: 2)
        let embeddings = BertEmbeddings(BertConfig.tiny, rng: &rng)
        var tensors = Dictionary(uniqueKeysWithValues: embeddings.namedParameters.map { ("bert.embeddings." + $0.name, $0.tensor.copy()) })
        tensors["bert.embeddings.LayerNorm.gamma"] = tensors.removeValue(forKey: "bert.embeddings.LayerNorm.weight")?.copy()
        tensors["bert.embeddings.LayerNorm.gamma"]?.storage.pointer[0] = 5
        tensors["bert.embeddings.LayerNorm.beta"] = tensors.removeValue(forKey: "bert.embeddings.LayerNorm.bias")
        try embeddings.load(tensors, prefix: "bert.embeddings.", from: URL(fileURLWithPath: "legacy.safetensors"))
        #expect(embeddings.norm.weight.scalars[0] == 5)
    }

    @Test func exportReloadsUnderTheSameNames() throws {
        var rng = RandomGenerator(seed: 3)
        let model = BertModel(.tiny, rng: &rng)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bert-export-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try SafeTensors.write(model.namedParameters.map { ("bert." + $0.name, $0.tensor) }, to: file)
        let reloaded = BertModel(.tiny, rng: &rng)
        try reloaded.load(try SafeTensors.read(file).tensors, prefix: "bert.", from: file)
        #expect(zip(model.parameters, reloaded.parameters).allSatisfy { $0.scalars == $1.scalars })
        #expect(model.namedParameters.first?.name == "embeddings.word_embeddings.weight")
        #expect(model.namedParameters.last?.name == "encoder.layer.1.output.LayerNorm.bias")
    }

    @Test func bertLayerMatchesPyTorch() throws {
        let (reference, metadata) = try Self.fixture("bert_layer.safetensors")
        let hidden = Int(metadata["hidden"] ?? "") ?? 0, heads = Int(metadata["heads"] ?? "") ?? 0
        let intermediate = Int(metadata["intermediate"] ?? "") ?? 0
        var rng = RandomGenerator(seed: 1)
        let layer = BertLayer(hidden: hidden, heads: heads, intermediate: intermediate, rng: &rng)
        try layer.load(reference, from: URL(fileURLWithPath: "bert_layer.safetensors"))
        let input = try #require(reference["input"]), mask = try #require(reference["mask"])
        let probe = try #require(reference["probe"])
        input.requiresGrad = true
        var context = ForwardContext(training: false, rng: rng)
        let output = layer(input, mask: mask, context: &context)
        #expect(relativeError(output, try #require(reference["output"])) < 1e-4)
        (output * probe).sum().backward()
        #expect(relativeError(try #require(input.grad), try #require(reference["grad.input"])) < 1e-4)
        for (name, parameter) in layer.namedParameters {
            // The key bias's gradient vanishes: it shifts a row's scores equally, which softmax cancels.
            expectMatchesReference(try #require(parameter.grad), try #require(reference["grad." + name]), "grad." + name)
        }
    }


    @Test func bertLayerParameterNamesAndCount() {
        var rng = RandomGenerator(seed: 3)
        let layer = BertLayer(hidden: 256, heads: 4, intermediate: 1024, rng: &rng)
        // 4 attention projections, FFN in and out, 2 LayerNorms.
        #expect(layer.parameterCount == 4 * (256 * 256 + 256) + (256 * 1024 + 1024) + (1024 * 256 + 256) + 2 * 2 * 256)
        #expect(layer.namedParameters.map(\.name).prefix(3) ==
                ["attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight"])
        #expect(layer.namedParameters.last?.name == "output.LayerNorm.bias")
        let monarch = BertLayer(hidden: 256, heads: 4, intermediate: 1024, ffn: .monarch(nblocks: 4), rng: &rng)
        #expect(monarch.namedParameters.contains { $0.name == "intermediate.dense.blkdiag1" })
    }


    @Test func reverseSparsificationKeepsTheFunction() throws {
        var rng = RandomGenerator(seed: 49)
        let layer = BertLayer(hidden: 16, heads: 2, intermediate: 32, dropout: 0, ffn: try LinearKind(config: "monarch", nblocks: 4), rng: &rng)
        let dense = layer.densifyingFeedForward()
        #expect(dense.intermediate is Linear && dense.attention.query.weight === layer.attention.query.weight)
        let x = randomTensor([2, 3, 16], seed: 50)
        var context = ForwardContext.inference
        #expect(relativeError(dense(x, mask: nil, context: &context), layer(x, mask: nil, context: &context)) < 1e-5)
        #expect(throws: TensorError.self) { try LinearKind(config: "butterfly") }
        #expect(try LinearKind(config: "dense") == .dense)
    }


    /// A committed fixture made by tools/torch_fixtures.py.
    static func fixture(_ name: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try SafeTensors.read(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name))
    }
}

extension BertConfig {
    static var tiny: BertConfig {
        var config = BertConfig()
        (config.vocabularySize, config.hidden, config.layers, config.heads, config.intermediate, config.maxPositions) =
            (50, 16, 2, 2, 32, 12)
        return config
    }
}
