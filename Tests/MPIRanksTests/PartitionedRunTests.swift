import Foundation
import ObjectStore
import S3TestServer
import Shards
import Testing
import WebDataset

/// `mpiexec -n N sluice run FILE` against `sluice run FILE`: the merged output holds exactly the
/// samples the one-process run writes, as JSON lines and as one MDS dataset.
@Suite(.serialized) struct PartitionedRunTests {
    /// Eleven small files and a pipeline over them ending in `sink`.
    static func job(sink: String) throws -> (directory: URL, pipeline: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-part-\(UUID().uuidString)")
        let inputs = directory.appendingPathComponent("inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        for index in 0..<11 {
            try Data(String(repeating: "file \(index) ", count: index * 37 + 1).utf8).write(to: inputs.appendingPathComponent("f\(index).txt"))
        }
        let pipeline = directory.appendingPathComponent("pipeline.yaml")
        try """
            name: partitioned
            output: \(directory.path)/out
            options:
              on_error: skip
            source:
              type: files
              paths: \(inputs.path)
            stages:
              - type: checksum
                algorithm: sha256
                workers: 2
            sink:
            \(sink)
            """.write(to: pipeline, atomically: true, encoding: .utf8)
        return (directory, pipeline.path)
    }

    static let jsonlSink = "  type: jsonl\n  path: sums/checksums.jsonl"
    static let shardSink = "  type: shard_writer\n  path: dataset\n  columns: [\"path:str\", \"bytes:int\", \"sha256:str\"]\n  size_limit: 300"

    static func run(ranks: Int?, _ pipeline: String, output: URL,
                    whileRunning: (Process, () -> String) throws -> Void = { _, _ in }) throws -> MPIJob {
        try MPIJob.run(ranks: ranks, MPIJob.sluice, ["run", pipeline, "--quiet", "--set", "output=\(output.path)"], whileRunning: whileRunning)
    }

    static func lines(_ file: URL) throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func samples(_ dataset: URL) throws -> [String] {
        let dataset = try ShardDataset(directory: dataset)
        return try (0..<dataset.count).map { "\(try dataset.sample($0).sorted { $0.key < $1.key })" }
    }

    @Test(arguments: [2, 3]) func jsonLinesOfAllRanksAreTheOneProcessRunsLines(ranks: Int) throws {
        let (directory, pipeline) = try Self.job(sink: Self.jsonlSink)
        defer { try? FileManager.default.removeItem(at: directory) }
        let one = directory.appendingPathComponent("one"), many = directory.appendingPathComponent("many")
        #expect(try Self.run(ranks: nil, pipeline, output: one).status == 0)
        let job = try Self.run(ranks: ranks, pipeline, output: many)
        #expect(job.status == 0, "\(job.errors)")
        let expected = try Self.lines(one.appendingPathComponent("sums/checksums.jsonl"))
        let merged = try Self.lines(many.appendingPathComponent("sums/checksums.jsonl"))
        #expect(expected.count == 11)
        #expect(merged.sorted() == expected.sorted())
        // Every rank did a share, and kept its own manifest; the job's manifest lists every input once.
        for rank in 0..<ranks {
            #expect(FileManager.default.fileExists(atPath: many.appendingPathComponent("part-\(rank)/manifest.json").path))
        }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: many.appendingPathComponent("manifest.json"))) as? [String: Any]
        #expect((manifest?["inputs"] as? [Any])?.count == 11)
        #expect((manifest?["ranks"] as? [Any])?.count == ranks)
    }

    @Test func shardsOfAllRanksMergeIntoOneDatasetOfTheOneProcessRunsSamples() throws {
        let (directory, pipeline) = try Self.job(sink: Self.shardSink)
        defer { try? FileManager.default.removeItem(at: directory) }
        let one = directory.appendingPathComponent("one"), many = directory.appendingPathComponent("many")
        #expect(try Self.run(ranks: nil, pipeline, output: one).status == 0)
        let job = try Self.run(ranks: 2, pipeline, output: many)
        #expect(job.status == 0, "\(job.errors)")
        let expected = try Self.samples(one.appendingPathComponent("dataset"))
        #expect(expected.count == 11)
        #expect(try Self.samples(many.appendingPathComponent("dataset")).sorted() == expected.sorted())
        // mosaicml-streaming's merge_index layout: part directories under the dataset, one index.
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: many.appendingPathComponent("dataset/index.json"))) as? [String: Any]
        let basenames = (index?["shards"] as? [[String: Any]] ?? []).compactMap { ($0["raw_data"] as? [String: Any])?["basename"] as? String }
        #expect(basenames.contains { $0.hasPrefix("part-0/") } && basenames.contains { $0.hasPrefix("part-1/") })
    }

    /// The media demo writes one .npy per clip and an index.jsonl into its output directory itself.
    @Test func arraysAndTheirIndexOfAllRanksAreTheOneProcessRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-part-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let one = directory.appendingPathComponent("one"), many = directory.appendingPathComponent("many")
        #expect(try Self.run(ranks: nil, "pipelines/shapes.yaml", output: one).status == 0)
        let job = try Self.run(ranks: 2, "pipelines/shapes.yaml", output: many)
        #expect(job.status == 0, "\(job.errors)")
        let arrays = { (url: URL) in try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".npy") }.sorted() }
        #expect(try arrays(one).count == 72)  // frames, waveform and mel of 24 clips
        #expect(try arrays(many) == arrays(one))
        for name in try arrays(one).prefix(4) {
            #expect(FileManager.default.contents(atPath: many.appendingPathComponent(name).path) == FileManager.default.contents(atPath: one.appendingPathComponent(name).path))
        }
        #expect(try Self.lines(many.appendingPathComponent("index.jsonl")).sorted() == Self.lines(one.appendingPathComponent("index.jsonl")).sorted())
    }

    /// WebDataset in and out on 2 ranks: each rank reads only its shards and numbers its own
    /// shards apart from the other's, so the merged directory holds the one-process run's samples.
    @Test func webDatasetShardsOfAllRanksAreTheOneProcessRunsSamples() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-part-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let one = directory.appendingPathComponent("one"), many = directory.appendingPathComponent("many")
        #expect(try Self.run(ranks: nil, "pipelines/webdataset-clips.yaml", output: one).status == 0)
        let job = try Self.run(ranks: 2, "pipelines/webdataset-clips.yaml", output: many)
        #expect(job.status == 0, "\(job.errors)")
        func samples(_ out: URL) throws -> [WebDatasetSample] {
            let shards = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("shards").path).sorted()
            return try shards.flatMap { name -> [WebDatasetSample] in
                let path = out.appendingPathComponent("shards/\(name)").path
                let reader = ShardSamples(try TarReader(FileShardBytes(path: path), path: path), maximumMemberBytes: 1 << 24)
                var found: [WebDatasetSample] = []
                while let event = try reader.next() { if case .sample(let sample) = event { found.append(sample) } }
                return found
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: many.appendingPathComponent("shards").path).sorted()
                == ["shard-000000.tar", "shard-000001.tar"])
        let expected = try samples(one)
        #expect(expected.count == 6)
        #expect(try samples(many).sorted { $0.key < $1.key } == expected.sorted { $0.key < $1.key })
    }

    /// A dataset written into a bucket on 2 ranks: a part prefix per rank, one index over them,
    /// the one-process run's samples.
    @Test(.enabled(if: !LocalS3Server.mayBeMissing, "SeaweedFS is not installed: run tools/install-s3-server.sh"))
    func shardsIntoABucketMergeThereIntoOneDataset() throws {
        let server = try LocalS3Server(bucket: "sluice-ranks")
        let sink = "  type: shard_writer\n  path: s3://\(server.bucket)/DATASET\n  columns: [\"path:str\", \"bytes:int\", \"sha256:str\"]\n  size_limit: 300"
        let (directory, pipeline) = try Self.job(sink: sink)
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try String(contentsOfFile: pipeline, encoding: .utf8)
        var samples: [[String]] = []
        for (name, ranks) in [("one", nil), ("many", 2)] as [(String, Int?)] {
            let file = directory.appendingPathComponent("\(name).yaml")
            try text.replacingOccurrences(of: "DATASET", with: name).write(to: file, atomically: true, encoding: .utf8)
            let manifest = server.url("\(name)-run/manifest.json")
            let job = try MPIJob.run(ranks: ranks, MPIJob.sluice, ["run", file.path, "--quiet", "--set", "output=\(directory.path)/\(name)",
                                                                   "--set", "options.manifest=\(manifest)"],
                                     environment: server.environment)
            #expect(job.status == 0, "\(job.errors)")
            // The job's manifest (rank 0's merge of every rank's) went to the bucket.
            let record = try JSONSerialization.jsonObject(with: Data(server.client().get(manifest))) as? [String: Any]
            #expect((record?["inputs"] as? [Any])?.count == 11)
            #expect((record?["ranks"] as? [Any])?.count == ranks)
            let dataset = try ShardDataset(remote: server.url(name), cache: directory.appendingPathComponent("cache-\(name)"), client: server.client())
            samples.append(try (0..<dataset.count).map { "\(try dataset.sample($0).sorted { $0.key < $1.key })" }.sorted())
            if ranks != nil { #expect(dataset.index.shards.contains { $0.storedFile.basename.hasPrefix("part-1/") }) }
        }
        #expect(samples[0].count == 11)
        #expect(samples[1] == samples[0])
    }

    /// Rank 0 shows the whole job: each rank's counters reach it through `OUT/.progress/`, and once
    /// the parts are merged it prints the job's table, every rank's items summed.
    @Test func rankZeroShowsTheWholeJobsProgress() throws {
        let (directory, pipeline) = try Self.job(sink: Self.jsonlSink)
        defer { try? FileManager.default.removeItem(at: directory) }
        let many = directory.appendingPathComponent("many")
        let job = try MPIJob.run(ranks: 2, MPIJob.sluice, ["run", pipeline, "--set", "output=\(many.path)"])
        #expect(job.status == 0, "\(job.errors)")
        let summary = try #require(job.errors.components(separatedBy: "partitioned (2 ranks):").last)
        let sink = summary.split(separator: "\n").first { $0.hasPrefix("jsonl") }
        #expect(sink?.contains(" 11 items") == true, "\(summary)")
        #expect(summary.contains("ranks: 0: 6, 1: 5 items into the sink"), "\(summary)")
        #expect(!FileManager.default.fileExists(atPath: many.appendingPathComponent(".progress").path))
    }

    /// A rank killed (SIGKILL) while it writes shards: the launcher ends the job at once, naming
    /// the killed pid, which rank 0's first line maps to its rank; nothing is merged, the killed
    /// rank's part opens with the shards it finished, and the same command run again resumes the
    /// parts and merges exactly the one-process run's samples.
    // A job that outlives a failed rank hangs (the others would wait for it forever): the time
    // limit turns that into a failure. It is no speed claim; a loaded machine stays far inside it.
    @Test(.timeLimit(.minutes(5))) func aKilledRankEndsTheJobAndARestartResumesIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-kill-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let corpus = MPIJob.repository.appendingPathComponent("samples/retromae/corpus.txt.gz")
        let copies = try (0..<2).map { copy in
            let file = directory.appendingPathComponent("corpus-\(copy).txt.gz")
            try FileManager.default.copyItem(at: corpus, to: file)
            return "\"\(file.path)\""
        }
        let pipeline = directory.appendingPathComponent("pipeline.yaml")
        try """
            name: killed-rank
            output: \(directory.path)/out
            source: {type: text, paths: [\(copies.joined(separator: ", "))], format: paragraphs}
            stages:
              - {type: tokenize, tokenizer: samples/retromae/vocab.txt}
            sink: {type: shard_writer, path: dataset, columns: ["text:str", "input_ids:ndarray:int32"], size_limit: 65536, resume: true}
            """.write(to: pipeline, atomically: true, encoding: .utf8)
        let one = directory.appendingPathComponent("one"), many = directory.appendingPathComponent("many")
        let part = many.appendingPathComponent("part-1/dataset")
        var killed: Int32?
        let job = try Self.run(ranks: 2, pipeline.path, output: many) { process, errors in
            // Once rank 1 has finished a shard and is writing the next, kill it.
            while process.isRunning {
                let shards = (try? FileManager.default.contentsOfDirectory(atPath: part.path))?.filter { $0.hasPrefix("shard.") }.count ?? 0
                if shards >= 2, let pid = Self.pid(ofRank: 1, in: errors()) {
                    kill(pid, SIGKILL)
                    killed = pid
                    return
                }
                usleep(20_000)
            }
        }
        let pid = try #require(killed, "rank 1 finished before it could be killed: \(job.errors)")
        #expect(job.status != 0)
        #expect(job.output.contains("PID \(pid) RUNNING AT"), "\(job.output)")  // the launcher's report
        #expect(job.errors.contains("rank 1 = pid \(pid)@"))                      // ... read as a rank
        #expect(!FileManager.default.fileExists(atPath: many.appendingPathComponent("dataset/index.json").path))
        #expect(!FileManager.default.fileExists(atPath: many.appendingPathComponent("manifest.json").path))
        let unfinished = try ShardDataset(directory: part)
        #expect(!unfinished.isComplete)
        #expect(unfinished.index.shards.count >= 1)
        #expect(unfinished.verify().isEmpty)

        let restart = try Self.run(ranks: 2, pipeline.path, output: many)
        #expect(restart.status == 0, "\(restart.errors)")
        #expect(try Self.run(ranks: nil, pipeline.path, output: one).status == 0)
        let expected = try Self.samples(one.appendingPathComponent("dataset"))
        #expect(expected.count > 500)
        #expect(try Self.samples(many.appendingPathComponent("dataset")).sorted() == expected.sorted())
    }

    /// Rank `rank`'s pid from rank 0's first line (`sluice: N MPI ranks: rank 0 = pid P@host, ...`).
    static func pid(ofRank rank: Int, in errors: String) -> Int32? {
        guard let range = errors.range(of: "rank \(rank) = pid ") else { return nil }
        return Int32(errors[range.upperBound...].prefix { $0.isNumber })
    }

    @Test(.timeLimit(.minutes(3))) func aRankThatFailsStopsTheJobNamingItselfAndNothingIsMerged() throws {
        let (directory, pipeline) = try Self.job(sink: Self.jsonlSink)
        defer { try? FileManager.default.removeItem(at: directory) }
        let many = directory.appendingPathComponent("many")
        try FileManager.default.createDirectory(at: many, withIntermediateDirectories: true)
        // Rank 1 cannot create its part directory: a file stands in its way.
        try Data("in the way".utf8).write(to: many.appendingPathComponent("part-1"))
        let job = try Self.run(ranks: 2, pipeline, output: many)
        #expect(job.status != 0)
        #expect(job.errors.contains("rank 1 of 2 failed:"), "\(job.errors)")
        #expect(!FileManager.default.fileExists(atPath: many.appendingPathComponent("manifest.json").path))
        #expect(!FileManager.default.fileExists(atPath: many.appendingPathComponent("sums/checksums.jsonl").path))
    }
}
