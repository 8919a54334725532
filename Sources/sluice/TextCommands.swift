import ArgumentParser
import Dispatch
import Foundation
import PipelineCore
import SystemErrors
import Text

/// Options naming a corpus and how its documents are laid out.
struct CorpusOptions: ParsableArguments {
    /// How a corpus file holds its documents.
    enum Format: String, CaseIterable, ExpressibleByArgument {
        /// One document per line.
        case lines
        /// Documents separated by blank lines.
        case paragraphs
        /// JSON Lines, the document in `--field`.
        case jsonl
    }

    @Option(name: .customLong("in"), help: ArgumentHelp("Input files, directories or globs (gzip/zstd detected).", valueName: "path"),
            transform: localPath)
    var inputs: [String]

    @Option(help: "lines (one document per line), paragraphs (blank-line separated) or jsonl.")
    var format = Format.lines

    @Option(help: "The JSONL field holding the document.")
    var field: String = "text"

    func reader(keepEmptyDocuments: Bool = false) throws -> CorpusReader {
        let corpusFormat: CorpusFormat = switch format {
        case .lines: .lines
        case .paragraphs: .paragraphs
        case .jsonl: .jsonl(field: field)
        }
        return try CorpusReader(paths: inputs, format: corpusFormat, keepEmptyDocuments: keepEmptyDocuments)
    }
}

/// Reports quarantined records on stderr: the first few in full, then a count.
final class QuarantineReporter {
    private var shown = 0
    func report(_ q: CorpusQuarantine) {
        shown += 1
        if shown <= 10 { printError("quarantined: \(q.description)") }
        if shown == 11 { printError("quarantined: (more records not shown)") }
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize a corpus with a BERT WordPiece vocabulary: one JSON array of ids per input record.",
        discussion: """
            The ids are those Hugging Face tokenizers produces for the same vocabulary and options. \
            Output line N is input record N: an empty line gives [CLS] [SEP] (as Hugging Face does), \
            a quarantined record (invalid UTF-8, an over-long line) gives null; --skip-empty drops both. \
            The output is written to FILE.partial and renamed to FILE when every record is done.

              sluice tokenize --tokenizer vocab.txt --in corpus.txt --out ids.jsonl --stats
            """)

    @Option(help: ArgumentHelp("A BERT vocab.txt or a tokenizer.json.", valueName: "file"), transform: localPath)
    var tokenizer: String

    @OptionGroup var corpus: CorpusOptions

    @Option(help: ArgumentHelp("Where to write the ids (JSON lines); omit to only count.", valueName: "file"), transform: localPath)
    var out: String?

    @Flag(help: "Print totals: documents, tokens, [UNK] rate, throughput.")
    var stats = false

    @Flag(help: "For vocab.txt: keep case and accents (a cased vocabulary).")
    var cased = false

    @Flag(help: "Leave out [CLS] and [SEP].")
    var noSpecialTokens = false

    @Flag(help: "Drop empty documents and quarantined records (the output is then no longer line for line with the input).")
    var skipEmpty = false

    @Option(help: "Threads to tokenize on.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let tokenizer = try BertTokenizer(contentsOf: URL(fileURLWithPath: self.tokenizer), lowercase: !cased)
        let reader = try corpus.reader(keepEmptyDocuments: !skipEmpty)
        let output = try out.map(PartialFile.init)
        let reporter = QuarantineReporter()
        let start = DispatchTime.now().uptimeNanoseconds
        let totals = try tokenizeCorpus(reader, tokenizer: tokenizer, addSpecialTokens: !noSpecialTokens,
                                        threads: max(1, threads), aligned: !skipEmpty,
                                        write: { try output?.write($0) }, quarantine: reporter.report)
        try output?.commit()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if stats {
            print(totals.summary + String(format: ", %.2f s, %.1f MB/s", seconds, Double(totals.bytes) / 1e6 / seconds))
        }
        if totals.quarantined > 0 { printError("\(totals.quarantined) record(s) quarantined") }
    }
}

/// An output file written as `path.partial` and renamed to `path` by `commit()`, so a file under
/// the final name is always complete; a killed or failed run leaves only the `.partial`.
final class PartialFile {
    let path: String
    let partial: String
    private let handle: FileHandle
    private var closed = false

    init(_ path: String) throws {
        self.path = path
        partial = path + ".partial"
        for candidate in [path, partial] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                throw FileSystemError(.writeFailed, path: candidate, "is a directory; name the output file")
            }
        }
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw FileSystemError(.writeFailed, path: partial, "cannot create: \(SystemErrorText.words(errno: errno))")
        }
        self.handle = handle
    }

    func write(_ data: Data) throws {
        do { try handle.write(contentsOf: data) } catch {
            throw FileSystemError(.writeFailed, path: partial, "cannot write: \(SystemErrorText.words(error))")
        }
    }

    /// Flushes to disk and renames into place.
    func commit() throws {
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw FileSystemError(.writeFailed, path: partial, "cannot flush to disk: \(SystemErrorText.words(error))")
        }
        closed = true
        guard rename(partial, path) == 0 else {
            throw FileSystemError(.writeFailed, path: partial, "cannot rename to \(path): \(SystemErrorText.words(errno: errno))")
        }
    }

    deinit { if !closed { try? handle.close() } }
}

struct Vocab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Vocabulary tools.", subcommands: [VocabTrain.self])
}

struct VocabTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a WordPiece vocab.txt of a given size from a corpus (as tokenizers' WordPiece trainer).",
        discussion: "  sluice vocab train --in samples/retromae/corpus.txt.gz --size 4096 --out vocab.txt")

    @OptionGroup var corpus: CorpusOptions

    @Option(help: "Vocabulary size, special tokens included.")
    var size: Int = 30522

    @Option(help: "Pairs seen fewer times are not merged.")
    var minFrequency: Int = 2

    @Option(help: "Keep at most this many distinct characters.")
    var limitAlphabet: Int = 1000

    @Flag(help: "Keep case and accents.")
    var cased = false

    @Option(help: ArgumentHelp("Where to write vocab.txt.", valueName: "file"), transform: localPath)
    var out: String

    func validate() throws {
        guard size > 5 else { throw ValidationError("--size must leave room beyond the 5 special tokens") }
    }

    func run() throws {
        var trainer = WordPieceTrainer(vocabSize: size, minFrequency: minFrequency, limitAlphabet: limitAlphabet,
                                       normalizer: BertNormalizerOptions(lowercase: !cased))
        let reader = try corpus.reader()
        let reporter = QuarantineReporter()
        while let record = reader.next() {
            switch record {
            case .document(let d): trainer.add(d.text)
            case .quarantined(let q): reporter.report(q)
            }
        }
        let vocabulary = trainer.train()
        try vocabulary.write(to: URL(fileURLWithPath: out))
        print("\(out): \(vocabulary.count) tokens from \(reader.stats.documents) documents (\(trainer.wordCounts.count) distinct words)")
        if vocabulary.count < size {
            printError("note: the corpus supports only \(vocabulary.count) tokens at --min-frequency \(minFrequency)")
        }
    }
}
