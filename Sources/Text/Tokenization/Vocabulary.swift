import Foundation
import SystemErrors

/// A WordPiece vocabulary: token strings and their ids, with byte-level lookups for the hot loop.
///
/// Continuation pieces (`##ing`) are also indexed without their prefix so that the tokenizer can
/// look up a slice of a word's bytes directly, without building a prefixed string.
public struct Vocabulary: Sendable {
    /// Token string of each id (ids are dense: 0..<count).
    public let tokens: [String]
    /// The prefix that marks a piece continuing a word (`##` for BERT).
    public let continuingPrefix: String
    let whole: ByteKeyTable
    let continuation: ByteKeyTable

    /// Builds a vocabulary from tokens in id order (a later duplicate wins, as in `tokenizers`).
    public init(tokens: [String], continuingPrefix: String = "##") {
        self.tokens = tokens
        self.continuingPrefix = continuingPrefix
        var whole = ByteKeyTable(expectedCount: tokens.count)
        var continuation = ByteKeyTable(expectedCount: tokens.count / 4 + 1)
        let prefix = Array(continuingPrefix.utf8)
        for (id, token) in tokens.enumerated() {
            let bytes = Array(token.utf8)
            whole.insert(bytes, id: Int32(id))
            if !prefix.isEmpty, bytes.count > prefix.count, bytes.starts(with: prefix) {
                continuation.insert(Array(bytes[prefix.count...]), id: Int32(id))
            }
        }
        self.whole = whole
        self.continuation = continuation
    }

    /// Reads a BERT `vocab.txt`: one token per line, the line number is the id (trailing whitespace
    /// is trimmed, as the reference does).
    public init(contentsOf url: URL, continuingPrefix: String = "##") throws(TextError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TextError(.unreadable, path: url.path, "cannot read vocabulary: \(SystemErrorText.words(error))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TextError(.invalidData, path: url.path, "vocabulary is not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        let tokens = lines.map { line in
            var s = Substring(line)
            while let last = s.unicodeScalars.last, last.properties.isWhitespace { s = s.dropLast() }
            return String(s)
        }
        guard !tokens.isEmpty else { throw TextError(.invalidData, path: url.path, "vocabulary is empty") }
        self.init(tokens: tokens, continuingPrefix: continuingPrefix)
    }

    /// Number of ids.
    public var count: Int { tokens.count }

    /// The id of a token string, if it is in the vocabulary.
    public func id(of token: String) -> Int32? {
        let bytes = Array(token.utf8)
        let id = bytes.withUnsafeBufferPointer { whole.lookup($0.baseAddress, $0.count) }
        return id >= 0 ? id : nil
    }

    /// Writes the vocabulary as `vocab.txt` (one token per line, in id order).
    public func write(to url: URL) throws(TextError) {
        let text = tokens.joined(separator: "\n") + "\n"
        do { try Data(text.utf8).write(to: url) } catch {
            throw TextError(.unwritable, path: url.path, "cannot write vocabulary: \(SystemErrorText.words(error))")
        }
    }
}

/// Open-addressing hash table from byte strings to ids, stored flat so lookups of a slice of a
/// larger buffer need no allocation.
struct ByteKeyTable: Sendable {
    private struct Slot {
        var hash: UInt32
        var start: UInt32
        var length: UInt32
        var id: Int32
    }
    private static let emptyLength = UInt32.max
    private var slots: [Slot]
    private var arena: [UInt8] = []
    private var mask: Int
    private var used = 0
    /// Length in bytes of the longest key, which bounds the greedy longest-match search.
    private(set) var maxKeyLength = 0

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = Array(repeating: Slot(hash: 0, start: 0, length: Self.emptyLength, id: -1), count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>?, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        guard let p else { return h }
        var i = 0
        while i < n {
            h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3
            i &+= 1
        }
        return h ^ (h >> 29)
    }

    mutating func insert(_ key: [UInt8], id: Int32) {
        if arena.count + key.count > Int(UInt32.max) { return }
        let h = key.withUnsafeBufferPointer { Self.hash($0.baseAddress, $0.count) }
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].length != Self.emptyLength {
            let s = slots[i]
            if s.hash == UInt32(truncatingIfNeeded: h), Int(s.length) == key.count,
               arena[Int(s.start)..<Int(s.start) + key.count].elementsEqual(key) {
                slots[i].id = id
                return
            }
            i = (i + 1) & mask
        }
        slots[i] = Slot(hash: UInt32(truncatingIfNeeded: h), start: UInt32(arena.count), length: UInt32(key.count), id: id)
        arena.append(contentsOf: key)
        maxKeyLength = max(maxKeyLength, key.count)
        used += 1
        if used * 2 > slots.count { grow() }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(hash: 0, start: 0, length: Self.emptyLength, id: -1), count: old.count * 2)
        mask = slots.count - 1
        for s in old where s.length != Self.emptyLength {
            var i = Int(s.hash) & mask
            while slots[i].length != Self.emptyLength { i = (i + 1) & mask }
            slots[i] = s
        }
    }

    /// The id of the key `p[0..<n]`, or -1.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32 {
        let h = Self.hash(p, n)
        let h32 = UInt32(truncatingIfNeeded: h)
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                var i = Int(truncatingIfNeeded: h) & mask
                while true {
                    let s = slots[i]
                    if s.length == Self.emptyLength { return -1 }
                    if s.hash == h32, Int(s.length) == n {
                        if n == 0 || memcmp(arena.baseAddress! + Int(s.start), p!, n) == 0 { return s.id }
                    }
                    i = (i &+ 1) & mask
                }
            }
        }
    }
}
