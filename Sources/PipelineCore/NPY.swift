import Foundation

/// The NumPy .npy format (version 1.0), so any output array opens with `numpy.load`.
public enum NPY {
    /// The file bytes of `array`: magic, header dict padded to 64 bytes, raw little-endian data.
    public static func encode(_ array: NDArray) -> Data {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)"
            : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(array.dtype.numpyDescriptor)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: header.utf8)
        out.append(contentsOf: array.data)
        return out
    }

    /// Writes `array` to `url` atomically (a temporary file renamed into place).
    public static func write(_ array: NDArray, to url: URL) throws {
        try encode(array).write(to: url, options: .atomic)
    }
}
