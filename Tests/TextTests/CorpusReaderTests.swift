import CZlib
import CZstd
import Foundation
import Testing
@testable import Text

/// A fresh temporary directory per test.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-text-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var z = z_stream()
    _ = sluice_deflate_init2(&z, 6, 15 + 16)
    defer { deflateEnd(&z) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&z, UInt(bytes.count))) + 32)
    var input = bytes
    input.withUnsafeMutableBufferPointer { i in
        out.withUnsafeMutableBufferPointer { o in
            z.next_in = i.baseAddress; z.avail_in = UInt32(i.count)
            z.next_out = o.baseAddress; z.avail_out = UInt32(o.count)
            _ = deflate(&z, Z_FINISH)
        }
    }
    return Array(out[0..<Int(z.total_out)])
}

func zstd(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
    let n = ZSTD_compress(&out, out.count, bytes, bytes.count, 3)
    return Array(out[0..<n])
}

func documents(_ records: [CorpusRecord]) -> [String] {
    records.compactMap { if case .document(let d) = $0 { d.text } else { nil } }
}

func quarantined(_ records: [CorpusRecord]) -> [CorpusQuarantine] {
    records.compactMap { if case .quarantined(let q) = $0 { q } else { nil } }
}

@Suite struct CorpusReaderTests {
    @Test func badLinesAreQuarantinedWithFileAndLine() throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("a.txt")
        var bytes = Array("first document\r\n\nthird \u{e9}\n".utf8)
        bytes += [0x62, 0x61, 0x64, 0xFF, 0xFE, 0x0A]          // line 4: invalid UTF-8
        bytes += Array(String(repeating: "x", count: 300).utf8) + [0x0A]   // line 5: over the limit
        bytes += Array("   \nlast without newline".utf8)
        try Data(bytes).write(to: file)
        let reader = try CorpusReader(paths: [file.path], maxLineBytes: 200)
        let records = Array(reader)
        #expect(documents(records) == ["first document", "third \u{e9}", "last without newline"])
        #expect(quarantined(records).map(\.line) == [2, 4, 5, 6])
        #expect(quarantined(records).map(\.reason) == [.emptyDocument, .invalidUTF8, .lineTooLong(bytes: 300), .emptyDocument])
        #expect(quarantined(records)[1].description == "\(file.path):4: invalid UTF-8")
        #expect(reader.stats == CorpusStats(files: 1, documents: 3, bytes: 42, quarantined: 4))
    }

    @Test func gzipAndZstdAreDetectedByContentAcrossChunkBoundaries() throws {
        let dir = try temporaryDirectory()
        let lines = (0..<40_000).map { "line \($0) of a compressed corpus with some words" }
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        let half = text.count / 2
        // Two concatenated gzip members are one stream, as `cat a.gz b.gz` makes.
        try Data(gzip(Array(text[..<half])) + gzip(Array(text[half...]))).write(to: dir.appendingPathComponent("a.gz"))
        try Data(zstd(text)).write(to: dir.appendingPathComponent("b.data"))
        try Data(text).write(to: dir.appendingPathComponent("c.txt"))
        for name in ["a.gz", "b.data", "c.txt"] {
            let got = documents(Array(try CorpusReader(paths: [dir.appendingPathComponent(name).path])))
            #expect(got == lines, "\(name)")
        }
        // A directory reads its files in sorted order.
        #expect(try CorpusReader(paths: [dir.path]).files.map { ($0 as NSString).lastPathComponent } == ["a.gz", "b.data", "c.txt"])
        #expect(try CorpusReader(paths: [dir.path + "/*.txt"]).files.count == 1)
    }

    @Test func truncatedCompressedFileIsQuarantinedNotFatal() throws {
        let dir = try temporaryDirectory()
        let text = Array((0..<5000).map { "row \($0)" }.joined(separator: "\n").utf8)
        let gz = gzip(text)
        try Data(gz[..<(gz.count / 2)]).write(to: dir.appendingPathComponent("a.gz"))
        try Data("next file\n".utf8).write(to: dir.appendingPathComponent("b.txt"))
        let records = Array(try CorpusReader(paths: [dir.path]))
        let q = try #require(quarantined(records).last)
        #expect(q.reason == .unreadable("gzip stream is truncated"))
        // Every line before the damage was read; the record names the first line that was not.
        let readFromDamaged = records.filter { if case .document(let d) = $0 { d.source.hasSuffix("a.gz") } else { false } }
        #expect(q.line == readFromDamaged.count + 1)
        #expect(documents(records).last == "next file")
        #expect(documents(records).count > 100)
    }

    @Test func paragraphsAndJSONLFields() throws {
        let dir = try temporaryDirectory()
        let p = dir.appendingPathComponent("p.txt")
        try Data("One two.\nThree.\n\n\n\nFour\n\nbad \u{1}\n".utf8 + [0xC3, 0x0A, 0x0A, 0x66, 0x0A]).write(to: p)
        let records = Array(try CorpusReader(paths: [p.path], format: .paragraphs))
        #expect(documents(records) == ["One two.\nThree.", "Four", "f"])
        #expect(quarantined(records).map(\.line) == [9])

        let j = dir.appendingPathComponent("j.jsonl")
        try Data("{\"text\": \"hello\"}\n{\"body\": 1}\n{not json\n{\"text\": \"\"}\n".utf8).write(to: j)
        let jr = Array(try CorpusReader(paths: [j.path], format: .jsonl(field: "text")))
        #expect(documents(jr) == ["hello"])
        #expect(quarantined(jr).map(\.reason).first == .missingField("text"))
        #expect(quarantined(jr).map(\.line) == [2, 3, 4])
    }

    /// Random bytes, and compressed files with random damage, never crash or hang the reader:
    /// every line ends up as a document or a quarantine record.
    @Test func damagedInputsAreReadOrQuarantined() throws {
        let dir = try temporaryDirectory()
        var rng = SplitMix64(seed: 3)
        let text = Array((0..<2000).map { "line \($0) \u{e9}\u{4e2d}" }.joined(separator: "\n").utf8)
        for k in 0..<24 {
            var bytes: [UInt8]
            switch k % 3 {
            case 0: bytes = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 1: bytes = gzip(text)
            default: bytes = zstd(text)
            }
            if k % 3 != 0 {
                for _ in 0..<(1 + k / 3) { bytes[10 + rng.below(bytes.count - 10)] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            try Data(bytes).write(to: dir.appendingPathComponent(String(format: "f%02d", k)))
        }
        for format in [CorpusFormat.lines, .paragraphs, .jsonl(field: "text")] {
            let reader = try CorpusReader(paths: [dir.path], format: format, maxLineBytes: 300)
            let records = Array(reader)
            #expect(reader.stats.files == 24)
            #expect(reader.stats.documents + reader.stats.quarantined == records.count)
            #expect(quarantined(records).count > 0)
        }
    }

    /// Written one per line, the fixture corpus (blank entries included) tokenizes line for line to
    /// exactly the ids Hugging Face gives each entry: "" and "   " are [CLS] [SEP].
    @Test func alignedTokenizationMatchesHuggingFaceLineForLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let expected = try Fixtures.jsonLines("uncased-expected.jsonl").map { $0["ids"] as! [Int] }
        let lines = zip(Fixtures.corpus, expected).filter { !$0.0.contains("\n") && !$0.0.contains("\r") }
        #expect(lines.contains { $0.0.isEmpty })
        let file = dir.appendingPathComponent("lines.txt")
        try Data((lines.map(\.0).joined(separator: "\n") + "\n").utf8 + [0xFF, 0x0A]).write(to: file)
        var output = Data()
        let stats = try tokenizeCorpus(try CorpusReader(paths: [file.path], keepEmptyDocuments: true),
                                       tokenizer: try #require(Fixtures.uncased), chunkSize: 7, aligned: true,
                                       write: { output.append($0) }, quarantine: { _ in })
        let written = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(written.count == lines.count + 1)
        for ((text, ids), line) in zip(lines, written) {
            #expect(line == "[" + ids.map(String.init).joined(separator: ",") + "]", "\(text)")
        }
        #expect(written.last == "null")
        #expect(stats.documents == lines.count && stats.quarantined == 1)
    }

    @Test func lineLimitIsBounded() {
        let error = #expect(throws: TextError.self) { try CorpusReader(paths: [], maxLineBytes: Int.max) }
        #expect(error?.code == .invalidOption)
    }

    @Test func missingFileIsAClearError() {
        #expect(throws: TextError(.notFound, path: "/nonexistent/x*.txt", "no such file, directory or matching glob")) {
            try CorpusReader(paths: ["/nonexistent/x*.txt"])
        }
    }

    @Test func pairsFromTSVAndJSONL() throws {
        let dir = try temporaryDirectory()
        let t = dir.appendingPathComponent("triples.tsv")
        try Data("what is swift\tSwift is a language.\tA bird.\nno positive\n".utf8).write(to: t)
        let tsv = Array(try PairReader(paths: [t.path]))
        #expect(tsv.first == .pair(TextPair(query: "what is swift", positive: "Swift is a language.", negatives: ["A bird."], source: t.path, line: 1)))
        #expect(tsv.last == .quarantined(CorpusQuarantine(source: t.path, line: 2, reason: .missingField("positive (second tab-separated column)"))))

        let j = dir.appendingPathComponent("pairs.jsonl")
        try Data(#"{"query": "q", "pos": ["p1", "p2"], "neg": ["n"]}"#.utf8 + [0x0A]).write(to: j)
        let pairs = Array(try PairReader(paths: [j.path], format: .jsonl()))
        #expect(pairs.count == 2)
        #expect(pairs.last == .pair(TextPair(query: "q", positive: "p2", negatives: ["n"], source: j.path, line: 1)))
    }
}
