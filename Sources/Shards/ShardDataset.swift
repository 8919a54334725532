import Foundation
import ObjectStore
import Synchronization
import SystemErrors

/// How a dataset is read.
public struct ReadOptions: Sendable {
    /// Check every hash the index lists when a shard is first opened.
    public var verifyHashes: Bool
    /// Upper bound on the bytes of decompressed shards kept in memory; the least recently used is
    /// dropped first (and decompressed again if needed). One is always kept, whatever its size.
    /// Uncompressed shards are memory-mapped and left to the kernel's page cache.
    public var cacheBytes: Int

    public init(verifyHashes: Bool = true, cacheBytes: Int = 1 << 30) {
        self.verifyHashes = verifyHashes
        self.cacheBytes = cacheBytes
    }
}

/// An MDS dataset opened for random access: sample `i` is found by a binary search over shard
/// sample counts and then read in O(1) through the shard's offset table.
///
/// Shards open lazily. An uncompressed shard is memory-mapped; a compressed one is decompressed
/// into a bounded in-memory cache. Hashes are checked the first time a shard is opened. A shard that fails (missing, truncated,
/// wrong hash, bad header) is quarantined with its reason and stays failed, while the others keep
/// serving samples. Safe to share between threads.
public final class ShardDataset: Sendable {
    public let directory: URL
    public let index: DatasetIndex
    public let options: ReadOptions
    /// `sampleStarts[s]` is the global index of shard `s`'s first sample; one extra entry at the end.
    public let sampleStarts: [Int]
    private let slots: [Slot]
    private let cache: Mutex<LRU>
    private let remoteShards: RemoteShards?

    /// Opens `directory/index.json`. Shard files are not touched until their samples are read.
    public convenience init(directory: URL, options: ReadOptions = ReadOptions()) throws(ShardError) {
        try self.init(directory: directory, options: options, index: DatasetIndex.load(directory: directory), remote: nil)
    }

    /// Opens a dataset in a bucket (`s3://bucket/prefix`), keeping its index and shard files in the
    /// local directory `cache`: shards are fetched ahead in the order a `ParallelReader` will read
    /// them, checked on arrival, and evicted beyond `remoteOptions.cacheLimit`.
    public convenience init(remote: ObjectURL, cache: URL, client: S3Client, options: ReadOptions = ReadOptions(),
                            remoteOptions: RemoteOptions = RemoteOptions()) throws(ShardError) {
        do {
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        } catch {
            throw ShardError(.writeFailed, path: cache.path, "cannot create the cache directory: \(SystemErrorText.words(error))")
        }
        let indexObject = remote.appending(DatasetIndex.fileName)
        do {
            try client.download(indexObject, to: cache.appendingPathComponent(DatasetIndex.fileName))
        } catch {
            throw ShardError(error.code == .notFound ? .missing : .unreadable, path: indexObject.description, error.code == .notFound
                ? "no dataset here: the bucket has no index.json under this prefix (\(error))" : "\(error)")
        }
        try self.init(directory: cache, options: options, index: DatasetIndex.load(directory: cache),
                      remote: (remote, client, remoteOptions))
    }

    private init(directory: URL, options: ReadOptions, index: DatasetIndex,
                 remote: (url: ObjectURL, client: S3Client, options: RemoteOptions)?) throws(ShardError) {
        self.directory = directory
        self.options = options
        self.index = index
        var starts = [0]
        for (i, shard) in index.shards.enumerated() {
            let (next, overflow) = starts[starts.count - 1].addingReportingOverflow(shard.samples)
            guard !overflow else {
                throw ShardError(.damaged, path: directory.appendingPathComponent(DatasetIndex.fileName).path,
                                 "shard \(i): sample counts add up past \(Int.max)")
            }
            starts.append(next)
        }
        sampleStarts = starts
        let slots = index.shards.map { _ in Slot() }
        self.slots = slots
        cache = Mutex(LRU())
        if let remote {
            remoteShards = try RemoteShards(remote: remote.url, cache: directory, client: remote.client, index: index,
                                            options: remote.options) { shard in
                slots[shard].state.withLock { if case .open = $0 { $0 = .closed(verified: false) } }
            }
        } else {
            remoteShards = nil
        }
    }

    deinit { remoteShards?.stop() }

    /// The bucket prefix the dataset streams from, or nil for a local one.
    public var remote: ObjectURL? { remoteShards?.remote }

    /// Hits, misses, downloads and read-ahead depth of a remote dataset's cache.
    public var cacheStats: RemoteCacheStats? { remoteShards?.stats }

    /// Tells a remote dataset the order its shards will be opened in, so it fetches ahead along it.
    func scheduleReadAhead(_ shards: [Int]) { remoteShards?.schedule(shards) }

    /// Number of samples over all shards, quarantined ones included.
    public var count: Int { sampleStarts[sampleStarts.count - 1] }

    /// False when the writer was killed (or is still running): the index lists only the shards it
    /// finished.
    public var isComplete: Bool { !index.inProgress }

    /// The shard holding global sample `i`, and `i`'s position within it.
    public func locate(_ i: Int) -> (shard: Int, sample: Int) {
        var low = 0
        var high = index.shards.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if sampleStarts[mid] <= i { low = mid } else { high = mid - 1 }
        }
        return (low, i - sampleStarts[low])
    }

    /// Decodes global sample `i`.
    public func sample(_ i: Int) throws(ShardError) -> ShardSample {
        guard i >= 0 && i < count else {
            throw ShardError(.outOfRange, path: directory.path, sample: i, "out of range: the dataset has \(count) samples")
        }
        let (shard, local) = locate(i)
        return try sample(shard: shard, local)
    }

    /// Decodes sample `local` of shard `shard`.
    public func sample(shard: Int, _ local: Int) throws(ShardError) -> ShardSample {
        guard index.shards.indices.contains(shard) else {
            throw ShardError(.outOfRange, path: directory.path, "no shard \(shard): the dataset has \(index.shards.count)")
        }
        let data = try open(shard)
        let info = index.shards[shard]
        return try data.withSample(local) { bytes throws(ShardError) in
            try Self.decode(bytes, config: info.config, file: data.name, sample: local)
        }
    }

    /// Calls `body` with the encoded bytes of global sample `i`, without decoding or copying.
    public func withRawSample<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        guard i >= 0 && i < count else {
            throw ShardError(.outOfRange, path: directory.path, sample: i, "out of range: the dataset has \(count) samples")
        }
        let (shard, local) = locate(i)
        return try open(shard).withSample(local, body)
    }

    /// Shards that failed to open so far, with the reason.
    public var quarantined: [Int: ShardError] {
        var failed: [Int: ShardError] = [:]
        for (i, slot) in slots.enumerated() {
            slot.state.withLock { if case .failed(let e) = $0 { failed[i] = e } }
        }
        return failed
    }

    /// Opens every shard (checking every hash) and decodes every sample; returns what failed.
    public func verify() -> [ShardError] {
        var problems: [ShardError] = []
        for shard in index.shards.indices {
            do {
                for local in 0..<index.shards[shard].samples { _ = try sample(shard: shard, local) }
            } catch {
                problems.append(error)
            }
        }
        return problems
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, config: ShardConfig, file: String, sample: Int) throws(ShardError) -> ShardSample {
        let encodings = config.columnEncodings
        var cursor = 0
        var sizes: [Int] = []
        sizes.reserveCapacity(encodings.count)
        for encoding in encodings {
            if let fixed = encoding.fixedSize {
                sizes.append(fixed)
            } else {
                guard cursor + 4 <= bytes.count else { throw ShardError(.damaged, path: file, sample: sample, "column sizes truncated") }
                sizes.append(Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt32.self))))
                cursor += 4
            }
        }
        var result: ShardSample = [:]
        for (column, (encoding, size)) in zip(config.columnNames, zip(encodings, sizes)) {
            guard size <= bytes.count - cursor else {
                throw ShardError(.damaged, path: file, sample: sample, "column '\(column)' runs past the sample's end")
            }
            let field = UnsafeRawBufferPointer(rebasing: bytes[cursor..<cursor + size])
            result[column] = try encoding.decode(field) { reason in
                ShardError(.damaged, path: file, sample: sample, "column '\(column)': \(reason)")
            }
            cursor += size
        }
        return result
    }

    // MARK: Opening shards

    /// The open shard, opening (and checking) it on first use; a failure is remembered.
    func open(_ shard: Int) throws(ShardError) -> ShardData {
        let data = try slots[shard].state.withLock { state throws(ShardError) -> ShardData in
            switch state {
            case .open(let data):
                remoteShards?.touch(shard)
                return data
            case .failed(let error): throw error
            case .closed(var verified):
                do throws(ShardError) {
                    if let remoteShards { verified = try remoteShards.acquire(shard) || verified }
                    let data = try ShardData(directory: directory, info: index.shards[shard],
                                             verify: options.verifyHashes && !verified)
                    state = .open(data)
                    return data
                } catch {
                    state = .failed(error)
                    throw error
                }
            }
        }
        guard data.isDecompressed else { return data }
        let victims = cache.withLock { $0.touch(shard, bytes: data.byteCount, budget: options.cacheBytes) }
        for victim in victims {
            slots[victim].state.withLock { if case .open = $0 { $0 = .closed(verified: true) } }
        }
        return data
    }

    private final class Slot: Sendable {
        let state = Mutex<SlotState>(.closed(verified: false))
    }

    private enum SlotState: Sendable {
        /// Not open; `verified` once its hashes were checked (a dropped cache entry).
        case closed(verified: Bool)
        case open(ShardData)
        case failed(ShardError)
    }

    /// Least-recently-used accounting of open shards' bytes.
    private struct LRU: Sendable {
        var clock = 0
        var entries: [Int: (bytes: Int, used: Int)] = [:]
        var total = 0

        /// Marks `shard` used; returns the shards to close to get back under `budget`.
        mutating func touch(_ shard: Int, bytes: Int, budget: Int) -> [Int] {
            clock += 1
            if let entry = entries[shard] {
                entries[shard] = (entry.bytes, clock)
                return []
            }
            entries[shard] = (bytes, clock)
            total += bytes
            var victims: [Int] = []
            while total > budget && entries.count > 1 {
                guard let oldest = entries.filter({ $0.key != shard }).min(by: { $0.value.used < $1.value.used }) else { break }
                entries[oldest.key] = nil
                total -= oldest.value.bytes
                victims.append(oldest.key)
            }
            return victims
        }
    }
}

/// The bytes of one open shard, checked: its sample count matches the index and its offset table
/// is increasing and inside the file, so reading sample `j` needs no further bounds checks.
final class ShardData: Sendable {
    let name: String
    let sampleCount: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case mapped(MappedFile)
        case decompressed([UInt8])
    }

    var isDecompressed: Bool {
        if case .decompressed = storage { return true } else { return false }
    }

    var byteCount: Int {
        switch storage {
        case .mapped(let file): file.count
        case .decompressed(let bytes): bytes.count
        }
    }

    init(directory: URL, info: ShardInfo, verify: Bool) throws(ShardError) {
        let stored = info.storedFile
        let path = directory.appendingPathComponent(stored.basename).path
        name = path
        sampleCount = info.samples
        let file = try Self.mapStoredFile(path: path, stored, verify: verify)
        if let compression = info.config.compression {
            let raw = try file.withBytes { zipped throws(ShardError) in
                try compression.decompress(zipped, rawSize: info.rawData.bytes, file: path)
            }
            if verify { try raw.withBytes { raw throws(ShardError) in try Self.checkHashes(raw, info.rawData, path) } }
            storage = .decompressed(raw)
        } else {
            storage = .mapped(file)
        }
        try withBytes { raw throws(ShardError) in try Self.checkLayout(raw, samples: info.samples, path) }
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        switch storage {
        case .mapped(let file): return try file.withBytes(body)
        case .decompressed(let bytes): return try bytes.withBytes(body)
        }
    }

    /// Calls `body` with the bytes of sample `j` (0-based within this shard).
    func withSample<R>(_ j: Int, _ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        guard j >= 0 && j < sampleCount else {
            throw ShardError(.outOfRange, path: name, sample: j, "out of range: the shard has \(sampleCount) samples")
        }
        return try withBytes { raw throws(ShardError) in
            let begin = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 &+ 4 &* j, as: UInt32.self)))
            let end = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8 &+ 4 &* j, as: UInt32.self)))
            return try body(UnsafeRawBufferPointer(rebasing: raw[begin..<end]))
        }
    }

    /// Maps a shard's stored file, checking its size (and, with `verify`, its hashes) against the index.
    static func mapStoredFile(path: String, _ stored: ShardFileInfo, verify: Bool) throws(ShardError) -> MappedFile {
        let file = try MappedFile(path: path)
        guard file.count == stored.bytes else {
            throw ShardError(.damaged, path: path, "is \(file.count) bytes, the index says \(stored.bytes) (truncated or overwritten)")
        }
        if verify { try file.withBytes { raw throws(ShardError) in try Self.checkHashes(raw, stored, path) } }
        return file
    }

    private static func checkHashes(_ bytes: UnsafeRawBufferPointer, _ info: ShardFileInfo, _ path: String) throws(ShardError) {
        for (name, expected) in info.hashes.sorted(by: { $0.key < $1.key }) {
            guard let algorithm = HashAlgorithm(rawValue: name) else { continue }
            let actual = algorithm.hexDigest(bytes)
            guard actual == expected.lowercased() else {
                throw ShardError(.damaged, path: path, "\(name) is \(actual), the index says \(expected): the file is damaged")
            }
        }
    }

    private static func checkLayout(_ raw: UnsafeRawBufferPointer, samples: Int, _ path: String) throws(ShardError) {
        guard raw.count >= 8 else { throw ShardError(.damaged, path: path, "too short for a shard header") }
        let count = Int(UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)))
        guard count == samples else { throw ShardError(.damaged, path: path, "holds \(count) samples, the index says \(samples)") }
        let tableEnd = 4 + 4 * (count + 1)
        guard raw.count >= tableEnd else { throw ShardError(.damaged, path: path, "offset table truncated") }
        var previous = tableEnd
        for j in 0...count {
            let offset = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 + 4 * j, as: UInt32.self)))
            guard offset >= previous, offset <= raw.count else {
                throw ShardError(.damaged, path: path, sample: j, "offset \(offset) is out of order or past the end (\(raw.count) bytes)")
            }
            previous = offset
        }
        guard previous == raw.count else { throw ShardError(.damaged, path: path, "ends at \(raw.count), its last sample at \(previous)") }
    }
}

/// A read-only memory map of a whole file, unmapped when the last reference goes.
final class MappedFile: Sendable {
    let count: Int
    private nonisolated(unsafe) let base: UnsafeRawPointer?

    init(path: String) throws(ShardError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw ShardError(.missing, path: path, "missing: the index lists it but the file is not there") }
            throw ShardError(.unreadable, path: path, String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ShardError(.unreadable, path: path, "cannot stat: \(String(cString: strerror(errno)))") }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        // MAP_POPULATE maps every page in one call: much cheaper than a fault per 4 KiB page on first touch.
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw ShardError(.unreadable, path: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}
