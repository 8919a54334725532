import Foundation
import ObjectStore
import PipelineCore
import Shards

/// Stages over MDS shard datasets: read them shuffled and split by rank, write them.
enum ShardStages {
    static let specs: [StageSpec] = [reader, writer]

    static let reader = StageSpec(
        type: "shards", role: .source,
        summary: "samples of MDS datasets, shuffled by (seed, epoch), this rank's share; several paths mix",
        parameters: [
            ParameterSpec("paths", .strings, required: true,
                          help: "dataset directories (each holds index.json), or s3://bucket/prefix (cached under the output's .cache/s3)"),
            ParameterSpec("proportions", .strings,
                          help: "one share per path (0.7, 0.3); default: every dataset once per epoch"),
            ParameterSpec("shuffle", .bool, default: "true", help: "shuffle shards, then samples within blocks"),
            ParameterSpec("seed", .int(min: 0), default: "0", help: "shuffle seed"),
            ParameterSpec("epochs", .int(min: 1), default: "1", help: "epochs to read"),
            ParameterSpec("rank", .int(min: 0), default: "0", help: "this process's rank"),
            ParameterSpec("world_size", .int(min: 1), default: "1", help: "number of ranks sharing the data"),
            ParameterSpec("remainder", .choice(["pad", "drop"]), default: "pad",
                          help: "equal counts per rank: repeat the first samples, or drop the last ones"),
            ParameterSpec("canonical_partitions", .int(min: 1), default: "24",
                          help: "partitions the order is defined over (independent of world size)"),
            ParameterSpec("block_size", .int(min: 1), default: "65536", help: "samples shuffled together"),
            ParameterSpec("verify", .bool, default: "true", help: "check shard hashes when first opened"),
            ParameterSpec("readers", .int(min: 1, max: 64), default: "1",
                          help: "threads decoding samples (the order does not depend on their number)"),
            ParameterSpec("start_epoch", .int(min: 0), default: "0", help: "resume: the epoch to continue"),
            ParameterSpec("start_position", .int(min: 0), default: "0",
                          help: "resume: positions of that epoch's global order already consumed by all ranks"),
            ParameterSpec("read_ahead", .int(min: 0), default: "4", help: "s3: shards fetched ahead of the one being read"),
            ParameterSpec("downloaders", .int(min: 1, max: 64), default: "2", help: "s3: threads downloading shards"),
            ParameterSpec("cache_limit", .int(min: 1), help: "s3: bytes of shard files kept in the cache (at least 4x the largest shard); default: no limit"),
        ]
    ) { parameters, environment in
        let paths = parameters.strings("paths")
        var datasets: [ShardDataset] = []
        let readOptions = ReadOptions(verifyHashes: parameters.bool("verify"))
        for path in paths {
            if let remote = ObjectURL(path) {
                let cache = environment.outputDirectory.appendingPathComponent(".cache/s3/\(remote.bucket)/\(remote.key)")
                let remoteOptions = RemoteOptions(readAhead: parameters.int("read_ahead") ?? 4, downloaders: parameters.int("downloaders") ?? 2,
                                                  cacheLimit: parameters.int("cache_limit"))
                let dataset = try ShardDataset(remote: remote, cache: cache, client: S3Client(), options: readOptions,
                                               remoteOptions: remoteOptions)
                environment.inputs.record(cache.appendingPathComponent(DatasetIndex.fileName))
                datasets.append(dataset)
                continue
            }
            let dataset = try ShardDataset(directory: URL(fileURLWithPath: path), options: readOptions)
            environment.inputs.record(dataset.directory.appendingPathComponent(DatasetIndex.fileName))
            datasets.append(dataset)
        }
        var weights: [MixWeight]?
        let proportions = parameters.strings("proportions")
        if !proportions.isEmpty {
            let shares = proportions.compactMap(Double.init)
            guard shares.count == paths.count, shares.allSatisfy({ $0 >= 0 }) else {
                throw PlanError("stage '\(parameters.stageName)': proportions must be \(paths.count) non-negative numbers, one per path")
            }
            weights = shares.map(MixWeight.proportion)
        }
        let rank = parameters.int("rank") ?? 0
        let worldSize = parameters.int("world_size") ?? 1
        guard rank < worldSize else {
            throw PlanError("stage '\(parameters.stageName)': rank \(rank) must be below world_size \(worldSize)")
        }
        let options = ShuffleOptions(
            shuffle: parameters.bool("shuffle"), seed: UInt64(parameters.int("seed") ?? 0),
            canonicalPartitions: parameters.int("canonical_partitions") ?? 24,
            blockSize: parameters.int("block_size") ?? 1 << 16)
        let start = ResumeState(epoch: parameters.int("start_epoch") ?? 0, position: parameters.int("start_position") ?? 0,
                                seed: options.seed, worldSize: worldSize)
        return .source(ShardSource(
            datasets: datasets, weights: weights, options: options, rank: rank, worldSize: worldSize,
            remainder: parameters.string("remainder") == "drop" ? .drop : .pad, start: start,
            epochs: parameters.int("epochs") ?? 1, readers: parameters.int("readers") ?? 1))
    }

    static let writer = StageSpec(
        type: "shard_writer", role: .sink,
        summary: "writes samples as an MDS dataset (opens in Python's mosaicml-streaming)",
        parameters: [
            ParameterSpec("path", .string, required: true,
                          help: "dataset directory, under the pipeline's output; or s3://bucket/prefix (staged under the output's .cache/s3)"),
            ParameterSpec("columns", .strings, required: true,
                          help: "name:encoding per column (text:str, ids:ndarray:int32, label:int, meta:json)"),
            ParameterSpec("compression", .string, default: "none", help: "none, zstd[:level] or gz[:level]"),
            ParameterSpec("hashes", .strings, default: "xxh64", help: "per-shard hashes: sha1, xxh64, ..."),
            ParameterSpec("size_limit", .int(min: 1, max: Int(UInt32.max)), default: "67108864",
                          help: "bytes per shard before a new one starts"),
            ParameterSpec("resume", .bool, default: "false",
                          help: "continue an unfinished dataset, skipping the samples it already holds"),
        ]
    ) { parameters, environment in
        var columns: [String: ColumnEncoding] = [:]
        for entry in parameters.strings("columns") {
            guard let colon = entry.firstIndex(of: ":") else {
                throw PlanError("stage '\(parameters.stageName)': column '\(entry)' needs name:encoding")
            }
            let name = String(entry[..<colon])
            columns[name] = try ColumnEncoding(parsing: String(entry[entry.index(after: colon)...]), column: name)
        }
        let compressionName = parameters.string("compression") ?? "none"
        let compression = compressionName == "none" ? nil : try Compression(parsing: compressionName)
        var hashes: [HashAlgorithm] = []
        for name in parameters.strings("hashes") {
            guard let algorithm = HashAlgorithm(rawValue: name) else {
                throw PlanError("stage '\(parameters.stageName)': unknown hash '\(name)' (\(HashAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            hashes.append(algorithm)
        }
        let config = ShardConfig(columns: columns, compression: compression, hashes: hashes,
                                 sizeLimit: parameters.int("size_limit"))
        let path = parameters.string("path") ?? ""
        if let remote = ObjectURL(path) {
            let staging = environment.outputDirectory.appendingPathComponent(".cache/s3-upload/\(remote.bucket)/\(remote.key)")
            return .sink(try ShardSink(writer: BucketPublisher.writer(remote, staging: staging, config: config, client: S3Client(),
                                                                       resume: parameters.bool("resume"))))
        }
        let directory = path.hasPrefix("/") ? URL(fileURLWithPath: path) : environment.outputDirectory.appendingPathComponent(path)
        return .sink(try ShardSink(directory: directory, config: config, resume: parameters.bool("resume")))
    }
}
