import Foundation
import Tensor

/// A model file or input the models cannot use, naming the file (or input) and the reason.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String

    public init(_ source: String, _ reason: String) { description = "\(source): \(reason)" }
}

/// The shape of a BERT encoder, as Hugging Face's `config.json` describes it.
public struct BertConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    /// Dropout on hidden states and attention probabilities (BERT uses 0.1 for both).
    public var dropout: Float
    /// Dense or Monarch feed-forward maps.
    public var feedForward: LinearKind

    public init(vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int,
                maxPositions: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12,
                dropout: Float = 0.1, feedForward: LinearKind = .dense) {
        (self.vocabSize, self.hiddenSize, self.layers, self.heads) = (vocabSize, hiddenSize, layers, heads)
        (self.intermediateSize, self.maxPositions, self.typeVocabSize) = (intermediateSize, maxPositions, typeVocabSize)
        (self.layerNormEps, self.dropout, self.feedForward) = (layerNormEps, dropout, feedForward)
    }

    /// Checks the sizes fit together; `source` names where they came from in the error.
    public func validate(source: String) throws(ModelError) {
        for (name, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", layers),
                              ("num_attention_heads", heads), ("intermediate_size", intermediateSize),
                              ("max_position_embeddings", maxPositions), ("type_vocab_size", typeVocabSize)] where value <= 0 {
            throw ModelError(source, "\(name) must be positive, got \(value)")
        }
        guard hiddenSize % heads == 0 else {
            throw ModelError(source, "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(heads)")
        }
        guard dropout >= 0 && dropout < 1 else { throw ModelError(source, "dropout must be in [0, 1), got \(dropout)") }
    }

    /// Reads a Hugging Face `config.json` (a BERT model; only the exact-GELU activation is supported).
    public init(configJSON url: URL) throws(ModelError) {
        let source = url.path
        let object: [String: Any]
        do {
            let data = try Data(contentsOf: url)
            guard let parsed = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelError(source, "not a JSON object")
            }
            object = parsed
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError(source, "cannot read JSON: \(error.localizedDescription)")
        }
        func integer(_ key: String, default value: Int? = nil) throws(ModelError) -> Int {
            if let number = object[key] as? NSNumber { return number.intValue }
            if let value { return value }
            throw ModelError(source, "'\(key)' is missing or not a number")
        }
        func real(_ key: String, default value: Float) -> Float { (object[key] as? NSNumber)?.floatValue ?? value }
        if let activation = object["hidden_act"] as? String, activation != "gelu" {
            throw ModelError(source, "hidden_act '\(activation)' is not supported (only 'gelu')")
        }
        if let type = object["position_embedding_type"] as? String, type != "absolute" {
            throw ModelError(source, "position_embedding_type '\(type)' is not supported (only 'absolute')")
        }
        self.init(vocabSize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
                  layers: try integer("num_hidden_layers"), heads: try integer("num_attention_heads"),
                  intermediateSize: try integer("intermediate_size"),
                  maxPositions: try integer("max_position_embeddings", default: 512),
                  typeVocabSize: try integer("type_vocab_size", default: 2),
                  layerNormEps: real("layer_norm_eps", default: 1e-12),
                  dropout: real("hidden_dropout_prob", default: 0.1))
        // Our own key: Hugging Face BERT has only dense feed-forward maps.
        if let ffn = object["ffn"] as? String {
            do throws(ConfigError) {
                feedForward = try LinearKind(config: ffn, nblocks: (object["nblocks"] as? NSNumber)?.intValue)
            } catch {
                throw ModelError(source, "'ffn': \(error.description)")
            }
        }
        try validate(source: source)
    }

    /// The fields of a Hugging Face `config.json` for this encoder (so exported models load there).
    public var configJSON: [String: Any] {
        ["architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": vocabSize, "hidden_size": hiddenSize,
         "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": intermediateSize,
         "max_position_embeddings": maxPositions, "type_vocab_size": typeVocabSize, "layer_norm_eps": layerNormEps,
         "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout, "hidden_act": "gelu",
         "position_embedding_type": "absolute", "pad_token_id": 0]
            .merging(feedForwardJSON) { $1 }
    }

    private var feedForwardJSON: [String: Any] {
        switch feedForward {
        case .dense: [:]
        case .monarch(let nblocks): ["ffn": "monarch", "nblocks": nblocks]
        }
    }

    /// Writes `configJSON` to `url`.
    public func writeConfigJSON(to url: URL) throws(ModelError) {
        do {
            let data = try JSONSerialization.data(withJSONObject: configJSON, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: url)
        } catch {
            throw ModelError(url.path, "cannot write config: \(error.localizedDescription)")
        }
    }
}
