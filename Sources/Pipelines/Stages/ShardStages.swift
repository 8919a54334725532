import Foundation
import ObjectStore
import PipelineCore
import Shards
import Training

/// Stages over MDS shard datasets: read them shuffled and split by rank, write them.
enum ShardStages {
    static let specs: [StageSpec] = [reader, writer]

    static let reader = StageSpec(
        type: "shards", role: .source,
        summary: "samples of MDS datasets, shuffled by (seed, epoch), this rank's share; several paths mix",
        parameters: [
            ParameterSpec("paths", .path(objects: true, list: true), required: true,
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
        ],
        obstacles: { parameters in
            parameters.strings("paths").filter { !ObjectURL.isObjectURL($0) }.compactMap { path in
                let directory = URL(fileURLWithPath: path)
                guard !FileManager.default.fileExists(atPath: directory.appendingPathComponent(DatasetIndex.fileName).path) else { return nil }
                return Obstacle(key: "paths", "\(path) holds no dataset yet (no \(DatasetIndex.fileName))", missing: directory)
            }
        }
    ) { parameters, environment in
        let paths = parameters.strings("paths")
        var datasets: [ShardDataset] = []
        let readOptions = ReadOptions(verifyHashes: parameters.bool("verify"))
        for path in paths {
            if let remote = ObjectURL(path) {
                let cache = environment.outputDirectory.appendingPathComponent(".cache/s3/\(remote.bucket)/\(remote.key)")
                let remoteOptions = RemoteOptions(readAhead: parameters.int("read_ahead"), downloaders: parameters.int("downloaders"),
                                                  cacheLimit: parameters.optionalInt("cache_limit"))
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
            guard shares.count == paths.count, shares.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
                throw PlanError(stage: parameters.stageName, "proportions must be \(paths.count) finite non-negative numbers, one per path")
            }
            weights = shares.map(MixWeight.proportion)
        }
        let rank = parameters.int("rank")
        let worldSize = parameters.int("world_size")
        guard rank < worldSize else {
            throw PlanError(stage: parameters.stageName, "rank \(rank) must be below world_size \(worldSize)")
        }
        let options = ShuffleOptions(
            shuffle: parameters.bool("shuffle"), seed: UInt64(parameters.int("seed")),
            canonicalPartitions: parameters.int("canonical_partitions"),
            blockSize: parameters.int("block_size"))
        let start = ResumeState(epoch: parameters.int("start_epoch"), position: parameters.int("start_position"),
                                seed: options.seed, worldSize: worldSize)
        return .source(ShardSource(
            datasets: datasets, weights: weights, options: options, rank: rank, worldSize: worldSize,
            remainder: parameters.optionalString("remainder") == "drop" ? .drop : .pad, start: start,
            epochs: parameters.int("epochs"), readers: parameters.int("readers"), resumeAt: { environment.sourceResumePoint }))
    }

    static let writer = StageSpec(
        type: "shard_writer", role: .sink,
        summary: "writes samples as an MDS dataset (opens in Python's mosaicml-streaming)",
        parameters: [
            ParameterSpec("path", .path(objects: true), required: true,
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
                throw PlanError(stage: parameters.stageName, "column '\(entry)' needs name:encoding")
            }
            let name = String(entry[..<colon])
            columns[name] = try ColumnEncoding(parsing: String(entry[entry.index(after: colon)...]), column: name)
        }
        let compressionName = parameters.string("compression")
        let compression = compressionName == "none" ? nil : try Compression(parsing: compressionName)
        var hashes: [HashAlgorithm] = []
        for name in parameters.strings("hashes") {
            guard let algorithm = HashAlgorithm(rawValue: name) else {
                throw PlanError(stage: parameters.stageName, "unknown hash '\(name)' (\(HashAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            hashes.append(algorithm)
        }
        let config = ShardConfig(columns: columns, compression: compression, hashes: hashes,
                                 sizeLimit: parameters.optionalInt("size_limit"))
        let path = parameters.string("path")
        if let remote = ObjectURL(path) {
            let staging = environment.outputDirectory.appendingPathComponent(".cache/s3-upload/\(remote.bucket)/\(remote.key)")
            return .sink(try ShardSink(writer: BucketPublisher.writer(remote, staging: staging, config: config, client: S3Client(),
                                                                       resume: parameters.bool("resume"))))
        }
        let directory = path.hasPrefix("/") ? URL(fileURLWithPath: path) : environment.outputDirectory.appendingPathComponent(path)
        return .sink(try ShardSink(directory: directory, config: config, resume: parameters.bool("resume")))
    }
}

// MARK: - Values between pipelines and shards

extension ShardValue {
    /// The pipeline value for this column value. A `json` column becomes its JSON text (pipeline
    /// values have no objects); a uint64 above `Int.max` becomes a double.
    public var pipelineValue: Value {
        switch self {
        case .bytes(let b): .bytes(b)
        case .string(let s): .string(s)
        case .int(let i): .int(Int(i))
        case .uint(let u): u <= UInt64(Int.max) ? .int(Int(u)) : .double(Double(u))
        case .float(let d): .double(d)
        case .array(let a): .array(a)
        case .json(let j): .string(j.pythonJSON())
        }
    }

    /// The column value for a pipeline value, as `encoding` stores it. A `json` column takes a
    /// string as JSON text, and any other value as the JSON it maps to.
    public init(_ value: Value, for encoding: ColumnEncoding, column: String) throws(ShardError) {
        func refuse() -> ShardError {
            ShardError(.invalidValue, path: "column \(column)", "a \(value.kindName) value cannot be stored as \(encoding)")
        }
        switch (encoding, value) {
        case (.bytes, .bytes(let b)), (.jpeg, .bytes(let b)), (.png, .bytes(let b)): self = .bytes(b)
        case (.str, .string(let s)): self = .string(s)
        case (.int, .int(let i)), (.strInt, .int(let i)): self = .int(Int64(i))
        case (.strFloat, .double(let d)): self = .float(d)
        case (.strFloat, .int(let i)): self = .float(Double(i))
        case (.scalar(let dtype), .int(let i)) where dtype.isFloat: self = .float(Double(i))
        case (.scalar(let dtype), .int(let i)):
            if i < 0 || [.int8, .int16, .int32, .int64].contains(dtype) {
                self = .int(Int64(i))
            } else {
                self = .uint(UInt64(i))
            }
        case (.scalar(let dtype), .double(let d)) where dtype.isFloat: self = .float(d)
        case (.scalar, .bool(let flag)): self = .uint(flag ? 1 : 0)
        case (.ndarray, .array(let a)): self = .array(a)
        case (.json, .string(let text)):
            do {
                self = .json(try JSONValue.parse(Array(text.utf8), what: "column \(column)"))
            } catch {
                throw ShardError(.invalidValue, path: "column \(column)", "a json column takes JSON text: \(error.reason)")
            }
        case (.json, _): self = .json(value.jsonEquivalent)
        default: throw refuse()
        }
    }
}

extension Value {
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int: "int"
        case .double: "double"
        case .string: "string"
        case .bytes: "bytes"
        case .array: "array"
        case .list: "list"
        }
    }

    /// The value as JSON, the way `Sample.jsonLine` prints it.
    var jsonEquivalent: JSONValue {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .int(let i): .int(Int64(i))
        case .double(let d): .double(d)
        case .string(let s): .string(s)
        case .bytes(let b): .string(Data(b).base64EncodedString())
        case .array(let a): a.nestedList
        case .list(let values): .array(values.map(\.jsonEquivalent))
        }
    }
}

// MARK: - Sink

/// A pipeline sink that writes samples as an MDS dataset: each declared column is taken from the
/// sample's field of the same name. A run that stops or fails writes what it holds as a last
/// shard and leaves the dataset marked unfinished; with `resume`, the next run skips the samples
/// already written (its source must produce the same order) and continues.
public final class ShardSink: Sink {
    private let writer: ShardWriter
    private var toSkip: Int

    /// A sink over a writer made elsewhere (a bucket's, from `BucketPublisher.writer`), skipping
    /// the samples it already holds.
    public init(writer: ShardWriter) {
        self.writer = writer
        toSkip = writer.samplesWritten
    }

    public init(directory: URL, config: ShardConfig, resume: Bool) throws(ShardError) {
        let existing = FileManager.default.fileExists(atPath: directory.appendingPathComponent(DatasetIndex.fileName).path)
        if existing && resume {
            writer = try ShardWriter(resuming: directory, config: config)
            toSkip = writer.samplesWritten
        } else {
            if existing { try Self.clear(directory) }
            writer = try ShardWriter(directory: directory, config: config)
            toSkip = 0
        }
    }

    /// Removes a previous run's dataset files (index.json and shard.* files, nothing else, and
    /// never a directory) before writing anew.
    private static func clear(_ directory: URL) throws(ShardError) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name == DatasetIndex.fileName || name.hasPrefix("shard.") {
            let path = directory.appendingPathComponent(name).path
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            guard unlink(path) == 0 else {
                throw ShardError(.writeFailed, path: path, "cannot remove the previous run's file: \(String(cString: strerror(errno)))")
            }
        }
    }

    public func consume(_ item: Sample) throws {
        if toSkip > 0 {
            toSkip -= 1
            return
        }
        var sample: ShardSample = [:]
        for (name, encoding) in zip(writer.config.columnNames, writer.config.columnEncodings) {
            guard let value = item[name] else {
                throw ShardError(.invalidValue, path: item.itemDescription, "has no field '\(name)' for the shard column of that name")
            }
            sample[name] = try ShardValue(value, for: encoding, column: name)
        }
        try writer.write(sample)
    }

    public func finish(_ completion: Completion) throws {
        if completion == .finished {
            try writer.finish()
        } else {
            try writer.flush()
        }
    }
}

// MARK: - Source

/// A pipeline source that reads one rank's share of one or more MDS datasets (mixed by weight),
/// epoch after epoch, in the deterministic shuffled order, decoding on `readers` threads (the
/// order does not change with their number). A damaged shard is reported once through the
/// pipeline's error policy and its samples are skipped; a bad sample is reported by its index.
/// Every sample carries its stream point (the epoch's global positions read through it by all
/// ranks in step), so a resumed trainer's run begins where its checkpoint stopped.
public struct ShardSource: Source {
    public let datasets: [ShardDataset]
    public let mixture: Mixture
    public let options: ShuffleOptions
    public let rank: Int
    public let worldSize: Int
    public let remainder: Remainder
    /// Where to begin (a fresh run: epoch 0, position 0).
    public let start: ResumeState
    /// Epochs to read, counting from 0 (so `start.epoch < epochs`).
    public let epochs: Int
    /// Threads decoding samples.
    public let readers: Int
    /// Where a resumed trainer's checkpoint says to begin, over `start`; asked when the run starts.
    let resumeAt: @Sendable () -> StreamPoint?

    public init(datasets: [ShardDataset], weights: [MixWeight]? = nil, options: ShuffleOptions, rank: Int = 0,
                worldSize: Int = 1, remainder: Remainder = .pad, start: ResumeState? = nil, epochs: Int = 1,
                readers: Int = 1, resumeAt: @escaping @Sendable () -> StreamPoint? = { nil }) {
        self.datasets = datasets
        let weights = weights ?? datasets.map { _ in MixWeight.repeatFactor(1) }
        mixture = Mixture(zip(datasets, weights).map { Mixture.Source(spans: $0.spans, weight: $1) })
        self.options = options
        self.rank = rank
        self.worldSize = worldSize
        self.remainder = remainder
        self.start = start ?? ResumeState(seed: options.seed, worldSize: worldSize)
        self.epochs = epochs
        self.readers = max(1, readers)
        self.resumeAt = resumeAt
    }

    public func run(_ emitter: Emitter<Sample>) throws {
        var reported = Set<String>()
        var state = start
        if let point = resumeAt() {
            state = ResumeState(epoch: point.epoch, position: point.position, seed: start.seed, worldSize: worldSize)
            FileHandle.standardError.write(Data("shards: resuming at epoch \(point.epoch), position \(point.position) of its order (the samples read before the checkpoint are not read again)\n".utf8))
        }
        while state.epoch < epochs {
            let plan = mixture.plan(state, options: options, rank: rank, worldSize: worldSize, remainder: remainder)
            let reader = ParallelReader(datasets: datasets, plan: plan, workers: readers)
            defer { reader.cancel() }
            var delivered = 0
            while let result = reader.next() {
                delivered += 1
                switch result {
                case .sample(let source, let index, let sample):
                    let dataset = datasets[source]
                    var record = Sample()
                    for name in dataset.index.shards[dataset.locate(index).shard].config.columnNames {
                        record[name] = sample[name]?.pipelineValue
                    }
                    if epochs > 1, record["epoch"] == nil { record["epoch"] = .int(state.epoch) }
                    let read = plan.state(afterDelivering: delivered)
                    record.streamPoint = StreamPoint(epoch: read.epoch, position: read.position)
                    try emitter.emit(record)
                case .failed(let source, let index, let error):
                    // A shard that fails to open is reported once; a bad sample in a good shard each time.
                    let item = "\(datasets[source].directory.relativePath) sample \(index)"
                    if error.sample != nil {
                        try emitter.skip(item: item, reason: error.description, failure: error.failure)
                    } else if reported.insert(error.path).inserted {
                        try emitter.skip(item: item, reason: error.description + " (the shard's other samples are skipped too)", failure: error.failure)
                    }
                }
            }
            state = ResumeState(epoch: state.epoch + 1, position: 0, seed: state.seed, worldSize: worldSize)
        }
    }
}
