import Foundation
import PipelineCore

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
            ShardError(file: "column \(column)", "a \(value.kindName) value cannot be stored as \(encoding)")
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
                throw ShardError(file: "column \(column)", "a json column takes JSON text: \(error.reason)")
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

    /// Removes a previous run's dataset files (and nothing else) before writing anew.
    private static func clear(_ directory: URL) throws(ShardError) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name == DatasetIndex.fileName || name.hasPrefix("shard.") {
            do {
                try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            } catch {
                throw ShardError(file: directory.appendingPathComponent(name).path, "cannot remove the previous run's file")
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
                throw ShardError(file: item.itemDescription, "has no field '\(name)' for the shard column of that name")
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
/// pipeline's error policy and its samples are skipped.
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

    public init(datasets: [ShardDataset], weights: [MixWeight]? = nil, options: ShuffleOptions, rank: Int = 0,
                worldSize: Int = 1, remainder: Remainder = .pad, start: ResumeState? = nil, epochs: Int = 1,
                readers: Int = 1) {
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
    }

    public func run(_ emitter: Emitter<Sample>) throws {
        var reported = Set<String>()
        var state = start
        while state.epoch < epochs {
            let plan = mixture.plan(state, options: options, rank: rank, worldSize: worldSize, remainder: remainder)
            let reader = ParallelReader(datasets: datasets, plan: plan, workers: readers)
            defer { reader.cancel() }
            while let result = reader.next() {
                switch result {
                case .sample(let source, let index, let sample):
                    let dataset = datasets[source]
                    var record = Sample()
                    for name in dataset.index.shards[dataset.locate(index).shard].config.columnNames {
                        record[name] = sample[name]?.pipelineValue
                    }
                    try emitter.emit(record)
                case .failed(let error):
                    if reported.insert(error.file).inserted {
                        try emitter.skip(item: error.file, reason: error.reason)
                    }
                }
            }
            state = ResumeState(epoch: state.epoch + 1, position: 0, seed: state.seed, worldSize: worldSize)
        }
    }
}
