import Foundation
import Tensor

/// A model file or input the models cannot use, naming the file (or input) and the reason.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String

    public init(_ source: String, _ reason: String) { description = "\(source): \(reason)" }

    /// An error whose message already names its source (the engine's errors do).
    public init(_ error: some CustomStringConvertible) { description = error.description }
}

extension BertConfig {
    /// Writes a `config.json` that `init(configFile:)` and transformers read back.
    public func writeModelConfig(to url: URL) throws(ModelError) {
        var object: [String: Any] = [
            "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": vocabularySize, "hidden_size": hidden,
            "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": intermediate,
            "max_position_embeddings": maxPositions, "type_vocab_size": typeVocabularySize,
            "layer_norm_eps": Double(layerNormEps), "hidden_dropout_prob": Double(dropout),
            "attention_probs_dropout_prob": Double(dropout), "hidden_act": "gelu", "position_embedding_type": "absolute",
            "pad_token_id": 0,
        ]
        if case .monarch(let nblocks) = feedForward { (object["ffn"], object["nblocks"]) = ("monarch", nblocks) }
        do {
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
        } catch {
            throw ModelError(url.path, "cannot write config: \(error.localizedDescription)")
        }
    }
}

extension BertModel {
    /// Checks ids and length before any tensor op sees them (ops treat bad indices as bugs).
    public func validate(ids: [Int], batch: Int, length: Int, source: String) throws(ModelError) {
        guard ids.count == batch * length else {
            throw ModelError(source, "\(ids.count) ids for a batch of \(batch) x \(length)")
        }
        guard length <= config.maxPositions else {
            throw ModelError(source, "sequence length \(length) exceeds max_position_embeddings \(config.maxPositions)")
        }
        if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw ModelError(source, "token id \(ids[bad]) in row \(bad / max(length, 1)) is outside the vocabulary of \(config.vocabularySize)")
        }
    }

    /// Hidden states `[B, L, hidden]` for row-major ids with 1/0 validity flags (the collator's layout).
    func callAsFunction(_ ids: [Int], valid: [UInt8], batch: Int, length: Int, context: inout ForwardContext) throws -> Tensor {
        let rows = (0..<batch).map { b in (0..<length).map { valid[b * length + $0] != 0 } }
        return try self(ids, valid: rows, batch: batch, context: &context)
    }
}

