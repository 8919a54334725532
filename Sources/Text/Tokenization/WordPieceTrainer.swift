/// Learns a WordPiece vocabulary from a corpus the way `tokenizers`' WordPiece trainer does: words
/// from the BERT normalizer and pre-tokenizer, an alphabet of the most frequent characters (with
/// `##` forms for characters inside words), then repeated merges of the most frequent adjacent pair
/// (ties to the pair of smaller ids) until the vocabulary has `vocabSize` tokens.
public struct WordPieceTrainer: Sendable {
    /// Tokens to learn, special tokens and alphabet included.
    public var vocabSize: Int
    /// Pairs seen fewer times than this are not merged.
    public var minFrequency: Int
    /// Keep at most this many distinct characters (the most frequent).
    public var limitAlphabet: Int?
    /// Tokens placed first, with ids 0, 1, ...
    public var specialTokens: [String]
    /// Marks pieces that continue a word.
    public var continuingPrefix = "##"
    /// Normalizes and splits documents into words.
    public let preTokenizer: BertPreTokenizer
    /// Distinct words seen so far and how often.
    public private(set) var wordCounts: [String: Int] = [:]

    /// Defaults of `tokenizers`' BertWordPieceTokenizer.train.
    public init(vocabSize: Int = 30522, minFrequency: Int = 2, limitAlphabet: Int? = 1000,
                specialTokens: [String] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                normalizer: BertNormalizerOptions = .init()) {
        self.vocabSize = vocabSize
        self.minFrequency = minFrequency
        self.limitAlphabet = limitAlphabet
        self.specialTokens = specialTokens
        preTokenizer = BertPreTokenizer(normalizer)
    }

    /// Counts the words of one document.
    public mutating func add(_ text: String) {
        for w in preTokenizer.words(text) { wordCounts[w, default: 0] += 1 }
    }

    /// The learned vocabulary (special tokens first, then the alphabet, then merges in order).
    public func train() -> Vocabulary {
        var tokens = specialTokens
        var ids: [String: Int32] = [:]
        func intern(_ s: String) -> Int32 {
            if let id = ids[s] { return id }
            tokens.append(s)
            ids[s] = Int32(tokens.count - 1)
            return Int32(tokens.count - 1)
        }
        for (i, s) in specialTokens.enumerated() where ids[s] == nil { ids[s] = Int32(i) }

        // Alphabet: the most frequent characters, in code point order.
        var charCounts: [Unicode.Scalar: Int] = [:]
        for (w, c) in wordCounts { for u in w.unicodeScalars { charCounts[u, default: 0] += c } }
        var alphabet = charCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.value < $1.key.value }
        if let limit = limitAlphabet, alphabet.count > limit { alphabet.removeLast(alphabet.count - limit) }
        let kept = Set(alphabet.map(\.key))
        for u in alphabet.map(\.key).sorted(by: { $0.value < $1.value }) { _ = intern(String(u)) }

        // Words as symbol ids (characters outside the alphabet are left out, as the reference does).
        let entries = wordCounts.sorted { $0.key < $1.key }
        var words: [[Int32]] = []
        var counts: [Int] = []
        words.reserveCapacity(entries.count)
        for (w, c) in entries {
            var symbols: [Int32] = []
            for u in w.unicodeScalars where kept.contains(u) {
                symbols.append(intern(symbols.isEmpty ? String(u) : continuingPrefix + String(u)))
            }
            if !symbols.isEmpty { words.append(symbols); counts.append(c) }
        }

        var pairCounts: [UInt64: Int] = [:]
        var pairWords: [UInt64: Set<Int32>] = [:]
        for (wi, symbols) in words.enumerated() where symbols.count > 1 {
            for k in 0..<(symbols.count - 1) {
                let p = Self.pair(symbols[k], symbols[k + 1])
                pairCounts[p, default: 0] += counts[wi]
                pairWords[p, default: []].insert(Int32(wi))
            }
        }
        var heap = PairHeap()
        for (p, c) in pairCounts where c > 0 { heap.push(count: c, pair: p) }

        while tokens.count < vocabSize, let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {
                if current > 0 { heap.push(count: current, pair: top.pair) }
                continue
            }
            if current < max(1, minFrequency) { break }
            let a = Int32(truncatingIfNeeded: top.pair >> 32), b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            var right = tokens[Int(b)]
            if right.hasPrefix(continuingPrefix) { right.removeFirst(continuingPrefix.count) }
            let merged = intern(tokens[Int(a)] + right)
            var grown: Set<UInt64> = []
            for wi in pairWords[top.pair] ?? [] {
                let w = Int(wi)
                let c = counts[w]
                var symbols = words[w]
                var k = 0
                while k < symbols.count - 1 {
                    guard symbols[k] == a, symbols[k + 1] == b else { k += 1; continue }
                    if k > 0 {
                        pairCounts[Self.pair(symbols[k - 1], a), default: 0] -= c
                        let p = Self.pair(symbols[k - 1], merged)
                        pairCounts[p, default: 0] += c; pairWords[p, default: []].insert(wi); grown.insert(p)
                    }
                    if k + 2 < symbols.count {
                        pairCounts[Self.pair(b, symbols[k + 2]), default: 0] -= c
                        let p = Self.pair(merged, symbols[k + 2])
                        pairCounts[p, default: 0] += c; pairWords[p, default: []].insert(wi); grown.insert(p)
                    }
                    pairCounts[top.pair, default: 0] -= c
                    symbols.replaceSubrange(k...(k + 1), with: [merged])
                    k += 1
                }
                words[w] = symbols
            }
            pairWords[top.pair] = nil
            pairCounts[top.pair] = nil
            for p in grown { if let c = pairCounts[p], c > 0 { heap.push(count: c, pair: p) } }
        }
        return Vocabulary(tokens: tokens, continuingPrefix: continuingPrefix)
    }

    static func pair(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }
}

/// A max-heap of pair counts; equal counts put the smaller pair first.
struct PairHeap {
    private var items: [(count: Int, pair: UInt64)] = []

    private static func above(_ x: (count: Int, pair: UInt64), _ y: (count: Int, pair: UInt64)) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }

    mutating func push(count: Int, pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.above(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (count: Int, pair: UInt64)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count, Self.above(items[l], items[best]) { best = l }
                if r < items.count, Self.above(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
