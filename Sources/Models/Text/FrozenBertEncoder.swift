import Foundation
import Tensor
import Text

/// A pretrained BERT-family checkpoint as a frozen caption encoder, mean-pooled over real tokens
/// (Spoken Moments keeps its language model frozen). The one place the encoders use `BertModel`.
public struct FrozenBertEncoder {
    public let sentences: SentenceEncoder

    /// Width of the embedding: the checkpoint's hidden size.
    public var outputWidth: Int { sentences.encoder.config.hidden }

    /// A Hugging Face directory: `config.json`, `model.safetensors` and `vocab.txt`.
    public init(directory: URL, maxLength: Int? = nil) throws(ModelError) {
        var rng = RandomGenerator(seed: 0)
        let model = try RetroMAEModel(directory: directory, rng: &rng)
        let tokenizer: BertTokenizer
        do { tokenizer = try BertTokenizer(vocabFile: directory.appendingPathComponent("vocab.txt")) } catch {
            throw ModelError(.missingFile, "", error.description)  // names the vocab.txt it tried
        }
        for parameter in model.encoder.parameters { parameter.requiresGrad = false }
        sentences = try SentenceEncoder(encoder: model.encoder, tokenizer: tokenizer, pooling: .mean, maxLength: maxLength)
    }

    /// `[captions.count, outputWidth]`, computed without recording gradients.
    public func callAsFunction(_ captions: [String]) throws -> Tensor {
        Tensor(shape: [captions.count, outputWidth], scalars: try sentences.embed(captions))
    }
}
