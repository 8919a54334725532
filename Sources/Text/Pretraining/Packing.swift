/// Splits text into sentences with punctuation rules: a sentence ends at `.`, `!` or `?` (and any
/// closing quotes or brackets after it) followed by whitespace and a capital, digit or opening
/// quote, unless the word before is a known abbreviation or a single capital initial; `。！？`
/// end a sentence wherever they are. Line breaks alone do not end a sentence.
public struct SentenceSplitter: Sendable {
    /// Lowercased words (without the period) after which a period does not end a sentence.
    public var abbreviations: Set<String> = [
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "al", "fig",
        "no", "vol", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec", "u.s", "gen", "gov", "sen", "rep", "approx", "dept", "est", "mt",
    ]

    /// A splitter with the default English abbreviations.
    public init() {}

    /// The sentences of `text`, trimmed, in order.
    public func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var sentences: [String] = []
        var start = 0
        var i = 0
        func emit(_ end: Int) {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[start..<end])
            let s = String(view).trimmingWhitespace()
            if !s.isEmpty { sentences.append(s) }
            start = end
        }
        while i < scalars.count {
            let c = scalars[i]
            if c == "。" || c == "！" || c == "？" {
                var end = i + 1
                while end < scalars.count, Self.closers.contains(scalars[end]) { end += 1 }
                emit(end)
                i = end
                continue
            }
            if c == "." || c == "!" || c == "?" {
                var end = i + 1
                while end < scalars.count, scalars[end] == c || Self.closers.contains(scalars[end]) { end += 1 }
                var next = end
                while next < scalars.count, scalars[next].properties.isWhitespace { next += 1 }
                if next > end, next < scalars.count, Self.startsSentence(scalars[next]),
                   c != "." || !endsWithAbbreviation(scalars, before: i) {
                    emit(end)
                }
                i = end
                continue
            }
            i += 1
        }
        emit(scalars.count)
        return sentences
    }

    static let closers: Set<Unicode.Scalar> = ["\"", "'", ")", "]", "}", "”", "’", "»", "」", "』", "）"]

    static func startsSentence(_ u: Unicode.Scalar) -> Bool {
        u.properties.isUppercase || u.properties.numericType != nil || "\"'“‘«(「[".unicodeScalars.contains(u)
            || (!u.properties.isLowercase && u.properties.isAlphabetic)
    }

    private func endsWithAbbreviation(_ scalars: [Unicode.Scalar], before i: Int) -> Bool {
        var j = i
        while j > 0, !scalars[j - 1].properties.isWhitespace { j -= 1 }
        var word = String.UnicodeScalarView()
        word.append(contentsOf: scalars[j..<i])
        let w = String(word).lowercased()
        if w.unicodeScalars.count == 1, let u = scalars[j..<i].first, u.properties.isUppercase { return true }
        return abbreviations.contains(w.trimmingCharacters(in: "(\"'"))
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let s = unicodeScalars
        guard let first = s.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = s.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(s[first...last])
    }

    func trimmingCharacters(in set: String) -> String {
        let drop = Set(set.unicodeScalars)
        let s = unicodeScalars
        guard let first = s.firstIndex(where: { !drop.contains($0) }),
              let last = s.lastIndex(where: { !drop.contains($0) }) else { return "" }
        return String(s[first...last])
    }
}

/// Packs a document's sentences greedily into blocks of at most `blockSize` token ids (max_len - 2,
/// leaving room for [CLS] and [SEP]), as RetroMAE pre-processing does. A sentence that does not
/// fit starts a new block; one longer than a block is cut and continues in the next block, so no
/// token is lost. Blocks never mix documents.
public struct BlockPacker: Sendable {
    /// Tokenizes each sentence (no special tokens).
    public let tokenizer: BertTokenizer
    /// Most ids in one block: max length - 2.
    public let blockSize: Int
    /// Splits documents into sentences.
    public var splitter = SentenceSplitter()

    /// - Parameter maxLength: model max length, special tokens included (blocks get `maxLength - 2`).
    public init(tokenizer: BertTokenizer, maxLength: Int) throws(TextError) {
        guard maxLength > 2 else { throw TextError(.invalidOption, "max length \(maxLength) leaves no room for tokens besides [CLS] and [SEP]") }
        self.tokenizer = tokenizer
        blockSize = maxLength - 2
    }

    /// Blocks of token ids (no special tokens) for one document.
    public func pack(_ document: String) -> [[Int32]] {
        packSentences(splitter.split(document).map { tokenizer.tokenIds($0) })
    }

    /// Greedy packing of already tokenized sentences.
    public func packSentences(_ sentences: [[Int32]]) -> [[Int32]] {
        var blocks: [[Int32]] = []
        var current: [Int32] = []
        current.reserveCapacity(blockSize)
        for var sentence in sentences[...] where !sentence.isEmpty {
            if current.count + sentence.count <= blockSize {
                current += sentence
                continue
            }
            if !current.isEmpty { blocks.append(current); current.removeAll(keepingCapacity: true) }
            while sentence.count > blockSize {
                blocks.append(Array(sentence[..<blockSize]))
                sentence.removeFirst(blockSize)
            }
            current = sentence
        }
        if !current.isEmpty { blocks.append(current) }
        return blocks
    }
}
