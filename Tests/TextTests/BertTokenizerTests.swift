import Foundation
import Testing
@testable import Text

@Suite struct BertTokenizerTests {
    @Test func uncasedVocabMatchesTokenizersIdForId() throws {
        let tokenizer = try #require(Fixtures.uncased)
        let expected = try Fixtures.jsonLines("uncased-expected.jsonl").map(ExpectedEncoding.init)
        #expect(Fixtures.corpus.count == expected.count && expected.count > 300)
        var mismatches = 0
        for (line, (text, want)) in zip(Fixtures.corpus, expected).enumerated() {
            let got = tokenizer.encode(text)
            if got.ids != want.ids || got.offsets != want.offsets || got.typeIds != want.typeIds {
                mismatches += 1
                Issue.record("line \(line) \(text.debugDescription):\n got \(got.ids) \(got.offsets)\nwant \(want.ids) \(want.offsets)")
            }
        }
        #expect(mismatches == 0)
    }

    @Test func casedAccentStrippingTokenizerJSONMatchesTokenizers() throws {
        let tokenizer = try BertTokenizer(tokenizerJSON: Fixtures.url("cased-tokenizer.json"))
        #expect(tokenizer.normalizer == BertNormalizerOptions(stripAccents: true, lowercase: false))
        let expected = try Fixtures.jsonLines("cased-expected.jsonl").map(ExpectedEncoding.init)
        for (line, (text, want)) in zip(Fixtures.corpus, expected).enumerated() {
            let got = tokenizer.encode(text)
            #expect(got.ids == want.ids, "line \(line) \(text.debugDescription)")
            #expect(got.offsets == want.offsets, "line \(line) \(text.debugDescription)")
        }
    }

    @Test func pairsAndLongestFirstTruncationMatchTokenizers() throws {
        var tokenizer = try #require(Fixtures.uncased)
        for record in try Fixtures.jsonLines("pairs-expected.jsonl") {
            let want = try ExpectedEncoding(record)
            tokenizer.truncation = record["max_length"] as? Int
            let a = try #require(record["a"] as? String)
            let got = tokenizer.encode(a, pair: record["b"] as? String)
            #expect(got.ids == want.ids, "max_length \(tokenizer.truncation ?? 0): \(a.prefix(40))")
            #expect(got.typeIds == want.typeIds)
            #expect(got.offsets == want.offsets)
        }
    }

    @Test func paddingFillsWithPadAndZeroAttention() throws {
        var tokenizer = try #require(Fixtures.uncased)
        tokenizer.padding = 8
        let e = tokenizer.encode("hello world")
        #expect(e.ids == [101, 7592, 2088, 102, 0, 0, 0, 0])
        #expect(e.attentionMask == [1, 1, 1, 1, 0, 0, 0, 0])
        #expect(e.specialTokensMask == [true, false, false, true, true, true, true, true])
    }

    @Test func tokensShowTheWordPieces() throws {
        let tokenizer = try #require(Fixtures.uncased)
        #expect(tokenizer.tokens("Unaffable tokenization!") == ["una", "##ffa", "##ble", "token", "##ization", "!"])
    }

    /// Every code point of the first three planes, checked against what `tokenizers` does with it.
    @Test func scalarTablesAgreeWithTokenizersForEveryCodePoint() throws {
        let tables = try #require(try Fixtures.json("unicode-tables.json") as? [String: Any])
        func set(_ key: String) throws -> Set<UInt32> {
            let ranges = try #require(tables[key] as? [[Int]])
            return Set(ranges.flatMap { UInt32($0[0])...UInt32($0[1]) })
        }
        let removed = try set("removed"), whitespace = try set("whitespace"), chinese = try set("chinese")
        let punctuation = try set("punctuation"), split = try set("pretokenizer_whitespace")
        let mappings = try #require(tables["mappings"] as? [String: [Int]])
        let configs: [String: BertNormalizerOptions] = [
            "lowercase_strip": .init(cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: true),
            "strip": .init(cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false),
            "lowercase": .init(cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true),
        ]
        let clean = BertNormalizerOptions(cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false)
        var wrong: [String] = []
        for v in UInt32(0)..<0x30000 {
            guard let u = Unicode.Scalar(v) else { continue }
            let (action, _) = ScalarTable.normalize(u, clean)
            if (action == .remove) != removed.contains(v) { wrong.append("removed U+\(String(v, radix: 16))") }
            if (action == .whitespace && u != " ") != whitespace.contains(v) { wrong.append("whitespace U+\(String(v, radix: 16))") }
            if ScalarTable.isChinese(v) != chinese.contains(v) { wrong.append("chinese U+\(String(v, radix: 16))") }
            let cls = ScalarTable.pretokenClass(u)
            if (cls == .punctuation) != punctuation.contains(v) { wrong.append("punctuation U+\(String(v, radix: 16))") }
            if (cls == .whitespace) != split.contains(v) { wrong.append("split U+\(String(v, radix: 16))") }
        }
        for (name, options) in configs {
            var expected: [UInt32: [UInt32]] = [:]
            let flat = try #require(mappings[name])
            var i = 0
            while i < flat.count {
                let n = flat[i + 1]
                expected[UInt32(flat[i])] = flat[(i + 2)..<(i + 2 + n)].map { UInt32($0) }
                i += 2 + n
            }
            for v in UInt32(0)..<0x30000 where !(0xAC00...0xD7A3).contains(v) {
                guard let u = Unicode.Scalar(v) else { continue }
                let got = ScalarTable.normalize(u, options).1.map(\.value)
                if got != (expected[v] ?? [v]) { wrong.append("\(name) U+\(String(v, radix: 16)): \(got) vs \(expected[v] ?? [v])") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) differences: \(wrong.prefix(40))")
    }

    /// The precomputed table the hot loop reads says what `normalize` says, for every entry.
    @Test func scalarTableEntriesMatchTheNormalizer() {
        for options in [BertNormalizerOptions(), BertNormalizerOptions(stripAccents: true, lowercase: false),
                        BertNormalizerOptions(cleanText: false, handleChineseChars: false, lowercase: false)] {
            let table = ScalarTable.shared(options)
            var wrong: [UInt32] = []
            for v in UInt32(0)..<UInt32(ScalarTable.tableSize) {
                guard let u = Unicode.Scalar(v) else { continue }
                let (action, outputs) = ScalarTable.normalize(u, options)
                let entry = table.entries[Int(v)]
                var got: [UInt32]
                if entry & 4 == 0 {
                    got = [v | ((entry >> 3) & 3) << 24]
                } else {
                    let at = Int(entry >> 8)
                    got = Array(table.expansions[(at + 1)..<(at + 1 + Int(table.expansions[at]))])
                }
                let want = outputs.map { $0.value | ScalarTable.pretokenClass($0).rawValue << 24 }
                if entry & 3 != action.rawValue || got != want { wrong.append(v) }
            }
            #expect(wrong.isEmpty, "\(options): \(wrong.count) entries differ, first \(wrong.prefix(10))")
        }
    }
}
