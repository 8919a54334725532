import Foundation
import ObjectStore
import PipelineCore
import Pipelines
import S3TestServer
import Testing

/// Pipelines reading from and writing to a bucket on a real S3 server (SeaweedFS on 127.0.0.1),
/// configured the way users configure the AWS tools: through the environment.
@Suite(.serialized, .enabled(if: !LocalS3Server.mayBeMissing, "SeaweedFS is not installed: run tools/install-s3-server.sh"))
struct ObjectStorageTests {
    static let server = Result { () throws -> LocalS3Server in
        let server = try LocalS3Server(bucket: "sluice-pipelines")
        for (name, value) in server.environment { setenv(name, value, 1) }
        return server
    }
    static let samples = MediaStagesTests.root.appendingPathComponent("samples")

    func run(_ yaml: String) throws -> PipelineRunner.Outcome {
        try PipelineRunner(plan: PipelineFile().plan(yaml: yaml, file: "test.yaml"), progress: nil).run()
    }

    func scratch() -> URL { URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-s3-pipe-\(UUID())") }

    /// The clips of a manifest in a bucket decode to exactly the frames and spectrograms the same
    /// clips give from local files.
    @Test func videosAndAudioDecodeStraightFromABucket() throws {
        let server = try Self.server.get()
        let client = server.client()
        let prefix = server.url("shapes-\(UUID().uuidString.prefix(6))")
        let shapes = Self.samples.appendingPathComponent("shapes")
        for sub in ["manifest.jsonl"] + ["video", "audio"].flatMap({ dir in
            (try? FileManager.default.contentsOfDirectory(atPath: shapes.appendingPathComponent(dir).path))!.map { "\(dir)/\($0)" }
        }) {
            try client.upload(file: shapes.appendingPathComponent(sub), to: prefix.appending(sub))
        }
        let local = scratch(), remote = scratch()
        defer { try? FileManager.default.removeItem(at: local); try? FileManager.default.removeItem(at: remote) }
        func pipeline(_ manifest: String, _ out: URL) -> String {
            """
            name: bucket-clips
            output: \(out.path)
            source: {type: manifest, path: \(manifest), split: test}
            stages:
              - {type: video_frames, select: uniform, count: 4, size: 32x32}
              - {type: audio_decode, seconds: 3}
              - {type: log_mel, n_mels: 40}
            sink: {type: npy, directory: arrays}
            """
        }
        #expect(try run(pipeline(shapes.appendingPathComponent("manifest.jsonl").path, local)).report.completion == .finished)
        let outcome = try run(pipeline(prefix.appending("manifest.jsonl").description, remote))
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.isEmpty)
        let arrays = try FileManager.default.contentsOfDirectory(atPath: local.appendingPathComponent("arrays").path).sorted()
        #expect(arrays.filter { $0.hasSuffix(".npy") }.count == 18)  // 6 test clips: frames, waveform, log-mel
        for name in arrays where name.hasSuffix(".npy") {
            #expect(try Data(contentsOf: remote.appendingPathComponent("arrays/\(name)")) == Data(contentsOf: local.appendingPathComponent("arrays/\(name)")),
                    "\(name) differs between the bucket and the local run")
        }
    }

    /// Files from a bucket become a shard dataset in the bucket, which streams back into a pipeline;
    /// a missing prefix is quarantined by name.
    @Test func filesToBucketShardsAndBack() throws {
        let server = try Self.server.get()
        let client = server.client()
        let tag = UUID().uuidString.prefix(6)
        let raw = server.url("raw-\(tag)")
        let texts = (0..<40).map { "document \($0) " + String(repeating: "x", count: $0 * 37) }
        for (i, text) in texts.enumerated() { try client.put(Array(text.utf8), to: raw.appending(String(format: "doc-%03d.txt", i))) }
        let out = scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let written = try run("""
            name: to-bucket
            output: \(out.path)/write
            options: {on_error: skip}
            source: {type: files, paths: [\(raw), "s3://\(server.bucket)/nothing-here-\(tag)/"]}
            stages: [{type: checksum, algorithm: sha256}]
            sink: {type: shard_writer, path: "s3://\(server.bucket)/ds-\(tag)", columns: ["object:str", "sha256:str", "bytes:int"], size_limit: 1024}
            """)
        #expect(written.report.completion == .finished)
        #expect(written.report.quarantined.map { "\($0)" }.contains { $0.contains("nothing-here-\(tag)") && $0.contains("no object") })
        #expect(try client.exists(server.url("ds-\(tag)/index.json")))

        let read = try run("""
            name: from-bucket
            output: \(out.path)/read
            source: {type: shards, paths: ["s3://\(server.bucket)/ds-\(tag)"], seed: 3, read_ahead: 2}
            sink: {type: jsonl, path: rows.jsonl}
            """)
        #expect(read.report.completion == .finished)
        let rows = try String(contentsOf: out.appendingPathComponent("read/rows.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(rows.count == 40)
        let digests = Dictionary(uniqueKeysWithValues: rows.map { ($0["object"] as! String, $0["sha256"] as! String) })
        let first = raw.appending("doc-000.txt").description
        #expect(digests[first] == Digest.hexSHA256(Array(texts[0].utf8)))
    }

    /// A pipeline file that puts its manifest and quarantine in a bucket: both are written locally
    /// as `.partial` files while the run goes on and uploaded when it ends, quarantine first.
    @Test func manifestAndQuarantineGoToTheBucket() throws {
        let server = try Self.server.get()
        let client = server.client()
        let tag = UUID().uuidString.prefix(6)
        let raw = server.url("records-raw-\(tag)")
        for i in 0..<3 { try client.put(Array("text \(i)".utf8), to: raw.appending("doc-\(i).txt")) }
        let out = scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        func pipeline(_ records: String) -> String {
            """
            name: records-to-bucket
            output: \(out.path)
            options: {on_error: skip, \(records)}
            source: {type: files, paths: [\(raw), "s3://\(server.bucket)/missing-\(tag)/"]}
            stages: [{type: checksum, algorithm: sha256}]
            sink: {type: jsonl, path: rows.jsonl}
            """
        }
        let manifest = server.url("runs-\(tag)/manifest.json"), quarantine = server.url("runs-\(tag)/quarantine.jsonl")
        let outcome = try run(pipeline("manifest: \"\(manifest)\", quarantine: \"\(quarantine)\""))
        #expect(outcome.report.completion == .finished)
        let uploaded = try JSONSerialization.jsonObject(with: Data(client.get(manifest))) as! [String: Any]
        #expect(uploaded["completion"] as? String == "finished")
        #expect(uploaded["quarantine_file"] as? String == quarantine.description)
        let records = String(decoding: try client.get(quarantine), as: UTF8.self).split(separator: "\n")
        #expect(records.count == 1)
        #expect(records.first?.contains("missing-\(tag)") == true)
        // Nothing at the default places; the uploaded copies kept locally, no `.partial` left.
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("manifest.json").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("quarantine.jsonl").path))
        #expect(try Data(contentsOf: outcome.manifest) == Data(client.get(manifest)))
        #expect(outcome.manifest.path.hasSuffix(".cache/s3-upload/\(server.bucket)/runs-\(tag)/manifest.json"))

        // A wrong secret: the run's work is done, the upload fails naming the object and the
        // status (never the secret), and the record stays in its local `.partial` file.
        let secret = ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"]!
        setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1)
        defer { setenv("AWS_SECRET_ACCESS_KEY", secret, 1) }
        let denied = server.url("runs-\(tag)/denied.jsonl")
        do {
            _ = try run(pipeline("quarantine: \"\(denied)\""))
            Issue.record("an upload with a wrong secret succeeded")
        } catch {
            #expect("\(error)".contains("\(denied): cannot upload the quarantine records"))
            #expect("\(error)".contains("HTTP 403"))
            #expect(!"\(error)".contains("not-the-secret"))
            #expect("\(error)".contains("kept at \(out.path)/.cache/s3-upload/\(server.bucket)/runs-\(tag)/denied.jsonl.partial"))
        }
        let kept = out.appendingPathComponent(".cache/s3-upload/\(server.bucket)/runs-\(tag)/denied.jsonl.partial")
        #expect(try String(contentsOf: kept, encoding: .utf8).contains("missing-\(tag)"))
    }

    @Test func aRecordPlaceMustNameAnObject() {
        #expect(throws: Diagnostics.self) {
            try PipelineFile().plan(yaml: """
                name: x
                output: /tmp/x
                options: {manifest: "s3://bucket/folder/"}
                source: {type: files, paths: ["s3://b/p"]}
                sink: {type: jsonl, path: rows.jsonl}
                """, file: "bad.yaml")
        }
    }
}

enum Digest {
    static func hexSHA256(_ bytes: [UInt8]) -> String {
        let path = NSTemporaryDirectory() + "sluice-digest-\(UUID())"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { unlink(path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try? process.run()
        process.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }
}
