import Foundation
import PipelineCore
import Pipelines
import Testing

/// video_features and audio_features over the committed sample clips.
struct FeatureStagesTests {
    /// OpenBLAS's own thread count, so the stages do not reconfigure it while other tests run GEMMs.
    static let threads = ProcessInfo.processInfo.activeProcessorCount

    func run(_ stages: String, split: String = "test", sink: String = "{type: npy, directory: arrays}") throws
        -> (outcome: PipelineRunner.Outcome, rows: [String: [String: Any]], out: URL) {
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-features-\(UUID())")
        let outcome = try PipelineRunner(plan: PipelineFile().plan(yaml: """
            name: features-test
            output: \(out.path)
            options: {on_error: skip}
            source: {type: manifest, path: \(MediaStagesTests.root.path)/samples/shapes/manifest.jsonl, split: \(split)}
            stages:
            \(stages)
            sink: \(sink)
            """, file: "test.yaml"), progress: nil).run()
        let index = out.appendingPathComponent("arrays/index.jsonl")
        let rows = (try? String(contentsOf: index, encoding: .utf8))?.split(separator: "\n").map {
            try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        } ?? []
        return (outcome, Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as! String, $0) }), out)
    }

    /// Shape and float32 values of an .npy file the npy sink wrote.
    func readFloats(_ url: URL) throws -> (shape: String, values: [Float]) {
        let data = try Data(contentsOf: url)
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<f4'"))
        let shape = header.components(separatedBy: "'shape': ")[1].components(separatedBy: ")")[0] + ")"
        let values = data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (shape, values)
    }

    func features(_ result: (outcome: PipelineRunner.Outcome, rows: [String: [String: Any]], out: URL), _ field: String)
        throws -> [String: (shape: String, values: [Float])] {
        try result.rows.mapValues { try readFloats(result.out.appendingPathComponent("arrays/\($0[field] as! String)")) }
    }

    @Test func videoFeaturesBatchAcrossClipsAndMatchOneClipAtATime() throws {
        let frames = "  - {type: video_frames, select: uniform, count: 4, size: 32x32, workers: 2}\n"
        let batched = try run(frames + "  - {type: video_features, model: frame_cnn, batch: 4, threads: \(Self.threads)}")
        defer { try? FileManager.default.removeItem(at: batched.out) }
        let single = try run(frames + "  - {type: video_features, model: frame_cnn, batch: 1, pooling: mean, keep_input: true, threads: \(Self.threads)}")
        defer { try? FileManager.default.removeItem(at: single.out) }
        #expect(batched.outcome.report.completion == .finished && batched.rows.count == 6)
        #expect(batched.rows.values.allSatisfy { $0["frames"] == nil })  // replaced by the features
        #expect(single.rows.values.allSatisfy { $0["frames"] != nil })
        let maxPooled = try features(batched, "video_features"), meanPooled = try features(single, "video_features")
        #expect(maxPooled.values.allSatisfy { $0.shape == "(128,)" })
        // Max over frames is at least the mean, feature by feature, for every clip.
        for (id, pooled) in maxPooled {
            let mean = try #require(meanPooled[id]).values
            #expect(zip(pooled.values, mean).allSatisfy { $0 >= $1 - 1e-5 }, "\(id)")
        }
        let again = try run(frames + "  - {type: video_features, model: frame_cnn, batch: 1, threads: \(Self.threads)}")
        defer { try? FileManager.default.removeItem(at: again.out) }
        for (id, one) in try features(again, "video_features") {
            let many = try #require(maxPooled[id]).values
            #expect(zip(one.values, many).allSatisfy { abs($0 - $1) < 1e-4 }, "batched and single features of \(id) differ")
        }
    }

    @Test func audioFeaturesOfPaddedBatchesMatchSingleClips() throws {
        // No fixed length: the clips' spectrograms differ in length and are padded within a batch.
        let stages = "  - {type: audio_decode}\n  - {type: log_mel}\n"
        let model = "type: audio_features, widths: [8, 8, 16, 16], seed: 3, threads: \(Self.threads)"
        let batched = try run(stages + "  - {\(model), batch: 6}")
        defer { try? FileManager.default.removeItem(at: batched.out) }
        let single = try run(stages + "  - {\(model), batch: 1}")
        defer { try? FileManager.default.removeItem(at: single.out) }
        let many = try features(batched, "audio_features"), one = try features(single, "audio_features")
        #expect(many.count == 6 && many.values.allSatisfy { $0.shape == "(16,)" })
        for (id, feature) in one {
            #expect(zip(feature.values, try #require(many[id]).values).allSatisfy { abs($0 - $1) < 1e-4 }, "\(id)")
        }
    }

    @Test func framesOfTheWrongKindAreQuarantinedNamingTheField() throws {
        let result = try run("  - {type: audio_decode, output: frames}\n  - {type: video_features, model: frame_cnn, threads: \(Self.threads)}")
        defer { try? FileManager.default.removeItem(at: result.out) }
        #expect(result.outcome.report.completion == .finished && result.rows.isEmpty)
        let reasons = result.outcome.report.quarantined.map(\.error)
        #expect(reasons.count == 6, "\(reasons)")
        #expect(reasons.allSatisfy { $0.contains("'frames' is float32 [") && $0.contains("not uint8 T x H x W x 3") }, "\(reasons)")
    }
}
