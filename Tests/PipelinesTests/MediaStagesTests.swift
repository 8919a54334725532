import Foundation
import PipelineCore
import Pipelines
import Shards
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

    /// The rows of an npy sink's index, by id.
    static func rows(_ directory: URL) throws -> [String: [String: Any]] {
        let lines = try String(contentsOf: directory.appendingPathComponent("index.jsonl"), encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        return Dictionary(uniqueKeysWithValues: objects.map { ($0["id"] as! String, $0) })
    }

    /// An MDS dataset whose rows hold each sample file twice: its path (`*_path`) and its bytes
    /// (`mp4`, `flac`, `wav` as `bytes` columns, `image` too, a JPEG or a PNG), as a WebDataset
    /// shard hands members over.
    static func mediaDataset(at directory: URL) throws {
        let rows: [(id: String, mp4: String, image: String)] = [
            ("clip-a", "samples/shapes/video/shapes-00000.mp4", "Tests/MediaTests/Fixtures/images/photo.jpg"),
            ("clip-b", "Tests/MediaTests/Fixtures/bytes/moov-at-end.mp4", "Tests/MediaTests/Fixtures/images/palette.png"),
        ]
        let flac = "samples/shapes/audio/shapes-00001.flac", wav = "samples/shapes/audio/shapes-00000.wav"
        func bytes(_ path: String) throws -> ShardValue { .bytes([UInt8](try Data(contentsOf: root.appendingPathComponent(path)))) }
        func path(_ path: String) -> ShardValue { .string(root.appendingPathComponent(path).path) }
        let writer = try ShardWriter(directory: directory, config: ShardConfig(columns: [
            "id": .str, "video_path": .str, "flac_path": .str, "wav_path": .str, "image_path": .str,
            "mp4": .bytes, "flac": .bytes, "wav": .bytes, "image": .bytes,
        ]))
        for row in rows {
            try writer.write([
                "id": .string(row.id), "video_path": path(row.mp4), "flac_path": path(flac), "wav_path": path(wav), "image_path": path(row.image),
                "mp4": try bytes(row.mp4), "flac": try bytes(flac), "wav": try bytes(wav), "image": try bytes(row.image),
            ])
        }
        try writer.finish()
    }

    /// `video_frames`, `audio_decode` and `image_decode` given a field of bytes write the very
    /// arrays they write given the file's path: MP4s (one with its index at the end), FLAC and WAV
    /// (through libsndfile: the field names the format, as a WebDataset member's extension does),
    /// JPEG and palette PNG; an image is a one-frame clip, as `clip_batch` takes one.
    @Test func bytesFieldsGiveTheArraysTheirFilesGive() throws {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        try Self.mediaDataset(at: out.appendingPathComponent("dataset"))
        let outcome = try run("""
            name: media-bytes
            output: \(out.path)
            source: {type: shards, paths: \(out.path)/dataset}
            stages:
              - {type: video_frames, name: frames_bytes, field: mp4, output: frames_bytes, select: indices, indices: [44, 3, 20], size: 40x32}
              - {type: video_frames, name: frames_path, field: video_path, output: frames_path, select: indices, indices: [44, 3, 20], size: 40x32}
              - {type: audio_decode, name: flac_bytes, field: flac, output: flac_bytes}
              - {type: audio_decode, name: flac_file, field: flac_path, output: flac_file}
              - {type: audio_decode, name: wav_bytes, field: wav, output: wav_bytes, seconds: 2}
              - {type: audio_decode, name: wav_file, field: wav_path, output: wav_file, seconds: 2}
              - {type: image_decode, name: image_bytes, field: image, output: image_bytes, size: 24x24, resize: shorter_side_crop, shorter_side: 30}
              - {type: image_decode, name: image_file, field: image_path, output: image_file, size: 24x24, resize: shorter_side_crop, shorter_side: 30}
              - {type: image_decode, name: image_float, field: image, output: image_float, format: float32}
            sink: {type: npy, directory: arrays}
            """)
        #expect(outcome.report.completion == .finished && outcome.report.quarantined.isEmpty)
        let arrays = out.appendingPathComponent("arrays")
        let rows = try Self.rows(arrays)
        #expect(rows.keys.sorted() == ["clip-a", "clip-b"])
        func file(_ row: [String: Any], _ field: String) throws -> Data {
            try Data(contentsOf: arrays.appendingPathComponent(try #require(row[field] as? String, "\(field)")))
        }
        func shape(_ row: [String: Any], _ field: String) throws -> String {
            String(decoding: try file(row, field).prefix(80), as: UTF8.self)
        }
        for (id, row) in rows {
            for (bytes, path) in [("frames_bytes", "frames_path"), ("flac_bytes", "flac_file"), ("wav_bytes", "wav_file"), ("image_bytes", "image_file")] {
                #expect(try file(row, bytes) == file(row, path), "\(id): \(bytes)")
            }
            #expect(try shape(row, "frames_bytes").contains("'shape': (3, 32, 40, 3)"))
            #expect(try shape(row, "wav_bytes").contains("'shape': (32000,)"))
            #expect(try shape(row, "image_bytes").contains("'shape': (1, 24, 24, 3)"))
            #expect(try shape(row, "image_float").contains("'shape': (1, 3, 21, 33)"))
        }
    }

    /// Images with spoken captions, all from bytes, make clip-trainer batches: each image is a
    /// clip of one frame to `clip_record` and `clip_batch`.
    @Test func imagesWithSpokenCaptionsBatchAsOneFrameClips() throws {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        try Self.mediaDataset(at: out.appendingPathComponent("dataset"))
        let outcome = try run("""
            name: image-captions
            output: \(out.path)
            source: {type: shards, paths: \(out.path)/dataset}
            stages:
              - {type: image_decode, field: image, size: 32x32, resize: shorter_side_crop, shorter_side: 32}
              - {type: audio_decode, field: wav}
              - {type: log_mel}
              - {type: clip_record}
              - {type: clip_batch, size: 2}
            sink: {type: npy, directory: arrays}
            """)
        #expect(outcome.report.completion == .finished && outcome.report.quarantined.isEmpty)
        let row = try #require(try Self.rows(out.appendingPathComponent("arrays")).values.first)
        let frames = try Data(contentsOf: out.appendingPathComponent("arrays/\(try #require(row["frames"] as? String))"))
        #expect(String(decoding: frames.prefix(80), as: UTF8.self).contains("'shape': (2, 1, 3, 32, 32)"))
    }

    /// Bytes that are no media file are quarantined under `skip` by item and field name, as a
    /// bad file is by its path.
    @Test func badBytesAreQuarantinedByItemAndField() throws {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-media-\(UUID())")
        defer { try? FileManager.default.removeItem(at: out) }
        let writer = try ShardWriter(directory: out.appendingPathComponent("dataset"),
                                     config: ShardConfig(columns: ["id": .str, "mp4": .bytes, "jpg": .jpeg]))
        try writer.write(["id": .string("shard-000003.tar:clip0042"), "mp4": .bytes(Array("not a video".utf8)), "jpg": .bytes([0xFF, 0xD8])])
        try writer.finish()
        for stage in ["{type: video_frames, field: mp4}", "{type: image_decode}"] {
            let outcome = try run("""
                name: bad-bytes
                output: \(out.path)/out
                options: {on_error: skip}
                source: {type: shards, paths: \(out.path)/dataset}
                stages: [\(stage)]
                sink: {type: npy, directory: arrays}
                """)
            let reasons = outcome.report.quarantined.map { "\($0)" }
            #expect(reasons.count == 1, "\(stage)")
            #expect(reasons.first?.contains(stage.contains("mp4") ? "shard-000003.tar:clip0042.mp4:" : "shard-000003.tar:clip0042.jpg:") == true,
                    "\(reasons)")
        }
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
