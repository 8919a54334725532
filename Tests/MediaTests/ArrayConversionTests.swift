import Foundation
import Media
import PipelineCore
import Testing

/// Media outputs reach numpy through PipelineCore's `NPY`; these pin the layouts byte for byte.
struct ArrayConversionTests {
    /// What numpy 2.4 writes for `np.save(f, np.arange(24, dtype=np.uint8).reshape(1, 2, 4, 3))`.
    static let numpyUInt8 = "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDIsIDQsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhc="
    /// What numpy 2.4 writes for `np.save(f, np.array([[0.5, -1.0, 2.0]], dtype=np.float32))`.
    static let numpyFloat32 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAA/AACAvwAAAEA="

    @Test func framesBecomeUInt8NHWC() {
        let frames = FrameBatch(frameNumbers: [0], seconds: [0], height: 2, width: 4, pixels: (0..<24).map(UInt8.init))
        #expect(NPY.encode(frames.ndarray) == Data(base64Encoded: Self.numpyUInt8))
    }

    @Test func spectrogramsBecomeFloat32FramesByMels() {
        let mel = MelSpectrogram(frames: 1, melBins: 3, values: [0.5, -1, 2])
        #expect(NPY.encode(mel.ndarray) == Data(base64Encoded: Self.numpyFloat32))
    }

    @Test func normalisedFramesBecomeFloat32NCHW() {
        let frames = FrameBatch(frameNumbers: [0, 1], seconds: [0, 0.1], height: 2, width: 3, pixels: .init(repeating: 0, count: 36))
        let array = frames.normalizedNDArray()
        #expect(array.dtype == .float32 && array.shape == [2, 3, 2, 3])
    }

    @Test func stereoAudioKeepsItsChannelAxis() {
        let audio = AudioBuffer(source: "s", sampleRate: 8000, channels: 2, samples: [0, 1, 2, 3, 4, 5])
        #expect(audio.ndarray.shape == [3, 2])
        #expect(audio.mono().ndarray.shape == [3])
    }
}
