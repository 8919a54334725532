import Models
import Settings
import Tensor
import Text

/// The caption text tower of the clip trainers that embed caption text, with its settings written
/// once: AVLnet's form, WordPiece ids through a learned embedding (`width`) and a linear layer
/// (`features`), pooled over the caption's first `maxWords` tokens (`CaptionEncoder`).
public struct CaptionTextOptions: Sendable, Equatable {
    public var width = 64
    public var features = 128
    public var maxWords = 20

    public init() {}

    /// Their settings, lifted into a trainer's options by `path`.
    public static func settings<Options>(at path: WritableKeyPath<Options, CaptionTextOptions>) -> [Setting<Options>] {
        let own: [Setting<CaptionTextOptions>] = [
            .int("text_width", \.width, max: 4096, "caption text: WordPiece embedding width"),
            .int("text_features", \.features, max: 4096, "caption text: token feature width"),
            .int("max_words", \.maxWords, max: 512, "caption text: WordPiece tokens kept"),
        ]
        return own.map { $0.lifted(path) }
    }

    public func encoder(vocabularySize: Int, rng: inout RandomGenerator) -> CaptionEncoder {
        CaptionEncoder(vocabularySize: vocabularySize, embeddingWidth: width, outputWidth: features, rng: &rng)
    }

    /// The WordPiece ids of each caption, cut to `maxWords`; a caption without tokens is an error
    /// naming its row in the batch (every clip needs caption text once a text tower embeds it).
    public func tokenIds(_ captions: [String], tokenizer: BertTokenizer) throws(TrainingError) -> [[Int32]] {
        try captions.enumerated().map { row, caption throws(TrainingError) in
            let ids = Array(tokenizer.tokenIds(caption).prefix(maxWords))
            guard !ids.isEmpty else {
                throw TrainingError(.data, "caption \(row)", "'\(caption)' has no WordPiece tokens (the caption text tower needs caption text for every clip)")
            }
            return ids
        }
    }

    /// Refuses widths or a vocabulary the checkpoint's `prefix` tensors do not have, before the
    /// tower is built (a few bytes of metadata must not make it allocate gigabytes).
    func checkWidths(against tensors: [String: Tensor], prefix: String, vocabularySize: Int, file: String) throws(TrainingError) {
        try checkRows([("\(prefix).embedding.weight", vocabularySize), ("\(prefix).projection.weight", features)], in: tensors, file: file)
        if let embedding = tensors["\(prefix).embedding.weight"], embedding.shape != [vocabularySize, width] {
            throw TrainingError(.checkpoint, file, "its settings say a text embedding of [\(vocabularySize), \(width)]; the file has \(embedding.shape)")
        }
    }
}
