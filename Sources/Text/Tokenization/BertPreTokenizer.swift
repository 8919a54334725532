/// Receives the words of the BERT pre-tokenizer, one at a time, from a reused buffer.
protocol WordSink {
    mutating func word(_ w: borrowing WordScratch)
}

/// BERT's normalizer and pre-tokenizer over UTF-8 bytes: the words WordPiece (or vocabulary
/// training) sees, with the original byte range of each character.
public struct BertPreTokenizer: Sendable {
    let table: ScalarTable

    /// Precomputes the per-character tables for `options`.
    public init(_ options: BertNormalizerOptions = .init()) {
        table = ScalarTable.shared(options)
    }

    /// The normalized words of a text (what `tokenizers`' normalizer + pre-tokenizer produce).
    public func words(_ text: String) -> [String] {
        struct Collect: WordSink {
            var words: [String] = []
            mutating func word(_ w: borrowing WordScratch) { words.append(String(decoding: w.bytes, as: UTF8.self)) }
        }
        var sink = Collect()
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var scratch = WordScratch()
            splitWords(base, 0, buffer.count, &scratch, &sink)
        }
        return sink.words
    }

    /// Normalizes and pre-tokenizes `base[start..<end]` (valid UTF-8) one scalar at a time, handing
    /// each finished word to `sink`.
    func splitWords<Sink: WordSink>(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ w: inout WordScratch,
                                    _ sink: inout Sink) {
        table.entries.withUnsafeBufferPointer { entries in
            table.expansions.withUnsafeBufferPointer { expansions in
                var i = start
                while i < end {
                    // Decode one scalar (the text is valid UTF-8: it came from a String).
                    let b0 = UInt32(base[i])
                    var v: UInt32
                    var len: Int
                    if b0 < 0x80 {
                        v = b0; len = 1
                    } else if b0 < 0xE0 {
                        v = (b0 & 0x1F) << 6 | UInt32(base[i &+ 1] & 0x3F); len = 2
                    } else if b0 < 0xF0 {
                        v = (b0 & 0x0F) << 12 | UInt32(base[i &+ 1] & 0x3F) << 6 | UInt32(base[i &+ 2] & 0x3F); len = 3
                    } else {
                        v = (b0 & 0x07) << 18 | UInt32(base[i &+ 1] & 0x3F) << 12 | UInt32(base[i &+ 2] & 0x3F) << 6
                            | UInt32(base[i &+ 3] & 0x3F)
                        len = 4
                    }
                    let origStart = Int32(truncatingIfNeeded: i)
                    let origEnd = Int32(truncatingIfNeeded: i &+ len)
                    i &+= len
                    if Int(v) < ScalarTable.tableSize {
                        let entry = entries[Int(v)]
                        let action = entry & 3
                        if action == NormalizerAction.remove.rawValue { continue }
                        if action == NormalizerAction.whitespace.rawValue {
                            flush(&w, &sink); continue
                        }
                        let chinese = action == NormalizerAction.chinese.rawValue
                        if chinese { flush(&w, &sink) }
                        if entry & 4 == 0 {
                            feed(v, (entry >> 3) & 3, origStart, origEnd, &w, &sink)
                        } else {
                            let at = Int(entry >> 8)
                            let count = Int(expansions[at])
                            var k = 1
                            while k <= count {
                                let o = expansions[at &+ k]
                                feed(o & 0x1F_FFFF, o >> 24, origStart, origEnd, &w, &sink)
                                k &+= 1
                            }
                        }
                        if chinese { flush(&w, &sink) }
                    } else {
                        guard let u = Unicode.Scalar(v) else { continue }
                        let (action, outputs) = ScalarTable.normalize(u, table.options)
                        switch action {
                        case .remove: continue
                        case .whitespace: flush(&w, &sink); continue
                        case .chinese, .keep:
                            if action == .chinese { flush(&w, &sink) }
                            for o in outputs {
                                feed(o.value, ScalarTable.pretokenClass(o).rawValue, origStart, origEnd, &w, &sink)
                            }
                            if action == .chinese { flush(&w, &sink) }
                        }
                    }
                }
                flush(&w, &sink)
            }
        }
    }

    /// Hands one normalized scalar to the pre-tokenizer: whitespace ends a word, punctuation is a word.
    @inline(__always)
    private func feed<Sink: WordSink>(_ v: UInt32, _ cls: UInt32, _ origStart: Int32, _ origEnd: Int32,
                                      _ w: inout WordScratch, _ sink: inout Sink) {
        if cls == PretokenClass.word.rawValue {
            w.append(v, origStart, origEnd)
        } else if cls == PretokenClass.whitespace.rawValue {
            flush(&w, &sink)
        } else {
            flush(&w, &sink)
            w.append(v, origStart, origEnd)
            flush(&w, &sink)
        }
    }


    @inline(__always)
    private func flush<Sink: WordSink>(_ w: inout WordScratch, _ sink: inout Sink) {
        guard w.scalarCount > 0 else { return }
        sink.word(w)
        w.reset()
    }
}
