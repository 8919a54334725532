import Foundation

/// The NumPy .npy format (version 1.0), so any output array opens with `numpy.load`.
public enum NPY {
    /// The file bytes of `array`: magic, header dict padded to 64 bytes, raw little-endian data.
    /// Version 1.0 unless the header outgrows its 16-bit length (thousands of dimensions): then 2.0.
    public static func encode(_ array: NDArray) -> Data {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)"
            : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(array.dtype.numpyDescriptor)', 'fortran_order': False, 'shape': \(shape), }"
        let version: UInt8 = 10 + header.utf8.count + 1 + 63 > Int(UInt16.max) ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let unpadded = prefix + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
        let length = UInt32(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF)])
        if version == 2 { out.append(contentsOf: [UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]) }
        out.append(contentsOf: header.utf8)
        out.append(contentsOf: array.data)
        return out
    }

    /// Writes `array` to `url` atomically (a temporary file renamed into place).
    public static func write(_ array: NDArray, to url: URL) throws {
        try encode(array).write(to: url, options: .atomic)
    }
}
