import Foundation
import Testing

/// `sluice tokenize` and `sluice vocab train` as a user runs them.
extension CommandLineTests {
    @Test func tokenizeWritesOneArrayOfIdsPerDocumentAndReportsBadLines() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus.txt")
        try Data("Hello, world!\n\nUnaffable tokenization.\n".utf8 + [0xFF, 0x0A]).write(to: corpus)
        let out = dir.appendingPathComponent("ids.jsonl")
        let result = try sluice(["tokenize", "--tokenizer", "samples/text/bert-base-uncased-vocab.txt",
                                 "--in", corpus.path, "--out", out.path, "--stats"])
        // Line for line with the input: the empty line is [CLS] [SEP] (as Hugging Face encodes ""),
        // the invalid one null; the file appears under its name only once complete.
        #expect(result.status == 0)
        #expect(try String(contentsOf: out, encoding: .utf8)
            == "[101,7592,1010,2088,999,102]\n[101,102]\n[101,14477,20961,3468,19204,3989,1012,102]\nnull\n")
        #expect(!FileManager.default.fileExists(atPath: out.path + ".partial"))
        #expect(result.output.hasPrefix("3 documents, 16 tokens"))
        #expect(result.errors.contains("\(corpus.path):4: invalid UTF-8"))

        let skipped = try sluice(["tokenize", "--tokenizer", "samples/text/bert-base-uncased-vocab.txt",
                                  "--in", corpus.path, "--out", out.path, "--skip-empty"])
        #expect(skipped.status == 0)
        #expect(try String(contentsOf: out, encoding: .utf8)
            == "[101,7592,1010,2088,999,102]\n[101,14477,20961,3468,19204,3989,1012,102]\n")
        #expect(skipped.errors.contains("\(corpus.path):2: empty document"))

        let taken = try sluice(["tokenize", "--tokenizer", "samples/text/bert-base-uncased-vocab.txt",
                                "--in", corpus.path, "--out", dir.path])
        #expect(taken.status != 0)
        #expect(taken.errors.contains("\(dir.path): is a directory; name the output file"))
        #expect(FileManager.default.fileExists(atPath: corpus.path))

        let missing = try sluice(["tokenize", "--tokenizer", dir.appendingPathComponent("none.txt").path, "--in", corpus.path])
        #expect(missing.status != 0)
        #expect(missing.errors.contains("none.txt: cannot read vocabulary: no such file or directory (ENOENT)"), "\(missing.errors)")
        #expect(!missing.errors.contains("The operation could not be completed"))
    }

    @Test func vocabTrainWritesAVocabularyThatTokenizes() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = dir.appendingPathComponent("vocab.txt")
        let result = try sluice(["vocab", "train", "--in", "samples/text/corpus.txt", "--format", "paragraphs",
                                 "--size", "800", "--out", vocab.path])
        #expect(result.status == 0)
        #expect(result.output.contains("800 tokens from 300 documents"))
        let tokens = try String(contentsOf: vocab, encoding: .utf8).split(separator: "\n")
        #expect(tokens.count == 800 && tokens.prefix(5) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        let stats = try sluice(["tokenize", "--tokenizer", vocab.path, "--in", "samples/text/corpus.txt",
                                "--format", "paragraphs", "--stats"])
        #expect(stats.output.contains(" 0 [UNK]"))
    }
}
