import Foundation
import Synchronization

/// Options of BERT's text normalization, named and defaulted as in `tokenizers`' `BertNormalizer`.
public struct BertNormalizerOptions: Sendable, Hashable {
    /// Remove control characters, NUL and U+FFFD; turn every whitespace character into a space.
    public var cleanText: Bool
    /// Put CJK ideographs in words of their own.
    public var handleChineseChars: Bool
    /// Decompose (NFD) and drop non-spacing marks; `nil` follows `lowercase`, as in `tokenizers`.
    public var stripAccents: Bool?
    /// Lowercase every character (full Unicode mapping, no context).
    public var lowercase: Bool

    /// The defaults are bert-base-uncased's.
    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    /// Whether accents are stripped once `nil` is resolved.
    public var stripsAccents: Bool { stripAccents ?? lowercase }
}

/// What the normalizer does with one input scalar.
enum NormalizerAction: UInt32 {
    case keep = 0, remove = 1, whitespace = 2, chinese = 3
}

/// How the BERT pre-tokenizer treats one normalized scalar.
enum PretokenClass: UInt32 {
    case word = 0, punctuation = 1, whitespace = 2
}

/// Per-scalar decisions of the BERT normalizer and pre-tokenizer, precomputed for the first three
/// planes so the hot loop does one array load per character.
///
/// Entry layout: bits 0-1 action, bit 2 "maps to other scalars", bits 3-4 pre-token class of the
/// scalar itself, bits 8-31 index of the expansion in `expansions` (its length, then each output
/// scalar with its pre-token class in bits 24-25).
struct ScalarTable: Sendable {
    static let tableSize = 0x30000
    let options: BertNormalizerOptions
    let entries: [UInt32]
    let expansions: [UInt32]

    /// Tables built so far in this process, by options (building one takes about 0.1 s).
    private static let built = Mutex<[BertNormalizerOptions: ScalarTable]>([:])

    /// The table for `options`, built once per process.
    static func shared(_ options: BertNormalizerOptions) -> ScalarTable {
        if let table = built.withLock({ $0[options] }) { return table }
        let table = ScalarTable(options: options)
        built.withLock { $0[options] = table }
        return table
    }

    init(options: BertNormalizerOptions) {
        self.options = options
        var entries = [UInt32](repeating: 0, count: Self.tableSize)
        var expansions: [UInt32] = [0]
        let ideograph = options.handleChineseChars ? NormalizerAction.chinese.rawValue : NormalizerAction.keep.rawValue
        for v in 0..<UInt32(Self.tableSize) {
            // Unified ideographs (and the unassigned rest of plane 2 before the compatibility block):
            // no decomposition, no case, no punctuation, so no per-scalar work.
            if (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0x20000...0x2F7FF).contains(v) {
                entries[Int(v)] = Self.isChinese(v) ? ideograph : NormalizerAction.keep.rawValue
                continue
            }
            guard let u = Unicode.Scalar(v) else { continue }
            let (action, outputs) = Self.normalize(u, options)
            var entry = action.rawValue
            if outputs.count == 1 && outputs[0] == u {
                entry |= Self.pretokenClass(u).rawValue << 3
            } else {
                entry |= 4 | UInt32(expansions.count) << 8
                expansions.append(UInt32(outputs.count))
                for o in outputs { expansions.append(o.value | Self.pretokenClass(o).rawValue << 24) }
            }
            entries[Int(v)] = entry
        }
        self.entries = entries
        self.expansions = expansions
    }

    /// The normalizer's action for a scalar and the scalars it becomes (the pre-tokenizer sees those).
    static func normalize(_ u: Unicode.Scalar, _ options: BertNormalizerOptions) -> (NormalizerAction, [Unicode.Scalar]) {
        if options.cleanText {
            if u.value == 0 || u.value == 0xFFFD || isControl(u) { return (.remove, []) }
            if isCleanWhitespace(u) { return (.whitespace, [" "]) }
        }
        var outputs = [u]
        if options.stripsAccents {
            outputs = canonicalDecomposition(u).filter { !isNonspacingMark($0) }
        }
        if options.lowercase {
            outputs = outputs.flatMap { s in
                s.properties.changesWhenLowercased ? Array(s.properties.lowercaseMapping.unicodeScalars) : [s]
            }
        }
        return (options.handleChineseChars && isChinese(u.value) ? .chinese : .keep, outputs)
    }

    /// `tokenizers` decides "control" and "punctuation" with Unicode 8.0 category tables; a scalar
    /// assigned later is neither there, so it is neither here.
    static func inTokenizersCategoryTables(_ u: Unicode.Scalar) -> Bool {
        guard let age = u.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// Scalars whose category changed after Unicode 8.0: punctuation (Po) then, not now.
    static let formerPunctuation: Set<UInt32> = [0x166D, 0x111C9]
    /// Scalars whose category changed after Unicode 8.0: non-spacing marks (Mn) then, not now.
    static let formerNonspacingMarks: Set<UInt32> = [0x1734, 0x1171E]
    /// Scalars whose category changed after Unicode 8.0: non-spacing marks (Mn) now, not then.
    static let laterNonspacingMarks: Set<UInt32> = [0x1885, 0x1886, 0xA9BD, 0x111C9]
    /// Scalars whose canonical decomposition is newer than the normalization tables of `tokenizers`.
    static let newerDecompositions: Set<UInt32> = [0x11938]

    /// Non-spacing marks (Mn) as of Unicode 8.0, which accent stripping removes.
    static func isNonspacingMark(_ u: Unicode.Scalar) -> Bool {
        if u.isASCII { return false }
        if formerNonspacingMarks.contains(u.value) { return true }
        return u.properties.generalCategory == .nonspacingMark && inTokenizersCategoryTables(u)
            && !laterNonspacingMarks.contains(u.value)
    }

    /// Control characters as `tokenizers` counts them: categories Cc, Cf, Co, Cs (not unassigned
    /// code points), except tab and line breaks, which are whitespace.
    static func isControl(_ u: Unicode.Scalar) -> Bool {
        if u == "\t" || u == "\n" || u == "\r" || !inTokenizersCategoryTables(u) { return false }
        switch u.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isCleanWhitespace(_ u: Unicode.Scalar) -> Bool {
        u == "\t" || u == "\n" || u == "\r" || u.properties.isWhitespace
    }

    /// CJK ideograph blocks, as `tokenizers` lists them (checked exhaustively against it in the tests).
    static func isChinese(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    static func pretokenClass(_ u: Unicode.Scalar) -> PretokenClass {
        if u.properties.isWhitespace { return .whitespace }
        if u.isASCII {
            let v = u.value
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v)
                || (0x7B...0x7E).contains(v) ? .punctuation : .word
        }
        guard inTokenizersCategoryTables(u) else { return .word }
        if formerPunctuation.contains(u.value) { return .punctuation }
        switch u.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return .punctuation
        default:
            return .word
        }
    }

    /// NFD of one scalar. Hangul syllables are decomposed arithmetically; Foundation is asked only
    /// about the blocks that hold canonical decompositions (Latin to Tibetan, Myanmar to Greek
    /// Extended, punctuation to supplemental arrows, kana, compatibility ideographs and Hebrew
    /// presentation forms, Brahmi-derived scripts of plane 1, musical symbols, plane-2
    /// compatibility ideographs); the exhaustive fixture test would catch a block left out.
    static func canonicalDecomposition(_ u: Unicode.Scalar) -> [Unicode.Scalar] {
        let v = u.value
        let mayDecompose = (0xC0...0x1FFF).contains(v) || (0x2000...0x2FFF).contains(v) || (0x3000...0x33FF).contains(v)
            || (0xF900...0xFB4F).contains(v) || (0x11000...0x11FFF).contains(v) || (0x1D100...0x1D1FF).contains(v)
            || (0x2F800...0x2FA1F).contains(v) || (0xAC00...0xD7A3).contains(v)
        if !mayDecompose || u.properties.generalCategory == .unassigned || newerDecompositions.contains(v) {
            return [u]
        }
        if (0xAC00...0xD7A3).contains(v) {
            let s = v - 0xAC00
            var out = [Unicode.Scalar(0x1100 + s / 588)!, Unicode.Scalar(0x1161 + (s % 588) / 28)!]
            if s % 28 != 0 { out.append(Unicode.Scalar(0x11A7 + s % 28)!) }
            return out
        }
        return Array(String(Character(u)).decomposedStringWithCanonicalMapping.unicodeScalars)
    }
}
