import Dispatch
import Foundation
import Synchronization

/// Totals of a corpus tokenization run.
public struct TokenizationStats: Sendable, Equatable {
    /// Documents tokenized.
    public var documents = 0
    /// Ids written, special tokens included.
    public var tokens = 0
    /// How many of them are [UNK].
    public var unknown = 0
    /// Ids of the longest document.
    public var longestDocument = 0
    /// Records set aside (bad UTF-8, over-long lines, empty documents).
    public var quarantined = 0
    /// UTF-8 bytes of the documents tokenized.
    public var bytes = 0

    /// All counts at zero.
    public init() {}

    /// One line for people.
    public var summary: String {
        let perDocument = documents > 0 ? Double(tokens) / Double(documents) : 0
        let unkRate = tokens > 0 ? 100 * Double(unknown) / Double(tokens) : 0
        return String(format: "%d documents, %d tokens (%.1f per document, longest %d), %d [UNK] (%.3f%%), %d quarantined, %.2f MB",
                      documents, tokens, perDocument, longestDocument, unknown, unkRate, quarantined, Double(bytes) / 1e6)
    }
}

/// Tokenizes every document of a corpus in order, `threads` at a time in chunks, and writes one
/// JSON array of ids per document (`[101,7592,102]\n`). Quarantined records go to `quarantine`;
/// with `aligned`, each also writes a `null` line in its place, so output line N belongs to input
/// record N (a reader keeping empty documents makes that line for line with the file).
public func tokenizeCorpus(_ reader: CorpusReader, tokenizer: BertTokenizer, addSpecialTokens: Bool = true,
                           threads: Int = 2, chunkSize: Int = 2048, aligned: Bool = false,
                           write: (Data) throws -> Void, quarantine: (CorpusQuarantine) -> Void) throws -> TokenizationStats {
    var stats = TokenizationStats()
    /// nil: a quarantined record's place.
    var chunk: [String?] = []
    chunk.reserveCapacity(chunkSize)

    func flush() throws {
        guard !chunk.isEmpty else { return }
        // Pieces of 64 documents, claimed one at a time by the workers (a worker that starts late
        // on a busy machine takes fewer), written back in input order.
        let pieceSize = 64
        let pieces = (chunk.count + pieceSize - 1) / pieceSize
        let documents = chunk
        let results = ChunkResults(count: pieces)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, pieces))) { _ in
            while true {
                let piece = results.claim()
                guard piece < pieces else { break }
                var out: [UInt8] = []
                var local = TokenizationStats()
                for text in documents[(piece * pieceSize)..<min(documents.count, (piece + 1) * pieceSize)] {
                    guard let text else {
                        out.append(contentsOf: Array("null\n".utf8))
                        continue
                    }
                    let ids = tokenizer.encode(text, addSpecialTokens: addSpecialTokens).ids
                    local.tokens += ids.count
                    local.longestDocument = max(local.longestDocument, ids.count)
                    out.append(UInt8(ascii: "["))
                    for (k, id) in ids.enumerated() {
                        if k > 0 { out.append(UInt8(ascii: ",")) }
                        if id == tokenizer.unkId { local.unknown += 1 }
                        appendDecimal(id, to: &out)
                    }
                    out.append(contentsOf: [UInt8(ascii: "]"), 0x0A])
                }
                results.store(piece, out, local)
            }
        }
        for piece in 0..<pieces {
            let (bytes, local) = results.take(piece)
            stats.tokens += local.tokens
            stats.unknown += local.unknown
            stats.longestDocument = max(stats.longestDocument, local.longestDocument)
            try write(Data(bytes))
        }
        chunk.removeAll(keepingCapacity: true)
    }

    while let record = reader.next() {
        switch record {
        case .document(let d):
            stats.documents += 1
            stats.bytes += d.text.utf8.count
            chunk.append(d.text)
            if chunk.count == chunkSize { try flush() }
        case .quarantined(let q):
            stats.quarantined += 1
            quarantine(q)
            // An unreadable rest of file is no one record: it has no line to hold.
            if aligned, q.reason.isRecord {
                chunk.append(nil)
                if chunk.count == chunkSize { try flush() }
            }
        }
    }
    try flush()
    return stats
}

/// Outputs of one chunk's pieces, and the counter workers claim pieces from.
private final class ChunkResults: @unchecked Sendable {
    private var slots: [([UInt8], TokenizationStats)]
    private let lock = NSLock()
    private let next = Atomic<Int>(0)

    func claim() -> Int { next.add(1, ordering: .relaxed).oldValue }

    init(count: Int) { slots = Array(repeating: ([], TokenizationStats()), count: count) }

    func store(_ index: Int, _ bytes: [UInt8], _ stats: TokenizationStats) {
        lock.withLock { slots[index] = (bytes, stats) }
    }

    func take(_ index: Int) -> ([UInt8], TokenizationStats) { lock.withLock { slots[index] } }
}

@inline(__always)
func appendDecimal(_ value: Int32, to out: inout [UInt8]) {
    var v = Int(value)
    if v < 0 { out.append(UInt8(ascii: "-")); v = -v }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = 0
    withUnsafeMutableBytes(of: &digits) { d in
        repeat {
            d[n] = UInt8(truncatingIfNeeded: 48 + v % 10)
            v /= 10
            n += 1
        } while v > 0
        while n > 0 { n -= 1; out.append(d[n]) }
    }
}
