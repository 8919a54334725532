import Tensor

/// BERT's input embeddings: word + position + token type, LayerNorm, dropout. RetroMAE's decoder
/// reuses them for its content stream and their position table for its query stream.
public struct BertEmbeddings: Layer {
    public let words: Tensor
    public let positions: Tensor
    public let tokenTypes: Tensor
    public let norm: LayerNorm
    public let dropout: Float

    public init(_ config: BertConfig, rng: inout RandomGenerator) {
        words = .normal([config.vocabSize, config.hiddenSize], std: bertInitStd, rng: &rng, requiresGrad: true)
        positions = .normal([config.maxPositions, config.hiddenSize], std: bertInitStd, rng: &rng, requiresGrad: true)
        tokenTypes = .normal([config.typeVocabSize, config.hiddenSize], std: bertInitStd, rng: &rng, requiresGrad: true)
        norm = LayerNorm(config.hiddenSize, eps: config.layerNormEps)
        dropout = config.dropout
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("word_embeddings.weight", words), ("position_embeddings.weight", positions),
         ("token_type_embeddings.weight", tokenTypes)] + prefixed("LayerNorm", norm)
    }

    /// Position vectors 0..<length: `[length, hidden]`.
    public func positionVectors(_ length: Int) -> Tensor {
        embedding(positions, indices: Array(0..<length), indexShape: [length])
    }

    /// `[B, L, hidden]` for `ids` (`[B, L]`, row-major), token type 0 everywhere.
    public func callAsFunction(_ ids: [Int], batch: Int, length: Int, context: inout ForwardContext) -> Tensor {
        let summed = embedding(words, indices: ids, indexShape: [batch, length]) + positionVectors(length)
            + embedding(tokenTypes, indices: [0], indexShape: [1])
        return norm(summed).dropout(dropout, training: context.training, rng: &context.rng)
    }
}

/// BERT's initialisation: N(0, 0.02) weights, zero biases; it keeps MLM logits near zero at
/// init, so the loss starts at ln(vocab).
let bertInitStd: Float = 0.02

/// The BERT encoder: embeddings and a stack of `BertLayer`s, named as Hugging Face's `BertModel`.
public struct BertEncoder: Layer {
    public let config: BertConfig
    public let embeddings: BertEmbeddings
    public private(set) var layers: [BertLayer]

    public init(_ config: BertConfig, rng: inout RandomGenerator) {
        self.config = config
        embeddings = BertEmbeddings(config, rng: &rng)
        layers = (0..<config.layers).map { _ in
            BertLayer(hidden: config.hiddenSize, heads: config.heads, intermediate: config.intermediateSize,
                      dropout: config.dropout, eps: config.layerNormEps, ffn: config.feedForward, rng: &rng)
        }
        for layer in layers { initializeLikeBert(layer.namedParameters, rng: &rng) }
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embeddings", embeddings)
            + layers.enumerated().flatMap { prefixed("encoder.layer.\($0.offset)", $0.element) }
    }

    /// Checks ids and length before any tensor op sees them (ops treat bad indices as bugs).
    public func validate(ids: [Int], batch: Int, length: Int, source: String) throws(ModelError) {
        guard ids.count == batch * length else {
            throw ModelError(source, "\(ids.count) ids for a batch of \(batch) x \(length)")
        }
        guard length <= config.maxPositions else {
            throw ModelError(source, "sequence length \(length) exceeds max_position_embeddings \(config.maxPositions)")
        }
        if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ModelError(source, "token id \(ids[bad]) in row \(bad / max(length, 1)) is outside the vocabulary of \(config.vocabSize)")
        }
    }

    /// Final hidden states `[B, L, hidden]` of `ids` (`[B, L]`); `valid` marks real tokens (1) and padding (0).
    public func callAsFunction(_ ids: [Int], valid: [UInt8], batch: Int, length: Int,
                               context: inout ForwardContext) -> Tensor {
        let rows = (0..<batch).map { b in (0..<length).map { valid[b * length + $0] != 0 } }
        let mask = MultiHeadAttention.paddingMask(rows)
        var hidden = embeddings(ids, batch: batch, length: length, context: &context)
        for layer in layers { hidden = layer(hidden, mask: mask, context: &context) }
        return hidden
    }

    /// Replaces Monarch feed-forward maps by their dense products ("reverse sparsification");
    /// build a new optimizer afterwards, since the parameters change.
    public mutating func densifyFeedForward() {
        layers = layers.map { $0.densifyingFeedForward() }
    }
}

/// BERT's masked-language-model head: dense + GELU + LayerNorm, then scores against the word
/// embeddings (tied) plus a bias. Named as `cls.predictions` in Hugging Face's `BertForMaskedLM`.
public struct MLMHead: Layer {
    public let transform: Linear
    public let norm: LayerNorm
    public let bias: Tensor
    /// The encoder's word embeddings (`[vocab, hidden]`), shared, so not listed as a parameter here.
    public let wordEmbeddings: Tensor

    public init(_ config: BertConfig, wordEmbeddings: Tensor, rng: inout RandomGenerator) {
        transform = Linear(config.hiddenSize, config.hiddenSize, rng: &rng)
        norm = LayerNorm(config.hiddenSize, eps: config.layerNormEps)
        bias = .zeros([config.vocabSize], requiresGrad: true)
        self.wordEmbeddings = wordEmbeddings
        initializeLikeBert(transform.namedParameters, rng: &rng)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("transform.dense", transform) + prefixed("transform.LayerNorm", norm) + [("bias", bias)]
    }

    /// Vocabulary logits `[N, vocab]` for hidden states `[N, hidden]`.
    public func callAsFunction(_ hidden: Tensor) -> Tensor {
        matmul(norm(transform(hidden).gelu()), wordEmbeddings, transposeB: true) + bias
    }
}

/// Re-draws matrices as N(0, 0.02) and zeroes biases, as BERT initialises; LayerNorm and Monarch
/// factors keep their own initialisation.
func initializeLikeBert(_ parameters: [(name: String, tensor: Tensor)], rng: inout RandomGenerator) {
    for (name, tensor) in parameters where !name.contains("LayerNorm") {
        if name.hasSuffix("bias") {
            tensor.assign(.zeros(tensor.shape))
        } else if tensor.rank == 2 {
            tensor.assign(.normal(tensor.shape, std: bertInitStd, rng: &rng))
        }
    }
}
