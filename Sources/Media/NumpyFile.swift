import Foundation

/// Writes arrays as NumPy .npy files (format version 1.0, C order, little-endian), so frames and
/// spectrograms can be checked with `numpy.load` by anyone.
public enum NumpyFile {
    /// Element types this writer emits, with their .npy `descr`.
    public enum Element: String, Sendable {
        case uint8 = "|u1"
        case float32 = "<f4"
    }

    /// The bytes of a .npy file holding `payload` (already in C order) with `shape`.
    public static func encode(element: Element, shape: [Int], payload: UnsafeRawBufferPointer) -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(element.rawValue)', 'fortran_order': False, 'shape': (\(dims)), }"
        // Magic (6) + version (2) + header length (2) + header + newline, padded to 64 bytes.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(contentsOf: payload)
        return data
    }

    /// Writes decoded pictures as uint8 N x H x W x 3.
    public static func write(_ frames: FrameBatch, to path: String) throws {
        let data = frames.pixels.withUnsafeBytes {
            encode(element: .uint8, shape: [frames.count, frames.height, frames.width, 3], payload: $0)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Writes a spectrogram as float32 frames x mels (little-endian, as on every platform Swift runs on here).
    public static func write(_ mel: MelSpectrogram, to path: String) throws {
        let data = mel.values.withUnsafeBytes {
            encode(element: .float32, shape: [mel.frames, mel.melBins], payload: $0)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}
