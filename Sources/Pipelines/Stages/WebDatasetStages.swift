import Foundation
import ObjectStore
import OrderedCollections
import PipelineCore
import Tensor
import Training
import WebDataset

/// Stages over WebDataset tar shards: read them as samples, write samples as shards.
enum WebDatasetStages {
    static let specs: [StageSpec] = [reader, writer]

    /// Whether a bucket object's key names a shard, when a prefix is listed.
    static func isShard(_ key: String) -> Bool {
        [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.bz2", ".tar.xz"].contains { key.hasSuffix($0) }
    }

    static let reader = StageSpec(
        type: "webdataset", role: .source,
        summary: "samples of WebDataset tar shards: one per key, with `__key__`, `__url__` and each member's bytes under its extension",
        parameters: [
            ParameterSpec("paths", .inputs(objects: true), required: true,
                          help: "shards: files, globs, brace ranges (shards-{000000..000099}.tar), s3://bucket/prefix, http(s):// URLs; .tar, or compressed (.tar.gz, .tar.zst, ...)"),
            ParameterSpec("shuffle", .bool, default: "false",
                          help: "a seeded new order of the shards each epoch (members keep their order within a shard)"),
            ParameterSpec("seed", .int(min: 0), default: "0", help: "shuffle seed, mixed with the epoch"),
            ParameterSpec("epochs", .int(min: 1, max: 1 << 20), default: "1", help: "passes over the shards"),
            ParameterSpec("rank", .int(min: 0), default: "0",
                          help: "this process's rank: it reads every world_size-th shard of each epoch's order, from the rank-th"),
            ParameterSpec("world_size", .int(min: 1), default: "1", help: "number of ranks sharing the shards"),
            ParameterSpec("max_member_bytes", .int(min: 1), default: "1073741824",
                          help: "a larger member is quarantined unread (memory holds one member at a time per shard)"),
        ],
        sharesByRank: true
    ) { parameters, environment in
        let rank = parameters.int("rank"), worldSize = parameters.int("world_size")
        guard rank < worldSize else {
            throw PlanError(stage: parameters.stageName, "rank \(rank) must be below world_size \(worldSize)")
        }
        return .source(WebDatasetSource(
            urls: parameters.inputs("paths"), log: environment.inputs, objects: ObjectInputs(outputDirectory: environment.outputDirectory),
            shuffleSeed: parameters.bool("shuffle") ? UInt64(parameters.int("seed")) : nil, epochs: parameters.int("epochs"),
            rank: rank, worldSize: worldSize, maximumMemberBytes: parameters.int("max_member_bytes"),
            resumeAt: { environment.sourceResumePoint }))
    }

    static let writer = StageSpec(
        type: "webdataset_writer", role: .sink,
        summary: "writes samples as WebDataset tar shards (shard-000000.tar, ...; read by the webdataset package)",
        parameters: [
            ParameterSpec("path", .path(objects: true), required: true,
                          help: "directory, under the pipeline's output; or s3://bucket/prefix (each shard staged under the output's .cache/s3-upload, then uploaded)"),
            ParameterSpec("fields", .strings,
                          help: "the fields to write, each as member KEY.FIELD (default: every field but those starting with `__` and the run's epoch, stream_epoch and stream_position)"),
            ParameterSpec("key", .string, default: "__key__", help: "the field holding each sample's key"),
            ParameterSpec("maxcount", .int(min: 1), default: "100000", help: "samples per shard"),
            ParameterSpec("maxsize", .int(min: 1), default: "3000000000", help: "bytes of member data per shard before a new one starts"),
            ParameterSpec("rank", .int(min: 0), default: "0",
                          help: "this writer's rank: it numbers its shards rank, rank+world_size, ... (a multi-rank run sets it)"),
            ParameterSpec("world_size", .int(min: 1), default: "1", help: "number of writers sharing the dataset"),
        ],
        sharesByRank: true
    ) { parameters, environment in
        let path = parameters.string("path")
        let fields = parameters.strings("fields")
        let layout = WebDatasetSink.Layout(keyField: parameters.string("key"), fields: fields.isEmpty ? nil : fields)
        let (count, size) = (parameters.int("maxcount"), parameters.int("maxsize"))
        let numbering = (first: parameters.int("rank"), step: parameters.int("world_size"))
        guard numbering.first < numbering.step else {
            throw PlanError(stage: parameters.stageName, "rank \(numbering.first) must be below world_size \(numbering.step)")
        }
        if let remote = ObjectURL(path) {
            let staging = environment.outputDirectory.appendingPathComponent(".cache/s3-upload/\(remote.bucket)/\(remote.key)")
            let client = try S3Client()
            let writer = try WebDatasetWriter(directory: staging, maximumCount: count, maximumBytes: size, numbering: numbering) { file throws(WebDatasetError) in
                let object = remote.appending(file.lastPathComponent)
                do { try client.upload(file: file, to: object) } catch {
                    throw WebDatasetError(.writeFailed, path: object.description, "upload failed: \(error)")
                }
                unlink(file.path)  // the staged copy this run wrote, now in the bucket
            }
            return .sink(WebDatasetSink(writer: writer, layout: layout))
        }
        let directory = path.hasPrefix("/") ? URL(fileURLWithPath: path) : environment.outputDirectory.appendingPathComponent(path)
        if let taken = WebDatasetSink.shardsAlreadyIn(directory) {
            throw StageError(.outputTaken, path: directory.relativePath, reason: "already holds \(taken): choose another directory")
        }
        return .sink(WebDatasetSink(writer: try WebDatasetWriter(directory: directory, maximumCount: count, maximumBytes: size, numbering: numbering),
                                    layout: layout))
    }
}

/// Reads shards in order (or a seeded new order each epoch), this rank's share of them, one at a
/// time: local files through `read(2)`, bucket and web objects streamed (S3 or HTTP client) while
/// the tar reader works, never cached whole. A member or sample that cannot be used is quarantined as `SHARD:MEMBER`; a
/// shard that is cut short or damaged gives the samples before the damage, then is quarantined.
/// Every sample carries its stream point (epoch, samples of this rank's epoch read through it), so
/// a resumed trainer's run reads past what its checkpoint consumed without emitting it: the tars
/// are read again (fast), the media in them is not decoded again.
struct WebDatasetSource: Source {
    let urls: [URL]
    let log: InputLog
    let objects: ObjectInputs
    var shuffleSeed: UInt64?
    var epochs = 1
    var rank = 0
    var worldSize = 1
    var maximumMemberBytes = 1 << 30
    /// Where a resumed run begins; asked when the run starts, after the sinks are built.
    var resumeAt: @Sendable () -> StreamPoint? = { nil }

    func run(_ emitter: Emitter<Sample>) throws {
        var shards: [URL] = []
        for url in urls {
            guard case .object(let prefix)? = ObjectInputs.remote(url), !WebDatasetStages.isShard(prefix.key) else {
                shards.append(url)
                continue
            }
            do {
                shards += try objects.list(prefix).map(\.object).filter { WebDatasetStages.isShard($0.key) }.compactMap { URL(string: $0.description) }
            } catch {
                try emitter.skip(item: prefix.description, reason: error.description, failure: error.failure)
            }
        }
        guard shards.count >= worldSize else {
            throw StageError(path: "webdataset", reason: "\(shards.count) shards cannot be shared by \(worldSize) ranks: each rank needs at least one")
        }
        let start = resumeAt() ?? StreamPoint(epoch: 0, position: 0), firstEpoch = min(start.epoch, epochs)
        for epoch in firstEpoch..<epochs {
            var order = shards
            if let shuffleSeed {
                var rng = RandomGenerator(seed: shuffleSeed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
                order.shuffle(using: &rng)
            }
            var position = Position(epoch: epoch, first: epoch == firstEpoch, next: 0, skipping: epoch == start.epoch ? start.position : 0)
            for shard in stride(from: rank, to: order.count, by: worldSize).map({ order[$0] }) {
                try read(shard, at: &position, emitter)
            }
        }
    }

    /// Samples of this rank's epoch read so far, and how many of them a resumed run has consumed.
    private struct Position {
        var epoch: Int
        /// The first epoch this run reads, the one whose problems it reports (later epochs meet
        /// the same ones again).
        var first: Bool
        var next: Int
        var skipping: Int
        var resuming: Bool { next < skipping }
        /// Whether a problem met now is news: not before the resume point, not in a later epoch.
        var reporting: Bool { first && !resuming }
    }

    private func read(_ url: URL, at position: inout Position, _ emitter: Emitter<Sample>) throws {
        let epoch = position.epoch
        let name = ObjectInputs.remote(url)?.description ?? url.relativePath
        let samples: ShardSamples
        do {
            samples = ShardSamples(try TarReader(try bytes(of: url, named: name), path: name), maximumMemberBytes: maximumMemberBytes)
        } catch {
            guard position.reporting else { return }
            return try emitter.skip(item: name, reason: error.reason, failure: error.failure)
        }
        if url.isFileURL, position.first { log.record(url) }
        do {
            while let event = try samples.next() {
                switch event {
                case .sample(let sample):
                    let resuming = position.resuming
                    position.next += 1
                    guard !resuming else { continue }
                    var fields: OrderedDictionary<String, Value> = ["__key__": .string(sample.key), "__url__": .string(name)]
                    for field in sample.fields { fields[field.name] = .bytes(field.bytes) }
                    if epochs > 1 { fields["epoch"] = .int(epoch) }
                    var emitted = Sample(fields)
                    emitted.streamPoint = StreamPoint(epoch: epoch, position: position.next)
                    try emitter.emit(emitted)
                case .rejected(let problem):
                    // The run being resumed reported what it read; this one reports what it reads anew.
                    guard position.reporting else { continue }
                    try emitter.skip(item: name + ":" + (problem.member ?? ""), reason: problem.reason, failure: problem.failure)
                }
            }
        } catch let failure as WebDatasetError {
            guard position.reporting else { return }
            try emitter.skip(item: name + (failure.member.map { ":" + $0 } ?? ""), reason: failure.reason, failure: failure.failure)
        }
    }

    /// A local shard read from its file; a bucket's or a web server's streamed while it is read.
    private func bytes(of url: URL, named name: String) throws(WebDatasetError) -> any ShardBytes {
        switch ObjectInputs.remote(url) {
        case nil:
            return try FileShardBytes(path: url.path)
        case .object(let object)?:
            let client: S3Client
            do { client = try objects.client() } catch { throw WebDatasetError(.unreadable, path: name, error.description) }
            return StreamedShardBytes(path: name) { receive in try client.read(object, receive: receive) }
        case .web(let url)?:
            let web = objects.web
            return StreamedShardBytes(path: name) { receive in try web.read(url, receive: receive) }
        }
    }
}

/// Writes each sample's fields as members of the shard being written; a sample that cannot be
/// written (no key, a value with no byte form) is refused, by name, and the rest go on.
final class WebDatasetSink: Sink {
    struct Layout {
        var keyField: String
        /// nil: every field but bookkeeping ones.
        var fields: [String]?
    }

    let writer: WebDatasetWriter
    let layout: Layout

    init(writer: WebDatasetWriter, layout: Layout) { (self.writer, self.layout) = (writer, layout) }

    /// Fields sources add for the run itself, not written unless `fields` names them.
    static let bookkeeping: Set<String> = ["epoch", "stream_epoch", "stream_position"]

    /// The first shard a previous run left in `directory` (written or `.partial`), which this run must not replace.
    static func shardsAlreadyIn(_ directory: URL) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().first { $0.hasPrefix("shard-") && ($0.hasSuffix(".tar") || $0.hasSuffix(".tar.partial")) }
    }

    func consume(_ item: Sample) throws {
        guard case let .string(key)? = item[layout.keyField] else {
            throw StageError(path: item.itemDescription, reason: "no string field '\(layout.keyField)' to name the sample's members")
        }
        let names = layout.fields ?? item.fields.keys.filter { !$0.hasPrefix("__") && !Self.bookkeeping.contains($0) && $0 != layout.keyField }
        var fields: [WebDatasetSample.Field] = []
        for name in names {
            guard let value = item[name] else { throw StageError(path: key, reason: "no field '\(name)' to write") }
            fields.append(.init(name: name, bytes: try Self.bytes(of: value, field: name, key: key)))
        }
        do { try writer.write(WebDatasetSample(key: key, fields: fields)) } catch {
            // A sample the format cannot hold is this item's fault; a failed write is the run's.
            guard error.code == .invalidSample else { throw error }
            throw StageError(path: key, reason: error.reason)
        }
    }

    func finish(_ completion: Completion) throws {
        // A run that did not finish leaves its last shard as `.partial`, holding what was written.
        guard completion == .finished else { return }
        try writer.close()
    }

    /// The member bytes for a value, as the webdataset package's default encoder writes them:
    /// bytes as they are, text as UTF-8, numbers as their decimal text (`cls`), arrays as `.npy`.
    static func bytes(of value: Value, field: String, key: String) throws(StageError) -> [UInt8] {
        switch value {
        case .bytes(let bytes): return bytes
        case .string(let text): return Array(text.utf8)
        case .int(let number): return Array(String(number).utf8)
        case .double(let number): return Array(String(number).utf8)
        case .bool(let flag): return Array((flag ? "True" : "False").utf8)
        case .array(let array) where field == "npy" || field.hasSuffix(".npy"):
            return Array(NPY.encode(array))
        case .array:
            throw StageError(path: key, reason: "field '\(field)' holds an array, which is written only under an .npy name (e.g. '\(field).npy')")
        case .null, .list:
            throw StageError(path: key, reason: "field '\(field)' holds a value with no byte form (\(value.kindName))")
        }
    }
}
