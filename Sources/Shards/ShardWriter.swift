import Foundation

/// Takes each finished shard of a `ShardWriter` somewhere besides its directory (a bucket).
public protocol ShardPublisher: AnyObject {
    /// `file`, in the writer's directory, is complete and `index` (in progress) now lists it.
    /// May return before the shard is published; may block to bound the work queued.
    func publish(shard file: String, index: DatasetIndex) throws(ShardError)
    /// Returns once every shard handed over is published, and then `index` with them.
    func settle(index: DatasetIndex) throws(ShardError)
}

/// Writes an MDS dataset: samples are packed into `shard.NNNNN.mds` files of at most `sizeLimit`
/// bytes, each made visible in `index.json` only once it is complete and on disk.
///
/// Layout of one shard file, as MDS defines it (all little-endian):
/// `[count: u32] [offsets: (count + 1) x u32, absolute] [config JSON] [samples]`, and each sample is
/// `[size: u32 per variable-size column] [column bytes, in column order]`.
public final class ShardWriter {
    public let directory: URL
    public let config: ShardConfig
    /// Samples already in finished shards (after a resume: those the killed writer had finished).
    public private(set) var samplesWritten: Int
    private var index: DatasetIndex
    private let headerJSON: [UInt8]
    private let hashAlgorithms: [HashAlgorithm]
    private let variableColumnCount: Int
    /// The shard being filled: concatenated encoded samples and where each one ends.
    private var pending: [UInt8] = []
    private var pendingEnds: [Int] = []
    private var scratch: [UInt8] = []
    /// The shard file being assembled; kept between shards, like `pending`, so that its pages are
    /// faulted in once rather than for every shard.
    private var fileBuffer: [UInt8] = []
    private var finished = false
    /// Where finished shards go besides `directory` (a bucket), if anywhere.
    private let publisher: ShardPublisher?

    /// Starts a new dataset in `directory`, which must not already hold one.
    public convenience init(directory: URL, config: ShardConfig, publisher: ShardPublisher? = nil) throws(ShardError) {
        let indexURL = directory.appendingPathComponent(DatasetIndex.fileName)
        guard !FileManager.default.fileExists(atPath: indexURL.path) else {
            throw ShardError(.unfinished, file: indexURL.path, "a dataset already exists here; resume it or choose another directory")
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            // Name the path component in the way rather than Foundation's generic message.
            var blocker = directory
            while blocker.path != "/" && !FileManager.default.fileExists(atPath: blocker.path) { blocker.deleteLastPathComponent() }
            var isDirectory: ObjCBool = false
            let reason = FileManager.default.fileExists(atPath: blocker.path, isDirectory: &isDirectory) && !isDirectory.boolValue
                ? (blocker == directory ? "is a file, not a dataset directory" : "cannot create the directory: \(blocker.path) is a file")
                : "cannot create the directory: permission denied or no space"
            throw ShardError(.writeFailed, file: directory.path, reason)
        }
        try self.init(directory: directory, config: config, index: DatasetIndex(shards: []), publisher: publisher)
    }

    /// Continues a dataset whose writer was killed: keeps the shards its index lists, removes files
    /// it had not yet recorded, and appends after them. The caller skips its first `samplesWritten`
    /// input samples. A finished dataset is reopened for appending the same way.
    public convenience init(resuming directory: URL, config: ShardConfig, publisher: ShardPublisher? = nil) throws(ShardError) {
        let index = try DatasetIndex.load(directory: directory)
        if let first = index.shards.first, first.config != config {
            throw ShardError(.invalidArgument, file: directory.appendingPathComponent(DatasetIndex.fileName).path,
                             "was written with other columns, compression, hashes or size limit")
        }
        let known = Set(index.shards.flatMap { [$0.rawData.basename, $0.zipData?.basename].compactMap { $0 } })
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in leftovers where name.hasPrefix("shard.") && !known.contains(name) {
            // Only files: a directory of that name is not something a writer leaves.
            let path = directory.appendingPathComponent(name).path
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG { unlink(path) }
        }
        try self.init(directory: directory, config: config, index: index, publisher: publisher)
    }

    /// Takes over `index` (marking it in progress on disk) and appends after its shards.
    private init(directory: URL, config: ShardConfig, index: DatasetIndex, publisher: ShardPublisher?) throws(ShardError) {
        self.directory = directory
        self.publisher = publisher
        self.config = config
        self.hashAlgorithms = try Self.checkHashes(config)
        self.variableColumnCount = config.columnEncodings.filter { $0.fixedSize == nil }.count
        self.headerJSON = config.shardHeaderJSON
        self.index = index
        self.index.inProgress = true
        self.samplesWritten = index.sampleCount
        pending.reserveCapacity(min(config.sizeLimit ?? 1 << 26, 1 << 30))
        try self.index.save(directory: directory)
    }

    private static func checkHashes(_ config: ShardConfig) throws(ShardError) -> [HashAlgorithm] {
        var algorithms: [HashAlgorithm] = []
        for name in config.hashes {
            guard let a = HashAlgorithm(rawValue: name) else {
                throw ShardError(.unsupported, file: "hashes", "unsupported hash '\(name)' (sluice writes \(HashAlgorithm.allCases.map(\.rawValue)))")
            }
            algorithms.append(a)
        }
        if let limit = config.sizeLimit, limit >= 1 << 32 {
            throw ShardError(.invalidArgument, file: "size_limit", "must be below 2^32: shard offsets are 32-bit")
        }
        return algorithms
    }

    /// Adds one sample; it must have a value for every column. Flushes a shard first when this
    /// sample would take the current one past the size limit.
    public func write(_ sample: ShardSample) throws(ShardError) {
        precondition(!finished, "write after finish")
        scratch.removeAll(keepingCapacity: true)
        // Size prefixes of the variable-size columns come first; reserve them, then fill.
        scratch.append(contentsOf: repeatElement(0, count: 4 * variableColumnCount))
        var slot = 0
        for (name, encoding) in zip(config.columnNames, config.columnEncodings) {
            guard let value = sample[name] else {
                throw ShardError(.invalidValue, file: directory.path, sample: samplesWritten + pendingEnds.count, "missing column '\(name)'")
            }
            let start = scratch.count
            try encoding.encode(value, column: name, into: &scratch)
            let size = scratch.count - start
            if let fixed = encoding.fixedSize {
                guard size == fixed else { throw ShardError(.invalidValue, file: "column \(name)", "encoded to \(size) bytes, expected \(fixed)") }
            } else {
                guard let size32 = UInt32(exactly: size) else { throw ShardError(.invalidValue, file: "column \(name)", "value over 4 GiB") }
                withUnsafeBytes(of: size32.littleEndian) { scratch.replaceSubrange(slot * 4..<slot * 4 + 4, with: $0) }
                slot += 1
            }
        }
        // MDS's accounting: header + config once per shard, 4 offset bytes per sample.
        if let limit = config.sizeLimit, !pendingEnds.isEmpty,
           8 + headerJSON.count + pending.count + 4 * pendingEnds.count + scratch.count + 4 > limit {
            try flushShard()
        }
        pending += scratch
        pendingEnds.append(pending.count)
    }

    /// Writes the last shard and the final index (identical to what Python's MDSWriter writes).
    public func finish() throws(ShardError) {
        guard !finished else { return }
        if !pendingEnds.isEmpty { try flushShard() }
        index.inProgress = false
        try index.save(directory: directory)
        try publisher?.settle(index: index)
        finished = true
    }

    /// Writes the samples held so far as a shard, leaving the dataset marked unfinished, so that a
    /// stopped run keeps everything it was given and can be resumed.
    public func flush() throws(ShardError) {
        precondition(!finished, "flush after finish")
        if !pendingEnds.isEmpty { try flushShard() }
        try publisher?.settle(index: index)
    }

    /// Number of shards finished so far.
    public var shardCount: Int { index.shards.count }

    private func flushShard() throws(ShardError) {
        let count = pendingEnds.count
        let dataStart = 4 + 4 * (count + 1) + headerJSON.count
        var file = fileBuffer
        fileBuffer = []
        defer {
            file.removeAll(keepingCapacity: true)
            fileBuffer = file
        }
        file.reserveCapacity(dataStart + pending.count)
        ColumnEncoding.appendLittleEndian(UInt32(count), to: &file)
        ColumnEncoding.appendLittleEndian(UInt32(dataStart), to: &file)
        for end in pendingEnds {
            guard let offset = UInt32(exactly: dataStart + end) else {
                throw ShardError(.invalidValue, file: directory.path, "shard over 4 GiB: lower the size limit")
            }
            ColumnEncoding.appendLittleEndian(offset, to: &file)
        }
        file += headerJSON
        file += pending

        let number = String(index.shards.count)
        let rawName = "shard." + String(repeating: "0", count: max(0, 5 - number.count)) + number + ".mds"
        let rawInfo = file.withUnsafeBytes { fileInfo(rawName, $0) }
        var zipInfo: ShardFileInfo?
        if let compression = config.compression {
            let zipped = try file.withBytes { raw throws(ShardError) in try compression.compress(raw) }
            let zipName = rawName + "." + compression.fileExtension
            zipInfo = zipped.withUnsafeBytes { fileInfo(zipName, $0) }
            try AtomicFile.write(zipped, to: directory.appendingPathComponent(zipName))
        } else {
            try AtomicFile.write(file, to: directory.appendingPathComponent(rawName))
        }
        index.shards.append(ShardInfo(config: config, samples: count, rawData: rawInfo, zipData: zipInfo))
        try index.save(directory: directory)
        try publisher?.publish(shard: (zipInfo ?? rawInfo).basename, index: index)
        samplesWritten += count
        pending.removeAll(keepingCapacity: true)
        pendingEnds.removeAll(keepingCapacity: true)
    }

    private func fileInfo(_ name: String, _ bytes: UnsafeRawBufferPointer) -> ShardFileInfo {
        var hashes: [String: String] = [:]
        for algorithm in hashAlgorithms { hashes[algorithm.rawValue] = algorithm.hexDigest(bytes) }
        return ShardFileInfo(basename: name, bytes: bytes.count, hashes: hashes)
    }
}
