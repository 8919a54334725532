import Foundation

/// The result of tokenizing one text or one pair of texts.
public struct Encoding: Sendable, Equatable {
    /// Token ids, special tokens included when they were requested.
    public var ids: [Int32]
    /// 0 for the first sequence (and its [CLS]/[SEP]), 1 for the second of a pair.
    public var typeIds: [UInt8]
    /// UTF-8 byte range of each token in the text it came from (the first or the second of a pair);
    /// empty at 0 for tokens the post-processor added ([CLS], [SEP], [PAD]).
    public var offsets: [Range<Int>]
    /// True for [CLS]/[SEP]/[PAD] added around the text.
    public var specialTokensMask: [Bool]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [UInt8]

    /// An empty encoding.
    public init() {
        ids = []; typeIds = []; offsets = []; specialTokensMask = []; attentionMask = []
    }

    /// Number of tokens.
    public var count: Int { ids.count }

    mutating func append(_ id: Int32, _ offset: Range<Int>, type: UInt8, special: Bool) {
        ids.append(id); typeIds.append(type); offsets.append(offset)
        specialTokensMask.append(special); attentionMask.append(1)
    }

    mutating func append(contentsOf other: Encoding, type: UInt8) {
        ids += other.ids; offsets += other.offsets; specialTokensMask += other.specialTokensMask
        attentionMask += other.attentionMask
        typeIds += repeatElement(type, count: other.count)
    }

    mutating func truncate(to n: Int) {
        guard count > n else { return }
        let n = max(0, n)
        ids.removeLast(count - n); typeIds.removeLast(typeIds.count - n); offsets.removeLast(offsets.count - n)
        specialTokensMask.removeLast(specialTokensMask.count - n); attentionMask.removeLast(attentionMask.count - n)
    }
}

/// BERT's WordPiece tokenizer: the BERT normalizer, the BERT pre-tokenizer (split on whitespace,
/// isolate punctuation) and greedy longest-match-first WordPiece, with the same ids and offsets as
/// Hugging Face `tokenizers` for the same vocabulary and options.
public struct BertTokenizer: Sendable {
    /// The vocabulary (ids and token strings).
    public let vocabulary: Vocabulary
    /// Normalization options.
    public let normalizer: BertNormalizerOptions
    /// Words longer than this many characters become [UNK] whole.
    public var maxInputCharsPerWord = 100
    /// Cut encodings (special tokens included) to this length, longest sequence first for pairs.
    public var truncation: Int?
    /// Pad encodings with [PAD] to this length.
    public var padding: Int?
    /// Whether `encode` wraps sequences in [CLS] ... [SEP] (a tokenizer.json without a
    /// post-processor does not).
    public var addsClsAndSep = true

    /// Id of [UNK].
    public let unkId: Int32
    /// Id of [CLS].
    public let clsId: Int32
    /// Id of [SEP].
    public let sepId: Int32
    /// Id of [PAD].
    public let padId: Int32
    /// Id of [MASK], when the vocabulary has one.
    public let maskId: Int32?
    /// Tokens matched literally in the raw text before normalization (the special tokens).
    let addedTokens: [(bytes: [UInt8], id: Int32)]
    let addedFirstBytes: [Bool]
    /// The normalizer and pre-tokenizer.
    public let preTokenizer: BertPreTokenizer

    /// A tokenizer over a vocabulary; the special tokens are looked up by their BERT names.
    public init(vocabulary: Vocabulary, normalizer: BertNormalizerOptions = .init(),
                unkToken: String = "[UNK]", clsToken: String = "[CLS]", sepToken: String = "[SEP]",
                padToken: String = "[PAD]", maskToken: String = "[MASK]") throws(TextError) {
        func required(_ t: String) throws(TextError) -> Int32 {
            guard let id = vocabulary.id(of: t) else { throw TextError(.invalidData, "vocabulary has no \(t) token") }
            return id
        }
        let unk = try required(unkToken), cls = try required(clsToken), sep = try required(sepToken)
        let pad = try required(padToken)
        let mask = vocabulary.id(of: maskToken)
        let specials = [(padToken, pad), (unkToken, unk), (clsToken, cls), (sepToken, sep)]
            + (mask.map { [(maskToken, $0)] } ?? [])
        try self.init(vocabulary: vocabulary, normalizer: normalizer, unkId: unk, clsId: cls, sepId: sep,
                      padId: pad, maskId: mask, addedTokens: specials)
    }

    init(vocabulary: Vocabulary, normalizer: BertNormalizerOptions, unkId: Int32, clsId: Int32, sepId: Int32,
         padId: Int32, maskId: Int32?, addedTokens: [(String, Int32)]) throws(TextError) {
        self.vocabulary = vocabulary
        self.normalizer = normalizer
        self.unkId = unkId; self.clsId = clsId; self.sepId = sepId; self.padId = padId; self.maskId = maskId
        self.addedTokens = addedTokens.filter { !$0.0.isEmpty }.map { (Array($0.0.utf8), $0.1) }
        var first = [Bool](repeating: false, count: 256)
        for t in self.addedTokens { first[Int(t.bytes[0])] = true }
        addedFirstBytes = first
        preTokenizer = BertPreTokenizer(normalizer)
    }

    /// Loads a BERT `vocab.txt` with the given options.
    public init(vocabFile url: URL, normalizer: BertNormalizerOptions = .init()) throws(TextError) {
        try self.init(vocabulary: Vocabulary(contentsOf: url), normalizer: normalizer)
    }

    /// Ids of [CLS], [SEP], [PAD], [UNK] and [MASK]: the tokens masking must never touch.
    public var specialIds: Set<Int32> {
        Set([unkId, clsId, sepId, padId] + (maskId.map { [$0] } ?? []))
    }

    // MARK: Encoding

    /// Tokenizes one text, or a pair, adding [CLS]/[SEP] and applying truncation and padding.
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true) -> Encoding {
        let addSpecialTokens = addSpecialTokens && addsClsAndSep
        var a = encodeWords(text)
        var b = pair.map { encodeWords($0) }
        if let maxLength = truncation {
            let added = addSpecialTokens ? (b == nil ? 2 : 3) : 0
            let budget = max(0, maxLength - added)
            if var second = b {
                var n1 = a.count, n2 = second.count
                let swapped = n1 > n2
                if swapped { swap(&n1, &n2) }
                n2 = n1 > budget ? n1 : max(n1, budget - n1)
                if n1 + n2 > budget { n1 = budget / 2; n2 = n1 + budget % 2 }
                if swapped { swap(&n1, &n2) }
                a.truncate(to: n1); second.truncate(to: n2)
                b = second
            } else {
                a.truncate(to: budget)
            }
        }
        var out = Encoding()
        if addSpecialTokens { out.append(clsId, 0..<0, type: 0, special: true) }
        out.append(contentsOf: a, type: 0)
        if addSpecialTokens { out.append(sepId, 0..<0, type: 0, special: true) }
        if let b {
            out.append(contentsOf: b, type: 1)
            if addSpecialTokens { out.append(sepId, 0..<0, type: 1, special: true) }
        }
        if let padding, out.count < padding {
            for _ in out.count..<padding {
                out.append(padId, 0..<0, type: 0, special: true)
                out.attentionMask[out.count - 1] = 0
            }
        }
        return out
    }

    /// Token ids of a text without special tokens, truncation or padding: what packing stores.
    public func tokenIds(_ text: String) -> [Int32] {
        tokenize(text, withOffsets: false).ids
    }

    /// Token strings of a text (no special tokens), for inspection.
    public func tokens(_ text: String) -> [String] {
        tokenIds(text).map { vocabulary.tokens[Int($0)] }
    }

    func encodeWords(_ text: String) -> Encoding {
        let (ids, offsets) = tokenize(text, withOffsets: true)
        var e = Encoding()
        e.ids = ids
        e.offsets = offsets
        e.typeIds = [UInt8](repeating: 0, count: ids.count)
        e.specialTokensMask = [Bool](repeating: false, count: ids.count)
        e.attentionMask = [UInt8](repeating: 1, count: ids.count)
        return e
    }

    /// Splits the raw text at special tokens (matched literally, leftmost then longest, as
    /// `tokenizers` does for non-normalized added tokens) and tokenizes the pieces between them.
    func tokenize(_ text: String, withOffsets: Bool) -> (ids: [Int32], offsets: [Range<Int>]) {
        var sink = WordPieceSink(vocabulary: vocabulary, unkId: unkId, maxInputCharsPerWord: maxInputCharsPerWord,
                                 withOffsets: withOffsets, ids: [], offsets: [])
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var scratch = WordScratch()
            let n = buffer.count
            var segmentStart = 0
            var i = 0
            while i < n {
                if addedFirstBytes[Int(base[i])], let (id, length) = matchAddedToken(base + i, n - i) {
                    preTokenizer.splitWords(base, segmentStart, i, &scratch, &sink)
                    sink.ids.append(id)
                    if withOffsets { sink.offsets.append(i..<(i + length)) }
                    i += length
                    segmentStart = i
                } else {
                    i &+= 1
                }
            }
            preTokenizer.splitWords(base, segmentStart, n, &scratch, &sink)
        }
        return (sink.ids, sink.offsets)
    }

    private func matchAddedToken(_ p: UnsafePointer<UInt8>, _ remaining: Int) -> (Int32, Int)? {
        var best: (Int32, Int)?
        for t in addedTokens where t.bytes.count <= remaining && t.bytes.count > (best?.1 ?? 0) {
            if t.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, p, t.bytes.count) == 0 }) {
                best = (t.id, t.bytes.count)
            }
        }
        return best
    }
}

/// Greedy longest-match-first WordPiece over each word; a word with an unmatched piece, or longer
/// than `maxInputCharsPerWord`, becomes one [UNK].
struct WordPieceSink: WordSink {
    let vocabulary: Vocabulary
    let unkId: Int32
    let maxInputCharsPerWord: Int
    let withOffsets: Bool
    var ids: [Int32]
    var offsets: [Range<Int>]

    mutating func word(_ w: borrowing WordScratch) {
        let n = w.scalarCount
        if n > maxInputCharsPerWord {
            ids.append(unkId)
            if withOffsets { offsets.append(Int(w.origStarts[0])..<Int(w.origEnds[n - 1])) }
            return
        }
        let firstPiece = ids.count
        let bad: Bool = w.bytes.withUnsafeBufferPointer { bytes in
            w.scalarStarts.withUnsafeBufferPointer { starts in
                let p = bytes.baseAddress!
                let totalBytes = bytes.count
                var start = 0
                while start < n {
                    let startByte = Int(starts[start])
                    let table = start == 0 ? vocabulary.whole : vocabulary.continuation
                    let limit = startByte &+ table.maxKeyLength
                    var end = n
                    var endByte = totalBytes
                    while endByte > limit {
                        end &-= 1
                        endByte = Int(starts[end])
                    }
                    var found: Int32 = -1
                    while end > start {
                        found = table.lookup(p + startByte, endByte &- startByte)
                        if found >= 0 { break }
                        end &-= 1
                        endByte = Int(starts[end])
                    }
                    if found < 0 { return true }
                    ids.append(found)
                    if withOffsets { offsets.append(Int(w.origStarts[start])..<Int(w.origEnds[end - 1])) }
                    start = end
                }
                return false
            }
        }
        if bad {
            ids.removeLast(ids.count - firstPiece)
            ids.append(unkId)
            if withOffsets {
                offsets.removeLast(offsets.count - firstPiece)
                offsets.append(Int(w.origStarts[0])..<Int(w.origEnds[n - 1]))
            }
        }
    }
}

/// The word being built: its normalized UTF-8 bytes and, per scalar, where it starts in those bytes
/// and which bytes of the original text it came from. Reused across words to avoid allocation.
struct WordScratch {
    var bytes: [UInt8] = []
    var scalarStarts: [Int32] = []
    var origStarts: [Int32] = []
    var origEnds: [Int32] = []

    init() {
        bytes.reserveCapacity(256); scalarStarts.reserveCapacity(128)
        origStarts.reserveCapacity(128); origEnds.reserveCapacity(128)
    }

    var scalarCount: Int { origStarts.count }

    @inline(__always)
    mutating func append(_ v: UInt32, _ origStart: Int32, _ origEnd: Int32) {
        scalarStarts.append(Int32(truncatingIfNeeded: bytes.count))
        origStarts.append(origStart)
        origEnds.append(origEnd)
        if v < 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v))
        } else if v < 0x800 {
            bytes.append(UInt8(truncatingIfNeeded: 0xC0 | v >> 6))
            bytes.append(UInt8(truncatingIfNeeded: 0x80 | v & 0x3F))
        } else if v < 0x10000 {
            bytes.append(UInt8(truncatingIfNeeded: 0xE0 | v >> 12))
            bytes.append(UInt8(truncatingIfNeeded: 0x80 | (v >> 6) & 0x3F))
            bytes.append(UInt8(truncatingIfNeeded: 0x80 | v & 0x3F))
        } else {
            bytes.append(UInt8(truncatingIfNeeded: 0xF0 | v >> 18))
            bytes.append(UInt8(truncatingIfNeeded: 0x80 | (v >> 12) & 0x3F))
            bytes.append(UInt8(truncatingIfNeeded: 0x80 | (v >> 6) & 0x3F))
            bytes.append(UInt8(truncatingIfNeeded: 0x80 | v & 0x3F))
        }
    }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true); scalarStarts.removeAll(keepingCapacity: true)
        origStarts.removeAll(keepingCapacity: true); origEnds.removeAll(keepingCapacity: true)
    }
}
