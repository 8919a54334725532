import Foundation
import Testing

/// `sluice spoken-moments train --manifest` on a manifest with broken entries.
extension CommandLineTests {
    @Test func spokenMomentsTrainQuarantinesBrokenManifestEntriesAndTrainsOnTheRest() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let samples = Self.repository.appendingPathComponent("samples")
        var rows = try String(contentsOf: samples.appendingPathComponent("shapes/manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(8).map { $0.replacingOccurrences(of: "\": \"video/", with: "\": \"\(samples.path)/shapes/video/")
                .replacingOccurrences(of: "\": \"audio/", with: "\": \"\(samples.path)/shapes/audio/") }
        rows += ["{\"id\": \"no-track\", \"video\": \"\(samples.path)/shapes/rotated-90.mp4\", \"split\": \"train\"}",
                 "{\"id\": \"undecodable\", \"video\": \"\(samples.path)/broken/truncated.mp4\", \"split\": \"train\"}",
                 "{not json",
                 "{\"id\": \"missing\", \"video\": \"missing.mp4\", \"audio\": \"missing.wav\", \"split\": \"train\"}"]
        let manifest = dir.appendingPathComponent("clips.jsonl")
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: manifest)
        let out = dir.appendingPathComponent("run")

        let result = try sluice(["spoken-moments", "train", "--manifest", manifest.path, "--out", out.path, "--frames", "4",
                                 "--size", "16", "--batch-size", "3", "--threads", "1", "--steps", "2", "--log-every", "1",
                                 "--eval-every", "1000", "--video-width", "8", "--audio-width", "8", "--embedding", "16"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("spoken-moments step 2/2 loss"))
        #expect(result.errors.contains("4 clips skipped, 8 kept"))

        let records = try String(contentsOf: out.appendingPathComponent("quarantine.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(records.map { $0["line"] as? Int } == [9, 10, 11, 12])
        #expect(records.allSatisfy { $0["file"] as? String == manifest.path })
        let reasons = records.map { $0["reason"] as? String ?? "" }
        #expect(reasons[0].contains("no audio stream") && records[0]["id"] as? String == "no-track")
        #expect(reasons[1].contains("truncated.mp4"))
        #expect(records[2]["id"] is NSNull && reasons[2].contains("not a JSON object"))
        #expect(reasons[3].contains("missing.mp4: cannot open"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoint.safetensors").path))
    }
}
