import Models
import Tensor
import Text

/// Pre-training metrics on held-out batches (the reference code never reported any).
public struct RetroMAEEvaluation: Sendable {
    public var encoderLoss: Float
    public var decoderLoss: Float
    /// Decoder loss when every sequence gets another sequence's sentence embedding: clearly above
    /// `decoderLoss` when the decoder relies on the embedding.
    public var shuffledDecoderLoss: Float
    public var encoderAccuracy: TokenAccuracy
    public var decoderAccuracy: TokenAccuracy
}

extension RetroMAEModel {
    /// Mean losses and pooled accuracies over `batches`, dropout off. Batches of one sequence have
    /// nothing to shuffle with and are rejected.
    public func evaluate(_ batches: [RetroMAEBatch]) throws -> RetroMAEEvaluation {
        guard !batches.isEmpty else { throw TrainingError(.data, "evaluation", "no batches") }
        var result = RetroMAEEvaluation(encoderLoss: 0, decoderLoss: 0, shuffledDecoderLoss: 0,
                                        encoderAccuracy: .init(), decoderAccuracy: .init())
        var context = ForwardContext.inference
        for batch in batches {
            guard batch.batchSize > 1 else { throw TrainingError(.data, "evaluation", "a batch of one sequence cannot be shuffled") }
            let rotated = Array(1..<batch.batchSize) + [0]
            let (output, shuffled) = try GradMode.withoutGradients {
                (try self(batch, context: &context), try self(batch, context: &context, embeddingOrder: rotated))
            }
            result.encoderLoss += output.encoderLoss.item / Float(batches.count)
            result.decoderLoss += output.decoderLoss.item / Float(batches.count)
            result.shuffledDecoderLoss += shuffled.decoderLoss.item / Float(batches.count)
            result.encoderAccuracy = result.encoderAccuracy + output.encoderAccuracy
            result.decoderAccuracy = result.decoderAccuracy + output.decoderAccuracy
        }
        return result
    }
}

extension RetroMAEModel {
    /// The figures a RetroMAE run reports at each evaluation, by name: MLM and decoder loss and
    /// accuracy (decoder figures only when `decoding`), the decoder's loss on shuffled sentence
    /// embeddings (it rises when the decoder relies on them), and on `heldout` pairs zero-shot
    /// retrieval with [CLS] and with mean pooling, each with the anisotropy of its passage
    /// embeddings (mean pairwise cosine: near 1 when the embeddings have collapsed to one direction).
    /// Without `batches` (a pipeline sink holds none back) only the retrieval figures.
    public func figures(batches: [RetroMAEBatch], tokenizer: BertTokenizer, heldout: [TextPair]?,
                        decoding: Bool = true) throws -> [(name: String, value: Double)] {
        var figures: [(name: String, value: Double)] = []
        if !batches.isEmpty {
            let e = try evaluate(batches)
            figures += [("mlm_loss", Double(e.encoderLoss)), ("mlm_accuracy", e.encoderAccuracy.rate)]
            if decoding {
                figures += [("decoder_loss", Double(e.decoderLoss)), ("decoder_accuracy", e.decoderAccuracy.rate),
                            ("shuffled_decoder_loss", Double(e.shuffledDecoderLoss))]
            }
        }
        guard let heldout else { return figures }
        let poolings = [Pooling.cls, .mean], hidden = config.hidden
        let sentences = try SentenceEncoder(encoder: encoder, tokenizer: tokenizer, normalize: true)
        let (queries, passages) = (try sentences.embed(heldout.map(\.query), poolings: poolings),
                                   try sentences.embed(heldout.map(\.positive), poolings: poolings))
        for (p, pooling) in poolings.enumerated() {
            let suffix = pooling == .cls ? "" : "_mean"
            let scores = try RankingFigures.scores(queries: queries[p], candidates: passages[p], dimension: hidden)
            let m = RankingFigures(scores: scores, queries: heldout.count, candidates: heldout.count,
                                   relevant: heldout.indices.map { [$0] }, ks: [1, 10, 100])
            figures += [("mrr_at_10" + suffix, m.mrrAt10), ("recall_at_1" + suffix, m.recall[1] ?? 0),
                        ("recall_at_10" + suffix, m.recall[10] ?? 0), ("recall_at_100" + suffix, m.recall[100] ?? 0),
                        ("anisotropy" + suffix, meanPairwiseCosine(passages[p], dimension: hidden))]
        }
        return figures
    }
}

/// Mean cosine over all pairs of distinct rows of `unitRows` (`[n, dimension]`, unit length):
/// (|sum of rows|^2 - n) / (n (n - 1)), so it costs one pass.
func meanPairwiseCosine(_ unitRows: [Float], dimension: Int) -> Double {
    let n = unitRows.count / max(dimension, 1)
    guard n > 1 else { return 0 }
    var sum = [Double](repeating: 0, count: dimension)
    for (index, value) in unitRows.enumerated() { sum[index % dimension] += Double(value) }
    let squared = sum.reduce(0) { $0 + $1 * $1 }
    return (squared - Double(n)) / Double(n * (n - 1))
}
