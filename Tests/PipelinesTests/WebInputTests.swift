import Foundation
import PipelineCore
import Pipelines
import S3TestServer
import Testing

/// The files and manifest sources over http:// (a server on 127.0.0.1 started by the tests):
/// objects cached under the run's `.cache/http/`, reused when their size matches, failures
/// quarantined by URL; a key that takes only local paths or buckets still refuses a web URL.
@Suite(.serialized) struct WebInputTests {
    static let server = Result { try LocalHTTPServer() }
    static let shapes = MediaStagesTests.root.appendingPathComponent("samples/shapes")

    func run(_ yaml: String) throws -> PipelineRunner.Outcome {
        try PipelineRunner(plan: PipelineFile().plan(yaml: yaml, file: "test.yaml"), progress: nil).run()
    }

    func scratch() -> URL { URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-web-\(UUID())") }

    /// A web file checksums as its local copy does; a second run reuses the cached copy (no GET);
    /// a missing URL is quarantined with the URL and "not found".
    @Test func filesOverHTTPAreCachedChecksummedAndQuarantined() throws {
        let server = try Self.server.get()
        let tag = UUID().uuidString.prefix(6)
        let bytes = Array(try Data(contentsOf: MediaStagesTests.root.appendingPathComponent("samples/smoke/tone440.wav")))
        try server.put(bytes, at: "files-\(tag)/tone 440.wav")
        let out = scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let url = server.url("files-\(tag)/tone%20440.wav"), missing = server.url("files-\(tag)/missing.wav")
        let yaml = """
            name: web-files
            output: \(out.path)
            options: {on_error: skip}
            source: {type: files, paths: ["\(url)", "\(missing)"]}
            stages: [{type: checksum, algorithm: sha256}]
            sink: {type: jsonl, path: sums.jsonl}
            """
        let outcome = try run(yaml)
        #expect(outcome.report.completion == .finished)
        let row = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("sums.jsonl"))) as! [String: Any]
        #expect(row["object"] as? String == url.absoluteString)
        #expect(row["bytes"] as? Int == bytes.count)
        #expect(row["path"] as? String == out.appendingPathComponent(".cache/http/127.0.0.1:\(server.port)/files-\(tag)/tone 440.wav").path)
        #expect(row["sha256"] as? String == (try sha256Hex(of: MediaStagesTests.root.appendingPathComponent("samples/smoke/tone440.wav"))))
        #expect(outcome.report.quarantined.map { "\($0.item) | \($0.error)" }
                == ["\(missing) | stage 'files' failed on \(missing): HTTP 404: not found"])

        let gets = { try server.requests().filter { $0["method"] == "GET" && $0["path"] == "/files-\(tag)/tone 440.wav" }.count }
        #expect(try gets() == 1)
        #expect(try run(yaml).report.completion == .finished)
        #expect(try gets() == 1, "the second run found the cached copy of the same size")
    }

    /// A manifest on a web server, its clips beside it (relative paths): decoded clips are
    /// bit-identical to the same manifest read locally. The CSV form of one row works there too.
    @Test func aManifestAndItsClipsOverHTTPDecodeAsLocalOnes() throws {
        let server = try Self.server.get()
        let prefix = "shapes-\(UUID().uuidString.prefix(6))"
        let manifest = try String(contentsOf: Self.shapes.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
        try server.put(Array(manifest.utf8), at: "\(prefix)/manifest.jsonl")
        for line in manifest.split(separator: "\n") {
            let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            guard row["split"] as? String == "test" else { continue }
            for key in ["video", "audio"] {
                let path = row[key] as! String
                try server.put(Array(Data(contentsOf: Self.shapes.appendingPathComponent(path))), at: "\(prefix)/\(path)")
            }
        }
        let local = scratch(), remote = scratch()
        defer { try? FileManager.default.removeItem(at: local); try? FileManager.default.removeItem(at: remote) }
        func pipeline(_ manifest: String, _ out: URL) -> String {
            """
            name: web-clips
            output: \(out.path)
            source: {type: manifest, path: "\(manifest)", split: test}
            stages:
              - {type: video_frames, select: uniform, count: 2, size: 32x32}
              - {type: audio_decode, seconds: 1}
            sink: {type: npy, directory: arrays}
            """
        }
        #expect(try run(pipeline(Self.shapes.appendingPathComponent("manifest.jsonl").path, local)).report.completion == .finished)
        let outcome = try run(pipeline(server.url("\(prefix)/manifest.jsonl").absoluteString, remote))
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.isEmpty)
        let arrays = try FileManager.default.contentsOfDirectory(atPath: local.appendingPathComponent("arrays").path).filter { $0.hasSuffix(".npy") }
        #expect(arrays.count == 12)  // 6 test clips: frames and waveform
        for name in arrays {
            #expect(try Data(contentsOf: remote.appendingPathComponent("arrays/\(name)")) == Data(contentsOf: local.appendingPathComponent("arrays/\(name)")),
                    "\(name) differs between the web server and the local run")
        }
        #expect(FileManager.default.fileExists(atPath: remote.appendingPathComponent(".cache/http/127.0.0.1:\(server.port)/\(prefix)/manifest.jsonl").path))
    }

    /// A web clip that is missing is quarantined with its manifest row, URL and status; the others go on.
    @Test func aMissingWebClipIsQuarantinedByRow() throws {
        let server = try Self.server.get()
        let prefix = "rows-\(UUID().uuidString.prefix(6))"
        let video = Array(try Data(contentsOf: Self.shapes.appendingPathComponent("video/shapes-00000.mp4")))
        try server.put(video, at: "\(prefix)/ok.mp4")
        try server.put(Array("id,video\ngood,ok.mp4\nbad,gone.mp4\n".utf8), at: "\(prefix)/clips.csv")
        let out = scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let manifest = server.url("\(prefix)/clips.csv")
        let outcome = try run("""
            name: web-rows
            output: \(out.path)
            options: {on_error: skip}
            source: {type: manifest, path: "\(manifest)"}
            sink: {type: jsonl, path: rows.jsonl}
            """)
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.map(\.error)
                == ["stage 'manifest' failed on \(manifest):3: video: \(server.url("\(prefix)/gone.mp4")): HTTP 404: not found"])
        let row = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("rows.jsonl"))) as! [String: Any]
        #expect(try Data(contentsOf: URL(fileURLWithPath: row["video"] as! String)) == Data(video))
    }

    /// http(s) goes where inputs are read (files, manifest); keys that write or list refuse it.
    @Test func webURLsAreCheckedBeforeTheRun() throws {
        func problems(_ source: String) -> [String] {
            do {
                _ = try PipelineFile().plan(yaml: "name: t\noutput: /tmp/sluice-web-check\nsource: \(source)\nsink: {type: jsonl, path: x.jsonl}",
                                            file: "t.yaml")
                return []
            } catch {
                return (error as? Diagnostics)?.problems.map(\.message) ?? ["\(error)"]
            }
        }
        #expect(problems("{type: files, paths: [\"https://example.org/a.bin\"]}") == [])
        #expect(problems("{type: manifest, path: \"http://example.org/m.csv\"}") == [])
        #expect(problems("{type: files, paths: [\"ftp://example.org/a.bin\"]}")
                == ["'ftp://example.org/a.bin': only s3://, http:// and https:// URLs are read here"])
        #expect(problems("{type: files, paths: [\"https:///nohost\"]}").first?.contains("not a well-formed http(s)://host/path URL") == true)
        #expect(problems("{type: shards, paths: [\"https://example.org/data\"]}")
                == ["'https://example.org/data': only s3:// URLs are read from object storage"])
        #expect(problems("{type: text, paths: [\"https://example.org/c.txt\"]}").first?.contains("takes a local path only") == true)
    }
}

/// The SHA-256 of a file as Python's hashlib writes it (hex): the outside reference.
private func sha256Hex(of file: URL) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", file.path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}
