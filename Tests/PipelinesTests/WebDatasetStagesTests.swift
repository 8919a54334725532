import Foundation
import ObjectStore
import PipelineCore
import Pipelines
import S3TestServer
import Testing
import Training

/// Pipeline files over WebDataset shards: the `webdataset` source and the `webdataset_writer` sink.
struct WebDatasetStagesTests {
    /// Shards the webdataset package wrote, and those Sluice wrote from them (Tests/WebDatasetTests).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("WebDatasetTests/Fixtures")

    static func run(_ yaml: String) throws -> PipelineRunner.Outcome {
        try PipelineRunner(plan: PipelineFile().plan(yaml: yaml, file: "test.yaml"), progress: nil).run()
    }

    static func scratch() -> URL { URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-wds-pipe-\(UUID())") }

    static let repository = fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A committed pipeline file with its sample shards named from the repository, so no test
    /// depends on (or changes) the working directory of a process whose tests run in parallel.
    static func committed(_ name: String, output: URL, shards: String) throws -> PipelinePlan {
        try PipelineFile().load(path: repository.appendingPathComponent("pipelines/\(name)").path,
                                overrides: ["output=\(output.path)", "source.paths=\(repository.path)/samples/webdataset/\(shards)"])
    }

    /// Shards in, shards out: the package's two shards, named by a brace range, read and written
    /// again in shards of 8 give byte for byte the shards the package read back (the sink writes
    /// every field but `__key__` and `__url__`).
    @Test func aPipelineCopiesShardsToTheBytesThePackageReadBack() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try Self.run("""
            name: copy
            output: \(out.path)
            source: {type: webdataset, paths: "\(Self.fixtures.path)/python-written/shard-{000000..000001}.tar"}
            sink: {type: webdataset_writer, path: copied, maxcount: 8}
            """)
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined == [])
        for name in ["shard-000000.tar", "shard-000001.tar"] {
            #expect(try Data(contentsOf: out.appendingPathComponent("copied/\(name)"))
                    == Data(contentsOf: Self.fixtures.appendingPathComponent("sluice-written/\(name)")), "\(name)")
        }
    }

    /// pipelines/webdataset-clips.yaml decodes frames and log-mel from the members' bytes exactly
    /// as a manifest of the same clips' files does (samples/webdataset was made from
    /// samples/shapes by tools/webdataset_interop.py: clip i holds the i-th MP4 and the i-th FLAC).
    @Test func clipsDecodeFromMembersExactlyAsFromTheirFiles() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let members = try Self.committed("webdataset-clips.yaml", output: out.appendingPathComponent("members"),
                                         shards: "shapes-{000000..000001}.tar")
        #expect(try PipelineRunner(plan: members, progress: nil).run().report.quarantined == [])

        let shapes = Self.repository.appendingPathComponent("samples/shapes")
        let rows = try String(contentsOf: shapes.appendingPathComponent("manifest.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let videos = rows.compactMap { $0["video"] as? String }.filter { $0.hasSuffix(".mp4") }
        let audios = rows.compactMap { $0["audio"] as? String }.filter { $0.hasSuffix(".flac") }
        let manifest = (0..<6).map { i in
            #"{"id": "clip\#(String(format: "%06d", i))", "video": "\#(shapes.path)/\#(videos[i])", "audio": "\#(shapes.path)/\#(audios[i])"}"#
        }.joined(separator: "\n")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try manifest.write(to: out.appendingPathComponent("files.jsonl"), atomically: true, encoding: .utf8)
        // The same file with the manifest as its source: the stages are the file's own.
        let text = try String(contentsOf: Self.repository.appendingPathComponent("pipelines/webdataset-clips.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "  type: webdataset\n  paths: samples/webdataset/shapes-{000000..000001}.tar",
                                  with: "  type: manifest\n  path: \(out.path)/files.jsonl")
            .replacingOccurrences(of: "fields: [mp4, flac, txt, json, frames.npy, mel.npy]", with: "fields: [frames.npy, mel.npy]\n  key: id")
        #expect(text.contains("type: manifest") && text.contains("key: id"))
        let files = try PipelineFile().plan(yaml: text, file: "files.yaml", overrides: [
            "output=\(out.path)/files", "stages.0.field=video", "stages.1.field=audio",
        ])
        let filesRun = try PipelineRunner(plan: files, progress: nil).run().report
        #expect(filesRun.quarantined == [], "\(filesRun.quarantined)")

        func arrays(_ run: String) throws -> [String] {
            #expect(try Self.run("""
                name: read-\(run)
                output: \(out.path)/\(run)
                source: {type: webdataset, paths: "\(out.path)/\(run)/shards/shard-000000.tar"}
                sink: {type: jsonl, path: arrays.jsonl}
                """).report.completion == .finished)
            return try String(contentsOf: out.appendingPathComponent("\(run)/arrays.jsonl"), encoding: .utf8).split(separator: "\n").map {
                let record = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return "\(record["__key__"]!) \(record["frames.npy"]!) \(record["mel.npy"]!)"
            }
        }
        let fromMembers = try arrays("members"), fromFiles = try arrays("files")
        #expect(fromMembers.count == 6)
        #expect(fromMembers == fromFiles)
    }

    /// pipelines/webdataset-images.yaml: every JPEG of the image-text sample set becomes a
    /// one-frame clip, written beside its caption.
    @Test func imagesDecodeFromMembersIntoOneFrameClips() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let plan = try Self.committed("webdataset-images.yaml", output: out.appendingPathComponent("images"), shards: "images-000000.tar")
        let report = try PipelineRunner(plan: plan, progress: nil).run().report
        #expect(report.quarantined == [])
        // Read back: the one-frame clips, as the arrays the trainers' stages take.
        #expect(try Self.run("""
            name: read-images
            output: \(out.path)
            source: {type: webdataset, paths: "\(out.path)/images/shards/shard-000000.tar"}
            stages: [{type: npy_decode}]
            sink: {type: npy, directory: arrays}
            """).report.completion == .finished)
        let arrays = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("arrays").path).filter { $0.hasSuffix(".npy") }
        #expect(arrays.count == 24)
        let first = try NPY.decode(Array(Data(contentsOf: out.appendingPathComponent("arrays/00000000.frames.npy.npy"))), file: "frames")
        #expect(first.shape == [1, 112, 112, 3] && first.dtype == .uint8)
    }

    /// A member that is not the media its name says is quarantined as the clip and the shard it
    /// came from; the other clips go on.
    @Test func aBrokenMemberIsQuarantinedByClipAndShard() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let shard = Self.fixtures.appendingPathComponent("python-written/upper.tar").path
        let outcome = try Self.run("""
            name: broken
            output: \(out.path)
            options: {on_error: skip}
            source: {type: webdataset, paths: "\(shard)"}
            stages: [{type: video_frames, field: jpg, count: 1}]
            sink: {type: jsonl, path: frames.jsonl}
            """)
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.map(\.item) == ["photo1"])
        let error = try #require(outcome.report.quarantined.first?.error)
        #expect(error.contains("(\(shard))") && error.contains("photo1.jpg"), "\(error)")
    }

    @Test func samplesCarryKeyURLAndBytesUnderTheirExtensions() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let shard = Self.fixtures.appendingPathComponent("python-written/upper.tar").path
        #expect(try Self.run("""
            name: fields
            output: \(out.path)
            source: {type: webdataset, paths: "\(shard)"}
            sink: {type: jsonl, path: samples.jsonl}
            """).report.completion == .finished)
        let line = try String(contentsOf: out.appendingPathComponent("samples.jsonl"), encoding: .utf8)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(record["__key__"] as? String == "photo1")
        #expect(record["__url__"] as? String == shard)
        // Bytes fields appear in JSON as base64; extensions are lower-cased as the package does.
        #expect(record["jpg"] as? String == Data("jpeg bytes".utf8).base64EncodedString())
        #expect(record["txt"] as? String == Data("a photo".utf8).base64EncodedString())
    }

    /// Every member that cannot be a field is in the quarantine, named `SHARD:MEMBER`, once however
    /// many epochs meet it, and the rest of the shard is read.
    @Test func membersThatCannotBeFieldsAreQuarantinedByName() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let shard = Self.fixtures.appendingPathComponent("hostile/names.tar").path
        let outcome = try Self.run("""
            name: hostile
            output: \(out.path)
            options: {on_error: skip}
            source: {type: webdataset, paths: "\(shard)", epochs: 2}
            sink: {type: jsonl, path: samples.jsonl}
            """)
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined.map(\.item) == ["../escape.txt", "/etc/absolute.txt", "caf\u{FFFD}.txt", "noextension", "link.txt", "good1.txt", "good1"].map { "\(shard):\($0)" })
        let kept = try String(contentsOf: out.appendingPathComponent("samples.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(kept.count == 8)
        // Nothing was written outside the output: the names were never paths on disk.
        #expect(!FileManager.default.fileExists(atPath: out.deletingLastPathComponent().appendingPathComponent("escape.txt").path))
    }

    /// Ranks split each epoch's shard order between them; a seed gives every epoch a new order.
    @Test func ranksShareTheShardsOfEachEpochsOrder() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let shards = try (0..<6).map { i -> String in
            let path = out.appendingPathComponent("in/s\(i).tar")
            try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("python-written/upper.tar"), to: path)
            return path.path
        }
        func urls(rank: Int) throws -> [String] {
            #expect(try Self.run("""
                name: rank\(rank)
                output: \(out.path)
                source: {type: webdataset, paths: "\(out.path)/in/s{0..5}.tar", shuffle: true, seed: 7, epochs: 2, rank: \(rank), world_size: 2}
                sink: {type: jsonl, path: rank\(rank).jsonl}
                """).report.completion == .finished)
            return try String(contentsOf: out.appendingPathComponent("rank\(rank).jsonl"), encoding: .utf8).split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["__url__"] as! String
            }
        }
        let (zero, one) = (try urls(rank: 0), try urls(rank: 1))
        #expect(zero.count == 6 && one.count == 6)
        for epoch in 0..<2 {
            let both = Set(zero[(epoch * 3)..<(epoch * 3 + 3)]).union(one[(epoch * 3)..<(epoch * 3 + 3)])
            #expect(both == Set(shards), "epoch \(epoch): the ranks read every shard once")
        }
        #expect(zero[0..<3] != zero[3..<6] || one[0..<3] != one[3..<6], "the second epoch has its own order")
    }

    /// A resumed trainer asks its source to begin where its checkpoint stopped: the source reads
    /// past the samples consumed and emits the rest, each with its stream point, as the whole run did.
    @Test func aResumedRunBeginsAtItsStreamPoint() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        func records(resumingAt point: StreamPoint?, _ name: String) throws -> [String] {
            let plan = try PipelineFile().plan(yaml: """
                name: \(name)
                output: \(out.path)
                source: {type: webdataset, paths: "\(Self.fixtures.path)/python-written/shard-{000000..000001}.tar", epochs: 2, shuffle: true, seed: 3}
                sink: {type: jsonl, path: \(name).jsonl}
                """, file: "\(name).yaml")
            let environment = RunEnvironment(outputDirectory: out)
            if let point { environment.resumeSource(at: point) }
            #expect(try plan.build(in: environment).start().wait().completion == .finished)
            return try String(contentsOf: out.appendingPathComponent("\(name).jsonl"), encoding: .utf8).split(separator: "\n").map {
                let record = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return "\(record["__key__"]!) \(record["stream_epoch"]!) \(record["stream_position"]!)"
            }
        }
        let whole = try records(resumingAt: nil, "whole")
        #expect(whole.count == 30)
        #expect(whole.last?.hasSuffix(" 1 15") == true)
        #expect(try records(resumingAt: StreamPoint(epoch: 1, position: 3), "resumed") == Array(whole.dropFirst(18)))
    }

    @Test func aDirectoryHoldingShardsIsNotWrittenOver() throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        try FileManager.default.createDirectory(at: out.appendingPathComponent("copied"), withIntermediateDirectories: true)
        try Data("someone else's".utf8).write(to: out.appendingPathComponent("copied/shard-000000.tar"))
        #expect(throws: (any Error).self) {
            try Self.run("""
                name: taken
                output: \(out.path)
                source: {type: webdataset, paths: "\(Self.fixtures.path)/python-written/upper.tar"}
                sink: {type: webdataset_writer, path: copied}
                """)
        }
        #expect(try String(contentsOf: out.appendingPathComponent("copied/shard-000000.tar"), encoding: .utf8) == "someone else's")
    }

    @Test(arguments: [
        ("s-{000..002}.tar", ["s-000.tar", "s-001.tar", "s-002.tar"]),
        ("s-{8..11}.tar", ["s-8.tar", "s-9.tar", "s-10.tar", "s-11.tar"]),
        ("{train,val}-{0..1}.tar", ["train-0.tar", "train-1.tar", "val-0.tar", "val-1.tar"]),
        ("a{b,c{d,e}}f", ["abf", "acdf", "acef"]),
        ("s-{3..1}", ["s-3", "s-2", "s-1"]),
        ("plain.tar", ["plain.tar"]),
        ("{x}.tar", ["{x}.tar"]),
    ])
    func braceRangesExpandAsTheWebdatasetPackageDoes(pattern: String, expected: [String]) throws {
        let out = Self.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        for name in expected {
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try Data().write(to: out.appendingPathComponent(name))
        }
        let plan = try PipelineFile().plan(yaml: """
            name: braces
            output: \(out.path)/out
            source: {type: files, paths: "\(out.path)/\(pattern)"}
            sink: {type: jsonl, path: files.jsonl}
            """, file: "braces.yaml")
        #expect(try PipelineRunner(plan: plan, progress: nil).run().report.completion == .finished)
        let paths = try String(contentsOf: out.appendingPathComponent("out/files.jsonl"), encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["path"] as! String
        }
        #expect(paths == expected.map { "\(out.path)/\($0)" })
    }

    @Test func aRangeTooLargeToListIsAPlanProblem() throws {
        #expect(throws: (any Error).self) {
            try PipelineFile().plan(yaml: """
                name: huge
                output: /tmp/sluice-never-written
                source: {type: files, paths: "/tmp/s-{0..99999999}.tar"}
                sink: {type: jsonl, path: files.jsonl}
                """, file: "huge.yaml")
        }
    }
}

/// Shards over HTTP from a server on 127.0.0.1 (Tests/S3TestServer/http_test_server.py).
struct WebDatasetHTTPTests {
    static let server = Result { () throws -> LocalHTTPServer in
        let server = try LocalHTTPServer()
        for name in ["shard-000000.tar", "shard-000001.tar"] {
            try server.put(Array(Data(contentsOf: WebDatasetStagesTests.fixtures.appendingPathComponent("python-written/\(name)"))), at: name)
        }
        return server
    }

    /// A connection dropped every 20,000 bytes costs retries, not samples: each transfer resumes
    /// where it stopped, and the shards written are byte for byte those of the local files.
    @Test func shardsStreamOverHTTPThroughDroppedConnections() throws {
        let server = try Self.server.get()
        let out = WebDatasetStagesTests.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try WebDatasetStagesTests.run("""
            name: http
            output: \(out.path)
            source: {type: webdataset, paths: "http://127.0.0.1:\(server.port)/cut/20000/shard-{000000..000001}.tar"}
            sink: {type: webdataset_writer, path: copied, maxcount: 8}
            """)
        #expect(outcome.report.completion == .finished, "\(String(describing: outcome.report.failure))")
        #expect(outcome.report.quarantined == [])
        for name in ["shard-000000.tar", "shard-000001.tar"] {
            #expect(try Data(contentsOf: out.appendingPathComponent("copied/\(name)"))
                    == Data(contentsOf: WebDatasetStagesTests.fixtures.appendingPathComponent("sluice-written/\(name)")), "\(name)")
        }
        #expect(try server.requests().filter { $0["path"]?.hasPrefix("/cut/") == true }.count > 2)
    }

    @Test func aShardTheServerDoesNotHaveIsQuarantinedByURLAndStatus() throws {
        let server = try Self.server.get()
        let out = WebDatasetStagesTests.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let missing = server.url("status/404/shard-000000.tar").absoluteString
        let outcome = try WebDatasetStagesTests.run("""
            name: http-missing
            output: \(out.path)
            options: {on_error: skip}
            source: {type: webdataset, paths: "\(missing)"}
            sink: {type: jsonl, path: samples.jsonl}
            """)
        #expect(outcome.report.quarantined.map(\.item) == [missing])
        #expect(outcome.report.quarantined.first?.error.contains("HTTP 404: not found") == true)
    }
}

/// The same stages over a bucket on a real S3 server (SeaweedFS on 127.0.0.1).
@Suite(.serialized, .enabled(if: !LocalS3Server.mayBeMissing, "SeaweedFS is not installed: run tools/install-s3-server.sh"))
struct WebDatasetBucketTests {
    /// Shards streamed from a bucket prefix give the samples the local files give; shards written
    /// to a bucket are the bytes written locally.
    @Test func shardsStreamFromABucketAndAreWrittenToOne() throws {
        let server = try ObjectStorageTests.server.get()
        let client = server.client()
        let prefix = server.url("wds-\(UUID().uuidString.prefix(6))")
        for name in ["shard-000000.tar", "shard-000001.tar"] {
            try client.upload(file: WebDatasetStagesTests.fixtures.appendingPathComponent("python-written/\(name)"), to: prefix.appending("in/\(name)"))
        }
        let out = WebDatasetStagesTests.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try WebDatasetStagesTests.run("""
            name: bucket
            output: \(out.path)
            source: {type: webdataset, paths: "\(prefix.appending("in/").description)"}
            sink: {type: webdataset_writer, path: "\(prefix.appending("out").description)", maxcount: 8}
            """)
        #expect(outcome.report.completion == .finished)
        #expect(outcome.report.quarantined == [])
        for name in ["shard-000000.tar", "shard-000001.tar"] {
            #expect(try client.get(prefix.appending("out/\(name)"))
                    == Array(Data(contentsOf: WebDatasetStagesTests.fixtures.appendingPathComponent("sluice-written/\(name)"))), "\(name)")
        }
    }

    @Test func aMissingShardInABucketIsQuarantinedByURL() throws {
        let server = try ObjectStorageTests.server.get()
        let missing = server.url("wds-missing-\(UUID().uuidString.prefix(6))").appending("shard-000000.tar")
        let out = WebDatasetStagesTests.scratch()
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try WebDatasetStagesTests.run("""
            name: missing
            output: \(out.path)
            options: {on_error: skip}
            source: {type: webdataset, paths: "\(missing.description)"}
            sink: {type: jsonl, path: samples.jsonl}
            """)
        #expect(outcome.report.quarantined.map(\.item) == [missing.description])
        #expect(outcome.report.quarantined.first?.error.contains("404") == true)
    }
}
