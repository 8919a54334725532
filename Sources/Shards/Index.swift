import Foundation
import PipelineCore
import SystemErrors

/// One file of a shard as `index.json` lists it: name, size and hex digests.
public struct ShardFileInfo: Equatable, Sendable {
    /// Path relative to the dataset directory (`shard.00000.mds`, or `part-1/shard.00000.mds` after a merge).
    public var basename: String
    public var bytes: Int
    /// Algorithm name to lowercase hex digest; algorithms sluice does not know are kept, not checked.
    public var hashes: [String: String]

    public init(basename: String, bytes: Int, hashes: [String: String]) {
        self.basename = basename
        self.bytes = bytes
        self.hashes = hashes
    }

    var json: JSONValue {
        .object([
            ("basename", .string(basename)), ("bytes", .int(Int64(bytes))),
            ("hashes", .object(hashes.map { ($0.key, .string($0.value)) })),
        ])
    }

    init(json: JSONValue, file: String) throws(ShardError) {
        guard let basename = json["basename"]?.stringValue, let bytes = json["bytes"]?.intValue, bytes >= 0,
              case .object(let pairs)? = json["hashes"] else {
            throw ShardError(.damaged, path: file, "a shard file entry lacks basename, bytes or hashes")
        }
        var hashes: [String: String] = [:]
        for (name, value) in pairs {
            guard let digest = value.stringValue else { throw ShardError(.damaged, path: file, "hash \(name) of \(basename) is not a string") }
            hashes[name] = digest
        }
        guard !basename.hasPrefix("/"), !basename.split(separator: "/").contains("..") else {
            throw ShardError(.damaged, path: file, "shard basename '\(basename)' leaves the dataset directory")
        }
        self.init(basename: basename, bytes: Int(bytes), hashes: hashes)
    }
}

/// The writer settings MDS repeats in every shard's index entry and in the shard file itself.
public struct ShardConfig: Equatable, Sendable {
    /// Column names in the order their bytes are stored (MDS sorts them).
    public var columnNames: [String]
    public var columnEncodings: [ColumnEncoding]
    public var compression: Compression?
    /// Hash algorithm names, sorted, as MDS requires.
    public var hashes: [String]
    public var sizeLimit: Int?

    /// Columns sorted by name, as MDS stores them.
    public init(columns: [String: ColumnEncoding], compression: Compression? = nil,
                hashes: [HashAlgorithm] = [], sizeLimit: Int? = 1 << 26) {
        let names = columns.keys.sorted(by: JSONValue.codepointLess)
        self.columnNames = names
        self.columnEncodings = names.map { columns[$0]! }
        self.compression = compression
        self.hashes = hashes.map(\.rawValue).sorted()
        self.sizeLimit = sizeLimit
    }

    /// The JSON object in MDS's key order (sorted), without the per-shard fields.
    var pairs: [(String, JSONValue)] {
        [
            ("column_encodings", .array(columnEncodings.map { .string($0.description) })),
            ("column_names", .array(columnNames.map { .string($0) })),
            ("column_sizes", .array(columnEncodings.map { $0.fixedSize.map { .int(Int64($0)) } ?? .null })),
            ("compression", compression.map { .string($0.description) } ?? .null),
            ("format", .string("mds")),
            ("hashes", .array(hashes.map { .string($0) })),
            ("size_limit", sizeLimit.map { .int(Int64($0)) } ?? .null),
            ("version", .int(2)),
        ]
    }

    /// The bytes MDS embeds in each shard file after the offset table.
    var shardHeaderJSON: [UInt8] { Array(JSONValue.object(pairs).pythonJSON(sortKeys: true).utf8) }

    init(json: JSONValue, file: String) throws(ShardError) {
        guard json["version"]?.intValue == 2 else {
            throw ShardError(.unsupported, path: file, "unsupported shard version \(json["version"].map { $0.pythonJSON() } ?? "none") (expected 2)")
        }
        guard json["format"]?.stringValue == "mds" else {
            throw ShardError(.unsupported, path: file, "unsupported shard format \(json["format"].map { $0.pythonJSON() } ?? "none") (sluice reads mds)")
        }
        guard let names = json["column_names"]?.arrayValue?.compactMap(\.stringValue),
              let encodingNames = json["column_encodings"]?.arrayValue?.compactMap(\.stringValue),
              names.count == encodingNames.count, !names.isEmpty else {
            throw ShardError(.damaged, path: file, "column_names and column_encodings are missing or differ in length")
        }
        var encodings: [ColumnEncoding] = []
        for (name, encoding) in zip(names, encodingNames) {
            encodings.append(try ColumnEncoding(parsing: encoding, column: name))
        }
        self.columnNames = names
        self.columnEncodings = encodings
        if let c = json["compression"]?.stringValue {
            compression = try Compression(parsing: c)
        } else {
            compression = nil
        }
        hashes = json["hashes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        sizeLimit = json["size_limit"]?.intValue.map { Int($0) }
    }
}

/// One shard's entry in `index.json`.
public struct ShardInfo: Equatable, Sendable {
    public var config: ShardConfig
    public var samples: Int
    /// The uncompressed `.mds` file.
    public var rawData: ShardFileInfo
    /// The compressed file, which is what is on disk when the shard is compressed.
    public var zipData: ShardFileInfo?

    public init(config: ShardConfig, samples: Int, rawData: ShardFileInfo, zipData: ShardFileInfo?) {
        self.config = config
        self.samples = samples
        self.rawData = rawData
        self.zipData = zipData
    }

    /// The file on disk: the compressed one if any.
    public var storedFile: ShardFileInfo { zipData ?? rawData }

    var json: JSONValue {
        .object(config.pairs + [
            ("raw_data", rawData.json), ("samples", .int(Int64(samples))), ("zip_data", zipData?.json ?? .null),
        ])
    }

    init(json: JSONValue, file: String) throws(ShardError) {
        config = try ShardConfig(json: json, file: file)
        guard let samples = json["samples"]?.intValue, samples >= 0, let raw = json["raw_data"] else {
            throw ShardError(.damaged, path: file, "a shard entry lacks samples or raw_data")
        }
        self.samples = Int(samples)
        rawData = try ShardFileInfo(json: raw, file: file)
        // The shard's own layout bounds both numbers: 32-bit offsets, and 4 bytes of offset table
        // per sample after the count. An index claiming more cannot match its files.
        guard rawData.bytes <= UInt32.max else {
            throw ShardError(.damaged, path: file, "raw_data claims \(rawData.bytes) bytes; an MDS shard holds at most \(UInt32.max) (32-bit offsets)")
        }
        guard samples <= (rawData.bytes - 8) / 4 else {
            throw ShardError(.damaged, path: file, "claims \(samples) samples, more than its \(rawData.bytes) raw bytes can hold")
        }
        if let zip = json["zip_data"], !zip.isNull {
            zipData = try ShardFileInfo(json: zip, file: file)
            guard config.compression != nil else { throw ShardError(.damaged, path: file, "zip_data without compression") }
        } else {
            zipData = nil
            guard config.compression == nil else { throw ShardError(.damaged, path: file, "compression without zip_data") }
        }
    }
}

/// `index.json`: the shards of a dataset, in order.
public struct DatasetIndex: Equatable, Sendable {
    public static let fileName = "index.json"

    public var shards: [ShardInfo]
    /// Set while a sluice writer is still running (or was killed): the shards listed are complete,
    /// more were meant to follow. Stored under a top-level `sluice` key, which Python ignores.
    public var inProgress: Bool

    public init(shards: [ShardInfo], inProgress: Bool = false) {
        self.shards = shards
        self.inProgress = inProgress
    }

    /// Total samples over all shards.
    public var sampleCount: Int { shards.reduce(0) { $0 + $1.samples } }

    /// The text Python's `json.dump(obj, f, sort_keys=True)` writes, plus our in-progress marker.
    public var text: String {
        var pairs: [(String, JSONValue)] = [("shards", .array(shards.map(\.json)))]
        if inProgress { pairs.append(("sluice", .object([("in_progress", .bool(true))]))) }
        pairs.append(("version", .int(2)))
        return JSONValue.object(pairs).pythonJSON(sortKeys: true)
    }

    /// Reads `directory/index.json`.
    public static func load(directory: URL) throws(ShardError) -> DatasetIndex {
        let url = directory.appendingPathComponent(fileName)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ShardError(.unreadable, path: url.path, "cannot read the dataset index: \(SystemErrorText.words(error))")
        }
        let json = try JSONValue.parse(data, what: url.path)
        guard json["version"]?.intValue == 2 else { throw ShardError(.unsupported, path: url.path, "unsupported index version (expected 2)") }
        guard let entries = json["shards"]?.arrayValue else { throw ShardError(.damaged, path: url.path, "no shards list") }
        var shards: [ShardInfo] = []
        for (i, entry) in entries.enumerated() {
            shards.append(try ShardInfo(json: entry, file: "\(url.path) (shard \(i))"))
        }
        return DatasetIndex(shards: shards, inProgress: json["sluice"]?["in_progress"] == .bool(true))
    }

    /// Replaces `directory/index.json` atomically: readers see the old or the new index, never a mix.
    public func save(directory: URL) throws(ShardError) {
        try AtomicFile.write(Array(text.utf8), to: directory.appendingPathComponent(Self.fileName))
    }

    /// `given` as a path below `directory` (normalised), or an error if it is not one: the merged
    /// index may only point at files of the dataset.
    static func partPath(_ given: String, in directory: String) throws(ShardError) -> String {
        let components = given.split(separator: "/").filter { $0 != "." }
        guard !given.hasPrefix("/"), !components.isEmpty, !components.contains("..") else {
            throw ShardError(.invalidArgument, path: given, "a part must be a subdirectory of \(directory), given relative to it")
        }
        return components.joined(separator: "/")
    }

    /// Joins the finished datasets in `parts` (subdirectories of `directory`, one per writer) into one
    /// index at `directory/index.json`, whose shard basenames point into the subdirectories. A part
    /// must lie inside `directory` and be named once.
    @discardableResult
    public static func merge(parts: [String], into directory: URL) throws(ShardError) -> DatasetIndex {
        var shards: [ShardInfo] = []
        var seen: Set<String> = []
        for given in parts {
            let part = try partPath(given, in: directory.path)
            guard seen.insert(part).inserted else {
                throw ShardError(.invalidArgument, path: directory.appendingPathComponent(part).path, "is named twice; each part is merged once")
            }
            let index = try load(directory: directory.appendingPathComponent(part))
            guard !index.inProgress else {
                throw ShardError(.unfinished, path: directory.appendingPathComponent(part).path,
                                 "its writer has not finished; resume or finish it before merging")
            }
            for var shard in index.shards {
                shard.rawData.basename = part + "/" + shard.rawData.basename
                if let zip = shard.zipData { shard.zipData?.basename = part + "/" + zip.basename }
                shards.append(shard)
            }
        }
        let merged = DatasetIndex(shards: shards)
        try merged.save(directory: directory)
        return merged
    }
}

/// Write-to-`.partial`, fsync, rename, fsync-directory: the file appears whole or not at all.
enum AtomicFile {
    static let temporarySuffix = ".partial"

    static func write(_ bytes: [UInt8], to url: URL) throws(ShardError) {
        try bytes.withBytes { raw throws(ShardError) in try write([raw], to: url) }
    }

    /// Bytes per write call: on the 2-core VM of BENCHMARKS.md, 64 MiB went into the page cache at
    /// about 450 MB/s in one call and at 1.2 GB/s in 1 MiB calls.
    static let chunk = 1 << 20

    /// Bytes after which the disk is asked to start writing what the calls have put in the page
    /// cache, so the disk works while later chunks are copied and the closing fsync waits for the
    /// tail only (not the whole file, as when writeback starts at the fsync).
    static let writebackSpan = 8 << 20

    /// Writes `parts` one after another as the file's contents.
    static func write(_ parts: [UnsafeRawBufferPointer], to url: URL) throws(ShardError) {
        let temporary = url.path + temporarySuffix
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ShardError(.writeFailed, path: temporary, "cannot create: \(SystemErrorText.words(errno: errno))") }
        var offset = 0, unflushed = 0
        for bytes in parts {
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<min(bytes.count, start + chunk)])
                var written = 0
                while written < piece.count {
                    let n = Glibc.write(fd, piece.baseAddress! + written, piece.count - written)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else {
                        let reason = SystemErrorText.words(errno: n == 0 ? EIO : errno)
                        close(fd)
                        throw ShardError(.writeFailed, path: temporary, "cannot write: \(reason)")
                    }
                    written += n
                }
                offset += piece.count
                unflushed += piece.count
                if unflushed >= writebackSpan {
                    startWriteback(fd, from: offset - unflushed, count: unflushed)
                    unflushed = 0
                }
            }
        }
        guard fsync(fd) == 0 else {
            let reason = SystemErrorText.words(errno: errno)
            close(fd)
            throw ShardError(.writeFailed, path: temporary, "cannot flush to disk (fsync): \(reason)")
        }
        close(fd)
        guard rename(temporary, url.path) == 0 else {
            throw ShardError(.writeFailed, path: url.path, "cannot rename \(url.lastPathComponent + temporarySuffix) into place: \(SystemErrorText.words(errno: errno))")
        }
        let directory = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    /// `sync_file_range(fd, from, count, SYNC_FILE_RANGE_WRITE)`: queues the range for writing and
    /// returns at once. Only a hint (fsync still decides durability), so where the call is missing
    /// or fails nothing changes but the speed.
    private static func startWriteback(_ fd: Int32, from offset: Int, count: Int) {
        _ = syncFileRange?(fd, Int64(offset), Int64(count), 2 /* SYNC_FILE_RANGE_WRITE */)
    }

    /// Glibc's `sync_file_range`, looked up at run time: its declaration is _GNU_SOURCE-only, which
    /// the Swift Glibc module does not define.
    private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0) /* RTLD_DEFAULT */, "sync_file_range").map {
            unsafeBitCast($0, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
        }
}
