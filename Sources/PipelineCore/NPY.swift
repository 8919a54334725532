import Foundation
import SystemErrors

/// The NumPy .npy format (version 1.0), so any output array opens with `numpy.load`.
public enum NPY {
    /// The file bytes of `array`: magic, header dict padded to 64 bytes, raw little-endian data.
    /// Version 1.0 unless the header outgrows its 16-bit length (thousands of dimensions): then 2.0.
    public static func encode(_ array: NDArray) -> Data {
        var out = header(shape: array.shape, dtype: array.dtype)
        out.append(contentsOf: array.data)
        return out
    }

    /// The bytes before the data of an array of `shape` and `dtype`.
    static func header(shape: [Int], dtype: DType) -> Data {
        let shape = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype.numpyDescriptor)', 'fortran_order': False, 'shape': \(shape), }"
        let version: UInt8 = 10 + header.utf8.count + 1 + 63 > Int(UInt16.max) ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let unpadded = prefix + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
        let length = UInt32(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF)])
        if version == 2 { out.append(contentsOf: [UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]) }
        out.append(contentsOf: header.utf8)
        return out
    }

    /// Writes `array` to `url` atomically (`url.partial` renamed into place; see `NPYFileWriter`);
    /// a failure names the file and says why in plain words (a full disk, a read-only file system).
    public static func write(_ array: NDArray, to url: URL) throws(NPYError) {
        let file = try NPYFileWriter(url: url, shape: array.shape, dtype: array.dtype)
        var failure: NPYError?
        array.data.withUnsafeBytes { data in
            do throws(NPYError) { try file.append(data) } catch { failure = error }
        }
        if let failure { throw failure }
        try file.finish()
    }

    /// The array a .npy file holds (version 1-3, little-endian or single-byte types, C order), its
    /// shape checked against the bytes that follow the header before anything is allocated.
    public static func decode(_ bytes: [UInt8], file: String) throws(NPYError) -> NDArray {
        func fail(_ code: NPYError.Code, _ reason: String) -> NPYError { NPYError(code, path: file, reason: reason) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8), (1...3).contains(bytes[6]) else {
            throw fail(.notNPY, "no .npy magic (\\x93NUMPY and a version of 1 to 3)")
        }
        let wide = bytes[6] >= 2
        let start = wide ? 12 : 10
        guard bytes.count >= start else { throw fail(.truncated, "the file ends inside the header length") }
        let length = wide
            ? Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            : Int(bytes[8]) | Int(bytes[9]) << 8
        guard length <= bytes.count - start else { throw fail(.truncated, "a header of \(length) bytes, \(bytes.count - start) left in the file") }
        guard let header = String(bytes: bytes[start..<start + length], encoding: .utf8) else { throw fail(.badHeader, "the header is not text") }
        func value(of key: String) -> Substring? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return header[range.upperBound...].drop { $0 == " " }
        }
        guard let descr = value(of: "descr"), descr.first == "'", let end = descr.dropFirst().firstIndex(of: "'"),
              let dtype = DType.allCases.first(where: { $0.numpyDescriptor == descr[descr.index(after: descr.startIndex)..<end] }) else {
            throw fail(.unsupported, "'descr' is missing or not a little-endian type Sluice reads (\(DType.allCases.map(\.numpyDescriptor).joined(separator: ", ")))")
        }
        guard value(of: "fortran_order")?.hasPrefix("False") == true else { throw fail(.unsupported, "only C-order arrays are read ('fortran_order': False)") }
        guard let open = value(of: "shape"), open.first == "(", let close = open.firstIndex(of: ")") else {
            throw fail(.badHeader, "'shape' is missing or not a tuple")
        }
        var shape: [Int] = []
        for part in open.dropFirst()[..<close].split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard let dimension = Int(text), dimension >= 0, shape.count < 64 else { throw fail(.badHeader, "shape entry '\(text)' is not a size") }
            shape.append(dimension)
        }
        let available = bytes.count - start - length
        guard let size = NDArray.byteCount(shape: shape, dtype: dtype), size == available else {
            throw fail(.truncated, "shape \(shape) of \(dtype) needs \(NDArray.byteCount(shape: shape, dtype: dtype).map(String.init) ?? "more than Int.max") bytes, the file holds \(available)")
        }
        return NDArray(dtype: dtype, shape: shape, data: Array(bytes[(start + length)...]))
    }
}

/// A .npy file written as its data arrives, for arrays too large to hold at once (every frame
/// of a long video): the header first, since the shape is known up front, then the data in
/// pieces, into `FILE.partial`, which `finish()` renames to `FILE` once every byte is in. A
/// writer dropped before that removes its `.partial`. A device or pipe (`/dev/null`,
/// `/dev/stdout`) cannot be replaced by a rename and is written directly.
public final class NPYFileWriter {
    /// The file being written.
    public let url: URL
    /// Where the bytes go: `url.partial`, or `url` itself when it is not a regular file.
    private let target: String
    private let descriptor: Int32
    /// Data bytes still to come.
    private var remaining: Int
    private var closed = false

    /// Creates `url.partial` holding the header of an array of `shape` and `dtype`.
    public init(url: URL, shape: [Int], dtype: DType) throws(NPYError) {
        guard let size = NDArray.byteCount(shape: shape, dtype: dtype) else {
            throw NPYError(.writeFailed, path: url.path, reason: "shape \(shape) of \(dtype) is larger than memory can address")
        }
        var status = stat()
        let special = stat(url.path, &status) == 0 && status.st_mode & S_IFMT != S_IFREG
        self.url = url
        target = special ? url.path : url.path + ".partial"
        remaining = size
        // A `.partial` left there (a link included) is replaced, never written through.
        if !special { unlink(target) }
        descriptor = open(target, special ? O_WRONLY | O_CLOEXEC : O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw NPYError(.writeFailed, path: url.path, reason: "cannot create \(target): \(SystemErrorText.words(errno: errno))")
        }
        var failure: NPYError?
        NPY.header(shape: shape, dtype: dtype).withUnsafeBytes { header in
            do throws(NPYError) { try write(header) } catch { failure = error }
        }
        if let failure {
            close(descriptor)
            discardPartial()
            throw failure
        }
    }

    /// Appends the next `bytes` of the data.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(NPYError) {
        guard bytes.count <= remaining else {
            throw NPYError(.writeFailed, path: url.path, reason: "\(bytes.count) more bytes than its shape holds")
        }
        try write(bytes)
        remaining -= bytes.count
    }

    /// Closes the file and renames it into place; fails if the data is short of its shape.
    public func finish() throws(NPYError) {
        guard remaining == 0 else {
            throw NPYError(.writeFailed, path: url.path, reason: "\(remaining) bytes of its shape were never written")
        }
        closed = true
        guard close(descriptor) == 0 else {
            let reason = SystemErrorText.words(errno: errno)
            discardPartial()
            throw NPYError(.writeFailed, path: url.path, reason: "cannot write: \(reason)")
        }
        guard target == url.path || rename(target, url.path) == 0 else {
            let reason = SystemErrorText.words(errno: errno)
            discardPartial()
            throw NPYError(.writeFailed, path: url.path, reason: "cannot rename \(target) into place: \(reason)")
        }
    }

    deinit {
        guard !closed else { return }
        close(descriptor)
        discardPartial()
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws(NPYError) {
        var done = 0
        while done < bytes.count {
            let wrote = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else {
                throw NPYError(.writeFailed, path: url.path, reason: "cannot write: \(SystemErrorText.words(errno: wrote < 0 ? errno : EIO))")
            }
            done += wrote
        }
    }

    /// Removes the `.partial` (never the device or pipe written directly).
    private func discardPartial() {
        if target != url.path { unlink(target) }
    }
}

/// A .npy file that cannot be read or written, and why.
public struct NPYError: CodedError, Equatable {
    public enum Code: String, Sendable { case notNPY, truncated, badHeader, unsupported, writeFailed }
    public let code: Code
    /// The .npy file.
    public let path: String
    public let reason: String

    public init(_ code: Code, path: String, reason: String) { (self.code, self.path, self.reason) = (code, path, reason) }

    /// A file that cannot be written is the system's; one that cannot be read as .npy is the data's.
    public var failure: Failure { code == .writeFailed ? .io : .data }

    public var description: String { "\(path): \(reason)" }
}
