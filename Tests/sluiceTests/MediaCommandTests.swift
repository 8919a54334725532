import Foundation
import Testing

/// `sluice probe`, `frames` and `mel` as a user runs them, over the committed samples.
extension CommandLineTests {
    @Test func probePrintsStreamsAndTheTrueFrameCountAsJSON() throws {
        let result = try sluice(["probe", "samples/shapes/video/shapes-00003.avi"])
        #expect(result.status == 0)
        let info = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        #expect(info?["frameCount"] as? Int == 45)
        let streams = info?["streams"] as? [[String: Any]]
        #expect(streams?.map { $0["codec"] as? String } == ["mjpeg", "pcm_s16le"])
    }

    @Test func framesAndMelWriteNumpyFiles() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = dir.appendingPathComponent("frames.npy").path
        let framed = try sluice(["frames", "samples/shapes/video/shapes-00000.mp4", "--count", "3", "--size", "64x48", "--out", frames])
        #expect(framed.status == 0)
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: frames)).prefix(80), as: UTF8.self)
        #expect(header.contains("'descr': '|u1'") && header.contains("'shape': (3, 48, 64, 3)"))

        let mel = dir.appendingPathComponent("mel.npy").path
        let melled = try sluice(["mel", "samples/shapes/video/shapes-00002.webm", "--n-mels", "64", "--out", mel])
        #expect(melled.status == 0)
        let melHeader = String(decoding: try Data(contentsOf: URL(fileURLWithPath: mel)).prefix(80), as: UTF8.self)
        #expect(melHeader.contains("'descr': '<f4'") && melHeader.contains("'shape': (301, 64)"))  // 3 s of audio track
    }

    @Test func brokenInputsFailWithTheFileAndTheReason() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.npy").path
        let truncated = try sluice(["frames", "samples/broken/truncated.mp4", "--out", out])
        #expect(truncated.status == 1)
        #expect(truncated.errors.contains("samples/broken/truncated.mp4: file truncated"))
        let wav = try sluice(["mel", "samples/broken/damaged-header.wav", "--out", out])
        #expect(wav.status == 1)
        #expect(wav.errors.contains("samples/broken/damaged-header.wav: libsndfile cannot open it"))
        let empty = try sluice(["probe", "samples/broken/empty.mp4"])
        #expect(empty.errors.contains("samples/broken/empty.mp4: file is empty (0 bytes)"))
    }
}
