import Foundation
import SystemErrors
import Tensor

/// A model file or input the models cannot use, naming the file (or input) and the reason.
public struct ModelError: CodedError, Equatable {
    /// What kind of failure, to match without parsing the message.
    public enum Code: String, Sendable {
        /// A `config.json` the models cannot build from.
        case invalidConfig
        /// A model directory without a file it needs (config.json, the weights), or one that cannot be read.
        case missingFile
        /// Weights that do not fit the model: a tensor missing, mis-shaped, or a file too small.
        case invalidWeights
        /// Token ids, labels, lengths or batch arrays outside what the model takes.
        case invalidInput
        /// A model directory or file that cannot be written.
        case writeFailed
    }

    public let code: Code
    /// The file or input at fault.
    public let path: String
    public let reason: String

    public init(_ code: Code, _ path: String, _ reason: String) { (self.code, self.path, self.reason) = (code, path, reason) }

    /// An engine error, its message kept: weights problems for file errors, input problems otherwise.
    public init(_ error: TensorError) {
        switch error.code {
        case .indexOutOfRange: code = .invalidInput
        case .invalidConfiguration, .linearAlgebra: code = .invalidConfig
        case .unreadableFile, .invalidFile, .missingTensor, .shapeMismatch: code = .invalidWeights
        case .unwritableFile: code = .writeFailed
        }
        (path, reason) = (error.path, error.reason)
    }

    /// A model file that is missing or cannot be written is the system's; the rest is the data's.
    public var failure: Failure {
        switch code {
        case .missingFile, .writeFailed: .io
        case .invalidConfig, .invalidWeights, .invalidInput: .data
        }
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
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
            "pad_token_id": 0, "tie_word_embeddings": tieWordEmbeddings,
        ]
        if case .monarch(let nblocks) = feedForward { (object["ffn"], object["nblocks"]) = ("monarch", nblocks) }
        do {
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
        } catch {
            throw ModelError(.writeFailed, url.path, "cannot write config: \(SystemErrorText.words(error))")
        }
    }
}

extension BertModel {
    /// Checks ids and length before any tensor op sees them (ops treat bad indices as bugs).
    public func validate(ids: [Int], batch: Int, length: Int, source: String) throws(ModelError) {
        guard ids.count == batch * length else {
            throw ModelError(.invalidInput, source, "\(ids.count) ids for a batch of \(batch) x \(length)")
        }
        guard length <= config.maxPositions else {
            throw ModelError(.invalidInput, source, "sequence length \(length) exceeds max_position_embeddings \(config.maxPositions)")
        }
        if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw ModelError(.invalidInput, source, "token id \(ids[bad]) in row \(bad / max(length, 1)) is outside the vocabulary of \(config.vocabularySize)")
        }
    }

    /// Hidden states `[B, L, hidden]` for row-major ids with 1/0 validity flags (the collator's layout).
    func callAsFunction(_ ids: [Int], valid: [UInt8], batch: Int, length: Int, context: inout ForwardContext) throws -> Tensor {
        let rows = (0..<batch).map { b in (0..<length).map { valid[b * length + $0] != 0 } }
        return try self(ids, valid: rows, batch: batch, context: &context)
    }
}

