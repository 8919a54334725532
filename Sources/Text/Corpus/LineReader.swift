/// One line of a file, as bytes (without the line break), or the fact that it was too long to keep.
enum RawLine {
    case bytes([UInt8], line: Int)
    /// A line over the limit: skipped without being held in memory, with its full length.
    case tooLong(length: Int, line: Int)
}

/// Splits a `ByteStream` into lines (`\n`, with a `\r` before it dropped) in bounded memory:
/// at most one read chunk plus `maxLineBytes` are ever held.
final class LineReader {
    let stream: ByteStream
    let maxLineBytes: Int
    private var chunk: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var finished = false
    /// Lines returned so far.
    private(set) var lineNumber = 0

    init(stream: ByteStream, maxLineBytes: Int) {
        self.stream = stream
        self.maxLineBytes = maxLineBytes
        chunk = .allocate(byteCount: ByteStream.chunkSize, alignment: 16)
    }

    deinit { chunk.deallocate() }

    /// The next line, or nil at the end of the file.
    func next() throws(TextError) -> RawLine? {
        var pending: [UInt8] = []
        var length = 0
        var overflow = false
        while true {
            if start == end {
                if finished { break }
                start = 0
                end = try stream.read(into: chunk)
                if end == 0 { finished = true; break }
            }
            let base = chunk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = start
            while i < end && base[i] != 0x0A { i &+= 1 }
            let piece = i - start
            length += piece
            if !overflow {
                if length > maxLineBytes {
                    overflow = true
                    pending = []
                } else {
                    pending.append(contentsOf: UnsafeBufferPointer(start: base + start, count: piece))
                }
            }
            if i < end {
                start = i + 1
                lineNumber += 1
                return finish(pending, length: length, overflow: overflow)
            }
            start = end
        }
        if length == 0 && !overflow { return nil }
        lineNumber += 1
        return finish(pending, length: length, overflow: overflow)
    }

    private func finish(_ bytes: [UInt8], length: Int, overflow: Bool) -> RawLine {
        if overflow { return .tooLong(length: length, line: lineNumber) }
        var bytes = bytes
        if bytes.last == 0x0D { bytes.removeLast() }
        return .bytes(bytes, line: lineNumber)
    }
}
