import Foundation
import Models

/// A retrieval model's held-out clips embedded once and ranked in each of its directions over
/// random subsets of the set (the Spoken Moments paper: five of 1,000). Directions through the
/// caption text are left out when a clip has none. Every trainer's `eval` command and pipeline
/// sink report these.
public struct HeldOutRetrieval {
    /// Each modality's embeddings, `[clips * dimension]`.
    public let embeddings: [Modality: [Float]]
    public let dimension: Int
    /// Each ranked direction's name (`video_to_caption`), modalities and figures.
    public let directions: [(name: String, queries: Modality, candidates: Modality, figures: RankingFigures)]
    /// Pairs in each ranked set, and how many sets were averaged.
    public let setSize: Int, sets: Int

    public init<Model: RetrievalModel>(model: Model, clips: ClipDataset, subsetSize: Int = 1000, subsets: Int = 5) throws {
        let modalities = model.modalities.filter { $0 != .text || !clips.captions.contains(where: \.isEmpty) }
        let ranked = model.rankedDirections.filter { modalities.contains($0.0) && modalities.contains($0.1) }
        guard !ranked.isEmpty else { throw TrainingError(.data, "retrieval", "no direction to rank: the held-out clips have no caption text") }
        embeddings = try model.embeddings(of: clips, modalities)
        dimension = model.retrieval.embedding
        // Each pair of modalities is ranked once, both ways: a direction and its reverse share the subsets.
        var pairs: [(a: Modality, b: Modality, result: PairedRetrieval)] = []
        var directions: [(name: String, queries: Modality, candidates: Modality, figures: RankingFigures)] = []
        for (queries, candidates) in ranked {
            let figures: RankingFigures
            if let pair = pairs.first(where: { ($0.a, $0.b) == (candidates, queries) || ($0.a, $0.b) == (queries, candidates) }) {
                figures = pair.a == queries ? pair.result.forward : pair.result.backward
            } else {
                let result = try PairedRetrieval(a: embeddings[queries] ?? [], b: embeddings[candidates] ?? [], dimension: dimension,
                                                 subsetSize: subsetSize, subsets: subsets)
                pairs.append((queries, candidates, result))
                figures = result.forward
            }
            directions.append(("\(Model.name(of: queries))_to_\(Model.name(of: candidates))", queries, candidates, figures))
        }
        self.directions = directions
        (setSize, sets) = (pairs[0].result.setSize, pairs[0].result.sets)
    }

    /// The figures the run log records (metrics.jsonl `eval` records), chance beside the recalls.
    public var figures: [(name: String, value: Double)] {
        let chance = directions[0].figures
        var figures: [(name: String, value: Double)] = [("set_size", Double(setSize))]
        figures += [1, 5, 10].map { ("chance_r\($0)", chance.chance(at: $0)) }
        for (direction, _, _, f) in directions {
            figures += [1, 5, 10].map { ("\(direction)_r\($0)", f.recall[$0] ?? 0) }
            figures += [("\(direction)_median_rank", f.medianRank), ("\(direction)_map", f.meanAveragePrecision)]
        }
        return figures + [RankingFigures.meanRecallAt10(directions.map(\.figures))]
    }

    /// The figures as a user reads them.
    public var report: String {
        let f = directions[0].figures
        var lines = ["\(setSize) pairs per set, \(sets) set\(sets == 1 ? "" : "s") averaged; chance R@1 \(Self.percent(f.chance(at: 1))), R@5 \(Self.percent(f.chance(at: 5))), R@10 \(Self.percent(f.chance(at: 10)))"]
        for (name, _, _, f) in directions {
            let recalls = [1, 5, 10].map { "R@\($0) \(Self.percent(f.recall[$0] ?? 0))" }.joined(separator: "  ")
            lines.append("\(name.replacingOccurrences(of: "_to_", with: " -> ")): \(recalls)  median rank \(f.medianRank)  mAP \(Self.percent(f.meanAveragePrecision))")
        }
        return lines.joined(separator: "\n")
    }

    /// How often each direction's best candidate carries the query's own `labels` value (one per
    /// clip; clips whose label is empty are left out), beside chance.
    public func labelAgreement(_ labels: [String]) throws -> [(name: String, agreement: LabelAgreement)] {
        let rows = labels.indices.filter { !labels[$0].isEmpty }
        let kept = rows.map { labels[$0] }
        func rowsOf(_ x: [Float]) -> [Float] { rows.flatMap { x[$0 * dimension..<($0 + 1) * dimension] } }
        return try directions.map { direction in
            (direction.name, try LabelAgreement(queries: rowsOf(embeddings[direction.queries] ?? []),
                                                candidates: rowsOf(embeddings[direction.candidates] ?? []),
                                                dimension: dimension, queryLabels: kept, candidateLabels: kept))
        }
    }

    /// `0.123` as `12.3%`.
    public static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
}
