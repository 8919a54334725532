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
            throw ShardError(file: "compression", "bad level in '\(name)'")
        }
        switch parts.first {
        case "zstd":
            let l = level ?? 3
            guard (1...22).contains(l) else { throw ShardError(file: "compression", "zstd level must be 1...22 in '\(name)'") }
            self.init(algorithm: .zstd, level: l, description: name)
        case "gz":
            let l = level ?? 9
            guard (0...9).contains(l) else { throw ShardError(file: "compression", "gz level must be 0...9 in '\(name)'") }
            self.init(algorithm: .gzip, level: l, description: name)
        default:
            throw ShardError(file: "compression", "unsupported compression '\(name)' (sluice supports zstd and gz)")
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
                throw ShardError(file: "zstd", String(cString: ZSTD_getErrorName(written)))
            }
            out.removeSubrange(written...)
            return out
        case .gzip:
            return try Self.deflate(input, level: level)
        }
    }

    /// Decompresses a whole shard whose raw size the index gives; `file` names it in errors.
    public func decompress(_ input: UnsafeRawBufferPointer, rawSize: Int, file: String) throws(ShardError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rawSize)
        switch algorithm {
        case .zstd:
            let produced = out.withUnsafeMutableBytes {
                ZSTD_decompress($0.baseAddress, rawSize, input.baseAddress, input.count)
            }
            guard ZSTD_isError(produced) == 0 else {
                throw ShardError(file: file, "zstd: \(String(cString: ZSTD_getErrorName(produced)))")
            }
            guard produced == rawSize else {
                throw ShardError(file: file, "decompressed to \(produced) bytes, index says \(rawSize)")
            }
        case .gzip:
            try Self.inflate(input, into: &out, file: file)
        }
        return out
    }

    /// gzip framing (window bits 15 + 16) around raw deflate, as Python's `gzip.compress` writes.
    private static func deflate(_ input: UnsafeRawBufferPointer, level: Int) throws(ShardError) -> [UInt8] {
        var stream = z_stream()
        guard sluice_deflate_init2(&stream, Int32(level), 31) == Z_OK else {
            throw ShardError(file: "gzip", "deflateInit2 failed")
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
        guard status == Z_STREAM_END else { throw ShardError(file: "gzip", "deflate failed (\(status))") }
        out.removeSubrange(Int(stream.total_out)...)
        return out
    }

    private static func inflate(_ input: UnsafeRawBufferPointer, into out: inout [UInt8], file: String) throws(ShardError) {
        var stream = z_stream()
        guard sluice_inflate_init2(&stream, 31) == Z_OK else { throw ShardError(file: file, "inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        let capacity = out.count
        let status = out.withUnsafeMutableBytes { o in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = o.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(capacity)
            return CZlib.inflate(&stream, Z_FINISH)
        }
        guard status == Z_STREAM_END else {
            let reason = stream.msg.map { String(cString: $0) } ?? "status \(status)"
            throw ShardError(file: file, "gzip: \(status == Z_BUF_ERROR ? "larger than the index says" : reason)")
        }
        guard Int(stream.total_out) == capacity else {
            throw ShardError(file: file, "decompressed to \(stream.total_out) bytes, index says \(capacity)")
        }
    }
}

/// A file hash as MDS records it in `index.json`: the algorithm's name and its lowercase hex digest.
public enum HashAlgorithm: String, CaseIterable, Sendable {
    case md5, sha1, sha256, xxh32, xxh64, xxh3_64, xxh128

    /// The hex digest Python's `hashlib` / `xxhash` `hexdigest()` prints for these bytes.
    public func hexDigest(_ data: UnsafeRawBufferPointer) -> String {
        switch self {
        case .md5: return Self.hex(Insecure.MD5.hash(data: data))
        case .sha1: return Self.hex(Insecure.SHA1.hash(data: data))
        case .sha256: return Self.hex(SHA256.hash(data: data))
        case .xxh32:
            return Self.hex(bigEndian: UInt64(XXH32(data.baseAddress, data.count, 0)), width: 8)
        case .xxh64:
            return Self.hex(bigEndian: XXH64(data.baseAddress, data.count, 0), width: 16)
        case .xxh3_64:
            return Self.hex(bigEndian: XXH3_64bits(data.baseAddress, data.count), width: 16)
        case .xxh128:
            let h = XXH3_128bits(data.baseAddress, data.count)
            return Self.hex(bigEndian: h.high64, width: 16) + Self.hex(bigEndian: h.low64, width: 16)
        }
    }

    private static let digits = Array("0123456789abcdef")

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var s = ""
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 15)])
        }
        return s
    }

    private static func hex(bigEndian value: UInt64, width: Int) -> String {
        var s = ""
        for shift in stride(from: (width - 1) * 4, through: 0, by: -4) {
            s.append(digits[Int((value >> UInt64(shift)) & 15)])
        }
        return s
    }
}
