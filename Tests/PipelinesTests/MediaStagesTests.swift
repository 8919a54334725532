import Foundation
import PipelineCore
import Pipelines
import Testing

/// The media stages run from pipeline files over the committed sample clips.
struct MediaStagesTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func run(_ yaml: String) throws -> PipelineRunner.Outcome {
        try PipelineRunner(plan: PipelineFile().plan(yaml: yaml, file: "test.yaml"), progress: nil).run()
    }

    @Test func testSplitBecomesFramesAndLogMelFiles() throws {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try run("""
            name: shapes-test
            output: \(out.path)
            source: {type: manifest, path: \(Self.root.path)/samples/shapes/manifest.jsonl, split: test}
            stages:
              - {type: video_frames, select: uniform, count: 4, size: 32x32, workers: 2}
              - {type: audio_decode, seconds: 3}
              - {type: log_mel, n_mels: 40}
            sink: {type: npy, directory: arrays}
            """)
        #expect(outcome.report.completion == .finished)
        let rows = try String(contentsOf: out.appendingPathComponent("arrays/index.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(rows.count == 6)  // 24 clips, a quarter held out
        #expect(rows.allSatisfy { $0["split"] as? String == "test" && ($0["caption"] as? String)?.hasPrefix("a ") == true })
        let first = rows[0]
        let frames = try Data(contentsOf: out.appendingPathComponent("arrays/\(first["frames"] as! String)"))
        #expect(String(decoding: frames.prefix(80), as: UTF8.self).contains("'shape': (4, 32, 32, 3)"))
        let mel = try Data(contentsOf: out.appendingPathComponent("arrays/\(first["mel"] as! String)"))
        #expect(String(decoding: mel.prefix(80), as: UTF8.self).contains("'shape': (301, 40)"))  // 3 s, hop 10 ms, centred
    }

    @Test func brokenClipIsQuarantinedWithItsReasonUnderSkip() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let samples = Self.root.appendingPathComponent("samples").path
        try Data("""
            {"id": "good", "video": "\(samples)/shapes/video/shapes-00001.mkv"}
            {"id": "cut", "video": "\(samples)/broken/truncated.mp4"}
            {"id": "noise", "video": "\(samples)/broken/random-bytes.mp4"}

            """.utf8).write(to: dir.appendingPathComponent("manifest.jsonl"))
        let outcome = try run("""
            name: broken
            output: \(dir.path)/out
            options: {on_error: skip}
            source: {type: manifest, path: \(dir.path)/manifest.jsonl}
            stages: [{type: video_frames, count: 2}]
            sink: {type: npy, directory: arrays}
            """)
        #expect(outcome.report.completion == .finished)
        let reasons = outcome.report.quarantined.map { "\($0)" }
        #expect(reasons.count == 2)
        #expect(reasons.contains { $0.contains("cut") && $0.contains("truncated") })
        #expect(reasons.contains { $0.contains("noise") && $0.contains("Invalid data") })
    }

    /// A cut WAV is quarantined as truncated; `seconds:` used to pad it back to full length unseen.
    @Test func cutAudioIsQuarantinedEvenWhenFittedToALength() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let whole = try Data(contentsOf: Self.root.appendingPathComponent("samples/shapes/audio/shapes-00000.wav"))
        try whole.prefix(whole.count / 2).write(to: dir.appendingPathComponent("cut.wav"))
        try whole.write(to: dir.appendingPathComponent("whole.wav"))
        try Data("""
            {"id": "whole", "audio": "whole.wav"}
            {"id": "cut", "audio": "cut.wav"}

            """.utf8).write(to: dir.appendingPathComponent("manifest.jsonl"))
        let outcome = try run("""
            name: cut-audio
            output: \(dir.path)/out
            options: {on_error: skip}
            source: {type: manifest, path: \(dir.path)/manifest.jsonl}
            stages: [{type: audio_decode, seconds: 3}]
            sink: {type: npy, directory: arrays}
            """)
        #expect(outcome.report.completion == .finished)
        let reasons = outcome.report.quarantined.map { "\($0)" }
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("cut.wav: file truncated: its header promises 71722 bytes of audio data") == true)
    }

    /// Times, rates and sizes that used to trap (or allocate terabytes) are per-item errors under
    /// `skip`, or plan errors when the parameter alone is impossible (an infinite number is refused
    /// when the file is checked).
    @Test(arguments: [
        "{type: video_frames, select: timestamps, timestamps: [inf]}",
        "{type: video_frames, select: timestamps, timestamps: [1e19]}",
        "{type: video_frames, select: fps, fps: 1e19}",
        "{type: video_frames, size: 100000x100000}",
        "{type: video_frames, size: 64x64, resize: shorter_side_crop, shorter_side: 100000}",
    ])
    func hostileMediaParametersQuarantineTheItem(stage: String) throws {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try run("""
            name: hostile
            output: \(out.path)
            options: {on_error: skip}
            source: {type: manifest, path: \(Self.root.path)/samples/shapes/manifest.jsonl, split: test}
            stages: [\(stage)]
            sink: {type: npy, directory: arrays}
            """)
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.count == 6)
    }

    @Test(arguments: [
        "{type: audio_decode, seconds: 1e19}", "{type: audio_decode, seconds: inf}",
        "{type: video_frames, select: fps, fps: inf}", "{type: video_frames, select: clip, seconds: inf}",
        "{type: audio_decode, sample_rate: 100000000000}", "{type: log_mel, top_db: inf}",
        "{type: log_mel, n_fft: 1099511627776}", "{type: log_mel, win_length: 1024}",
    ])
    func impossibleMediaParametersAreRefusedBeforeTheRun(stage: String) throws {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let error = #expect(throws: (any Error).self) {
            _ = try run("""
                name: hostile
                output: \(out.path)
                source: {type: manifest, path: \(Self.root.path)/samples/shapes/manifest.jsonl}
                stages: [\(stage)]
                sink: {type: npy, directory: arrays}
                """)
        }
        #expect(error.map { "\($0)" }?.contains("MelOptions(") == false)
    }
}
