import Models
import Tensor
import Text

/// A handful of sentences, a vocabulary holding exactly their words, and a tiny BERT shape:
/// small enough that a model overfits them in seconds in a debug build.
public enum TinyCorpus {
    public static let sentences = [
        "the quick brown fox jumps over the lazy dog",
        "a stitch in time saves nine small tears",
        "rivers flow downhill toward the quiet sea",
        "every cat sleeps most of the warm afternoon",
    ]

    public static let tokenizer: BertTokenizer = {
        let words = Set(sentences.flatMap { $0.split(separator: " ").map(String.init) }).sorted()
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
        // The five BERT specials are present by construction.
        return try! BertTokenizer(vocabulary: Vocabulary(tokens: tokens))
    }()

    /// Token ids of each sentence, without [CLS]/[SEP] (what packing produces).
    public static var blocks: [[Int32]] { sentences.map { tokenizer.tokenIds($0) } }

    public static func collator(encoderRatio: Double = 0.3, decoderRatio: Double = 0.5) -> RetroMAECollator {
        var collator = RetroMAECollator(vocabulary: try! MaskingVocabulary(tokenizer: tokenizer))
        collator.options.encoderRatio = encoderRatio
        collator.options.decoderRatio = decoderRatio
        collator.options.maxLength = 32
        return collator
    }

    public static func config(dropout: Float = 0, feedForward: LinearKind = .dense) -> BertConfig {
        var config = BertConfig()
        (config.vocabularySize, config.hidden, config.layers, config.heads) = (tokenizer.vocabulary.count, 32, 2, 4)
        (config.intermediate, config.maxPositions, config.dropout, config.feedForward) = (64, 32, dropout, feedForward)
        return config
    }
}
