import Testing
import Training

struct RankingTests {
    @Test func figuresOfAKnownRanking() throws {
        // Query 0 ranks passages 2, 0, 1 (relevant: 0, rank 2); query 1 ranks 1 first (relevant: 1, rank 1).
        let passages: [Float] = [0.5, 0, 0, 1, 1, 0]
        let queries: [Float] = [1, 0, 0, 1]
        let scores = try RankingFigures.scores(queries: queries, candidates: passages, dimension: 2)
        let figures = RankingFigures(scores: scores, queries: 2, candidates: 3, relevant: [[0], [1]], ks: [1, 10])
        #expect(figures.mrrAt10 == 0.75 && figures.recall[1] == 0.5 && figures.recall[10] == 1)
        #expect(figures.meanAveragePrecision == 0.75 && figures.medianRank == 1.5 && figures.chance(at: 1) == 1.0 / 3)
    }

    /// A model that scores everything alike ranks every match last, not first: ties are pessimistic.
    @Test func tiesCountAgainstTheMatch() {
        let figures = RankingFigures(scores: [Float](repeating: 0.25, count: 16), queries: 4, candidates: 4,
                                     relevant: (0..<4).map { [$0] })
        #expect(figures.recall[1] == 0 && figures.medianRank == 4 && figures.meanAveragePrecision == 0.25)
    }

    /// Both directions over paired rows, and over random subsets when the set is large.
    @Test func pairedRetrievalBothWaysAndOverSubsets() throws {
        // b[i] = a[i] except b[2], which equals b[1]: a -> b misses pair 2, and pair 1 ties with it
        // (pessimistically a miss); b -> a misses only pair 2.
        let a: [Float] = [1, 0, 0, 1, -1, 0, 0, -1]
        let b: [Float] = [1, 0, 0, 1, 0, 1, 0, -1]
        let both = try PairedRetrieval(a: a, b: b, dimension: 2)
        #expect(both.setSize == 4 && both.sets == 1)
        #expect(both.forward.recall[1] == 0.5 && both.backward.recall[1] == 0.75)
        let subsets = try PairedRetrieval(a: a, b: b, dimension: 2, subsetSize: 3, subsets: 4, seed: 1)
        #expect(subsets.setSize == 3 && subsets.sets == 4 && subsets.forward.candidates == 3)
        #expect(throws: (any Error).self) { try PairedRetrieval(a: [1, 2], b: [1, 2], dimension: 2) }
    }

    /// The best candidate's label against the query's, beside a random candidate's chance.
    @Test func labelAgreementAtRankOne() throws {
        // Query 0 (left) prefers candidate 1 (left); query 1 (right) ties candidates 0 and 2, one of them left.
        let candidates: [Float] = [1, 0, 0, 1, 1, 0]
        let agreement = try LabelAgreement(queries: [0, 1, 1, 0], candidates: candidates, dimension: 2,
                                           queryLabels: ["left", "right"], candidateLabels: ["left", "left", "right"])
        #expect(agreement.atRank1 == 0.5)
        #expect(abs(agreement.chance - (2.0 / 3 + 1.0 / 3) / 2) < 1e-12)
    }
}
