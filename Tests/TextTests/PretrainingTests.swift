import Foundation
import Testing
@testable import Text

@Suite struct PretrainingTests {
    static let tokenizer = Fixtures.uncased
    static let prose = Fixtures.corpus.dropFirst(40).joined(separator: " ")

    @Test func sentenceSplitterKeepsAbbreviationsAndInitials() {
        let s = SentenceSplitter().split("Dr. Smith met J. R. Tolkien at 5 p.m. in the U.S. yesterday. \"Really?\" she asked!  Yes. 我爱北京。天安门很大！ok")
        #expect(s == ["Dr. Smith met J. R. Tolkien at 5 p.m. in the U.S. yesterday.", "\"Really?\" she asked!", "Yes.", "我爱北京。", "天安门很大！", "ok"])
    }

    @Test func packingFillsBlocksAndLosesNoToken() throws {
        let tokenizer = try #require(Self.tokenizer)
        let packer = try BlockPacker(tokenizer: tokenizer, maxLength: 64)
        let sentences = packer.splitter.split(Self.prose).map { tokenizer.tokenIds($0) }
        let blocks = packer.packSentences(sentences)
        #expect(blocks.allSatisfy { $0.count <= 62 && !$0.isEmpty })
        // Every token survives, in order.
        #expect(blocks.flatMap { $0 } == sentences.flatMap { $0 })
        // Greedy: a block that is not full ends at a sentence end, and the next sentence would not fit.
        var sentenceAt: [Int: Int] = [:]
        var position = 0
        for sentence in sentences where !sentence.isEmpty { sentenceAt[position] = sentence.count; position += sentence.count }
        var start = 0
        for block in blocks.dropLast() {
            start += block.count
            if block.count < 62 {
                let next = try #require(sentenceAt[start], "block ends inside a sentence")
                #expect(block.count + next > 62)
            }
        }
        // A sentence longer than a block continues in the next one.
        let long = [Int32](repeating: 7, count: 150)
        #expect(packer.packSentences([[1, 2], long, [3]]).map(\.count) == [2, 62, 62, 27])
        #expect(throws: TextError.self) { try BlockPacker(tokenizer: tokenizer, maxLength: 2) }
    }

    @Test func wholeWordMaskingRatiosAndGrouping() throws {
        let tokenizer = try #require(Self.tokenizer)
        let vocab = try MaskingVocabulary(tokenizer: tokenizer)
        let masker = WholeWordMasker(vocabulary: vocab)
        let ids = tokenizer.encode(String(Self.prose.prefix(2000))).ids
        var rng = SplitMix64(seed: 42)
        var chosen = 0, total = 0, masked = 0, random = 0, kept = 0
        for _ in 0..<300 {
            let (input, labels) = masker.mask(ids, ratio: 0.15, using: &rng)
            for i in ids.indices {
                if vocab.isSpecial[Int(ids[i])] { #expect(labels[i] == ignoreLabel && input[i] == ids[i]) }
                total += vocab.isSpecial[Int(ids[i])] ? 0 : 1
                guard labels[i] != ignoreLabel else { #expect(input[i] == ids[i]); continue }
                #expect(labels[i] == ids[i])
                chosen += 1
                if input[i] == vocab.maskId { masked += 1 } else if input[i] == ids[i] { kept += 1 } else { random += 1 }
                // Whole words: a chosen continuation's previous token is chosen too.
                if vocab.isContinuation[Int(ids[i])] && i > 0 && !vocab.isSpecial[Int(ids[i - 1])] {
                    #expect(labels[i - 1] != ignoreLabel)
                }
                if i + 1 < ids.count && vocab.isContinuation[Int(ids[i + 1])] { #expect(labels[i + 1] != ignoreLabel) }
            }
        }
        #expect(abs(Double(chosen) / Double(total) - 0.15) < 0.005)
        #expect(abs(Double(masked) / Double(chosen) - 0.8) < 0.02)
        #expect(abs(Double(random) / Double(chosen) - 0.1) < 0.02)
        #expect(abs(Double(kept) / Double(chosen) - 0.1) < 0.02)
        // Seeded: the same seed gives the same masks.
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7)
        #expect(masker.mask(ids, ratio: 0.3, using: &a).inputIds == masker.mask(ids, ratio: 0.3, using: &b).inputIds)
    }

    @Test func retroMAECollatorMaskProperties() throws {
        let tokenizer = try #require(Self.tokenizer)
        let vocab = try MaskingVocabulary(tokenizer: tokenizer)
        let packer = try BlockPacker(tokenizer: tokenizer, maxLength: 128)
        let blocks = Array(packer.pack(Self.prose).prefix(8))
        let collator = RetroMAECollator(vocabulary: vocab)
        let batch = try collator.collate(blocks, seed: 1)
        let L = batch.length
        #expect(L == blocks.map(\.count).max()! + 2)
        var visible = 0, cells = 0, encoderChosen = 0, encoderTokens = 0
        for (b, block) in blocks.enumerated() {
            let n = block.count + 2
            let row = Array(batch.decoderInputIds[(b * L)..<(b * L + L)])
            #expect(Array(row[0..<n]) == [tokenizer.clsId] + block + [tokenizer.sepId])
            #expect(batch.decoderLabels[b * L] == ignoreLabel && batch.decoderLabels[b * L + n - 1] == ignoreLabel)
            #expect(Array(batch.decoderLabels[(b * L + 1)..<(b * L + n - 1)]) == block)
            #expect(Array(batch.attentionMask[(b * L)..<(b * L + L)]) == [UInt8](repeating: 1, count: n) + [UInt8](repeating: 0, count: L - n))
            for i in 0..<L {
                let m = batch.decoderAttentionMask[(b * L * L + i * L)..<(b * L * L + i * L + L)].map { $0 }
                if i < n {
                    #expect(m[i] == 0, "diagonal hidden")
                    if i >= 1 { #expect(m[0] == 1, "position 0 visible to row \(i)") }
                    #expect(m[n...].allSatisfy { $0 == 0 }, "padding hidden")
                    // Non-special columns other than the diagonal: about half visible.
                    for j in 1..<(n - 1) where j != i { visible += Int(m[j]); cells += 1 }
                } else {
                    #expect(m == [1] + [UInt8](repeating: 0, count: L - 1))
                }
            }
            for i in 1..<(n - 1) {
                encoderTokens += 1
                if batch.encoderLabels[b * L + i] != ignoreLabel { encoderChosen += 1 }
            }
            #expect(batch.encoderLabels[b * L] == ignoreLabel && batch.encoderInputIds[b * L] == tokenizer.clsId)
        }
        #expect(abs(Double(visible) / Double(cells) - 0.5) < 0.02)
        #expect(abs(Double(encoderChosen) / Double(encoderTokens) - 0.3) < 0.02)
        // Reproducible from the seed, whatever the thread count.
        var single = collator
        single.threads = 1
        #expect(try single.collate(blocks, seed: 1).decoderAttentionMask == batch.decoderAttentionMask)
        #expect(try collator.collate(blocks, seed: 2).decoderAttentionMask != batch.decoderAttentionMask)
        #expect(throws: TextError.self) { try collator.collate([[Int32](repeating: 5, count: 511)], seed: 0) }
    }
}
