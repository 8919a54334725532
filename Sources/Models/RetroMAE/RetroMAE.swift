import Tensor
import Text

/// Share of tokens predicted correctly.
public struct TokenAccuracy: Sendable, Equatable {
    public var correct = 0
    public var total = 0

    public init(correct: Int = 0, total: Int = 0) { (self.correct, self.total) = (correct, total) }

    public var rate: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    public static func + (a: TokenAccuracy, b: TokenAccuracy) -> TokenAccuracy {
        TokenAccuracy(correct: a.correct + b.correct, total: a.total + b.total)
    }
}

/// What one RetroMAE forward pass gives: the losses (scalars, differentiable) and accuracies.
public struct RetroMAEOutput {
    /// Encoder MLM loss + decoder reconstruction loss (unweighted, as in the paper).
    public let loss: Tensor
    public let encoderLoss: Tensor
    public let decoderLoss: Tensor
    public let encoderAccuracy: TokenAccuracy
    public let decoderAccuracy: TokenAccuracy
    /// `[B, hidden]` sentence embeddings (final [CLS] states) the decoder was given.
    public let embeddings: Tensor
}

/// RetroMAE: a BERT encoder whose [CLS] state must let a one-layer decoder rebuild the sentence.
///
/// The decoder shares the encoder's embeddings and MLM head. Its query stream is `h + p_i`, its
/// content stream `[h, e(x_1)+p_1, ...]` (the original tokens), and each query row attends over the
/// content positions its row of the collator's decoder mask allows ("enhanced decoding").
/// Parameters are named as Hugging Face's `BertForMaskedLM` (`bert.`, `cls.predictions.`) plus
/// `c_head.` for the decoder layer, so the encoder loads into transformers as it is.
public struct RetroMAEModel: Layer {
    public private(set) var encoder: BertModel
    public private(set) var head: BertMaskedLMHead
    public private(set) var decoder: BertLayer
    /// Whether the MLM head and the decoder were read from a checkpoint (false: they start random,
    /// as for any new model and for a bare Hugging Face `BertModel`).
    public internal(set) var headAndDecoderLoaded = false

    public var config: BertConfig { encoder.config }

    /// A randomly initialised model (BERT's initialisation).
    public init(_ config: BertConfig, rng: inout RandomGenerator) {
        encoder = BertModel(config, rng: &rng)
        head = BertMaskedLMHead(config, tiedTo: encoder.embeddings, rng: &rng)
        decoder = BertLayer(hidden: config.hidden, heads: config.heads, intermediate: config.intermediate,
                            dropout: config.dropout, eps: config.layerNormEps, ffn: config.feedForward, rng: &rng)
        initializeLikeBert(decoder.namedParameters, rng: &rng)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("bert", encoder) + prefixed("cls", head) + prefixed("c_head", decoder)
    }

    /// Monarch feed-forward maps of encoder and decoder become dense ("reverse sparsification").
    public mutating func densifyFeedForward() {
        encoder = encoder.densifyingFeedForward()
        decoder = decoder.densifyingFeedForward()
    }

    /// Losses and accuracies on one collated batch. `embeddingOrder` (a permutation of the batch)
    /// hands sequence b the sentence embedding of sequence `embeddingOrder[b]`: the evaluation
    /// check that the decoder depends on the embedding. Without `decoding`, only the encoder runs
    /// (MLM-only pre-training, the paper's BERT baseline): the decoder loss is zero.
    public func callAsFunction(_ batch: RetroMAEBatch, context: inout ForwardContext,
                               embeddingOrder: [Int]? = nil, decoding: Bool = true) throws -> RetroMAEOutput {
        let (b, length, hidden) = (batch.batchSize, batch.length, config.hidden)
        let encoderIds = batch.encoderInputIds.map(Int.init), decoderIds = batch.decoderInputIds.map(Int.init)
        try encoder.validate(ids: encoderIds, batch: b, length: length, source: "encoder input")
        try encoder.validate(ids: decoderIds, batch: b, length: length, source: "decoder input")
        guard batch.decoderAttentionMask.count == b * length * length, batch.attentionMask.count == b * length,
              batch.encoderLabels.count == b * length, batch.decoderLabels.count == b * length else {
            throw ModelError(.invalidInput, "batch", "masks or labels do not match a batch of \(b) x \(length)")
        }
        if let order = embeddingOrder, order.sorted() != Array(0..<b) {
            throw ModelError(.invalidInput, "embeddingOrder", "\(order) is not a permutation of 0..<\(b)")
        }

        let states = try encoder(encoderIds, valid: batch.attentionMask, batch: b, length: length, context: &context)
        let flat = states.reshaped([b * length, hidden])
        let (encoderLoss, encoderAccuracy) = try predict(flat, labels: batch.encoderLabels)

        let cls = try embedding(flat, indices: (0..<b).map { $0 * length }, indexShape: [b])
        guard decoding else {
            return RetroMAEOutput(loss: encoderLoss, encoderLoss: encoderLoss, decoderLoss: Tensor(0),
                                  encoderAccuracy: encoderAccuracy, decoderAccuracy: TokenAccuracy(), embeddings: cls)
        }
        let sentence = try embeddingOrder.map { try embedding(cls, indices: $0, indexShape: [b]) } ?? cls
        let h = sentence.reshaped([b, 1, hidden])
        let content = try encoder.embeddings(decoderIds, batch: b, context: &context)
        let contentStream = concat([h, content.slice(axis: 1, 1..<length)], axis: 1)
        let queryStream = try h + encoder.embeddings.positions(Array(0..<length), shape: [length])
        let mask = Tensor(shape: [b, 1, length, length],
                          scalars: batch.decoderAttentionMask.map { $0 != 0 ? 0 : MultiHeadAttention.maskedValue })
        let decoded = decoder(queryStream, memory: contentStream, mask: mask, context: &context)
        let (decoderLoss, decoderAccuracy) = try predict(decoded.reshaped([b * length, hidden]), labels: batch.decoderLabels)

        return RetroMAEOutput(loss: encoderLoss + decoderLoss, encoderLoss: encoderLoss, decoderLoss: decoderLoss,
                              encoderAccuracy: encoderAccuracy, decoderAccuracy: decoderAccuracy, embeddings: cls)
    }

    /// Cross-entropy and accuracy of the MLM head on the rows of `states` whose label is not -100
    /// (only those rows go through the head: the vocabulary projection dominates the cost).
    private func predict(_ states: Tensor, labels: [Int32]) throws -> (Tensor, TokenAccuracy) {
        let rows = labels.indices.filter { labels[$0] != ignoreLabel }
        guard !rows.isEmpty else { return (Tensor(0), TokenAccuracy()) }
        let targets = rows.map { Int(labels[$0]) }
        if let bad = targets.first(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw ModelError(.invalidInput, "labels", "label \(bad) is outside the vocabulary of \(config.vocabularySize)")
        }
        let logits = head(try embedding(states, indices: rows, indexShape: [rows.count]))
        return (try crossEntropy(logits, targets: targets), accuracy(logits, targets: targets))
    }
}

/// How many rows of `logits` (`[N, C]`) have their largest score at the target.
func accuracy(_ logits: Tensor, targets: [Int]) -> TokenAccuracy {
    let classes = logits.shape[1], scores = logits.storage.pointer
    var correct = 0
    for (row, target) in targets.enumerated() {
        let base = scores + row &* classes
        var best = 0
        for c in 1..<classes where base[c] > base[best] { best = c }
        if best == target { correct += 1 }
    }
    return TokenAccuracy(correct: correct, total: targets.count)
}
