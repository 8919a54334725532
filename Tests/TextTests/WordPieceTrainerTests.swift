import Foundation
import Testing
@testable import Text

@Suite struct WordPieceTrainerTests {
    @Test func trainedVocabularyRoundTripsItsCorpusWithFewUnknowns() throws {
        var trainer = WordPieceTrainer(vocabSize: 1500, minFrequency: 2)
        for line in Fixtures.corpus { trainer.add(line) }
        let vocabulary = trainer.train()
        #expect(vocabulary.count == 1500)
        #expect(Array(vocabulary.tokens.prefix(5)) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        #expect(Set(vocabulary.tokens).count == vocabulary.count)
        let tokenizer = try BertTokenizer(vocabulary: vocabulary)
        var tokens = 0, unknown = 0, words = 0
        for line in Fixtures.corpus {
            let ids = tokenizer.tokenIds(line)
            tokens += ids.count
            unknown += ids.filter { $0 == tokenizer.unkId }.count
            words += trainer.preTokenizer.words(line).count
        }
        // Only the over-long words of the edge cases (and rare characters) are unknown.
        #expect(Double(unknown) / Double(tokens) < 0.002, "\(unknown) [UNK] of \(tokens)")
        // Merges make tokens longer than characters: well under two tokens per word.
        #expect(Double(tokens) / Double(words) < 1.6)
        // Written and read back as vocab.txt, it is the same vocabulary.
        let url = try temporaryDirectory().appendingPathComponent("vocab.txt")
        try vocabulary.write(to: url)
        #expect(try Vocabulary(contentsOf: url).tokens == vocabulary.tokens)
    }

    /// Same corpus and settings as the cased tokenizer that `tokenizers` trained for the fixtures.
    @Test func learnsTheSameVocabularyAsTokenizersTrainer() throws {
        let reference = try BertTokenizer(tokenizerJSON: Fixtures.url("cased-tokenizer.json")).vocabulary
        var trainer = WordPieceTrainer(vocabSize: reference.count, minFrequency: 1, limitAlphabet: 500,
                                       normalizer: BertNormalizerOptions(stripAccents: true, lowercase: false))
        for _ in 0..<3 { for line in Fixtures.corpus { trainer.add(line) } }
        let ours = Set(trainer.train().tokens)
        let theirs = Set(reference.tokens)
        let shared = ours.intersection(theirs).count
        #expect(Double(shared) / Double(theirs.count) > 0.97, "\(shared) of \(theirs.count) tokens shared; only ours: \(ours.subtracting(theirs).sorted().prefix(20)); only theirs: \(theirs.subtracting(ours).sorted().prefix(20))")
    }
}
