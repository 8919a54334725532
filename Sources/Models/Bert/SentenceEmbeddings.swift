import Tensor
import Text

/// How token states become one sentence vector.
public enum Pooling: String, Sendable, CaseIterable {
    /// The final [CLS] state (RetroMAE's sentence embedding).
    case cls
    /// The mean over real tokens (padding excluded), as sentence-transformers pools.
    case mean
}

extension BertModel {
    /// `[N, hidden]` embeddings of token sequences that already hold [CLS] ... [SEP]; they are
    /// padded with `padId` to the longest one. With `normalize` each row has unit L2 norm.
    public func sentenceEmbeddings(_ sequences: [[Int32]], padId: Int32, pooling: Pooling, normalize: Bool,
                                   context: inout ForwardContext) throws -> Tensor {
        try sentenceEmbeddings(sequences, padId: padId, poolings: [pooling], normalize: normalize, context: &context)[0]
    }

    /// One `[N, hidden]` tensor per pooling, from one pass of the encoder.
    public func sentenceEmbeddings(_ sequences: [[Int32]], padId: Int32, poolings: [Pooling], normalize: Bool,
                                   context: inout ForwardContext) throws -> [Tensor] {
        let n = sequences.count, length = sequences.map(\.count).max() ?? 0
        guard n > 0, length > 0 else { throw ModelError(.invalidInput, "sentences", "no tokens to embed") }
        var ids = [Int](repeating: Int(padId), count: n * length)
        var valid = [UInt8](repeating: 0, count: n * length)
        for (row, sequence) in sequences.enumerated() {
            for (column, id) in sequence.enumerated() {
                ids[row * length + column] = Int(id)
                valid[row * length + column] = 1
            }
        }
        try validate(ids: ids, batch: n, length: length, source: "sentences")
        let states = try self(ids, valid: valid, batch: n, length: length, context: &context)
        return try poolings.map { pooling in
            let pooled: Tensor
            switch pooling {
            case .cls:
                pooled = try embedding(states.reshaped([n * length, config.hidden]), indices: (0..<n).map { $0 * length },
                                       indexShape: [n])
            case .mean:
                let weights = sequences.flatMap { sequence in
                    (0..<length).map { $0 < sequence.count ? 1 / Float(sequence.count) : 0 }
                }
                pooled = matmul(Tensor(shape: [n, 1, length], scalars: weights), states).reshaped([n, config.hidden])
            }
            return normalize ? pooled.l2Normalized() : pooled
        }
    }
}

/// Embeds texts with a tokenizer and an encoder, in inference mode: what `sluice retromae embed` and
/// retrieval evaluation use.
public struct SentenceEncoder {
    public let encoder: BertModel
    public let tokenizer: BertTokenizer
    public var pooling: Pooling
    public var normalize: Bool
    public var batchSize = 32

    /// Texts longer than the encoder's positions are truncated by the tokenizer.
    public init(encoder: BertModel, tokenizer: BertTokenizer, pooling: Pooling = .cls, normalize: Bool = false,
                maxLength: Int? = nil) throws(ModelError) {
        guard tokenizer.vocabulary.count <= encoder.config.vocabularySize else {
            throw ModelError(.invalidInput, "vocabulary", "\(tokenizer.vocabulary.count) tokens but the model has vocab_size \(encoder.config.vocabularySize)")
        }
        var tokenizer = tokenizer
        tokenizer.truncation = min(maxLength ?? encoder.config.maxPositions, encoder.config.maxPositions)
        tokenizer.padding = nil
        (self.encoder, self.tokenizer, self.pooling, self.normalize) = (encoder, tokenizer, pooling, normalize)
    }

    /// `[texts.count, hidden]` row-major embeddings.
    public func embed(_ texts: [String]) throws -> [Float] {
        try embed(texts, poolings: [pooling])[0]
    }

    /// `[texts.count, hidden]` row-major embeddings for each of `poolings`, from one pass of the
    /// encoder. Texts are batched in order of length (less padding); rows keep the texts' order.
    public func embed(_ texts: [String], poolings: [Pooling]) throws -> [[Float]] {
        let hidden = encoder.config.hidden, step = max(1, batchSize)
        let sequences = texts.map { tokenizer.encode($0).ids }
        let order = sequences.indices.sorted { (sequences[$0].count, $0) < (sequences[$1].count, $1) }
        var results = poolings.map { _ in [Float](repeating: 0, count: texts.count * hidden) }
        var context = ForwardContext.inference
        for start in stride(from: 0, to: order.count, by: step) {
            let rows = Array(order[start..<min(order.count, start + step)])
            let vectors = try GradMode.withoutGradients {
                try encoder.sentenceEmbeddings(rows.map { sequences[$0] }, padId: tokenizer.padId, poolings: poolings,
                                               normalize: normalize, context: &context)
            }
            for (p, tensor) in vectors.enumerated() {
                let scalars = tensor.scalars
                for (i, row) in rows.enumerated() {
                    results[p].replaceSubrange(row * hidden..<(row + 1) * hidden, with: scalars[i * hidden..<(i + 1) * hidden])
                }
            }
        }
        return results
    }
}
