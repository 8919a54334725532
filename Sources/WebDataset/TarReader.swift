import CArchive
import Glibc

/// Streams the members of a tar archive (plain, or compressed with gzip, bzip2, xz or zstd) through
/// libarchive, pulling its bytes from a `ShardBytes` as it goes: nothing is unpacked to disk and
/// only the member being read is in memory.
public final class TarReader {
    /// One header: what the member is called and how large libarchive says it is.
    public struct Entry: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case file, directory, link, other }
        /// The name as stored, bytes untouched (it may not be UTF-8).
        public var name: [UInt8]
        public var kind: Kind
        public var size: Int
    }

    /// The shard, for messages.
    public let path: String
    private let archive: OpaquePointer
    private let feed: Feed
    /// The name of the entry whose data is next, for messages.
    private var member: String?

    /// Read callbacks' state: the source, the block it hands libarchive, and a failure of the source
    /// itself (libarchive only learns that reading failed).
    private final class Feed {
        let bytes: ShardBytes
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        var failure: WebDatasetError?
        init(_ bytes: ShardBytes) { self.bytes = bytes }
        deinit { block.deallocate() }
    }

    public init(_ bytes: ShardBytes, path: String) throws(WebDatasetError) {
        self.path = path
        feed = Feed(bytes)
        guard let archive = archive_read_new() else {
            throw WebDatasetError(.unreadable, path: path, "libarchive could not start (out of memory)")
        }
        self.archive = archive
        archive_read_support_format_tar(archive)
        // The compressions tar shards come in; each is decoded in-process (no external program).
        archive_read_support_filter_gzip(archive)
        archive_read_support_filter_bzip2(archive)
        archive_read_support_filter_xz(archive)
        archive_read_support_filter_zstd(archive)
        let opened = archive_read_open(archive, Unmanaged.passUnretained(feed).toOpaque(), nil, { _, context, buffer in
            let feed = Unmanaged<Feed>.fromOpaque(context!).takeUnretainedValue()
            let read = Result { () throws(WebDatasetError) in try feed.bytes.read(into: feed.block) }
            switch read {
            case .success(let count):
                buffer?.pointee = UnsafeRawPointer(feed.block.baseAddress)
                return count
            case .failure(let error):
                feed.failure = error
                return -1
            }
        }, nil)
        // Every property is set, so `deinit` frees the archive and closes the bytes on a throw.
        if opened != ARCHIVE_OK { throw failure(during: "cannot read as a tar archive") }
    }

    deinit {
        archive_read_free(archive)
        feed.bytes.close()
    }

    /// The next member's header, or nil at the end of the archive.
    public func next() throws(WebDatasetError) -> Entry? {
        var entry: OpaquePointer?
        let status = archive_read_next_header(archive, &entry)
        if status == ARCHIVE_EOF { return nil }
        // ARCHIVE_WARN: a name libarchive could not convert to the C locale; the bytes are kept.
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw failure(during: "cannot read the next member's header")
        }
        let name: [UInt8]
        if let utf8 = archive_entry_pathname_utf8(entry) {
            name = Array(UnsafeBufferPointer(start: UnsafeRawPointer(utf8).assumingMemoryBound(to: UInt8.self), count: strlen(utf8)))
        } else if let raw = archive_entry_pathname(entry) {
            name = Array(UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw)))
        } else {
            name = []
        }
        member = String(decoding: name, as: UTF8.self)
        let kind: Entry.Kind = switch archive_entry_filetype(entry) {
        case sluice_ae_ifreg: .file
        case sluice_ae_ifdir: .directory
        case sluice_ae_iflnk: .link
        default: archive_entry_hardlink(entry) != nil ? .link : .other
        }
        let size = archive_entry_size(entry)
        guard size >= 0, size <= Int64(Int.max) else {
            throw WebDatasetError(.damaged, path: path, member: member, "its header gives a size of \(size) bytes")
        }
        return Entry(name: name, kind: kind, size: Int(size))
    }

    /// The data of the member `next` returned, which the header says is `size` bytes; more than
    /// `maximum` is an error before anything is allocated. Memory grows with the bytes that arrive,
    /// so a header that lies about its size costs no more than the archive holds.
    public func data(size: Int, maximum: Int) throws(WebDatasetError) -> [UInt8] {
        guard size <= maximum else {
            throw WebDatasetError(.tooLarge, path: path, member: member, "the member is \(size) bytes, above the limit of \(maximum)")
        }
        // Up to 64 MiB is taken at once; beyond, the buffer doubles only as bytes arrive.
        var data = [UInt8](repeating: 0, count: min(size, 64 << 20))
        var filled = 0
        while filled < size {
            if filled == data.count { data.append(contentsOf: repeatElement(0, count: min(size - filled, data.count))) }
            let got = data.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress! + filled, $0.count - filled) }
            guard got > 0 else {
                if got == 0 {
                    throw WebDatasetError(.truncated, path: path, member: member,
                                          "the archive ends after \(filled) of the member's \(size) bytes")
                }
                throw failure(during: "cannot read the member's data")
            }
            filled += got
        }
        return data
    }

    /// Passes over the data of the member `next` returned.
    public func skip() throws(WebDatasetError) {
        guard archive_read_data_skip(archive) == ARCHIVE_OK else { throw failure(during: "cannot skip the member's data") }
    }

    /// The error for a failed libarchive call: the source's own failure if it had one, else
    /// libarchive's words, classed as truncation when the archive simply ends early.
    private func failure(during what: String) -> WebDatasetError {
        if let failure = feed.failure { return failure }
        let words = archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
        let lowered = words.lowercased()
        let code: WebDatasetError.Code = lowered.contains("truncated") || lowered.contains("premature end") ? .truncated : .damaged
        return WebDatasetError(code, path: path, member: member, "\(what): \(words)")
    }
}
