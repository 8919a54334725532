import Models
import Tensor

/// Retrieval figures for a set of queries, each with its relevant candidates, ranked by score.
///
/// Ties count pessimistically: a candidate scoring exactly as a relevant one ranks above it, so a
/// model that scores everything alike is at chance, never rewarded by the order of the data.
public struct RankingFigures: Sendable, Equatable {
    /// Queries ranked, and candidates each was ranked against.
    public var queries: Int
    public var candidates: Int
    /// Mean share of a query's relevant candidates within the top k.
    public var recall: [Int: Double]
    /// Median (over queries) of the best relevant candidate's rank, 1-based.
    public var medianRank: Double
    /// Mean over queries of average precision (1/rank for a single relevant candidate).
    public var meanAveragePrecision: Double
    /// Mean reciprocal rank of the first relevant candidate, counted only within the top 10.
    public var mrrAt10: Double

    /// R@k of a model that ranks at random: k / candidates for one relevant candidate.
    public func chance(at k: Int) -> Double { min(1, Double(k) / Double(max(candidates, 1))) }

    /// `mean_r10`: R@10 averaged over the directions a run ranks, the one figure by which the clip
    /// trainers keep `best.safetensors`.
    public static func meanRecallAt10(_ directions: [RankingFigures]) -> (name: String, value: Double) {
        ("mean_r10", directions.map { $0.recall[10] ?? 0 }.reduce(0, +) / Double(max(directions.count, 1)))
    }

    /// Figures from `scores` (`[queries, candidates]`, row-major); `relevant[q]` holds query q's
    /// relevant candidate indices (queries with none are left out).
    public init(scores: [Float], queries: Int, candidates: Int, relevant: [Set<Int>], ks: [Int] = [1, 5, 10]) {
        precondition(scores.count == queries * candidates && relevant.count == queries, "RankingFigures: shapes")
        var recall = Dictionary(uniqueKeysWithValues: ks.map { ($0, 0.0) })
        var (averagePrecision, reciprocal, best, counted) = (0.0, 0.0, [Int](), 0)
        for query in 0..<queries where !relevant[query].isEmpty {
            let row = scores[query * candidates..<(query + 1) * candidates]
            let base = query * candidates
            // Pessimistic rank of each relevant candidate: 1 + everything else scoring at least as high.
            let ranks = relevant[query].map { r in 1 + row.indices.filter { $0 - base != r && row[$0] >= row[base + r] }.count }.sorted()
            counted += 1
            for k in ks { recall[k, default: 0] += Double(ranks.filter { $0 <= k }.count) / Double(ranks.count) }
            averagePrecision += ranks.enumerated().reduce(0) { $0 + Double($1.offset + 1) / Double($1.element) }
                / Double(ranks.count)
            if ranks[0] <= 10 { reciprocal += 1 / Double(ranks[0]) }
            best.append(ranks[0])
        }
        let n = Double(max(counted, 1))
        self.queries = counted
        self.candidates = candidates
        self.recall = recall.mapValues { $0 / n }
        meanAveragePrecision = averagePrecision / n
        mrrAt10 = reciprocal / n
        best.sort()
        medianRank = best.isEmpty ? 0 : best.count % 2 == 1 ? Double(best[best.count / 2])
            : Double(best[best.count / 2 - 1] + best[best.count / 2]) / 2
    }

    /// Dot-product scores of `queries` `[Q, dimension]` against `candidates` `[P, dimension]`.
    public static func scores(queries: [Float], candidates: [Float], dimension: Int) throws(TrainingError) -> [Float] {
        let (q, p) = (queries.count / max(dimension, 1), candidates.count / max(dimension, 1))
        guard dimension > 0, q > 0, p > 0, q * dimension == queries.count, p * dimension == candidates.count else {
            throw TrainingError(.data, "retrieval", "\(queries.count) query and \(candidates.count) candidate values do not make rows of dimension \(dimension)")
        }
        return GradMode.withoutGradients {
            matmul(Tensor(shape: [q, dimension], scalars: queries), Tensor(shape: [p, dimension], scalars: candidates),
                   transposeB: true).scalars
        }
    }
}

/// Cross-modal retrieval both ways between paired embeddings (`a[i]` matches `b[i]`), as the Spoken
/// Moments protocol reports it: over random subsets of `subsetSize` pairs when the set is larger
/// (the paper: five of 1,000), averaged.
public struct PairedRetrieval: Sendable {
    /// a -> b (e.g. video -> caption) and b -> a.
    public var forward: RankingFigures
    public var backward: RankingFigures
    /// Pairs in each ranked set, and how many sets were averaged.
    public var setSize: Int
    public var sets: Int

    public init(a: [Float], b: [Float], dimension: Int, subsetSize: Int = 1000, subsets: Int = 5, seed: UInt64 = 0) throws(TrainingError) {
        let count = a.count / max(dimension, 1)
        guard count >= 2, a.count == b.count, count * dimension == a.count else {
            throw TrainingError(.data, "retrieval", "\(a.count) and \(b.count) values are not two sets of at least 2 paired rows of dimension \(dimension)")
        }
        var groups: [[Int]] = [Array(0..<count)]
        if count > subsetSize {
            var rng = RandomGenerator(seed: seed)
            groups = (0..<max(1, subsets)).map { _ in Array(Array(0..<count).shuffled(using: &rng).prefix(subsetSize)) }
        }
        var results: [(RankingFigures, RankingFigures)] = []
        for group in groups {
            func rows(_ x: [Float]) -> [Float] { group.flatMap { x[$0 * dimension..<($0 + 1) * dimension] } }
            let scores = try RankingFigures.scores(queries: rows(a), candidates: rows(b), dimension: dimension)
            let n = group.count
            let transposed = (0..<n * n).map { scores[($0 % n) * n + $0 / n] }
            let relevant = (0..<n).map { Set([$0]) }
            results.append((RankingFigures(scores: scores, queries: n, candidates: n, relevant: relevant),
                            RankingFigures(scores: transposed, queries: n, candidates: n, relevant: relevant)))
        }
        forward = .mean(results.map(\.0))
        backward = .mean(results.map(\.1))
        (setSize, sets) = (groups[0].count, groups.count)
    }
}

extension RankingFigures {
    /// The figures of several equally sized sets, averaged.
    static func mean(_ all: [RankingFigures]) -> RankingFigures {
        var result = all[0]
        let n = Double(all.count)
        result.recall = result.recall.mapValues { _ in 0 }
        for figures in all {
            for (k, value) in figures.recall { result.recall[k, default: 0] += value / n }
        }
        result.medianRank = all.reduce(0) { $0 + $1.medianRank } / n
        result.meanAveragePrecision = all.reduce(0) { $0 + $1.meanAveragePrecision } / n
        result.mrrAt10 = all.reduce(0) { $0 + $1.mrrAt10 } / n
        return result
    }
}

/// How often a query's best-scoring candidate carries the query's own label (the direction a
/// caption names, say), beside how often a random candidate would. It shows whether a model tells
/// the labels apart even where it misses the exact match. Ties count against the query.
public struct LabelAgreement: Sendable, Equatable {
    public var atRank1: Double
    public var chance: Double

    /// Query and candidate embeddings (`[count, dimension]`, row-major) with one label per row;
    /// scored 256 queries at a time, so memory stays at 256 rows of scores.
    public init(queries: [Float], candidates: [Float], dimension: Int, queryLabels: [String], candidateLabels: [String]) throws(TrainingError) {
        guard dimension > 0, queries.count == queryLabels.count * dimension, candidates.count == candidateLabels.count * dimension,
              !candidateLabels.isEmpty else {
            throw TrainingError(.data, "label agreement", "\(queryLabels.count) query and \(candidateLabels.count) candidate labels do not match the rows of dimension \(dimension)")
        }
        var frequency: [String: Int] = [:]
        for label in candidateLabels { frequency[label, default: 0] += 1 }
        let n = candidateLabels.count
        var (agreed, chance) = (0, 0.0)
        for start in stride(from: 0, to: queryLabels.count, by: 256) {
            let end = min(queryLabels.count, start + 256)
            let scores = try RankingFigures.scores(queries: Array(queries[start * dimension..<end * dimension]), candidates: candidates,
                                                   dimension: dimension)
            for q in start..<end {
                let row = scores[(q - start) * n..<(q - start + 1) * n], base = (q - start) * n
                let best = row.max()!
                if row.indices.allSatisfy({ row[$0] < best || candidateLabels[$0 - base] == queryLabels[q] }) { agreed += 1 }
                chance += Double(frequency[queryLabels[q]] ?? 0) / Double(n)
            }
        }
        let count = Double(max(queryLabels.count, 1))
        (atRank1, self.chance) = (Double(agreed) / count, chance / count)
    }
}
