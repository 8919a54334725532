import CZlib
import CZstd
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads the bytes of one file, decompressing gzip or zstd when its first bytes say so
/// (the extension is not trusted). Owns the file descriptor and the decompressor state.
final class ByteStream {
    enum Codec: Equatable { case plain, gzip, zstd }

    let path: String
    private(set) var codec: Codec = .plain
    private let fd: Int32
    private var raw: UnsafeMutableRawBufferPointer
    private var rawStart = 0
    private var rawEnd = 0
    private var rawEOF = false
    private var zlib: UnsafeMutablePointer<z_stream>?
    /// The last gzip member or zstd frame ended exactly at the current input position.
    private var streamEnded = false
    private var zstd: OpaquePointer?

    static let chunkSize = 1 << 18

    init(path: String) throws(TextError) {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TextError(.unreadable, path: path, "cannot open: \(String(cString: strerror(errno)))") }
        raw = .allocate(byteCount: Self.chunkSize, alignment: 16)
        try fillRaw()
        if rawEnd - rawStart >= 2, raw[0] == 0x1F, raw[1] == 0x8B {
            codec = .gzip
            let z = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            z.initialize(to: z_stream())
            guard sluice_inflate_init2(z, 15 + 16) == Z_OK else {
                z.deallocate()
                throw TextError(.invalidData, path: path, "cannot start gzip decompression")
            }
            zlib = z
        } else if rawEnd - rawStart >= 4, raw[0] == 0x28, raw[1] == 0xB5, raw[2] == 0x2F, raw[3] == 0xFD {
            codec = .zstd
            guard let d = ZSTD_createDStream() else { throw TextError(.invalidData, path: path, "cannot start zstd decompression") }
            ZSTD_initDStream(d)
            zstd = d
        }
    }

    deinit {
        if let zlib { inflateEnd(zlib); zlib.deallocate() }
        if let zstd { ZSTD_freeDStream(zstd) }
        raw.deallocate()
        close(fd)
    }

    private func fillRaw() throws(TextError) {
        if rawStart == rawEnd { rawStart = 0; rawEnd = 0 }
        guard !rawEOF, rawEnd < raw.count, let base = raw.baseAddress else { return }
        while true {
            let n = Glibc.read(fd, base + rawEnd, raw.count - rawEnd)
            if n < 0 {
                if errno == EINTR { continue }
                throw TextError(.unreadable, path: path, "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { rawEOF = true }
            rawEnd += n
            return
        }
    }

    /// Fills `buffer` with up to its size in decompressed bytes; 0 means the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TextError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0, let rawBase = raw.baseAddress else { return 0 }
        switch codec {
        case .plain:
            if rawStart == rawEnd { try fillRaw() }
            let n = min(buffer.count, rawEnd - rawStart)
            out.copyMemory(from: rawBase + rawStart, byteCount: n)
            rawStart += n
            return n
        case .gzip:
            guard let z = zlib else { return 0 }
            var produced = 0
            while produced == 0 {
                if rawStart == rawEnd {
                    try fillRaw()
                    if rawStart == rawEnd {
                        if streamEnded { return 0 }
                        throw TextError(.truncated, path: path, "gzip stream is truncated")
                    }
                }
                if streamEnded {
                    // Another gzip member follows (concatenated .gz files are one stream).
                    inflateReset(z)
                    streamEnded = false
                }
                z.pointee.next_in = (rawBase + rawStart).assumingMemoryBound(to: UInt8.self)
                z.pointee.avail_in = UInt32(rawEnd - rawStart)
                z.pointee.next_out = (out + produced).assumingMemoryBound(to: UInt8.self)
                z.pointee.avail_out = UInt32(buffer.count - produced)
                let status = inflate(z, Z_NO_FLUSH)
                rawStart = rawEnd - Int(z.pointee.avail_in)
                produced = buffer.count - Int(z.pointee.avail_out)
                if status == Z_STREAM_END {
                    streamEnded = true
                } else if status != Z_OK && status != Z_BUF_ERROR {
                    let message = z.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw TextError(.invalidData, path: path, "gzip stream is corrupt: \(message)")
                }
            }
            return produced
        case .zstd:
            guard let d = zstd else { return 0 }
            var output = ZSTD_outBuffer(dst: out, size: buffer.count, pos: 0)
            while output.pos == 0 {
                if rawStart == rawEnd {
                    try fillRaw()
                    if rawStart == rawEnd {
                        if streamEnded { return 0 }
                        throw TextError(.truncated, path: path, "zstd stream is truncated")
                    }
                }
                var input = ZSTD_inBuffer(src: rawBase + rawStart, size: rawEnd - rawStart, pos: 0)
                let hint = ZSTD_decompressStream(d, &output, &input)
                rawStart += input.pos
                if ZSTD_isError(hint) != 0 {
                    throw TextError(.invalidData, path: path, "zstd stream is corrupt: \(String(cString: ZSTD_getErrorName(hint)))")
                }
                // A hint of 0 means a frame ended; more input may start another frame.
                streamEnded = hint == 0
            }
            return output.pos
        }
    }
}
