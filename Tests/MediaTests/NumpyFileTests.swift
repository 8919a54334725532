import Foundation
import Media
import Testing

struct NumpyFileTests {
    /// What numpy 2.4 writes for `np.save(f, np.arange(24, dtype=np.uint8).reshape(1, 2, 4, 3))`.
    static let numpyUInt8 = "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDIsIDQsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhc="
    /// What numpy 2.4 writes for `np.save(f, np.array([[0.5, -1.0, 2.0]], dtype=np.float32))`.
    static let numpyFloat32 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAA/AACAvwAAAEA="

    @Test func framesAreWrittenByteForByteAsNumpyWould() throws {
        let frames = FrameBatch(frameNumbers: [0], seconds: [0], height: 2, width: 4, pixels: (0..<24).map(UInt8.init))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("frames-\(UUID()).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NumpyFile.write(frames, to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(base64Encoded: Self.numpyUInt8))
    }

    @Test func spectrogramsAreWrittenByteForByteAsNumpyWould() throws {
        let mel = MelSpectrogram(frames: 1, melBins: 3, values: [0.5, -1, 2])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mel-\(UUID()).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NumpyFile.write(mel, to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(base64Encoded: Self.numpyFloat32))
    }
}
