import Foundation
import SystemErrors
import Tensor

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
    /// Whether the MLM head scores against the input word embeddings (BERT's tying) or against a
    /// table of its own (transformers' `tie_word_embeddings: false`).
    public var tieWordEmbeddings = true

    public init() {}

    /// Reads a `config.json`: the fields BERT needs from a Hugging Face config (absent keys keep
    /// bert-base's values; only the exact-erf "gelu" activation is supported), plus our `ffn` and
    /// `nblocks` keys for Monarch feed-forward maps. Sizes past `BertConfig.limits` are refused
    /// before anything is allocated.
    public init(configFile file: URL) throws(ModelError) {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw ModelError(.missingFile, file.path, "cannot read the model's config: \(SystemErrorText.words(error))")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelError(.invalidConfig, file.path, "not valid JSON: \(SystemErrorText.words(error))")
        }
        guard let json = object as? [String: Any] else { throw ModelError(.invalidConfig, file.path, "not a JSON object") }
        func int(_ key: String, _ fallback: Int) throws(ModelError) -> Int {
            guard let value = json[key] else { return fallback }
            let limit = Self.limits[key] ?? Int(Int32.max)
            guard let number = value as? Int, number > 0, number <= limit else {
                throw ModelError(.invalidConfig, file.path, "'\(key)' must be an integer from 1 to \(limit), not \(value)")
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
        if let p = json["hidden_dropout_prob"] as? Double, p >= 0, p < 1 { dropout = Float(p) }
        if let eps = json["layer_norm_eps"] as? Double, eps > 0, eps < 1 { layerNormEps = Float(eps) }
        if let tie = json["tie_word_embeddings"] as? Bool { tieWordEmbeddings = tie }
        if let activation = json["hidden_act"] as? String, activation != "gelu" {
            throw ModelError(.invalidConfig, file.path, "hidden_act '\(activation)' is not supported (only 'gelu')")
        }
        guard hidden % heads == 0 else {
            throw ModelError(.invalidConfig, file.path, "hidden_size \(hidden) is not divisible by \(heads) heads")
        }
        if let ffn = json["ffn"] as? String {
            do throws(TensorError) {
                feedForward = try LinearKind(config: ffn, nblocks: (json["nblocks"] as? NSNumber)?.intValue)
            } catch {
                throw ModelError(.invalidConfig, file.path, error.description)
            }
        }
    }

    /// The largest value each size in a `config.json` may take: far past any BERT, and small enough
    /// that a hostile file cannot make us allocate without bound.
    public static let limits = [
        "vocab_size": 1 << 21, "hidden_size": 1 << 14, "num_hidden_layers": 256, "num_attention_heads": 256,
        "intermediate_size": 1 << 16, "max_position_embeddings": 1 << 16, "type_vocab_size": 1 << 10,
    ]

    /// Parameters of an encoder of this shape (embeddings, layers), for checking a weights file
    /// holds them before allocating.
    public var parameterCount: Int {
        let embeddings = (vocabularySize + maxPositions + typeVocabularySize + 2) * hidden
        let layer = 4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden
        return embeddings + layers * layer
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
    /// type id or length the tables cannot hold is an `TensorError`.
    public func callAsFunction(_ tokens: [Int], tokenTypes types: [Int]? = nil, batch: Int,
                               context: inout ForwardContext) throws(ModelError) -> Tensor {
        let length = tokens.count / max(batch, 1)
        precondition(batch * length == tokens.count && (types == nil || types?.count == tokens.count),
                     "BertEmbeddings: \(tokens.count) tokens (\(types?.count ?? 0) types) as \(batch) rows")
        guard length <= positions.weight.shape[0] else {
            throw ModelError(.invalidInput, "BertEmbeddings", "sequence length \(length) exceeds the \(positions.weight.shape[0]) positions")
        }
        do throws(TensorError) {
            let x = try words(tokens, shape: [batch, length]) + positions(Array(0..<length), shape: [length])
                + tokenTypes(types ?? [Int](repeating: 0, count: tokens.count), shape: [batch, length])
            return norm(x).dropout(dropout, training: context.training, rng: &context.rng)
        } catch {
            throw ModelError(error)
        }
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
                               context: inout ForwardContext) throws(ModelError) -> Tensor {
        var x = try embeddings(tokens, tokenTypes: tokenTypes, batch: batch, context: &context)
        let mask = valid.map { MultiHeadAttention.paddingMask($0) }
        for layer in layers { x = layer(x, mask: mask, context: &context) }
        return x
    }
}

/// BERT's masked-language-model head, named as Hugging Face's `BertOnlyMLMHead` (`predictions.*`):
/// dense + GELU + LayerNorm, then scores against a word table plus a per-word bias. The table is
/// the encoder's word embeddings (tied: it gets gradient from both uses) or, untied, the head's own
/// `predictions.decoder.weight`.
public struct BertMaskedLMHead: Layer {
    public let transform: Linear
    public let norm: LayerNorm
    public let bias: Tensor
    /// `[vocabulary, hidden]`: the encoder's word embeddings (listed by the encoder) when tied.
    public let outputEmbeddings: Tensor
    public let tied: Bool

    public init(_ config: BertConfig, tiedTo embeddings: BertEmbeddings, rng: inout RandomGenerator) {
        transform = Linear(weight: .normal([config.hidden, config.hidden], std: 0.02, rng: &rng, requiresGrad: true),
                           bias: .zeros([config.hidden], requiresGrad: true))
        norm = LayerNorm(config.hidden, eps: config.layerNormEps)
        bias = .zeros([config.vocabularySize], requiresGrad: true)
        tied = config.tieWordEmbeddings
        outputEmbeddings = tied ? embeddings.words.weight
            : .normal([config.vocabularySize, config.hidden], std: 0.02, rng: &rng, requiresGrad: true)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("predictions.transform.dense", transform) + prefixed("predictions.transform.LayerNorm", norm)
            + [("predictions.bias", bias)] + (tied ? [] : [("predictions.decoder.weight", outputEmbeddings)])
    }

    /// Vocabulary scores `[..., vocabulary]` for hidden states `[..., hidden]` (pass only the
    /// masked positions to save the large product).
    public func callAsFunction(_ hidden: Tensor) -> Tensor {
        matmul(norm(transform(hidden).gelu()), outputEmbeddings, transposeB: true, bias: bias)
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

/// One BERT encoder layer (post-norm): self-attention, residual, LayerNorm; GELU feed-forward,
/// residual, LayerNorm. Parameter names match Hugging Face's `BertLayer`.
public struct BertLayer: Layer {
    public let attention: MultiHeadAttention
    public let attentionNorm: LayerNorm
    public let intermediate: any LinearMap
    public let output: any LinearMap
    public let outputNorm: LayerNorm
    public let dropout: Float

    /// BERT's defaults: dropout 0.1 and LayerNorm eps 1e-12; `ffn` picks dense or Monarch
    /// feed-forward maps.
    public init(hidden: Int, heads: Int, intermediate: Int, dropout: Float = 0.1, eps: Float = 1e-12,
                ffn: LinearKind = .dense, rng: inout RandomGenerator) {
        attention = MultiHeadAttention(hidden: hidden, heads: heads, dropout: dropout, rng: &rng)
        attentionNorm = LayerNorm(hidden, eps: eps)
        self.intermediate = ffn.make(hidden, intermediate, rng: &rng)
        output = ffn.make(intermediate, hidden, rng: &rng)
        outputNorm = LayerNorm(hidden, eps: eps)
        self.dropout = dropout
    }

    private init(_ layer: BertLayer, intermediate: any LinearMap, output: any LinearMap) {
        (attention, attentionNorm, outputNorm, dropout) = (layer.attention, layer.attentionNorm, layer.outputNorm, layer.dropout)
        self.intermediate = intermediate
        self.output = output
    }

    /// This layer with Monarch feed-forward maps multiplied out into dense ones, sharing every
    /// other parameter: "reverse sparsification" (train Monarch for most steps, finish dense).
    /// Build a new optimizer for the returned layer's parameters.
    public func densifyingFeedForward() -> BertLayer {
        func dense(_ map: any LinearMap) -> any LinearMap { (map as? MonarchLinear)?.densified() ?? map }
        return BertLayer(self, intermediate: dense(intermediate), output: dense(output))
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("attention.self.query", attention.query) + prefixed("attention.self.key", attention.key)
            + prefixed("attention.self.value", attention.value) + prefixed("attention.output.dense", attention.output)
            + prefixed("attention.output.LayerNorm", attentionNorm)
            + prefixed("intermediate.dense", intermediate) + prefixed("output.dense", output)
            + prefixed("output.LayerNorm", outputNorm)
    }

    /// `x` is `[B, L, hidden]`; `mask` is additive, broadcasting to `[B, heads, L, Lk]`. Keys and
    /// values come from `memory` (`[B, Lk, hidden]`) when given, else from `x`: RetroMAE's enhanced
    /// decoder queries with one stream and attends over another, the residual taken from `x`.
    public func callAsFunction(_ x: Tensor, memory: Tensor? = nil, mask: Tensor?, context: inout ForwardContext) -> Tensor {
        let attended = attention(x, memory: memory ?? x, mask: mask, context: &context)
            .dropout(dropout, training: context.training, rng: &context.rng)
        let h = attentionNorm(attended + x)
        let expanded = output(intermediate(h).gelu()).dropout(dropout, training: context.training, rng: &context.rng)
        return outputNorm(expanded + h)
    }
}
