import CFFmpeg
import CSndFile
import Foundation

/// A read position in encoded bytes held in memory, moved as `read` and `lseek` move a file's:
/// what FFmpeg's and libsndfile's I/O callbacks read through, so both seek in the bytes as in a
/// file (an MP4 whose index is at the end, frame seeks, a WAV's chunks). Not thread-safe: one per reader.
final class MemoryCursor {
    let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Copies up to `count` bytes from the position into `target` and moves past them; 0 at the end.
    func read(into target: UnsafeMutableRawPointer, count: Int) -> Int {
        guard count > 0, position < bytes.count else { return 0 }
        let taken = min(count, bytes.count - position)
        bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress! + position, byteCount: taken) }
        position += taken
        return taken
    }

    /// Moves to `offset` from the start (SEEK_SET), the position (SEEK_CUR) or the end (SEEK_END)
    /// and returns the new position; nil for another `whence`, or a position before the start
    /// or beyond any Int (hostile offsets must not trap). Past the end is allowed, as in a file.
    func seek(_ offset: Int64, whence: Int32) -> Int64? {
        let base: Int
        switch whence {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = position
        case SEEK_END: base = bytes.count
        default: return nil
        }
        let (target, overflow) = Int64(base).addingReportingOverflow(offset)
        guard !overflow, target >= 0, target <= Int.max else { return nil }
        position = Int(target)
        return target
    }

    /// The cursor behind an opaque pointer the callbacks were given (it is kept alive by its owner).
    static func from(_ opaque: UnsafeMutableRawPointer?) -> MemoryCursor {
        Unmanaged<MemoryCursor>.fromOpaque(opaque!).takeUnretainedValue()
    }

    /// The opaque pointer to hand to C; valid while `self` lives.
    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
}

/// An FFmpeg AVIOContext over bytes in memory (`avio_alloc_context` with read and seek callbacks,
/// `AVSEEK_SIZE` answered), so a demuxer reads them as it reads a file. Freed in `deinit`, which
/// must come after the demuxer that reads through it is closed.
final class MemoryIO {
    let context: UnsafeMutablePointer<AVIOContext>
    private let cursor: MemoryCursor
    /// FFmpeg's own read buffer size for files.
    private static let bufferSize = 32_768

    init(_ bytes: [UInt8], name: String) throws(MediaError) {
        cursor = MemoryCursor(bytes)
        guard let buffer = av_malloc(Self.bufferSize)?.assumingMemoryBound(to: UInt8.self) else {
            throw MediaError(.library, path: name, "cannot allocate a read buffer")
        }
        let read: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int32) -> Int32 = { opaque, target, size in
            guard let target else { return sluice_averror(EINVAL) }
            let got = MemoryCursor.from(opaque).read(into: target, count: Int(size))
            return got > 0 ? Int32(got) : sluice_averror_eof()
        }
        let seek: @convention(c) (UnsafeMutableRawPointer?, Int64, Int32) -> Int64 = { opaque, offset, whence in
            let cursor = MemoryCursor.from(opaque)
            if whence & AVSEEK_SIZE != 0 { return Int64(cursor.bytes.count) }
            return cursor.seek(offset, whence: whence & ~AVSEEK_FORCE) ?? Int64(sluice_averror(EINVAL))
        }
        guard let context = avio_alloc_context(buffer, Int32(Self.bufferSize), 0, cursor.opaque, read, nil, seek) else {
            av_free(buffer)
            throw MediaError(.library, path: name, "cannot allocate an I/O context")
        }
        self.context = context
    }

    deinit {
        av_free(context.pointee.buffer)  // FFmpeg may have replaced the buffer it was given
        var owned: UnsafeMutablePointer<AVIOContext>? = context
        avio_context_free(&owned)
    }
}

/// libsndfile's virtual I/O over a `MemoryCursor`.
enum SoundFileIO {
    /// `sf_open_virtual` for reading `cursor`'s bytes (libsndfile keeps a copy of the callbacks;
    /// `cursor` must outlive the handle).
    static func open(_ cursor: MemoryCursor, info: inout SF_INFO) -> OpaquePointer? {
        var callbacks = SF_VIRTUAL_IO(
            get_filelen: { sf_count_t(MemoryCursor.from($0).bytes.count) },
            seek: { offset, whence, opaque in MemoryCursor.from(opaque).seek(offset, whence: whence) ?? -1 },
            read: { target, count, opaque in
                guard let target, count > 0 else { return 0 }
                return sf_count_t(MemoryCursor.from(opaque).read(into: target, count: Int(clamping: count)))
            },
            write: nil,
            tell: { sf_count_t(MemoryCursor.from($0).position) })
        return sf_open_virtual(&callbacks, Int32(sluice_sfm_read), &info, cursor.opaque)
    }
}
