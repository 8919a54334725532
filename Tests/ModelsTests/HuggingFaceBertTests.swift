import Foundation
import Models
import Tensor
import Testing
import Text

/// A tiny random BERT saved by transformers 4.30.2 (tools/retromae_fixtures.py) and the embeddings
/// and MLM loss transformers computed with it.
@Suite struct HuggingFaceBertTests {
    struct Expected: Decodable {
        let texts: [String]
        let input_ids: [[Int32]]
        let cls: [Float]
        let mean: [Float]
        let cls_normalized: [Float]
        let mlm_input_ids: [Int]
        let mlm_labels: [Int]
        let mlm_loss: Float
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let directory = fixtures.appendingPathComponent("tiny-bert")

    static func load() throws -> (RetroMAEModel, BertTokenizer, Expected) {
        var rng = RandomGenerator(seed: 0)
        let model = try RetroMAEModel(directory: directory, rng: &rng)
        let tokenizer = try BertTokenizer(vocabFile: directory.appendingPathComponent("vocab.txt"))
        let expected = try JSONDecoder().decode(Expected.self,
                                                from: Data(contentsOf: fixtures.appendingPathComponent("tiny-bert-expected.json")))
        return (model, tokenizer, expected)
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: [(Pooling.cls, false), (Pooling.mean, false), (Pooling.cls, true)])
    func embeddingsMatchTransformers(pooling: Pooling, normalize: Bool) throws {
        let (model, tokenizer, expected) = try Self.load()
        #expect(expected.texts.map { tokenizer.encode($0).ids } == expected.input_ids)
        let encoder = try SentenceEncoder(encoder: model.encoder, tokenizer: tokenizer, pooling: pooling, normalize: normalize)
        let reference = switch (pooling, normalize) {
        case (.cls, false): expected.cls
        case (.mean, _): expected.mean
        case (.cls, true): expected.cls_normalized
        }
        #expect(Self.maxDifference(try encoder.embed(expected.texts), reference) < 1e-4)
    }

    @Test func maskedLanguageModelLossMatchesTransformers() throws {
        let (model, _, expected) = try Self.load()
        let length = expected.mlm_input_ids.count
        var context = ForwardContext.inference
        let states = try model.encoder(expected.mlm_input_ids, batch: 1, context: &context)
        let logits = model.head(states.reshaped([length, model.config.hidden]))
        #expect(abs(try crossEntropy(logits, targets: expected.mlm_labels).item - expected.mlm_loss) < 1e-4)
    }

    @Test func aMissingTensorIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("retromae-partial-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: Self.directory.appendingPathComponent("config.json"),
                                         to: directory.appendingPathComponent("config.json"))
        let (tensors, _) = try SafeTensors.read(Self.directory.appendingPathComponent("model.safetensors"))
        try SafeTensors.write(tensors.filter { !$0.key.contains("layer.1.output.dense") }.map { ($0.key, $0.value) },
                              to: directory.appendingPathComponent("model.safetensors"))
        var rng = RandomGenerator(seed: 0)
        #expect { try RetroMAEModel(directory: directory, rng: &rng) } throws: {
            "\($0)".contains("'bert.encoder.layer.1.output.dense.weight' is missing")
        }
    }
}
