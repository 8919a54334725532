import Foundation

/// Containers that state their own length, checked against what the file holds: libsndfile reads
/// a cut WAV or AIFF up to where it ends and a cut Ogg stream up to its last whole page, and
/// FFmpeg reads a cut AVI (its idx1 index lost with the tail), Matroska or MP4 up to the last whole
/// packet, all without a word, so a truncated file would come back as a shorter signal or fewer frames.
enum ContainerLength {
    /// Throws `.truncated` when `file` is a WAV, AVI, WebP, AIFF, Ogg, Matroska/WebM, MP4, PNG or
    /// JPEG file that ends before its own header, pages, boxes or chunks say; other formats, and
    /// files streamed with an unknown length, pass.
    /// `name` is the file as the caller named it, for the message.
    static func check(_ file: String, name path: String) throws(MediaError) {
        let descriptor = open(file, O_RDONLY)
        guard descriptor >= 0 else { return }  // the reader itself reports why it cannot open it
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return }
        try check(Bytes(descriptor: descriptor, size: Int(status.st_size)), path: path)
    }

    /// The same checks over the bytes of a file in memory, named `name`.
    static func check(bytes: [UInt8], name: String) throws(MediaError) {
        try check(Bytes(memory: bytes), path: name)
    }

    private static func check(_ file: Bytes, path: String) throws(MediaError) {
        let magic = file.read(at: 0, count: 12)
        guard magic.count == 12 else { return }
        let tag = String(decoding: magic[0..<4], as: UTF8.self), form = String(decoding: magic[8..<12], as: UTF8.self)
        if (tag == "RIFF" || tag == "RIFX") && form == "WAVE" {
            try checkChunks(file, bigEndian: tag == "RIFX", dataChunk: "data", path: path)
        } else if tag == "RIFF" && (form == "AVI " || form == "WEBP") {
            // The first RIFF chunk (an OpenDML file continues in RIFF AVIX chunks after it) must fit.
            let size = integer(magic[4..<8].reversed())
            if size != 0, size != 0xFFFF_FFFF, size > file.size - 8 {
                throw MediaError(.truncated, path: path,
                                 "file truncated: its RIFF header promises \(size + 8) bytes, \(file.size) are present")
            }
        } else if tag == "FORM" && (form == "AIFF" || form == "AIFC") {
            try checkChunks(file, bigEndian: true, dataChunk: "SSND", path: path)
        } else if tag == "OggS" {
            try checkOggPages(file, path: path)
        } else if magic.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) {
            try checkMatroskaSegment(file, path: path)
        } else if String(decoding: magic[4..<8], as: UTF8.self) == "ftyp" {
            try checkTopLevelBoxes(file, path: path)
        } else if magic.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            try checkPNGChunks(file, path: path)
        } else if magic.starts(with: [0xFF, 0xD8, 0xFF]) {
            try checkJPEGEnd(file, path: path)
        }
    }

    /// PNG: chunks (length, type, data, CRC) must run whole up to IEND. FFmpeg's decoder gives the
    /// rows it has of an image cut after its header without a word.
    private static func checkPNGChunks(_ file: Bytes, path: String) throws(MediaError) {
        var offset = 8
        while true {
            let header = file.read(at: offset, count: 8)
            guard header.count == 8 else {
                throw MediaError(.truncated, path: path, "file truncated: the PNG ends at byte \(file.size) before its IEND chunk")
            }
            let length = integer(header[0..<4]), type = String(decoding: header[4..<8], as: UTF8.self)
            guard length <= file.size - offset - 12 else {
                throw MediaError(.truncated, path: path,
                                 "file truncated: PNG chunk '\(type)' at byte \(offset) promises \(length) bytes, \(max(0, file.size - offset - 12)) are present")
            }
            if type == "IEND" { return }
            offset += 12 + length
        }
    }

    /// JPEG: the marker segments are walked to the first scan, after which an end-of-image marker
    /// (FF D9) must follow; entropy-coded data cannot hold one (an FF in it is followed by 00). FFmpeg
    /// fills what a cut JPEG lacks in grey ("EOI missing, emulating"). Segments before the scan
    /// (EXIF and its thumbnail, which has its own end marker) are skipped by their lengths.
    private static func checkJPEGEnd(_ file: Bytes, path: String) throws(MediaError) {
        var offset = 2
        while true {
            let marker = file.read(at: offset, count: 4)
            guard marker.count == 4, marker[0] == 0xFF else { break }
            if marker[1] == 0xFF { offset += 1; continue }  // fill byte
            if marker[1] == 0xDA { break }  // start of scan
            offset += 2 + integer(marker[2..<4])
        }
        // Searched from the end, where it is unless other data follows the image.
        let block = 1 << 16
        var end = file.size
        while end - offset >= 2 {
            let start = max(offset, end - block)
            let chunk = file.read(at: start, count: end - start)
            guard chunk.count == end - start else { break }
            for i in stride(from: chunk.count - 2, through: 0, by: -1) where chunk[i] == 0xFF && chunk[i + 1] == 0xD9 { return }
            end = start + 1  // one byte of overlap: a marker across two blocks
        }
        throw MediaError(.truncated, path: path, "file truncated: the JPEG has no end-of-image marker after its scan data")
    }

    /// MP4, MOV and M4A: every top-level box (ftyp, moov, mdat, ...) must fit, so a file cut
    /// anywhere, before or after its sample table, says so.
    private static func checkTopLevelBoxes(_ file: Bytes, path: String) throws(MediaError) {
        var offset = 0
        while offset + 8 <= file.size {
            let header = file.read(at: offset, count: 16)
            guard header.count >= 8 else { return }
            var size = integer(header[0..<4])
            let type = String(decoding: header[4..<8], as: UTF8.self)
            if size == 1, header.count == 16 { size = integer(header[8..<16]) }  // 64-bit size follows
            if size == 0 { return }  // the box runs to the end of the file
            guard size >= 8 else { return }  // not a box: FFmpeg judges it
            guard size <= file.size - offset else {
                throw MediaError(.truncated, path: path,
                                 "file truncated: its '\(type)' box promises \(size) bytes from byte \(offset), \(file.size - offset) are present")
            }
            offset += size
        }
    }

    /// Matroska and WebM: the Segment element after the EBML header must fit, unless its size is
    /// the "unknown" one live writers put.
    private static func checkMatroskaSegment(_ file: Bytes, path: String) throws(MediaError) {
        guard let header = elementSize(file, at: 4) else { return }
        let segment = 4 + header.length + header.size
        guard file.read(at: segment, count: 4) == [0x18, 0x53, 0x80, 0x67],
              let body = elementSize(file, at: segment + 4), !body.unknown
        else { return }
        let end = segment + 4 + body.length + body.size
        if end > file.size {
            throw MediaError(.truncated, path: path, "file truncated: its Matroska segment promises \(end) bytes, \(file.size) are present")
        }
    }

    /// An EBML variable-length size at `offset`: its value, its own length in bytes, and whether
    /// it is the reserved "unknown size" (every value bit set).
    private static func elementSize(_ file: Bytes, at offset: Int) -> (size: Int, length: Int, unknown: Bool)? {
        guard let first = file.read(at: offset, count: 1).first, first != 0 else { return nil }
        let length = first.leadingZeroBitCount + 1
        let bytes = file.read(at: offset, count: length)
        guard bytes.count == length else { return nil }
        let mask = UInt8(0xFF >> length)
        let value = integer([first & mask] + bytes.dropFirst())
        let unknown = value == (1 << (7 * length)) - 1
        guard value <= Int.max / 2 else { return (0, length, true) }  // past any file: treated as unknown
        return (value, length, unknown)
    }

    /// Walks the chunks after the 12-byte RIFF/FORM header up to the audio data chunk, which must
    /// fit in the file unless its size is the "unknown" 0 or 0xFFFFFFFF that streaming writers put.
    private static func checkChunks(_ file: Bytes, bigEndian: Bool, dataChunk: String, path: String) throws(MediaError) {
        var offset = 12
        while offset + 8 <= file.size {
            let header = file.read(at: offset, count: 8)
            guard header.count == 8 else { return }
            let id = String(decoding: header[0..<4], as: UTF8.self)
            let size = bigEndian ? integer(header[4..<8]) : integer(header[4..<8].reversed())
            let available = file.size - offset - 8
            if id == dataChunk {
                guard size != 0, size != 0xFFFF_FFFF, size > available else { return }
                throw MediaError(.truncated, path: path,
                                 "file truncated: its header promises \(size) bytes of audio data, \(available) are present")
            }
            guard size <= available else {
                throw MediaError(.truncated, path: path, "file truncated: chunk '\(id)' runs past the end of the file")
            }
            offset += 8 + size + (size & 1)
        }
    }

    /// The unsigned integer `bytes` spell, most significant first.
    private static func integer(_ bytes: some Sequence<UInt8>) -> Int {
        bytes.reduce(0) { $0 << 8 | Int($1) }
    }

    /// Walks every Ogg page header (27 bytes plus the segment table; the bodies are skipped): the
    /// last page must be whole, and every logical stream that begins must reach its end-of-stream page.
    private static func checkOggPages(_ file: Bytes, path: String) throws(MediaError) {
        var offset = 0, open: Set<UInt32> = []
        while offset < file.size {
            let header = file.read(at: offset, count: 27)
            guard header.count == 27 else {
                throw MediaError(.truncated, path: path, "file truncated: the Ogg page at byte \(offset) is cut off")
            }
            guard header.starts(with: Array("OggS".utf8)) else { return }  // not Ogg from here on: libsndfile judges it
            let flags = header[5], serial = UInt32(integer(header[14..<18].reversed()))
            let segments = Int(header[26])
            let table = file.read(at: offset + 27, count: segments)
            let end = offset + 27 + segments + table.reduce(0) { $0 + Int($1) }
            guard table.count == segments, end <= file.size else {
                throw MediaError(.truncated, path: path, "file truncated: the Ogg page at byte \(offset) is cut off")
            }
            if flags & 0x02 != 0 { open.insert(serial) }  // beginning of stream
            if flags & 0x04 != 0 { open.remove(serial) }  // end of stream
            offset = end
        }
        if !open.isEmpty {
            throw MediaError(.truncated, path: path, "file truncated: the Ogg stream stops before its end-of-stream page")
        }
    }

    /// Reads at offsets: a file without moving its position, or bytes in memory.
    private struct Bytes {
        private let descriptor: Int32?
        private let memory: [UInt8]
        let size: Int

        init(descriptor: Int32, size: Int) {
            self.descriptor = descriptor
            memory = []
            self.size = size
        }

        init(memory: [UInt8]) {
            descriptor = nil
            self.memory = memory
            size = memory.count
        }

        /// Up to `count` bytes at `offset` (fewer at the end of the file).
        func read(at offset: Int, count: Int) -> [UInt8] {
            guard count > 0, offset >= 0, offset < size else { return [] }
            let available = min(count, size - offset)
            guard let descriptor else { return Array(memory[offset..<offset + available]) }
            var bytes = [UInt8](repeating: 0, count: available)
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
            return got > 0 ? Array(bytes.prefix(got)) : []
        }
    }
}
