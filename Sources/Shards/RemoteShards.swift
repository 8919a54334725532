import Foundation
import ObjectStore
import SystemErrors

/// How a dataset in a bucket is cached and read ahead.
public struct RemoteOptions: Sendable {
    /// Shards fetched ahead of the one being read, in the epoch's order.
    public var readAhead: Int
    /// Threads downloading shards.
    public var downloaders: Int
    /// Upper bound on the bytes of shard files in the cache directory (least recently used go
    /// first); nil for no bound. Must be at least 4x the largest shard, as MDS requires, so the
    /// shard being read and those fetched ahead always fit.
    public var cacheLimit: Int?

    /// Windows beyond this many shards are cut to it (a window is a range of the epoch's order).
    public static let maxReadAhead = 1 << 16

    public init(readAhead: Int = 4, downloaders: Int = 2, cacheLimit: Int? = nil) {
        self.readAhead = min(max(0, readAhead), Self.maxReadAhead)
        self.downloaders = max(1, downloaders)
        self.cacheLimit = cacheLimit
    }
}

/// What the cache did, for tuning the window and the limit.
public struct RemoteCacheStats: Sendable, Equatable {
    /// Shard opens that found the file already in the cache (fetched ahead or kept).
    public var hits = 0
    /// Shard opens that had to wait for a download.
    public var misses = 0
    public var downloads = 0
    public var downloadedBytes = 0
    public var evictions = 0
    /// The most shards that were present ahead of the reader at one time.
    public var maxDepth = 0

    public var hitRate: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }
}

/// The shard files of a dataset in a bucket, kept in a local cache directory: fetched ahead of
/// the reader in the order it will need them, checked against the index's hashes on arrival
/// (a damaged or missing shard fails alone, named), and evicted least-recently-used first when
/// the cache would pass its limit.
final class RemoteShards: @unchecked Sendable {
    let remote: ObjectURL
    let cache: URL
    let client: S3Client
    let options: RemoteOptions
    private let shards: [ShardFileInfo]
    /// Called with a shard whose file was evicted, so its reader drops its open copy.
    private let onEvict: @Sendable (Int) -> Void
    private let condition = NSCondition()
    private var state: State
    private var threads = 0
    private var stopped = false

    private struct State {
        var present: [Int: (bytes: Int, used: Int)] = [:]
        var inFlight: Set<Int> = []
        var failed: [Int: ShardError] = [:]
        var checked: Set<Int> = []
        var order: [Int] = []
        var rank: [Int: Int] = [:]
        var reader = 0
        var clock = 0
        var total = 0
        var stats = RemoteCacheStats()
        /// Evicted shards whose readers are yet to be told (outside the lock: they take slot locks).
        var evicted: [Int] = []
    }

    init(remote: ObjectURL, cache: URL, client: S3Client, index: DatasetIndex, options: RemoteOptions,
         onEvict: @escaping @Sendable (Int) -> Void) throws(ShardError) {
        self.remote = remote
        self.cache = cache
        self.client = client
        self.options = options
        self.onEvict = onEvict
        shards = index.shards.map(\.storedFile)
        state = State()
        let largest = shards.map(\.bytes).max() ?? 0
        let (needed, overflow) = largest.multipliedReportingOverflow(by: 4)
        if let limit = options.cacheLimit, overflow || limit < needed {
            throw ShardError(.invalidArgument, path: remote.description,
                             "cache_limit \(limit) is below 4x the largest shard (\(overflow ? "more than Int.max" : String(needed)) bytes)")
        }
        // Files a previous run left in the cache count as present (their hashes are checked on open).
        for (i, file) in shards.enumerated() where Self.size(of: path(i)) == file.bytes {
            state.present[i] = (file.bytes, 0)
            state.total += file.bytes
        }
        state.order = Array(shards.indices)
        for (k, s) in state.order.enumerated() { state.rank[s] = k }
    }

    func path(_ shard: Int) -> String { cache.appendingPathComponent(shards[shard].basename).path }

    var stats: RemoteCacheStats { condition.withLock { state.stats } }

    /// The order the reader will open shards in (from the epoch's plan); read-ahead follows it.
    func schedule(_ order: [Int]) {
        condition.withLock {
            var seen = Set<Int>()
            state.order = order.filter { seen.insert($0).inserted } + shards.indices.filter { !seen.contains($0) }
            state.rank = [:]
            for (k, s) in state.order.enumerated() { state.rank[s] = k }
            state.reader = 0
            startThreads()
            condition.broadcast()
        }
    }

    /// Blocks until shard `shard`'s file is in the cache; true if its hashes were checked on arrival.
    func acquire(_ shard: Int) throws(ShardError) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if let k = state.rank[shard], k > state.reader { state.reader = k }
        startThreads()
        condition.broadcast()
        var waited = false
        while true {
            if let error = state.failed[shard] { throw error }
            if state.present[shard] != nil {
                state.clock += 1
                let now = state.clock
                state.present[shard]?.used = now
                if waited { state.stats.misses += 1 } else { state.stats.hits += 1 }
                return state.checked.contains(shard)
            }
            waited = true
            if !state.inFlight.contains(shard) {
                fetch(shard)
            } else {
                condition.wait()
            }
        }
    }

    /// Marks a shard used now (the reader read a sample of it).
    func touch(_ shard: Int) {
        condition.withLock {
            state.clock += 1
            let now = state.clock
            state.present[shard]?.used = now
        }
    }

    func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    deinit { stop() }

    // MARK: Fetching (called with the lock held)

    private func startThreads() {
        while threads < options.downloaders && options.readAhead > 0 {
            threads += 1
            let thread = Thread { [weak self] in self?.readAhead() }
            thread.name = "shard-fetch-\(threads)"
            thread.start()
        }
    }

    /// One download thread: fetch the next missing shard inside the window, while there is room.
    private func readAhead() {
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            let window = state.order[state.reader..<min(state.order.count, state.reader + 1 + options.readAhead)]
            let depth = window.filter { state.present[$0] != nil }.count
            let deepest = max(state.stats.maxDepth, depth)
            state.stats.maxDepth = deepest
            guard let next = window.first(where: { state.present[$0] == nil && !state.inFlight.contains($0) && state.failed[$0] == nil }),
                  makeRoom(for: shards[next].bytes, keeping: Set(window)) else {
                condition.wait()
                continue
            }
            fetch(next)
        }
    }

    /// Evicts least-recently-used shards outside `keeping` until `bytes` more fit; false if they cannot.
    private func makeRoom(for bytes: Int, keeping: Set<Int>) -> Bool {
        guard let limit = options.cacheLimit else { return true }
        let reserved = state.inFlight.reduce(0) { $0 + shards[$1].bytes }
        while state.total + reserved + bytes > limit {
            guard let victim = state.present.filter({ !keeping.contains($0.key) }).min(by: { $0.value.used < $1.value.used })?.key else {
                return false
            }
            state.present[victim] = nil
            state.checked.remove(victim)
            state.total -= shards[victim].bytes
            state.stats.evictions += 1
            unlink(path(victim))
            state.evicted.append(victim)
        }
        return true
    }

    /// Downloads and checks `shard`, releasing the lock meanwhile.
    private func fetch(_ shard: Int) {
        // The reader's own fetch may exceed the limit by one shard rather than wait forever.
        _ = makeRoom(for: shards[shard].bytes, keeping: [shard])
        state.inFlight.insert(shard)
        let evicted = state.evicted
        state.evicted = []
        condition.unlock()
        evicted.forEach(onEvict)
        let outcome = Result { () throws(ShardError) in try download(shard) }
        condition.lock()
        state.inFlight.remove(shard)
        switch outcome {
        case .success:
            state.clock += 1
            state.present[shard] = (shards[shard].bytes, state.clock)
            state.checked.insert(shard)
            state.total += shards[shard].bytes
            state.stats.downloads += 1
            state.stats.downloadedBytes += shards[shard].bytes
        case .failure(let error):
            state.failed[shard] = error
        }
        condition.broadcast()
    }

    private func download(_ shard: Int) throws(ShardError) {
        let file = shards[shard]
        let object = remote.appending(file.basename)
        let target = URL(fileURLWithPath: path(shard))
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ShardError(.writeFailed, path: target.path, "cannot create the cache directory: \(SystemErrorText.words(error))")
        }
        do {
            try client.download(object, to: target)
        } catch {
            throw ShardError(error.code == .notFound ? .missing : .unreadable, path: object.description, error.code == .notFound
                ? "missing: the index lists it but the bucket has no such object (\(error))" : "\(error)")
        }
        do throws(ShardError) {
            _ = try ShardData.mapStoredFile(path: target.path, file, verify: true)
        } catch {
            unlink(target.path)
            throw ShardError(error.code, path: object.description, sample: error.sample, error.reason)
        }
    }

    private static func size(of path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }
}

extension NSCondition {
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
