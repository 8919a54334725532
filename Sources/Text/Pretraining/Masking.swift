/// The label value that the loss ignores.
public let ignoreLabel: Int32 = -100

/// Token facts masking needs, taken from a tokenizer once: which ids continue a word (`##`), which
/// are special, and the ids to substitute.
public struct MaskingVocabulary: Sendable {
    /// Per id: true when the token continues the previous word (starts with `##`).
    public let isContinuation: [Bool]
    /// Per id: true for [CLS], [SEP], [PAD], [UNK], [MASK].
    public let isSpecial: [Bool]
    /// Id of [MASK].
    public let maskId: Int32
    /// Id of [CLS].
    public let clsId: Int32
    /// Id of [SEP].
    public let sepId: Int32
    /// Id of [PAD].
    public let padId: Int32
    /// Ids a "random token" replacement draws from: every non-special id.
    public let randomIds: [Int32]

    /// Reads the facts from a tokenizer; it needs a [MASK] token and some non-special ids.
    public init(tokenizer: BertTokenizer) throws(TextError) {
        guard let mask = tokenizer.maskId else { throw TextError(.invalidData, "the vocabulary has no [MASK] token") }
        let vocab = tokenizer.vocabulary
        let prefix = vocab.continuingPrefix
        isContinuation = vocab.tokens.map { $0.hasPrefix(prefix) && $0.count > prefix.count }
        var special = [Bool](repeating: false, count: vocab.count)
        for id in tokenizer.specialIds where Int(id) < special.count { special[Int(id)] = true }
        isSpecial = special
        maskId = mask; clsId = tokenizer.clsId; sepId = tokenizer.sepId; padId = tokenizer.padId
        randomIds = (0..<Int32(vocab.count)).filter { !special[Int($0)] }
        guard !randomIds.isEmpty else { throw TextError(.invalidData, "the vocabulary has only special tokens") }
    }
}

/// Whole-word masked-language-model masking: whole words are chosen until `ratio` of the tokens
/// are covered; each chosen token becomes [MASK] (80%), a random token (10%) or stays (10%);
/// labels hold the original id there and -100 elsewhere. Special tokens are never chosen.
public struct WholeWordMasker: Sendable {
    /// Special and continuation ids of the tokenizer.
    public let vocabulary: MaskingVocabulary

    /// A masker over `vocabulary`.
    public init(vocabulary: MaskingVocabulary) { self.vocabulary = vocabulary }

    /// Masks `ids` (which may include [CLS]/[SEP]/[PAD]) in place of a copy.
    public func mask(_ ids: [Int32], ratio: Double, using rng: inout SplitMix64) -> (inputIds: [Int32], labels: [Int32]) {
        var input = ids
        var labels = [Int32](repeating: ignoreLabel, count: ids.count)
        guard !ids.isEmpty else { return (input, labels) }
        var words = WordSpans(ids, vocabulary)
        var chosen = [UInt8](repeating: 0, count: ids.count)
        chosen.withUnsafeMutableBufferPointer { words.select(ratio: ratio, into: $0.baseAddress!, using: &rng) }
        for i in 0..<ids.count where chosen[i] != 0 {
            labels[i] = ids[i]
            let roll = rng.unit()
            if roll < 0.8 {
                input[i] = vocabulary.maskId
            } else if roll < 0.9 {
                input[i] = vocabulary.randomIds[rng.below(vocabulary.randomIds.count)]
            }
        }
        return (input, labels)
    }
}

/// The whole words of a sequence (runs of a word start and its `##` continuations, specials
/// excluded), each packed as `start << 32 | length`, in an order that sampling keeps permuting.
struct WordSpans {
    var words: [UInt64] = []
    /// Non-special tokens: the base the ratio applies to.
    var tokenCount = 0

    init(_ ids: [Int32], _ vocabulary: MaskingVocabulary) {
        self.init(ids[...], offset: 0, vocabulary)
    }

    /// Words of `ids`, with positions shifted by `offset` (where the slice sits in the row).
    init(_ ids: ArraySlice<Int32>, offset: Int, _ vocabulary: MaskingVocabulary) {
        words.reserveCapacity(ids.count)
        var previousWasWord = false
        for (k, id) in ids.enumerated() {
            let idx = Int(id)
            let special = idx < 0 || idx >= vocabulary.isSpecial.count || vocabulary.isSpecial[idx]
            if special { previousWasWord = false; continue }
            tokenCount += 1
            if previousWasWord && vocabulary.isContinuation[idx] {
                words[words.count - 1] += 1
            } else {
                words.append(UInt64(k + offset) << 32 | 1)
            }
            previousWasWord = true
        }
    }

    /// Chooses whole words in random order, skipping any that would overshoot, until
    /// round(ratio * tokenCount) tokens (at least one) are covered; sets `chosen[i] = mark` for them.
    mutating func select(ratio: Double, into chosen: UnsafeMutablePointer<UInt8>, mark: UInt8 = 1, using rng: inout SplitMix64) {
        let n = words.count
        guard n > 0 else { return }
        let target = max(1, Int((Double(tokenCount) * ratio).rounded()))
        var covered = 0
        words.withUnsafeMutableBufferPointer { words in
            var k = 0
            // Each 64-bit draw gives two 32-bit ones (n is far below 2^32).
            var bits: UInt64 = 0
            while k < n && covered < target {
                if k & 1 == 0 { bits = rng.next() } else { bits >>= 32 }
                let j = k &+ Int(truncatingIfNeeded: ((bits & 0xFFFF_FFFF) &* UInt64(truncatingIfNeeded: n &- k)) >> 32)
                let word = words[j]
                words[j] = words[k]
                words[k] = word
                let len = Int(truncatingIfNeeded: word & 0xFFFF_FFFF)
                let s = Int(truncatingIfNeeded: word >> 32)
                let fits = covered &+ len <= target
                // One-token words (most of them) without a branch: store the old or the new byte.
                chosen[s] = fits ? mark : chosen[s]
                if fits {
                    covered &+= len
                    var p = s &+ 1
                    while p < s &+ len { chosen[p] = mark; p &+= 1 }
                }
                k &+= 1
            }
        }
    }
}
