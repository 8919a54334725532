/// One sample of a WebDataset shard: the members sharing a key, each a field named by its
/// extension (`mp4`, `flac`, `txt`, `json`, `seg.npy`), bytes untouched.
public struct WebDatasetSample: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var bytes: [UInt8]
        public init(name: String, bytes: [UInt8]) { (self.name, self.bytes) = (name, bytes) }
    }

    /// The member names up to the first dot of the base name (`dir/clip0042` of `dir/clip0042.mp4`).
    public var key: String
    /// In the order the members come.
    public var fields: [Field]

    public init(key: String, fields: [Field]) { (self.key, self.fields) = (key, fields) }

    public subscript(name: String) -> [UInt8]? { fields.first { $0.name == name }?.bytes }
}

/// The samples of one shard, as the webdataset package groups them: consecutive members with the
/// same key form a sample, the key being the name up to the first dot of its base name and the
/// field the rest, lower-cased. Where the package would silently pass over something (a member
/// with no extension, a link) or yield something a pipeline cannot trust (a key that reappears, a
/// field given twice), this reports it as a rejection naming the member, so nothing is lost
/// without a word; directories are the one kind of entry passed over, as they hold no data.
public final class ShardSamples {
    public enum Event: Sendable, Equatable {
        case sample(WebDatasetSample)
        /// A member or a whole sample left out, and why.
        case rejected(WebDatasetError)
    }

    private let reader: TarReader
    private let maximumMemberBytes: Int
    private var pending: WebDatasetSample?
    /// Why the pending sample is rejected once complete (its key was seen before).
    private var pendingRejection: String?
    private var seenKeys: Set<String> = []
    /// Events found but not yet returned: a sample completed by the member after it, rejections.
    private var outbox: [Event] = []
    private var ended = false
    /// A failure that ended the shard, thrown once the events before it have been returned.
    private var failure: WebDatasetError?

    public init(_ reader: TarReader, maximumMemberBytes: Int) {
        self.reader = reader
        self.maximumMemberBytes = maximumMemberBytes
    }

    public var path: String { reader.path }

    /// The next sample or rejection; nil at the shard's end. A shard that is cut short or damaged
    /// first rejects the sample it was in the middle of (its members may be missing), then throws.
    public func next() throws(WebDatasetError) -> Event? {
        while outbox.isEmpty && !ended {
            do { try readMember() } catch {
                ended = true
                failure = error
                if let cut = pending {
                    outbox.append(.rejected(WebDatasetError(error.code, path: path, member: cut.key,
                                                            "the sample is cut short where the shard fails")))
                    pending = nil
                }
            }
        }
        if !outbox.isEmpty { return outbox.removeFirst() }
        if let failure {
            self.failure = nil
            throw failure
        }
        return nil
    }

    /// Reads one entry, adding to the pending sample or to the outbox.
    private func readMember() throws(WebDatasetError) {
        guard let entry = try reader.next() else {
            ended = true
            finishPending()
            return
        }
        switch entry.kind {
        case .file: break
        case .directory: return
        case .link, .other:
            return try reject(entry.name, .badName, entry.kind == .link ? "is a link, not a file with data" : "is not a regular file")
        }
        guard let name = String(validating: entry.name, as: UTF8.self) else {
            return try reject(entry.name, .badName, "its name is not UTF-8")
        }
        if name.hasPrefix("/") || name.split(separator: "/").contains("..") {
            return try reject(entry.name, .badName, "its name leaves the archive (an absolute path or `..`)")
        }
        let base = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[base...].firstIndex(of: "."), dot > base, name.index(after: dot) < name.endIndex else {
            return try reject(entry.name, .badName, "its name has no key and extension (KEY.EXT), so it names no field")
        }
        let key = String(name[..<dot]), field = name[name.index(after: dot)...].lowercased()
        if let pending, pending.key == key, pending[field] != nil {
            return try reject(entry.name, .duplicate, "a second '\(field)' member for the key \(key) (the first is kept)")
        }
        if entry.size > maximumMemberBytes {
            return try reject(entry.name, .tooLarge, "the member is \(entry.size) bytes, above the limit of \(maximumMemberBytes)")
        }
        if pending?.key != key {
            // The sample before is whole once a member of another key begins.
            finishPending()
            pendingRejection = seenKeys.insert(key).inserted ? nil : "the key \(key) appeared earlier in this shard"
            pending = WebDatasetSample(key: key, fields: [])
        }
        pending!.fields.append(.init(name: field, bytes: try reader.data(size: entry.size, maximum: maximumMemberBytes)))
    }

    /// Passes over a member's data and reports it.
    private func reject(_ raw: [UInt8], _ code: WebDatasetError.Code, _ reason: String) throws(WebDatasetError) {
        try reader.skip()
        outbox.append(.rejected(WebDatasetError(code, path: path, member: String(decoding: raw, as: UTF8.self), reason)))
    }

    private func finishPending() {
        guard let sample = pending else { return }
        pending = nil
        if let reason = pendingRejection {
            outbox.append(.rejected(WebDatasetError(.duplicate, path: path, member: sample.key, reason)))
        } else {
            outbox.append(.sample(sample))
        }
    }
}
