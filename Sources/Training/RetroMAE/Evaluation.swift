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
        guard !batches.isEmpty else { throw ModelError("evaluation", "no batches") }
        var result = RetroMAEEvaluation(encoderLoss: 0, decoderLoss: 0, shuffledDecoderLoss: 0,
                                        encoderAccuracy: .init(), decoderAccuracy: .init())
        var context = ForwardContext.inference
        for batch in batches {
            guard batch.batchSize > 1 else { throw ModelError("evaluation", "a batch of one sequence cannot be shuffled") }
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

/// Ranking quality of passage retrieval by embedding similarity.
public struct RetrievalMetrics: Sendable, Equatable {
    /// Mean reciprocal rank of the first relevant passage, counted only within the top 10.
    public var mrrAt10: Double
    /// Mean share of a query's relevant passages found in the top 1, 10, 100.
    public var recallAt1: Double
    public var recallAt10: Double
    public var recallAt100: Double

    /// Ranks all passages for every query by dot product (normalise the embeddings first for
    /// cosine); `queries` is `[Q, dimension]` and `passages` `[P, dimension]`, row-major;
    /// `relevant[q]` holds the passage indices relevant to query q.
    public init(queries: [Float], passages: [Float], dimension: Int, relevant: [Set<Int>]) throws(ModelError) {
        let (q, p) = (queries.count / max(dimension, 1), passages.count / max(dimension, 1))
        guard dimension > 0, q * dimension == queries.count, p * dimension == passages.count, q == relevant.count, q > 0 else {
            throw ModelError("retrieval", "\(queries.count) query and \(passages.count) passage values of dimension \(dimension) for \(relevant.count) queries")
        }
        let scores = matmul(Tensor(shape: [q, dimension], scalars: queries), Tensor(shape: [p, dimension], scalars: passages),
                            transposeB: true).scalars
        var (mrr, r1, r10, r100) = (0.0, 0.0, 0.0, 0.0)
        for query in 0..<q {
            let row = scores[query * p..<(query + 1) * p]
            let ranking = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.map { $0 - query * p }
            let wanted = relevant[query]
            guard !wanted.isEmpty else { continue }
            if let first = ranking.prefix(10).firstIndex(where: wanted.contains) { mrr += 1 / Double(first + 1) }
            func recall(_ k: Int) -> Double { Double(ranking.prefix(k).filter(wanted.contains).count) / Double(wanted.count) }
            (r1, r10, r100) = (r1 + recall(1), r10 + recall(10), r100 + recall(100))
        }
        let n = Double(q)
        (mrrAt10, recallAt1, recallAt10, recallAt100) = (mrr / n, r1 / n, r10 / n, r100 / n)
    }
}
