import Foundation
import PipelineCore
@testable import Pipelines
import Shards
import Tensor
import Testing
import Training

/// The Spoken Moments pipelines as users run them: the committed pipeline files over the sample
/// clips, with only paths and sizes overridden.
struct SpokenMomentsStagesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func run(_ pipeline: String, _ overrides: [String]) throws -> PipelineRunner.Outcome {
        let plan = try PipelineFile().load(path: root.appendingPathComponent("pipelines/\(pipeline)").path, overrides: overrides)
        return try PipelineRunner(plan: plan, progress: nil).run()
    }

    static func temporaryDirectory() throws -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-spoken-moments-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A 16 kHz mono 16-bit WAV of `count` samples.
    static func wav(samples count: Int) -> Data {
        func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        let data = (0..<count).flatMap { le(Int16(($0 % 40) * 500)) }
        let header: [UInt8] = Array("RIFF".utf8) + le(UInt32(36 + data.count)) + Array("WAVEfmt ".utf8) + le(UInt32(16))
            + le(UInt16(1)) + le(UInt16(1)) + le(UInt32(16000)) + le(UInt32(32000)) + le(UInt16(2)) + le(UInt16(16))
            + Array("data".utf8) + le(UInt32(data.count))
        return Data(header + data)
    }

    @Test func prepareQuarantinesEachBrokenClipWithItsManifestLineAndShardsTheRest() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.wav(samples: 100).write(to: dir.appendingPathComponent("short.wav"))  // 6 ms of speech
        let samples = Self.root.appendingPathComponent("samples").path
        try Data("""
            {"id": "good", "video": "\(samples)/shapes/video/shapes-00000.mp4", "audio": "\(samples)/shapes/audio/shapes-00000.wav", "caption": "a red triangle moves up", "split": "train"}
            {"id": "no-track", "video": "\(samples)/shapes/rotated-90.mp4", "split": "train"}
            {"id": "short-caption", "video": "\(samples)/shapes/video/shapes-00003.avi", "audio": "short.wav", "split": "train"}
            {not json
            {"id": "undecodable", "video": "\(samples)/broken/random-bytes.mp4", "audio": "\(samples)/shapes/audio/shapes-00000.wav", "split": "train"}
            {"id": "missing", "video": "nowhere/missing.mp4", "split": "train"}
            {"id": "own-track", "video": "\(samples)/shapes/video/shapes-00004.mp4", "split": "train"}

            """.utf8).write(to: dir.appendingPathComponent("clips.jsonl"))
        let manifest = dir.appendingPathComponent("clips.jsonl").path
        let outcome = try Self.run("spoken-moments-prepare.yaml", ["source.path=\(manifest)", "output=\(dir.path)/out"])
        #expect(outcome.report.completion == .finished)

        let reasons = Dictionary(uniqueKeysWithValues: outcome.report.quarantined.map { ($0.item, $0.error) })
        #expect(reasons.count == 5)
        for (item, line, reason) in [("no-track", 2, "no audio stream"), ("short-caption", 3, "shorter than one mel frame"),
                                     ("undecodable", 5, "random-bytes.mp4: cannot open as a media file"),
                                     ("missing", 6, "nowhere/missing.mp4: cannot open: no such file")] {
            let error = try #require(reasons[item])
            #expect(error.contains("(\(manifest):\(line))") && error.contains(reason), "\(error)")
        }
        #expect(reasons["\(manifest):4"]?.contains("not a JSON object") == true)
        let quarantineFile = try String(contentsOf: dir.appendingPathComponent("out/quarantine.jsonl"), encoding: .utf8)
        #expect(quarantineFile.split(separator: "\n").count == 5)

        // The two good clips, one with its caption from the video's own track; mel_length is the true length.
        let dataset = try ShardDataset(directory: dir.appendingPathComponent("out/train"))
        #expect(dataset.count == 2)
        for index in 0..<2 {
            let sample = try dataset.sample(index)
            guard case .array(let frames)? = sample["frames"], case .array(let mel)? = sample["mel"],
                  case .int(let length)? = sample["mel_length"], case .string(let id)? = sample["id"] else {
                Issue.record("sample \(index) lacks frames, mel or mel_length")
                continue
            }
            #expect(frames.shape == [8, 56, 56, 3] && frames.dtype == .uint8)
            #expect(mel.shape == [Int(length), 40] && length > 100)
            #expect(["good", "own-track"].contains(id))
            #expect(sample["split"] == .string("train"))
            #expect(sample["caption"] == .string(id == "good" ? "a red triangle moves up" : ""))
        }
    }
}

/// `clip_batch`: the batches every clip trainer reads.
extension SpokenMomentsStagesTests {
    /// A clip of `frames` uint8 frames 2 x 2 x 2 x 3 valued `value` and a caption of `length` mel frames.
    static func clip(_ id: String, value: UInt8, length: Int) -> Sample {
        Sample(["id": .string(id), "caption": .string("caption \(id)"),
                "frames": .array(NDArray(shape: [2, 2, 2, 3], values: [UInt8](repeating: value, count: 24))),
                "mel": .array(NDArray(shape: [length, 2], values: (0..<(2 * length)).map(Float.init))), "mel_length": .int(length)])
    }

    static func batches(_ batcher: inout ClipBatcher, _ clips: [Sample]) throws -> [Sample] {
        var out: [Sample] = []
        for clip in clips { try batcher.process(clip, into: &out) }
        try batcher.finish(into: &out)
        return out
    }

    @Test func aBatchStacksFramesPlanarAndPadsShorterCaptionsKeepingTheirLengths() throws {
        var batcher = ClipBatcher(size: 2, padLast: false, maxFrames: 1000, randomWindow: true, seed: 0)
        let out = try Self.batches(&batcher, [Self.clip("a", value: 255, length: 3), Self.clip("b", value: 51, length: 1)])
        let batch = try ClipBatch(clipBatch: try #require(out.first))
        #expect(batch.frames.shape == [2, 2, 3, 2, 2])
        #expect(batch.frames.scalars.prefix(24).allSatisfy { $0 == 1 } && batch.frames.scalars.suffix(24).allSatisfy { abs($0 - 0.2) < 1e-6 })
        #expect(batch.mel.shape == [2, 2, 3] && batch.melLengths == [3, 1])
        // [mels, frames] per clip: a's bins over time, then b's one frame and zero padding.
        #expect(batch.mel.scalars == [0, 2, 4, 1, 3, 5, 0, 0, 0, 1, 0, 0])
        #expect(batch.captions == ["caption a", "caption b"])

        // A batch read from elsewhere is checked before any tensor is made: lengths past the padded width fail.
        var hostile = try #require(out.first)
        hostile["mel"] = .array(NDArray(shape: [2, 2, 0], values: [Float]()))
        #expect(throws: StageError.self) { try ClipBatch(clipBatch: hostile) }
    }

    /// A batch a trainer cannot rank (one clip, or captions of no frames) is an error naming the item, not a trap.
    @Test func aBatchWithoutNegativesOrFramesIsRefused() {
        func batch(clips: Int, frames: Int) -> Sample {
            var sample = Sample()
            sample["frames"] = .array(NDArray(shape: [clips, 1, 3, 2, 2], values: [Float](repeating: 0, count: clips * 12)))
            sample["mel"] = .array(NDArray(shape: [clips, 40, frames], values: [Float](repeating: 0, count: clips * 40 * frames)))
            sample["mel_lengths"] = .array(NDArray(shape: [clips], values: [Int32](repeating: Int32(frames), count: clips)))
            return sample
        }
        #expect(throws: StageError.self) { try ClipBatch(clipBatch: batch(clips: 1, frames: 4)) }
        #expect(throws: StageError.self) { try ClipBatch(clipBatch: batch(clips: 2, frames: 0)) }
        #expect((try? ClipBatch(clipBatch: batch(clips: 2, frames: 4)))?.count == 2)
    }

    @Test func aLastShortBatchIsDroppedOrPaddedNeverPassedOnShort() throws {
        let clips = (0..<5).map { Self.clip("c\($0)", value: UInt8($0), length: 2) }
        var dropping = ClipBatcher(size: 2, padLast: false, maxFrames: 1000, randomWindow: false, seed: 0)
        let dropped = try Self.batches(&dropping, clips)
        #expect(dropped.count == 2)
        #expect(dropped.map { $0["ids"] } == [.list([.string("c0"), .string("c1")]), .list([.string("c2"), .string("c3")])])

        var padding = ClipBatcher(size: 2, padLast: true, maxFrames: 1000, randomWindow: false, seed: 0)
        let padded = try Self.batches(&padding, clips)
        #expect(padded.count == 3)
        #expect(padded.last?["ids"] == .list([.string("c4"), .string("c0")]))
        #expect(padded.last?["padded"] == .int(1) && padded.first?["padded"] == .int(0))
        #expect(try padded.map { try ClipBatch(clipBatch: $0).count } == [2, 2, 2])

        // Too few clips for one batch: padding would repeat clips of the same batch, so it is an error.
        var tooFew = ClipBatcher(size: 4, padLast: true, maxFrames: 1000, randomWindow: false, seed: 0)
        #expect(throws: StageError.self) { try Self.batches(&tooFew, Array(clips.prefix(3))) }
    }

    @Test func aLongCaptionIsCutToARandomWindowThatDependsOnlyOnSeedAndBatch() throws {
        let clips = (0..<8).map { Self.clip("c\($0)", value: 0, length: 50) }
        func windows(seed: UInt64, random: Bool = true) throws -> [[Float]] {
            var batcher = ClipBatcher(size: 2, padLast: false, maxFrames: 10, randomWindow: random, seed: seed)
            return try Self.batches(&batcher, clips).map { sample in
                let batch = try ClipBatch(clipBatch: sample)
                #expect(batch.mel.shape == [2, 2, 10] && batch.melLengths == [10, 10])
                return batch.mel.scalars
            }
        }
        let first = try windows(seed: 1)
        #expect(try windows(seed: 1) == first)
        #expect(try windows(seed: 2) != first)
        // Each window is 10 consecutive frames of the caption (frame t, bin 0 holds 2t).
        for scalars in first {
            let start = Int(scalars[0]) / 2
            let expected: [Float] = (start..<(start + 10)).map { Float(2 * $0) }
            #expect(Array(scalars.prefix(10)) == expected)
        }
        #expect(Set(first.map { $0[0] }).count > 1)
        #expect(try windows(seed: 1, random: false).allSatisfy { $0[0] == 0 && $0[9] == 18 })
    }
}

/// Training from shards through the `spoken_moments_train` sink.
extension SpokenMomentsStagesTests {
    static let smallModel = ["sink.video_layers=2", "sink.video_width=8", "sink.audio_width=8", "sink.embedding=32"]

    static func trainLosses(_ dir: URL) throws -> [Int: Double] {
        let text = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        var losses: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if record["kind"] as? String == "train", let step = record["step"] as? Int, let loss = record["loss"] as? Double {
                losses[step] = loss
            }
        }
        return losses
    }

    @Test func trainingFromPreparedShardsLowersTheLossAndAResumedRunContinuesWithTheSameLosses() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = Self.root.appendingPathComponent("samples/shapes/manifest.jsonl").path
        #expect(try Self.run("spoken-moments-prepare.yaml", ["source.path=\(manifest)", "output=\(dir.path)/prepared"]).report.completion == .finished)
        let shards = "\(dir.path)/prepared/train"

        func train(_ name: String, steps: Int, resume: Bool = false, logEvery: Int = 1) throws -> URL {
            let outcome = try Self.run("spoken-moments-train.yaml", ["source.paths=\(shards)", "output=\(dir.path)/\(name)",
                                                                    "sink.steps=\(steps)", "sink.log_every=\(logEvery)",
                                                                    "sink.checkpoint_every=2", "sink.resume=\(resume)",
                                                                    "sink.lr=0.003"] + Self.smallModel)
            #expect(outcome.report.completion == .finished)
            return dir.appendingPathComponent("\(name)/trainer")
        }

        // 18 training clips, batches of 6: the loss falls (3.59 to 3.01 here) as the towers learn the pairs.
        let long = try Self.trainLosses(train("long", steps: 30, logEvery: 5))
        let (start, end) = (try #require(long[5]), try #require(long[30]))
        #expect(end < 0.9 * start, "loss \(start) at step 5, \(end) at step 30")

        let straight = try Self.trainLosses(train("straight", steps: 6))
        let interrupted = try train("interrupted", steps: 3)
        // 3 batches of 6 read the first 18 positions of epoch 0's order: the resumed run's shards begin there.
        let extra = try Checkpoint.extra(from: interrupted.appendingPathComponent("checkpoint.safetensors"))
        #expect(extra["data.position"] == "3" && extra["data.stream_epoch"] == "0" && extra["data.stream_position"] == "18")
        let resumed = try Self.trainLosses(train("interrupted", steps: 6, resume: true))
        #expect((1...6).map { resumed[$0] } == (1...6).map { straight[$0] })
    }
}

/// Decoding while training: pipelines/spoken-moments-onthefly.yaml.
extension SpokenMomentsStagesTests {
    /// The sample manifest's lines with absolute paths, to write into a manifest elsewhere.
    static func sampleRows() throws -> String {
        let samples = root.appendingPathComponent("samples/shapes")
        return try String(contentsOf: samples.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
            .replacingOccurrences(of: "\"video/", with: "\"\(samples.path)/video/").replacingOccurrences(of: "\"audio/", with: "\"\(samples.path)/audio/")
    }

    @Test func onTheFlyTrainingReadsShuffledEpochsAndQuarantinesABrokenClipOnce() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = try Self.sampleRows()
        try Data((rows + "{\"id\": \"gone\", \"video\": \"gone.mp4\", \"split\": \"train\"}\n{not json\n").utf8).write(to: dir.appendingPathComponent("clips.jsonl"))

        let outcome = try Self.run("spoken-moments-onthefly.yaml", [
            "source.path=\(dir.path)/clips.jsonl", "output=\(dir.path)/out", "source.epochs=2", "sink.steps=6", "sink.log_every=1",
        ] + Self.smallModel)
        #expect(outcome.report.completion == .finished)
        // A malformed line is reported in the first epoch only; a clip that fails to decode each time it is tried.
        let items = outcome.report.quarantined.map(\.item)
        #expect(items.filter { $0 == "\(dir.path)/clips.jsonl:26" }.count == 1)
        #expect(items.filter { $0 == "gone" }.count == 2)
        #expect(outcome.report.quarantined.first { $0.item == "gone" }?.error.contains("clips.jsonl:25") == true)
        // 2 epochs of the 18 training clips: 36 clips, 6 batches of 6, all trained on.
        let stages = outcome.report.snapshot.stages
        #expect(stages.first { $0.name == "clip_batch" }?.itemsOut == 6)
        let trainer = dir.appendingPathComponent("out")
        #expect(try SafeTensors.read(trainer.appendingPathComponent("checkpoint.safetensors")).metadata["step"] == "6")
        #expect(try Self.trainLosses(trainer).count == 6)

        // The first epoch is the manifest in a seeded order, not the file's order.
        let plan = try PipelineFile().plan(yaml: """
            name: order
            output: \(dir.path)/order
            source: {type: manifest, path: \(Self.root.path)/samples/shapes/manifest.jsonl, epochs: 2, shuffle: true, seed: 3}
            sink: {type: jsonl, path: rows.jsonl}
            """, file: "order.yaml")
        #expect(try PipelineRunner(plan: plan, progress: nil).run().report.completion == .finished)
        let ids = try String(contentsOf: dir.appendingPathComponent("order/rows.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["id"] as? String }
        let inFileOrder = (0..<24).map { String(format: "shapes-%05d", $0) }
        #expect(ids.count == 48 && Set(ids.prefix(24)) == Set(inFileOrder) && Set(ids.suffix(24)) == Set(inFileOrder))
        #expect(Array(ids.prefix(24)) != inFileOrder && Array(ids.prefix(24)) != Array(ids.suffix(24)))
    }

    /// A resumed run does not read again the rows its checkpoint consumed, so it cannot quarantine
    /// them again either: the records of the run it resumes are kept beside its own.
    @Test func aResumedRunKeepsTheQuarantineRecordsOfTheRunItContinues() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = try Self.sampleRows()
        try Data(("{not json\n" + rows).utf8).write(to: dir.appendingPathComponent("clips.jsonl"))
        func train(steps: Int, resume: Bool) throws {
            let outcome = try Self.run("spoken-moments-onthefly.yaml", [
                "source.path=\(dir.path)/clips.jsonl", "source.shuffle=false", "output=\(dir.path)/out", "sink.steps=\(steps)",
                "sink.checkpoint_every=1", "sink.resume=\(resume)",
            ] + Self.smallModel)
            #expect(outcome.report.completion == .finished)
        }
        let (records, kept) = (dir.appendingPathComponent("out/quarantine.jsonl"), dir.appendingPathComponent("out/quarantine.1.jsonl"))
        try train(steps: 2, resume: false)
        let first = try String(contentsOf: records, encoding: .utf8)
        #expect(first.contains("clips.jsonl:1") && first.contains("not a JSON object"))
        try train(steps: 4, resume: true)
        #expect(try String(contentsOf: kept, encoding: .utf8) == first)
        // The malformed first row lies before where the resumed run began.
        #expect(!((try? String(contentsOf: records, encoding: .utf8)) ?? "").contains("clips.jsonl:1\""))
    }
}

/// The sink's held-out ranking and its check of the caption window.
extension SpokenMomentsStagesTests {
    static func evalRecords(_ dir: URL) throws -> [[String: Any]] {
        try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["kind"] as? String == "eval" }
    }

    /// Held-out shards (the test split) are ranked at the start, every eval_every updates and at the
    /// end, both ways, beside set size and chance; with the text branch, video <-> text as well.
    @Test func theSinkRanksHeldOutShardsAsItTrains() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = Self.root.appendingPathComponent("samples/shapes/manifest.jsonl").path
        for split in ["train", "test"] {
            let outcome = try Self.run("spoken-moments-prepare.yaml", ["source.path=\(manifest)", "output=\(dir.path)/prepared",
                                                                       "source.split=\(split)", "sink.path=\(split)"])
            #expect(outcome.report.completion == .finished)
        }
        let outcome = try Self.run("spoken-moments-train.yaml", [
            "source.paths=\(dir.path)/prepared/train", "output=\(dir.path)/run", "source.epochs=2", "sink.steps=4", "sink.eval_every=2",
            "sink.heldout=\(dir.path)/prepared/test", "sink.text_branch=true", "sink.text_width=8", "sink.text_features=8",
        ] + Self.smallModel)
        #expect(outcome.report.completion == .finished)
        let records = try Self.evalRecords(dir.appendingPathComponent("run/trainer"))
        #expect(records.map { $0["step"] as? Int } == [0, 2, 4])
        let last = try #require(records.last)
        #expect(last["set_size"] as? Double == 6 && last["chance_r1"] as? Double == 1.0 / 6 && last["chance_r10"] as? Double == 1)
        for direction in ["video_to_caption", "caption_to_video", "video_to_text", "text_to_video"] {
            for figure in ["r1", "r5", "r10", "median_rank", "map"] {
                let value = try #require(last["\(direction)_\(figure)"] as? Double, "\(direction)_\(figure)")
                #expect(figure == "median_rank" ? (1...6).contains(value) : (0...1).contains(value))
            }
        }
        #expect(last["video_to_caption_r5"] as? Double ?? 0 >= last["video_to_caption_r1"] as? Double ?? 1)

        // Held-out shards of another clip shape are refused before training, naming the clip.
        let wrong = try #require(throws: (any Error).self) {
            try Self.run("spoken-moments-train.yaml", ["source.paths=\(dir.path)/prepared/train", "output=\(dir.path)/wrong",
                                                       "sink.heldout=\(dir.path)/prepared/test", "sink.size=16"] + Self.smallModel)
        }
        #expect("\(wrong)".contains("prepared/test: shapes-") && "\(wrong)".contains("heldout: no uint8 frames 8 x 16 x 16 x 3"), "\(wrong)")
    }

    /// `seconds` (what eval and search cut captions to) must be clip_batch's window at the mel hop:
    /// a mismatch stops the run before it trains, saying both numbers and the fix.
    @Test func aCaptionWindowThatDisagreesWithClipBatchIsRefusedBeforeTraining() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let manifest = Self.root.appendingPathComponent("samples/shapes/manifest.jsonl").path
        for (overrides, expected) in [(["sink.seconds=5"], "seconds 5, but clip_batch cuts captions to max_frames 1000, 10 s at the 10 ms mel hop; set seconds: 10, or max_frames: 500"),
                                      (["stages.2.hop_length=320"], "max_frames 1000, 20 s at the 20 ms mel hop")] {
            let error = try #require(throws: (any Error).self) {
                try Self.run("spoken-moments-onthefly.yaml", ["source.path=\(manifest)", "output=\(dir.path)/out"] + overrides)
            }
            #expect("\(error)".contains(expected), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/checkpoint.safetensors").path))
    }
}

/// Held-out clips from a manifest: bounded by `heldout_clips`, and never written into a directory
/// that holds another run.
extension SpokenMomentsStagesTests {
    @Test func heldOutManifestClipsStopAtTheLimitAndBadLinesAreNamedByFileAndLine() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let samples = Self.root.appendingPathComponent("samples/shapes")
        let manifest = dir.appendingPathComponent("clips.jsonl"), quarantine = dir.appendingPathComponent("q.jsonl")
        try Data("""
            {not json
            {"id": "a", "video": "\(samples.path)/video/shapes-00001.mkv", "split": "test"}
            {"id": "b", "video": "\(samples.path)/video/shapes-00001.mkv", "split": "test"}
            {"id": "c", "video": "\(samples.path)/video/shapes-00001.mkv", "split": "test"}

            """.utf8).write(to: manifest)
        let clips = try ClipManifest(path: manifest.path, quarantine: quarantine)
            .decode(ClipShape(frames: 2, size: 8, seconds: 1, melBins: 40), split: "test", limit: 2)
        #expect(clips.map(\.id) == ["a", "b"])
        let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: quarantine)) as? [String: Any])
        #expect(record["line"] as? Int == 1 && (record["reason"] as? String)?.hasPrefix("\(manifest.path):1: not a JSON object") == true,
                "\(record)")
    }

    @Test func aSinkRefusesAnotherRunsDirectoryBeforeWritingItsHeldOutQuarantine() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let theirs = Data("another run's\n".utf8)
        for name in ["metrics.jsonl", "heldout-quarantine.jsonl"] { try theirs.write(to: out.appendingPathComponent(name)) }
        let manifest = Self.root.appendingPathComponent("samples/shapes/manifest.jsonl").path
        #expect(throws: (any Error).self) {
            try Self.run("spoken-moments-onthefly.yaml", ["source.path=\(manifest)", "output=\(out.path)", "sink.heldout=\(manifest)"] + Self.smallModel)
        }
        #expect(try Data(contentsOf: out.appendingPathComponent("heldout-quarantine.jsonl")) == theirs)
    }
}
