import Foundation

/// Sizes of a BERT encoder, as in a Hugging Face `config.json`.
public struct BertConfig: Sendable, Equatable {
    public var vocabularySize = 30522
    public var hidden = 768
    public var layers = 12
    public var heads = 12
    public var intermediate = 3072
    public var maxPositions = 512
    public var typeVocabularySize = 2
    public var dropout: Float = 0.1
    public var layerNormEps: Float = 1e-12
    /// Dense or Monarch feed-forward maps.
    public var feedForward: LinearKind = .dense

    public init() {}

    /// Reads the fields BERT needs from a Hugging Face `config.json` (absent keys keep the
    /// defaults of bert-base); only the exact-erf "gelu" activation is supported.
    public init(huggingFaceConfig file: URL) throws(ConfigError) {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) } catch {
            throw ConfigError(description: "\(file.path): cannot read a JSON object (\(error.localizedDescription))")
        }
        guard let json = object as? [String: Any] else { throw ConfigError(description: "\(file.path): not a JSON object") }
        func int(_ key: String, _ fallback: Int) throws(ConfigError) -> Int {
            guard let value = json[key] else { return fallback }
            guard let number = value as? Int, number > 0 else {
                throw ConfigError(description: "\(file.path): '\(key)' must be a positive integer")
            }
            return number
        }
        vocabularySize = try int("vocab_size", vocabularySize)
        hidden = try int("hidden_size", hidden)
        layers = try int("num_hidden_layers", layers)
        heads = try int("num_attention_heads", heads)
        intermediate = try int("intermediate_size", intermediate)
        maxPositions = try int("max_position_embeddings", maxPositions)
        typeVocabularySize = try int("type_vocab_size", typeVocabularySize)
        if let p = json["hidden_dropout_prob"] as? Double { dropout = Float(p) }
        if let eps = json["layer_norm_eps"] as? Double { layerNormEps = Float(eps) }
        if let activation = json["hidden_act"] as? String, activation != "gelu" {
            throw ConfigError(description: "\(file.path): hidden_act '\(activation)' is not supported (only 'gelu')")
        }
        guard hidden % heads == 0 else {
            throw ConfigError(description: "\(file.path): hidden_size \(hidden) is not divisible by \(heads) heads")
        }
    }
}

/// Word + position + token-type embeddings, LayerNorm and dropout, named as Hugging Face's
/// `BertEmbeddings`. Initialised N(0, 0.02) as BERT does.
public struct BertEmbeddings: Layer {
    public let words: Embedding, positions: Embedding, tokenTypes: Embedding
    public let norm: LayerNorm
    public let dropout: Float

    public init(_ config: BertConfig, rng: inout RandomGenerator) {
        func table(_ count: Int) -> Embedding {
            Embedding(weight: .normal([count, config.hidden], std: 0.02, rng: &rng, requiresGrad: true))
        }
        words = table(config.vocabularySize)
        positions = table(config.maxPositions)
        tokenTypes = table(config.typeVocabularySize)
        norm = LayerNorm(config.hidden, eps: config.layerNormEps)
        dropout = config.dropout
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("word_embeddings", words) + prefixed("position_embeddings", positions)
            + prefixed("token_type_embeddings", tokenTypes) + prefixed("LayerNorm", norm)
    }

    /// `tokens` (and `tokenTypes`, zeros when nil) laid out as `[batch, length]`; a token id,
    /// type id or length the tables cannot hold is an `IndexError`.
    public func callAsFunction(_ tokens: [Int], tokenTypes types: [Int]? = nil, batch: Int,
                               context: inout ForwardContext) throws(IndexError) -> Tensor {
        let length = tokens.count / max(batch, 1)
        precondition(batch * length == tokens.count && (types == nil || types?.count == tokens.count),
                     "BertEmbeddings: \(tokens.count) tokens (\(types?.count ?? 0) types) as \(batch) rows")
        guard length <= positions.weight.shape[0] else {
            throw IndexError(description: "BertEmbeddings: sequence length \(length) exceeds the \(positions.weight.shape[0]) positions")
        }
        let x = try words(tokens, shape: [batch, length]) + positions(Array(0..<length), shape: [length])
            + tokenTypes(types ?? [Int](repeating: 0, count: tokens.count), shape: [batch, length])
        return norm(x).dropout(dropout, training: context.training, rng: &context.rng)
    }
}

/// A BERT encoder (embeddings and layers, no pooler) whose parameter names match Hugging Face's
/// `BertModel`: load `bert-base-uncased` with `load(tensors, prefix: "bert.", ...)`.
public struct BertModel: Layer {
    public let config: BertConfig
    public let embeddings: BertEmbeddings
    public let layers: [BertLayer]

    /// Weights initialised as BERT does: N(0, 0.02) for embeddings and linear weights, zero
    /// biases, LayerNorm ones/zeros (Monarch factors keep their own per-block init).
    public init(_ config: BertConfig, rng: inout RandomGenerator) {
        self.config = config
        embeddings = BertEmbeddings(config, rng: &rng)
        layers = (0..<config.layers).map { _ in
            let layer = BertLayer(hidden: config.hidden, heads: config.heads, intermediate: config.intermediate,
                                  dropout: config.dropout, eps: config.layerNormEps, ffn: config.feedForward, rng: &rng)
            initializeLikeBert(layer.namedParameters, rng: &rng)
            return layer
        }
    }

    private init(config: BertConfig, embeddings: BertEmbeddings, layers: [BertLayer]) {
        (self.config, self.embeddings, self.layers) = (config, embeddings, layers)
    }

    /// This encoder with every layer's Monarch feed-forward maps multiplied out into dense ones,
    /// sharing all other parameters ("reverse sparsification"; see `BertLayer.densifyingFeedForward`).
    public func densifyingFeedForward() -> BertModel {
        var dense = config
        dense.feedForward = .dense
        return BertModel(config: dense, embeddings: embeddings, layers: layers.map { $0.densifyingFeedForward() })
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embeddings", embeddings)
            + layers.enumerated().flatMap { prefixed("encoder.layer.\($0.offset)", $0.element) }
    }

    /// Hidden states `[batch, length, hidden]` for `tokens` (`[batch, length]` row-major);
    /// `valid` marks real tokens (false = padding, masked out of attention).
    public func callAsFunction(_ tokens: [Int], tokenTypes: [Int]? = nil, valid: [[Bool]]? = nil, batch: Int,
                               context: inout ForwardContext) throws(IndexError) -> Tensor {
        var x = try embeddings(tokens, tokenTypes: tokenTypes, batch: batch, context: &context)
        let mask = valid.map { MultiHeadAttention.paddingMask($0) }
        for layer in layers { x = layer(x, mask: mask, context: &context) }
        return x
    }
}

/// BERT's masked-language-model head, named as Hugging Face's `BertOnlyMLMHead` (`predictions.*`):
/// dense + GELU + LayerNorm, then scores against the word embeddings it shares with the encoder
/// (tied weights: the table gets gradient from both uses) plus a per-word bias.
public struct BertMaskedLMHead: Layer {
    public let transform: Linear
    public let norm: LayerNorm
    public let bias: Tensor
    /// The encoder's word-embedding table `[vocabulary, hidden]`; listed by the encoder, not here.
    public let wordEmbeddings: Tensor

    public init(_ config: BertConfig, tiedTo embeddings: BertEmbeddings, rng: inout RandomGenerator) {
        transform = Linear(weight: .normal([config.hidden, config.hidden], std: 0.02, rng: &rng, requiresGrad: true),
                           bias: .zeros([config.hidden], requiresGrad: true))
        norm = LayerNorm(config.hidden, eps: config.layerNormEps)
        bias = .zeros([config.vocabularySize], requiresGrad: true)
        wordEmbeddings = embeddings.words.weight
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("predictions.transform.dense", transform) + prefixed("predictions.transform.LayerNorm", norm)
            + [("predictions.bias", bias)]
    }

    /// Vocabulary scores `[..., vocabulary]` for hidden states `[..., hidden]` (pass only the
    /// masked positions to save the large product).
    public func callAsFunction(_ hidden: Tensor) -> Tensor {
        matmul(norm(transform(hidden).gelu()), wordEmbeddings, transposeB: true) + bias
    }
}

/// Re-draws matrices as N(0, 0.02) and zeroes biases, as BERT initialises its layers (and any
/// layer a BERT-based model adds); LayerNorm and Monarch factors keep their own initialisation.
/// It keeps MLM logits near zero at init, so losses start near ln(vocab).
public func initializeLikeBert(_ parameters: [(name: String, tensor: Tensor)], rng: inout RandomGenerator) {
    for (name, tensor) in parameters where !name.contains("LayerNorm") {
        if name.hasSuffix(".bias") {
            tensor.assign(.zeros(tensor.shape))
        } else if tensor.rank == 2 && name.hasSuffix(".weight") {
            tensor.assign(.normal(tensor.shape, std: 0.02, rng: &rng))
        }
    }
}
