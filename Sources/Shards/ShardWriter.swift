import Foundation
import PipelineCore
import SystemErrors

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
    /// The buffer of the shard last written, back from the flusher to be filled next; the two
    /// buffers alternate, so their pages are faulted in once rather than for every shard.
    private var spare: [UInt8] = []
    /// The finished shard being hashed, written and fsynced on another thread while the next one
    /// fills; at most one, so memory stays at two shards.
    private var inFlight: ShardFlight?
    /// Samples handed to the flusher but not yet in a finished shard.
    private var samplesInFlight = 0
    /// Why a shard could not be written; every later call reports it.
    private var failure: ShardError?
    private var finished = false
    /// Where finished shards go besides `directory` (a bucket), if anywhere.
    private let publisher: ShardPublisher?

    /// Starts a new dataset in `directory`, which must not already hold one.
    public convenience init(directory: URL, config: ShardConfig, publisher: ShardPublisher? = nil) throws(ShardError) {
        let indexURL = directory.appendingPathComponent(DatasetIndex.fileName)
        guard !FileManager.default.fileExists(atPath: indexURL.path) else {
            throw ShardError(.unfinished, path: indexURL.path, "a dataset already exists here; resume it or choose another directory")
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
                : "cannot create the directory: \(SystemErrorText.words(error))"
            throw ShardError(.writeFailed, path: directory.path, reason)
        }
        try self.init(directory: directory, config: config, index: DatasetIndex(shards: []), publisher: publisher)
    }

    /// Continues a dataset whose writer was killed: keeps the shards its index lists, removes files
    /// it had not yet recorded, and appends after them. The caller skips its first `samplesWritten`
    /// input samples. A finished dataset is reopened for appending the same way.
    public convenience init(resuming directory: URL, config: ShardConfig, publisher: ShardPublisher? = nil) throws(ShardError) {
        let index = try DatasetIndex.load(directory: directory)
        if let first = index.shards.first, first.config != config {
            throw ShardError(.invalidArgument, path: directory.appendingPathComponent(DatasetIndex.fileName).path,
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
                throw ShardError(.unsupported, path: "hashes", "unsupported hash '\(name)' (sluice writes \(HashAlgorithm.allCases.map(\.rawValue)))")
            }
            algorithms.append(a)
        }
        if let limit = config.sizeLimit, limit >= 1 << 32 {
            throw ShardError(.invalidArgument, path: "size_limit", "must be below 2^32: shard offsets are 32-bit")
        }
        return algorithms
    }

    /// Adds one sample; it must have a value for every column. Hands the current shard to the
    /// flusher first when this sample would take it past the size limit.
    public func write(_ sample: ShardSample) throws(ShardError) {
        precondition(!finished, "write after finish")
        if let failure { throw failure }
        // The sample is encoded straight into the shard buffer (and taken back out if a value does
        // not fit); size prefixes of the variable-size columns come first: reserve them, then fill.
        let start = pending.count
        pending.append(contentsOf: repeatElement(0, count: 4 * variableColumnCount))
        do throws(ShardError) {
            var slot = 0
            for (name, encoding) in zip(config.columnNames, config.columnEncodings) {
                guard let value = sample[name] else {
                    throw ShardError(.invalidValue, path: directory.path, sample: samplesWritten + samplesInFlight + pendingEnds.count,
                                     "missing column '\(name)'")
                }
                let columnStart = pending.count
                try encoding.encode(value, column: name, into: &pending)
                let size = pending.count - columnStart
                if let fixed = encoding.fixedSize {
                    guard size == fixed else { throw ShardError(.invalidValue, path: "column \(name)", "encoded to \(size) bytes, expected \(fixed)") }
                } else {
                    guard let size32 = UInt32(exactly: size) else { throw ShardError(.invalidValue, path: "column \(name)", "value over 4 GiB") }
                    let prefix = start + slot * 4
                    pending.withUnsafeMutableBytes { $0.storeBytes(of: size32.littleEndian, toByteOffset: prefix, as: UInt32.self) }
                    slot += 1
                }
            }
        } catch {
            pending.removeSubrange(start...)
            throw error
        }
        // MDS's accounting: header + config once per shard, 4 offset bytes per sample.
        if let limit = config.sizeLimit, !pendingEnds.isEmpty,
           8 + headerJSON.count + pending.count + 4 * pendingEnds.count + 4 > limit {
            try handOver(samplesBefore: start)
        }
        pendingEnds.append(pending.count)
    }

    /// Writes the last shard and the final index (identical to what Python's MDSWriter writes).
    public func finish() throws(ShardError) {
        guard !finished else { return }
        if let failure { throw failure }
        if !pendingEnds.isEmpty { try handOver(samplesBefore: pending.count) }
        try land()
        index.inProgress = false
        try index.save(directory: directory)
        try publisher?.settle(index: index)
        finished = true
    }

    /// Writes the samples held so far as a shard, leaving the dataset marked unfinished, so that a
    /// stopped run keeps everything it was given and can be resumed.
    public func flush() throws(ShardError) {
        precondition(!finished, "flush after finish")
        if let failure { throw failure }
        if !pendingEnds.isEmpty { try handOver(samplesBefore: pending.count) }
        try land()
        try publisher?.settle(index: index)
    }

    /// Number of shards finished so far.
    public var shardCount: Int { index.shards.count }

    /// A writer dropped without `finish()` (as at a kill) still lets its shard in flight land, so
    /// that nothing writes the directory after the caller moves on.
    deinit { _ = inFlight?.result() }

    /// Hands the samples in `pending[..<end]` to the flusher as the next shard, after the one in
    /// flight has landed; bytes after `end` (a sample that did not fit) start the next shard.
    private func handOver(samplesBefore end: Int) throws(ShardError) {
        try land()
        let count = pendingEnds.count
        let dataStart = 4 + 4 * (count + 1) + headerJSON.count
        var header: [UInt8] = []
        header.reserveCapacity(dataStart)
        ColumnEncoding.appendLittleEndian(UInt32(count), to: &header)
        ColumnEncoding.appendLittleEndian(UInt32(dataStart), to: &header)
        for end in pendingEnds {
            guard let offset = UInt32(exactly: dataStart + end) else {
                throw ShardError(.invalidValue, path: directory.path, "shard over 4 GiB: lower the size limit")
            }
            ColumnEncoding.appendLittleEndian(offset, to: &header)
        }
        header += headerJSON

        var next = spare
        spare = []
        next.removeAll(keepingCapacity: true)
        // Sized like the current buffer the first time only: reserving its exact capacity again
        // would reallocate whenever malloc had rounded that one up.
        if next.capacity < pending.count { next.reserveCapacity(pending.capacity) }
        next += pending[end...]
        pending.removeSubrange(end...)
        let number = String(index.shards.count)
        let job = ShardJob(directory: directory, name: "shard." + String(repeating: "0", count: max(0, 5 - number.count)) + number + ".mds",
                           header: header, body: pending, samples: count, config: config, hashAlgorithms: hashAlgorithms, index: index)
        pending = next
        pendingEnds.removeAll(keepingCapacity: true)
        samplesInFlight = count
        inFlight = ShardFlight(job)
    }

    /// Waits for the shard in flight, if any: takes over the index that lists it and its buffer,
    /// and tells the publisher.
    private func land() throws(ShardError) {
        guard let flight = inFlight else { return }
        inFlight = nil
        samplesInFlight = 0
        switch flight.result() {
        case .failure(let error):
            failure = error
            throw error
        case .success(let landed):
            index = landed.index
            samplesWritten += landed.samples
            spare = landed.buffer
            try publisher?.publish(shard: landed.file, index: index)
        }
    }
}

/// One finished shard for the flusher: its header (sample count, offsets, config) and samples,
/// and the index to list it in.
private struct ShardJob: Sendable {
    let directory: URL
    let name: String
    let header: [UInt8]
    let body: [UInt8]
    let samples: Int
    let config: ShardConfig
    let hashAlgorithms: [HashAlgorithm]
    let index: DatasetIndex

    /// What a landed shard gives back to the writer.
    struct Landed: Sendable {
        let index: DatasetIndex
        let samples: Int
        /// The basename the publisher takes (compressed file, if any).
        let file: String
        let buffer: [UInt8]
    }

    /// Hashes and writes the shard (atomically, fsynced), then saves the index listing it: the
    /// index never names a shard not whole on disk.
    consuming func run() -> Result<Landed, ShardError> {
        Result { () throws(ShardError) -> Landed in
            var index = index
            let shard: ShardInfo = try header.withBytes { head throws(ShardError) in
                try body.withBytes { samples throws(ShardError) in
                    let rawBytes = head.count + samples.count
                    guard let compression = config.compression else {
                        let digests = try writeHashing([head, samples], to: name)
                        return ShardInfo(config: config, samples: self.samples, rawData: fileInfo(name, rawBytes, digests), zipData: nil)
                    }
                    let digests = hashAlgorithms.map(RunningDigest.init)
                    for digest in digests {
                        digest.update(head)
                        digest.update(samples)
                    }
                    let zipped = try (header + body).withBytes { whole throws(ShardError) in try compression.compress(whole) }
                    let zipName = name + "." + compression.fileExtension
                    let zipDigests = try zipped.withBytes { bytes throws(ShardError) in try writeHashing([bytes], to: zipName) }
                    return ShardInfo(config: config, samples: self.samples, rawData: fileInfo(name, rawBytes, digests),
                                     zipData: fileInfo(zipName, zipped.count, zipDigests))
                }
            }
            index.shards.append(shard)
            try index.save(directory: directory)
            return Landed(index: index, samples: samples, file: (shard.zipData ?? shard.rawData).basename, buffer: body)
        }
    }

    /// Writes `parts` as the file `name` while another thread hashes them: both only read the
    /// bytes, and hashing (xxh64 at about 4 GB/s here) no longer adds to the time the write takes.
    private func writeHashing(_ parts: [UnsafeRawBufferPointer], to name: String) throws(ShardError) -> [RunningDigest] {
        let url = directory.appendingPathComponent(name)
        // Unchecked: concurrentPerform returns once both tasks have ended; both only read `parts`,
        // the digests are the hashing task's alone and `failure` the writing task's.
        nonisolated(unsafe) let parts = parts, digests = hashAlgorithms.map(RunningDigest.init)
        nonisolated(unsafe) var failure: ShardError?
        DispatchQueue.concurrentPerform(iterations: 2) { task in
            if task == 0 {
                for part in parts { for digest in digests { digest.update(part) } }
            } else {
                do throws(ShardError) { try AtomicFile.write(parts, to: url) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return digests
    }

    private func fileInfo(_ name: String, _ bytes: Int, _ digests: [RunningDigest]) -> ShardFileInfo {
        var hashes: [String: String] = [:]
        for (algorithm, digest) in zip(hashAlgorithms, digests) { hashes[algorithm.rawValue] = digest.hexDigest() }
        return ShardFileInfo(basename: name, bytes: bytes, hashes: hashes)
    }
}

/// A `ShardJob` running on a global queue. The job and its outcome are each let go as soon as they
/// are used, so the samples buffer comes back uniquely referenced and is refilled in place rather
/// than reallocated (and faulted in again) for every shard. Unchecked: `job` is taken once by the
/// queue, `outcome` written once before `done` is signalled and taken only after waiting on it.
private final class ShardFlight: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var job: ShardJob?
    private var outcome: Result<ShardJob.Landed, ShardError>?

    init(_ job: ShardJob) {
        self.job = job
        DispatchQueue.global(qos: .utility).async { [self] in
            outcome = self.job.take()!.run()  // set in this init, taken only here
            done.signal()
        }
    }

    /// The job's result, once it has finished; call once.
    func result() -> Result<ShardJob.Landed, ShardError> {
        done.wait()
        return outcome.take()!  // written before `done` is signalled; this is its one reader, called once
    }
}
