import Crypto
import CXXHash
import CZlib
import CZstd

/// A shard's compression as MDS names it: `zstd`, `zstd:LEVEL`, `gz`, `gz:LEVEL` (or none).
public struct Compression: Equatable, Sendable, CustomStringConvertible {
    public enum Algorithm: Sendable { case zstd, gzip }
    public let algorithm: Algorithm
    public let level: Int
    /// The name exactly as given, because MDS writes it back verbatim into every shard's config.
    public let description: String

    public static let zstd = Compression(algorithm: .zstd, level: 3, description: "zstd")
    public static let gzip = Compression(algorithm: .gzip, level: 9, description: "gz")

    private init(algorithm: Algorithm, level: Int, description: String) {
        self.algorithm = algorithm
        self.level = level
        self.description = description
    }

    /// Parses `zstd[:1...22]` or `gz[:0...9]`; MDS's other codecs (br, bz2, snappy) are refused by name.
    public init(parsing name: String) throws(ShardError) {
        let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
        let level = parts.count == 2 ? Int(parts[1]) : nil
        if parts.count == 2 && level == nil {
            throw ShardError(.invalidArgument, path: "compression", "bad level in '\(name)'")
        }
        switch parts.first {
        case "zstd":
            let l = level ?? 3
            guard (1...22).contains(l) else { throw ShardError(.invalidArgument, path: "compression", "zstd level must be 1...22 in '\(name)'") }
            self.init(algorithm: .zstd, level: l, description: name)
        case "gz":
            let l = level ?? 9
            guard (0...9).contains(l) else { throw ShardError(.invalidArgument, path: "compression", "gz level must be 0...9 in '\(name)'") }
            self.init(algorithm: .gzip, level: l, description: name)
        default:
            throw ShardError(.unsupported, path: "compression", "unsupported compression '\(name)' (sluice supports zstd and gz)")
        }
    }

    /// The suffix of compressed shard files: `shard.00000.mds.zstd`.
    public var fileExtension: String { algorithm == .zstd ? "zstd" : "gz" }

    /// Compresses a whole shard.
    public func compress(_ input: UnsafeRawBufferPointer) throws(ShardError) -> [UInt8] {
        switch algorithm {
        case .zstd:
            let bound = ZSTD_compressBound(input.count)
            var out = [UInt8](repeating: 0, count: bound)
            let written = out.withUnsafeMutableBytes {
                ZSTD_compress($0.baseAddress, bound, input.baseAddress, input.count, Int32(level))
            }
            guard ZSTD_isError(written) == 0 else {
                throw ShardError(.writeFailed, path: "zstd", String(cString: ZSTD_getErrorName(written)))
            }
            out.removeSubrange(written...)
            return out
        case .gzip:
            return try Self.deflate(input, level: level)
        }
    }

    /// Decompresses a whole shard whose raw size the index gives; `file` names it in errors. The
    /// output grows with what the stream really produces, so an index claiming more than the data
    /// holds costs no more memory than the data.
    public func decompress(_ input: UnsafeRawBufferPointer, rawSize: Int, file: String) throws(ShardError) -> [UInt8] {
        guard input.count <= UInt32.max else { throw ShardError(.damaged, path: file, "compressed shard over 4 GiB") }
        switch algorithm {
        case .zstd:
            guard let context = ZSTD_createDCtx() else { throw ShardError(.unreadable, path: file, "zstd: out of memory") }
            defer { ZSTD_freeDCtx(context) }
            var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            return try Self.growing(rawSize: rawSize, inputSize: input.count, file: file) { region in
                var target = ZSTD_outBuffer(dst: region.baseAddress, size: region.count, pos: 0)
                let status = ZSTD_decompressStream(context, &target, &source)
                if ZSTD_isError(status) != 0 { return .failed("zstd: \(String(cString: ZSTD_getErrorName(status)))") }
                return status == 0 && source.pos == source.size ? .finished(target.pos) : .progress(target.pos)
            }
        case .gzip:
            var stream = z_stream()
            guard sluice_inflate_init2(&stream, 31) == Z_OK else { throw ShardError(.unreadable, path: file, "inflateInit2 failed") }
            defer { inflateEnd(&stream) }
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            return try Self.growing(rawSize: rawSize, inputSize: input.count, file: file) { region in
                stream.next_out = region.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(region.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                let produced = region.count - Int(stream.avail_out)
                switch status {
                case Z_STREAM_END: return .finished(produced)
                case Z_OK, Z_BUF_ERROR: return .progress(produced)
                default: return .failed("gzip: \(stream.msg.map { String(cString: $0) } ?? "status \(status)")")
                }
            }
        }
    }

    /// What one call of a streaming decompressor did with the room it was given.
    private enum Step {
        case progress(Int), finished(Int), failed(String)
    }

    /// Runs `step` into a buffer that starts small and doubles, never past `rawSize`: the one
    /// allocation path for decompressed shards. Output beyond `rawSize`, or a stream that ends
    /// before it, is an error naming the file.
    private static func growing(rawSize: Int, inputSize: Int, file: String,
                                _ step: (UnsafeMutableRawBufferPointer) -> Step) throws(ShardError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: min(rawSize, max(1 << 20, 16 &* inputSize)))
        var filled = 0
        var probe: UInt8 = 0
        var idle = 0
        while true {
            let result: Step
            if filled == out.count && out.count == rawSize {
                // Full: any further byte means the index understates the size.
                result = withUnsafeMutableBytes(of: &probe) { step($0) }
                if case .progress(let n) = result, n > 0 { throw ShardError(.damaged, path: file, "decompresses to more than the \(rawSize) bytes the index says") }
                if case .finished(let n) = result, n > 0 { throw ShardError(.damaged, path: file, "decompresses to more than the \(rawSize) bytes the index says") }
            } else {
                if filled == out.count { out.append(contentsOf: repeatElement(0, count: min(out.count, rawSize - out.count))) }
                result = out.withUnsafeMutableBytes { step(UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            }
            switch result {
            case .failed(let reason): throw ShardError(.damaged, path: file, reason)
            case .finished(let n):
                filled += n
                guard filled == rawSize else {
                    throw ShardError(.damaged, path: file, "decompressed to \(filled) bytes, index says \(rawSize)")
                }
                return out
            case .progress(let n):
                // A decoder may read a header without output once; more means the input ran out.
                idle = n > 0 ? 0 : idle + 1
                guard idle < 3 else {
                    throw ShardError(.damaged, path: file, "compressed data ends after \(filled) of the \(rawSize) bytes the index says (truncated)")
                }
                filled += n
            }
        }
    }

    /// gzip framing (window bits 15 + 16) around raw deflate, as Python's `gzip.compress` writes.
    private static func deflate(_ input: UnsafeRawBufferPointer, level: Int) throws(ShardError) -> [UInt8] {
        var stream = z_stream()
        guard sluice_deflate_init2(&stream, Int32(level), 31) == Z_OK else {
            throw ShardError(.writeFailed, path: "gzip", "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        var out = [UInt8](repeating: 0, count: bound)
        let status = out.withUnsafeMutableBytes { o in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = o.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(bound)
            return CZlib.deflate(&stream, Z_FINISH)
        }
        guard status == Z_STREAM_END else { throw ShardError(.writeFailed, path: "gzip", "deflate failed (\(status))") }
        out.removeSubrange(Int(stream.total_out)...)
        return out
    }
}

/// A file hash as MDS records it in `index.json`: the algorithm's name and its lowercase hex digest.
public enum HashAlgorithm: String, CaseIterable, Sendable {
    case md5, sha1, sha256, xxh32, xxh64, xxh3_64, xxh128

    /// The hex digest Python's `hashlib` / `xxhash` `hexdigest()` prints for these bytes.
    public func hexDigest(_ data: UnsafeRawBufferPointer) -> String {
        let digest = RunningDigest(self)
        digest.update(data)
        return digest.hexDigest()
    }

    private static let digits = Array("0123456789abcdef")

    fileprivate static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var s = ""
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 15)])
        }
        return s
    }

    fileprivate static func hex(bigEndian value: UInt64, width: Int) -> String {
        var s = ""
        for shift in stride(from: (width - 1) * 4, through: 0, by: -4) {
            s.append(digits[Int((value >> UInt64(shift)) & 15)])
        }
        return s
    }
}

/// A digest fed in pieces, equal to `HashAlgorithm.hexDigest` of the pieces joined: a shard's
/// header and samples are hashed as they lie, without joining them.
final class RunningDigest {
    private enum State {
        case md5(Insecure.MD5), sha1(Insecure.SHA1), sha256(SHA256)
        case xxh32(OpaquePointer), xxh64(OpaquePointer), xxh3_64(OpaquePointer), xxh128(OpaquePointer)
    }
    private var state: State

    init(_ algorithm: HashAlgorithm) {
        switch algorithm {
        case .md5: state = .md5(Insecure.MD5())
        case .sha1: state = .sha1(Insecure.SHA1())
        case .sha256: state = .sha256(SHA256())
        case .xxh32:
            state = .xxh32(XXH32_createState())
            if case .xxh32(let s) = state { XXH32_reset(s, 0) }
        case .xxh64:
            state = .xxh64(XXH64_createState())
            if case .xxh64(let s) = state { XXH64_reset(s, 0) }
        case .xxh3_64:
            state = .xxh3_64(XXH3_createState())
            if case .xxh3_64(let s) = state { XXH3_64bits_reset(s) }
        case .xxh128:
            state = .xxh128(XXH3_createState())
            if case .xxh128(let s) = state { XXH3_128bits_reset(s) }
        }
    }

    deinit {
        switch state {
        case .md5, .sha1, .sha256: break
        case .xxh32(let s): XXH32_freeState(s)
        case .xxh64(let s): XXH64_freeState(s)
        case .xxh3_64(let s), .xxh128(let s): XXH3_freeState(s)
        }
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .md5(var h): h.update(bufferPointer: bytes); state = .md5(h)
        case .sha1(var h): h.update(bufferPointer: bytes); state = .sha1(h)
        case .sha256(var h): h.update(bufferPointer: bytes); state = .sha256(h)
        case .xxh32(let s): XXH32_update(s, bytes.baseAddress, bytes.count)
        case .xxh64(let s): XXH64_update(s, bytes.baseAddress, bytes.count)
        case .xxh3_64(let s): XXH3_64bits_update(s, bytes.baseAddress, bytes.count)
        case .xxh128(let s): XXH3_128bits_update(s, bytes.baseAddress, bytes.count)
        }
    }

    /// The digest of everything fed so far, as `hexdigest()` prints it.
    func hexDigest() -> String {
        switch state {
        case .md5(let h): return HashAlgorithm.hex(h.finalize())
        case .sha1(let h): return HashAlgorithm.hex(h.finalize())
        case .sha256(let h): return HashAlgorithm.hex(h.finalize())
        case .xxh32(let s): return HashAlgorithm.hex(bigEndian: UInt64(XXH32_digest(s)), width: 8)
        case .xxh64(let s): return HashAlgorithm.hex(bigEndian: XXH64_digest(s), width: 16)
        case .xxh3_64(let s): return HashAlgorithm.hex(bigEndian: XXH3_64bits_digest(s), width: 16)
        case .xxh128(let s):
            let h = XXH3_128bits_digest(s)
            return HashAlgorithm.hex(bigEndian: h.high64, width: 16) + HashAlgorithm.hex(bigEndian: h.low64, width: 16)
        }
    }
}
