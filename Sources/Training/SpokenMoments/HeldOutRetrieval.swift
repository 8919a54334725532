import Foundation

/// A Spoken Moments model's held-out clips embedded once and ranked both ways over random subsets
/// of the set (the paper: five of 1,000), video <-> spoken caption and, with the text branch and
/// caption text on every clip, video <-> caption text. `sluice spoken-moments train|eval` and the
/// `spoken_moments_train` sink all report these.
public struct HeldOutRetrieval {
    public let video: [Float], audio: [Float]
    /// Caption text embeddings: empty without the text branch or where a clip has no caption text.
    public let text: [Float]
    public let result: PairedRetrieval
    /// Video -> text and text -> video; nil when `text` is empty.
    public let textResult: PairedRetrieval?

    public init(model: SpokenMomentsTraining, clips: ClipDataset, subsetSize: Int = 1000, subsets: Int = 5) throws {
        (video, audio) = model.embed(clips)
        text = model.text != nil && !clips.captions.contains(where: \.isEmpty) ? try model.embedTexts(clips) : []
        let dimension = model.options.embedding
        result = try PairedRetrieval(a: video, b: audio, dimension: dimension, subsetSize: subsetSize, subsets: subsets)
        textResult = text.isEmpty ? nil : try PairedRetrieval(a: video, b: text, dimension: dimension, subsetSize: subsetSize, subsets: subsets)
    }

    /// Each direction's name and figures.
    var directions: [(name: String, figures: RankingFigures)] {
        [("video_to_caption", result.forward), ("caption_to_video", result.backward)]
            + (textResult.map { [("video_to_text", $0.forward), ("text_to_video", $0.backward)] } ?? [])
    }

    /// The figures the run log records (metrics.jsonl `eval` records), chance beside the recalls.
    public var figures: [(name: String, value: Double)] {
        var figures: [(name: String, value: Double)] = [("set_size", Double(result.setSize))]
        figures += [1, 5, 10].map { ("chance_r\($0)", result.forward.chance(at: $0)) }
        for (direction, f) in directions {
            figures += [1, 5, 10].map { ("\(direction)_r\($0)", f.recall[$0] ?? 0) }
            figures += [("\(direction)_median_rank", f.medianRank), ("\(direction)_map", f.meanAveragePrecision)]
        }
        return figures + [RankingFigures.meanRecallAt10(directions.map(\.figures))]
    }

    /// The figures as a user reads them.
    public var report: String {
        let f = result.forward
        var lines = ["\(result.setSize) pairs per set, \(result.sets) set\(result.sets == 1 ? "" : "s") averaged; chance R@1 \(Self.percent(f.chance(at: 1))), R@5 \(Self.percent(f.chance(at: 5))), R@10 \(Self.percent(f.chance(at: 10)))"]
        for (name, f) in directions {
            let recalls = [1, 5, 10].map { "R@\($0) \(Self.percent(f.recall[$0] ?? 0))" }.joined(separator: "  ")
            lines.append("\(name.replacingOccurrences(of: "_to_", with: " -> ")): \(recalls)  median rank \(f.medianRank)  mAP \(Self.percent(f.meanAveragePrecision))")
        }
        return lines.joined(separator: "\n")
    }

    /// `0.123` as `12.3%`.
    public static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
}
