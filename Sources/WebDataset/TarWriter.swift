import CArchive
import Foundation
import SystemErrors

/// Writes WebDataset shards: each sample's fields become members `KEY.FIELD` of a POSIX tar
/// (ustar, with pax records only for names ustar cannot hold), one shard after another as
/// `shard-000000.tar`, `shard-000001.tar`, ..., a new one once the current holds `maximumCount`
/// samples or `maximumBytes` of member data (the webdataset package's `ShardWriter` rule). Each is
/// written as `NAME.partial` and renamed when whole, then handed to `finished` (an upload, say).
/// Headers carry no time or owner, so the same samples give the same bytes. Writers sharing one
/// dataset (ranks) number their shards apart: writer `first` of `step` writes `first`,
/// `first + step`, ...
public final class WebDatasetWriter {
    public let directory: URL
    public let maximumCount: Int
    public let maximumBytes: Int
    /// The number of the first shard, and how far apart this writer's shards are numbered.
    public let numbering: (first: Int, step: Int)
    private let finished: (URL) throws(WebDatasetError) -> Void
    private var shard: OpenShard?
    /// The shards written whole so far, in order.
    public private(set) var written: [URL] = []

    public static func shardName(_ index: Int) -> String { "shard-" + String(format: "%06d", index) + ".tar" }

    public init(directory: URL, maximumCount: Int = 100_000, maximumBytes: Int = 3_000_000_000, numbering: (first: Int, step: Int) = (0, 1),
                finished: @escaping (URL) throws(WebDatasetError) -> Void = { _ in }) throws(WebDatasetError) {
        guard maximumCount > 0, maximumBytes > 0 else {
            throw WebDatasetError(.invalidArgument, path: directory.path, "maxcount and maxsize must be positive")
        }
        guard numbering.first >= 0, numbering.step > 0, numbering.first < numbering.step else {
            throw WebDatasetError(.invalidArgument, path: directory.path, "writer \(numbering.first) of \(numbering.step) cannot number shards apart")
        }
        (self.directory, self.maximumCount, self.maximumBytes, self.numbering, self.finished) = (directory, maximumCount, maximumBytes, numbering, finished)
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw WebDatasetError(.writeFailed, path: directory.path, "cannot create the directory: \(SystemErrorText.words(error))")
        }
    }

    deinit { shard?.abandon() }

    /// Appends one sample. The key names the members; it must be a relative name without `..` and
    /// without a dot in its last part (a reader splits the name at the first dot).
    public func write(_ sample: WebDatasetSample) throws(WebDatasetError) {
        try Self.check(sample, in: directory.path)
        if let open = shard, open.count >= maximumCount || open.bytes >= maximumBytes { try close() }
        if shard == nil {
            let (index, overflow) = written.count.multipliedReportingOverflow(by: numbering.step)
            guard !overflow, index <= 999_999 - numbering.first else {
                throw WebDatasetError(.invalidArgument, path: directory.path, "more shards than six digits can number")
            }
            shard = try OpenShard(file: directory.appendingPathComponent(Self.shardName(numbering.first + index)))
        }
        try shard!.append(sample)
    }

    /// Finishes the shard being written. Call once the last sample is in.
    public func close() throws(WebDatasetError) {
        guard let open = shard else { return }
        shard = nil
        try open.finish()
        written.append(open.file)
        try finished(open.file)
    }

    /// The key and field names a reader will split back the same way, and that stay inside the archive.
    static func check(_ sample: WebDatasetSample, in path: String) throws(WebDatasetError) {
        let key = sample.key
        func refuse(_ reason: String) -> WebDatasetError { WebDatasetError(.invalidSample, path: path, member: key, reason) }
        guard !key.isEmpty, !key.hasPrefix("/"), !key.contains("\0"), !key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0.isEmpty })
        else { throw refuse("the key must be a relative name without `..` or empty parts") }
        guard !key.split(separator: "/").last!.contains(".") else {
            throw refuse("the key's last part holds a dot, so a reader would split the member name elsewhere")
        }
        guard !sample.fields.isEmpty else { throw refuse("the sample has no field to write") }
        var names: Set<String> = []
        for field in sample.fields {
            guard !field.name.isEmpty, !field.name.contains("/"), !field.name.contains("\0"), field.name == field.name.lowercased() else {
                throw refuse("the field name '\(field.name)' cannot be an extension (empty, a slash, or upper case)")
            }
            guard names.insert(field.name).inserted else { throw refuse("the field '\(field.name)' is given twice") }
        }
    }
}

/// One shard being written through libarchive into `FILE.partial`.
private final class OpenShard {
    let file: URL
    let partial: URL
    private let descriptor: Int32
    private let archive: OpaquePointer
    private let entry: OpaquePointer
    private var open = true
    private(set) var count = 0
    private(set) var bytes = 0

    init(file: URL) throws(WebDatasetError) {
        self.file = file
        partial = file.appendingPathExtension("partial")
        unlink(partial.path)  // a link left there is replaced, not followed
        descriptor = Glibc.open(partial.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw WebDatasetError(.writeFailed, path: partial.path, "cannot create: \(SystemErrorText.words(errno: errno))")
        }
        guard let archive = archive_write_new(), let entry = archive_entry_new() else {
            Glibc.close(descriptor)
            throw WebDatasetError(.writeFailed, path: partial.path, "libarchive could not start (out of memory)")
        }
        (self.archive, self.entry) = (archive, entry)
        archive_write_set_format_pax_restricted(archive)
        archive_write_add_filter_none(archive)
        guard archive_write_open_fd(archive, descriptor) == ARCHIVE_OK else {
            let error = failure("cannot start the archive")
            abandon()
            throw error
        }
    }

    func append(_ sample: WebDatasetSample) throws(WebDatasetError) {
        for field in sample.fields {
            archive_entry_clear(entry)
            let name = sample.key + "." + field.name
            archive_entry_copy_pathname(entry, name)
            archive_entry_set_filetype(entry, sluice_ae_ifreg)
            archive_entry_set_perm(entry, 0o444)
            archive_entry_set_size(entry, Int64(field.bytes.count))
            // The name goes in as its UTF-8 bytes (libarchive 3.6 crashes converting a UTF-8 name
            // through the C locale). A non-ASCII one gets a pax record of those bytes marked
            // `hdrcharset=BINARY` and a warning that it was not translated, which is the intent.
            let header = archive_write_header(archive, entry)
            guard header == ARCHIVE_OK || (header == ARCHIVE_WARN && !name.utf8.allSatisfy { $0 < 0x80 }) else {
                throw failure("cannot write the header of \(name)")
            }
            var done = 0
            while done < field.bytes.count {
                let wrote = field.bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress! + done, $0.count - done) }
                guard wrote > 0 else { throw failure("cannot write \(name)") }
                done += wrote
            }
            guard archive_write_finish_entry(archive) == ARCHIVE_OK else { throw failure("cannot finish \(name)") }
            bytes += field.bytes.count
        }
        count += 1
    }

    /// Ends the archive, syncs it and renames it into place.
    func finish() throws(WebDatasetError) {
        guard archive_write_close(archive) == ARCHIVE_OK else { throw failure("cannot end the archive") }
        let synced = fsync(descriptor) == 0
        let code = errno
        release()
        guard synced else {
            throw WebDatasetError(.writeFailed, path: partial.path, "cannot flush to disk: \(SystemErrorText.words(errno: code))")
        }
        guard rename(partial.path, file.path) == 0 else {
            throw WebDatasetError(.writeFailed, path: file.path, "cannot rename \(partial.lastPathComponent) into place: \(SystemErrorText.words(errno: errno))")
        }
    }

    /// Stops without renaming: the `.partial` file stays, holding the samples written.
    func abandon() {
        guard open else { return }
        archive_write_close(archive)
        release()
    }

    private func release() {
        guard open else { return }
        open = false
        archive_write_free(archive)
        archive_entry_free(entry)
        Glibc.close(descriptor)
    }

    private func failure(_ what: String) -> WebDatasetError {
        let words = archive_error_string(archive).map { String(cString: $0) } ?? SystemErrorText.words(errno: errno)
        return WebDatasetError(.writeFailed, path: partial.path, "\(what): \(words)")
    }
}
