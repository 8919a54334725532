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

    /// An empty entry in a list is an error, not an empty selection written with exit 0.
    @Test func anEmptyIndexListIsRefused() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("f.npy")
        for list in [",,", "1,,2"] {
            let result = try sluice(["frames", "samples/shapes/video/shapes-00000.mp4", "--indices", list, "--out", out.path])
            #expect(result.status != 0 && result.errors.contains("is not a number"), "\(list)")
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
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
        #expect(truncated.status == 65)
        #expect(truncated.errors.contains("samples/broken/truncated.mp4: file truncated"))
        let wav = try sluice(["mel", "samples/broken/damaged-header.wav", "--out", out])
        #expect(wav.status == 65)
        #expect(wav.errors.contains("samples/broken/damaged-header.wav: libsndfile cannot open it"))
        let empty = try sluice(["probe", "samples/broken/empty.mp4"])
        #expect(empty.errors.contains("samples/broken/empty.mp4: file is empty (0 bytes)"))
    }

    /// Hostile numbers end in exit 65 (bad data) and a sentence, never a signal, a struct dump or zeros.
    @Test func hostileMediaOptionsFailWithASentence() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.npy").path, clip = "samples/shapes/video/shapes-00000.mp4"
        let cases: [([String], String)] = [
            (["frames", clip, "--size", "100000x100000"], "output size 100000x100000 is not a picture size FFmpeg can hold"),
            (["frames", clip, "--size", "64x64", "--shorter-side", "100000"], "is not a picture size FFmpeg can hold"),
            (["frames", clip, "--timestamps", "inf"], "time inf s requested"),
            (["frames", clip, "--timestamps", "1e19"], "no frame starts at or after 1e+19 s"),
            (["frames", clip, "--fps", "1e19"], "would make more than 10000000 frames"),
            (["mel", "samples/smoke/tone440.wav", "--preemphasis", "inf"], "pre-emphasis coefficient inf must be in 0...1"),
            (["mel", "samples/smoke/tone440.wav", "--win-length", "1024"], "window length (win_length) 1024 must be in 1...512"),
            (["probe", "/dev/zero"], "/dev/zero: is a character device, not a regular file"),
        ]
        for (arguments, message) in cases {
            let result = try sluice(arguments + (arguments[0] == "probe" ? [] : ["--out", out]))
            #expect(result.status == 65, "\(arguments)")
            #expect(result.errors.contains(message), "\(arguments): \(result.errors)")
            #expect(!result.errors.contains("MelOptions("))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func melOfACutFileSaysItIsTruncated() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try Data(contentsOf: Self.repository.appendingPathComponent("samples/shapes/audio/shapes-00002.ogg"))
        let cut = dir.appendingPathComponent("cut.ogg")
        try whole.prefix(whole.count / 2).write(to: cut)
        let result = try sluice(["mel", cut.path, "--out", dir.appendingPathComponent("x.npy").path])
        #expect(result.status == 65)
        #expect(result.errors.contains("cut.ogg: file truncated"))
    }

    /// An MPEG program stream whose packets share decoding times: probed and decoded as ffmpeg does.
    @Test func programStreamsAreProbedAndDecoded() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = "Tests/MediaTests/Fixtures/containers/clip.mpg"
        let probed = try sluice(["probe", clip])
        #expect(probed.status == 0)
        let info = try JSONSerialization.jsonObject(with: Data(probed.output.utf8)) as? [String: Any]
        #expect(info?["frameCount"] as? Int == 45)
        let framed = try sluice(["frames", clip, "--indices", "0,1,44", "--out", dir.appendingPathComponent("f.npy").path])
        #expect(framed.status == 0, "\(framed.errors)")
    }
}
