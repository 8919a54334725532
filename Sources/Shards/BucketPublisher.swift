import Foundation
import ObjectStore
import SystemErrors

/// Uploads a `ShardWriter`'s finished shards to a bucket on threads of its own, at most `pending`
/// queued at once (the writer waits beyond that), and uploads `index.json` only after every shard
/// it lists is there: readers of the bucket never see an index naming a missing shard. While the
/// writer runs the index is marked in progress, so a killed writer leaves a dataset that opens and
/// resumes. Each shard's local file is removed once uploaded, so the staging directory stays small.
public final class BucketPublisher: ShardPublisher, @unchecked Sendable {
    public let remote: ObjectURL
    public let staging: URL
    private let client: S3Client
    private let pending: Int
    private let condition = NSCondition()
    private var queue: [(number: Int, file: String)] = []
    private var uploaded: Set<Int> = []
    private var listed: [ShardInfo] = []
    private var failure: ShardError?
    private var busy = 0
    /// Upload threads running; they start with work and exit when the queue is empty, so an
    /// abandoned writer leaves no thread behind.
    private var threads = 0
    private let uploaders: Int
    /// Shards in the index last uploaded; index uploads are serialised so an older one never lands last.
    private var indexShards = -1
    private let indexLock = NSLock()

    public init(remote: ObjectURL, staging: URL, client: S3Client, uploaders: Int = 2, pending: Int = 4) {
        self.remote = remote
        self.staging = staging
        self.client = client
        self.pending = max(1, pending)
        self.uploaders = max(1, uploaders)
    }

    /// A writer into `remote` staging shards in `staging`: with `resume`, continues the bucket's
    /// unfinished (or finished) dataset after its last uploaded shard; otherwise starts anew,
    /// replacing any index there.
    public static func writer(_ remote: ObjectURL, staging: URL, config: ShardConfig, client: S3Client, resume: Bool,
                              uploaders: Int = 2, pending: Int = 4) throws(ShardError) -> ShardWriter {
        let publisher = BucketPublisher(remote: remote, staging: staging, client: client, uploaders: uploaders, pending: pending)
        try publisher.clearStaging()
        let indexObject = remote.appending(DatasetIndex.fileName)
        if resume, try publisher.call({ () throws(ObjectStoreError) in try client.exists(indexObject) }) {
            try publisher.call { () throws(ObjectStoreError) in
                try client.download(indexObject, to: staging.appendingPathComponent(DatasetIndex.fileName))
            }
            let index = try DatasetIndex.load(directory: staging)
            publisher.listed = index.shards
            publisher.uploaded = Set(index.shards.indices)
            publisher.indexShards = index.shards.count
            return try ShardWriter(resuming: staging, config: config, publisher: publisher)
        }
        let writer = try ShardWriter(directory: staging, config: config, publisher: publisher)
        // An empty index first, so readers of a dataset being replaced never pair its old index with new shards.
        try publisher.uploadIndex(DatasetIndex(shards: [], inProgress: true))
        return writer
    }

    public func publish(shard file: String, index: DatasetIndex) throws(ShardError) {
        condition.lock()
        defer { condition.unlock() }
        while queue.count + busy >= pending && failure == nil { condition.wait() }
        if let failure { throw failure }
        listed = index.shards
        queue.append((index.shards.count - 1, file))
        if threads < uploaders {
            threads += 1
            let thread = Thread { [self] in work() }
            thread.name = "shard-upload-\(threads)"
            thread.start()
        }
        condition.broadcast()
    }

    public func settle(index: DatasetIndex) throws(ShardError) {
        condition.lock()
        while (!queue.isEmpty || busy > 0) && failure == nil { condition.wait() }
        let failure = failure
        condition.unlock()
        if let failure { throw failure }
        try uploadIndex(index)
    }

    /// One upload thread: takes shards until the queue is empty, then exits.
    private func work() {
        condition.lock()
        while !queue.isEmpty {
            let job = queue.removeFirst()
            busy += 1
            condition.unlock()
            let object = remote.appending(job.file)
            let outcome = Result { () throws(ShardError) in
                try call { () throws(ObjectStoreError) in try client.upload(file: staging.appendingPathComponent(job.file), to: object) }
            }
            condition.lock()
            busy -= 1
            switch outcome {
            case .success:
                uploaded.insert(job.number)
                unlink(staging.appendingPathComponent(job.file).path)
            case .failure(let error):
                if failure == nil { failure = error }
            }
            condition.broadcast()
            let prefix = contiguousPrefix()
            condition.unlock()
            if case .success = outcome, let prefix {
                do throws(ShardError) {
                    try uploadIndex(DatasetIndex(shards: prefix, inProgress: true))
                } catch {
                    condition.withLock { if failure == nil { failure = error } }
                }
            }
            condition.lock()
        }
        threads -= 1
        condition.unlock()
    }

    /// The shards uploaded without a gap from the first (lock held).
    private func contiguousPrefix() -> [ShardInfo]? {
        var n = 0
        while uploaded.contains(n) { n += 1 }
        return n > 0 ? Array(listed.prefix(n)) : nil
    }

    private func uploadIndex(_ index: DatasetIndex) throws(ShardError) {
        indexLock.lock()
        defer { indexLock.unlock() }
        // An in-progress index never replaces one listing more shards; the final one always lands.
        guard !index.inProgress || index.shards.count > indexShards else { return }
        let object = remote.appending(DatasetIndex.fileName)
        try call { () throws(ObjectStoreError) in try client.put(Array(index.text.utf8), to: object, contentType: "application/json") }
        indexShards = index.shards.count
    }

    /// Empties the staging directory of a previous run's dataset files (they are ours to remove).
    private func clearStaging() throws(ShardError) {
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        } catch {
            throw ShardError(.writeFailed, path: staging.path, "cannot create the staging directory: \(SystemErrorText.words(error))")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? []
        for name in names where name == DatasetIndex.fileName || name.hasPrefix("shard.") {
            unlink(staging.appendingPathComponent(name).path)
        }
    }

    private func call<T>(_ body: () throws(ObjectStoreError) -> T) throws(ShardError) -> T {
        try objectCall(remote, body)
    }
}

/// Runs an object-store call, reporting its failure as a `ShardError` that names the object.
func objectCall<T>(_ remote: ObjectURL, _ body: () throws(ObjectStoreError) -> T) throws(ShardError) -> T {
    do {
        return try body()
    } catch {
        throw ShardError(error.code == .notFound ? .missing : .unreadable, path: error.bucket.map { "s3://\($0)/" + (error.key ?? "") } ?? remote.description,
                         "\(error.status.map { "HTTP \($0): " } ?? "")\(error.reason)")
    }
}

extension DatasetIndex {
    /// `merge(parts:into:)` for datasets in a bucket: the parts (prefixes below `remote`, each a
    /// finished dataset) are joined into one `remote/index.json`, as mosaicml-streaming's
    /// `merge_index` lays them out. Only the parts' indexes are downloaded (into `staging`); every
    /// shard the merged index lists is checked to be in the bucket at its size before the index is
    /// uploaded, the one write, so a reader never sees an index naming a missing shard.
    @discardableResult
    public static func merge(parts: [String], in remote: ObjectURL, client: S3Client, staging: URL) throws(ShardError) -> DatasetIndex {
        for given in parts {
            let part = try partPath(given, in: remote.description)
            let local = staging.appendingPathComponent(part)
            do {
                try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
            } catch {
                throw ShardError(.writeFailed, path: local.path, "cannot create the staging directory: \(SystemErrorText.words(error))")
            }
            _ = try objectCall(remote) { () throws(ObjectStoreError) in
                try client.download(remote.appending(part).appending(fileName), to: local.appendingPathComponent(fileName))
            }
        }
        let merged = try merge(parts: parts, into: staging)
        for shard in merged.shards {
            let object = remote.appending(shard.storedFile.basename)
            let size = try objectCall(remote) { () throws(ObjectStoreError) in try client.head(object).size }
            guard size == shard.storedFile.bytes else {
                throw ShardError(.damaged, path: object.description, "is \(size) bytes, its part's index says \(shard.storedFile.bytes); nothing was merged")
            }
        }
        try objectCall(remote) { () throws(ObjectStoreError) in
            try client.put(Array(merged.text.utf8), to: remote.appending(fileName), contentType: "application/json")
        }
        return merged
    }
}
