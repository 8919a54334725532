import CFFmpeg
import Foundation

/// Where a media item comes from: a file, or the encoded bytes of one already in memory (a member
/// of a WebDataset tar shard), read as they are, with no temporary file.
public enum MediaSource: Sendable, Equatable {
    /// A file by path (a named pipe is read once into a temporary copy).
    case file(String)
    /// The bytes of a whole encoded file. `name` is what errors say (`shard-000003.tar:clip0042.mp4`)
    /// and its extension stands in for a file's: `AudioReader.load` sends "x.flac" to libsndfile.
    case bytes(name: String, [UInt8])

    /// The path, or the name given to the bytes.
    public var name: String {
        switch self {
        case .file(let path): path
        case .bytes(let name, _): name
        }
    }

    /// The lowercased extension of `name` ("flac" for "a.tar:clip.flac"), "" without one.
    var fileExtension: String { (name as NSString).pathExtension.lowercased() }
}

/// An open FFmpeg container: owns the AVFormatContext and closes it in `deinit`.
///
/// Shared by the video, image and in-container audio readers, so the open/probe/error translation
/// exists once. A class because it owns a native resource that must be freed exactly once.
final class MediaInput {
    /// The file or the name of the bytes, for error messages.
    var path: String { file.name }
    /// What is opened; kept alive with the demuxer.
    let file: ReadableMedia
    /// The demuxer; non-nil for the object's whole life.
    let format: UnsafeMutablePointer<AVFormatContext>
    /// FFmpeg's reader of bytes in memory; freed after the demuxer that reads through it.
    private let memory: MemoryIO?

    /// FFmpeg logs to stderr by default; errors reach callers as `MediaError`, so keep it quiet.
    private static let quietLogging: Void = av_log_set_level(AV_LOG_QUIET)

    /// Opens `file` and reads enough of it to know its streams.
    init(file: ReadableMedia) throws(MediaError) {
        Self.quietLogging
        self.file = file
        let path = file.name
        var context: UnsafeMutablePointer<AVFormatContext>?
        let opened: Int32
        switch file.content {
        case .file(let readPath):
            memory = nil
            opened = avformat_open_input(&context, readPath, nil, nil)
        case .memory(let bytes):
            let io = try MemoryIO(bytes, name: path)
            memory = io
            guard let allocated = avformat_alloc_context() else {
                throw MediaError(.library, path: path, "cannot allocate a demuxer")
            }
            allocated.pointee.pb = io.context
            // The bytes are one file: a playlist (HLS) or concat list among them must not make
            // FFmpeg open the files or URLs it names. The HLS reader opens through `io_open`; the
            // concat reader opens its own inputs, under the protocols this list allows: none.
            allocated.pointee.io_open = { _, _, _, _, _ in -EPERM }
            allocated.pointee.protocol_whitelist = av_strdup("none")
            context = allocated
            // The name goes along for the demuxers that weigh its extension (raw .264, images); with
            // its own I/O, image2 reads it as one file, never as a pattern of file names.
            opened = avformat_open_input(&context, path, nil, nil)  // frees the context if it fails
        }
        guard opened >= 0, let context else {
            // FFmpeg 5.1's YUV4MPEG demuxer returns AVERROR(EINVAL) plus its 6-byte frame marker
            // for a frame size it refuses, which reads as AVERROR(EBUSY): say what it was.
            if let (width, height) = Self.yuv4mpegFrameSize(file.head(256)),
               let tooLarge = MediaError.frameSizeTooLarge(width: width, height: height, path: path) {
                throw tooLarge
            }
            throw MediaError(ffmpeg: opened, path: path, during: "cannot open as a media file")
        }
        // An AVI of MPEG-4 with B-frames leaves most packets without a presentation time; the
        // demuxer can work them out from the stream's reordering, so frames are numbered by
        // timestamp and reached by seeking, not by decoding from the start. Only AVI: in an
        // MPEG program stream the times it works out are not the decoder's.
        if String(cString: context.pointee.iformat.pointee.name) == "avi" { context.pointee.flags |= AVFMT_FLAG_GENPTS }
        let found = avformat_find_stream_info(context, nil)
        if found < 0 {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            throw MediaError(ffmpeg: found, path: path, during: "cannot read stream information")
        }
        format = context
    }

    deinit {
        var owned: UnsafeMutablePointer<AVFormatContext>? = format
        avformat_close_input(&owned)
    }

    /// The stream at `index`; valid while `self` lives.
    func stream(_ index: Int32) -> UnsafeMutablePointer<AVStream> {
        // Cannot be nil: every index is bestStream's or below nb_streams, and FFmpeg fills streams[0..<nb_streams].
        format.pointee.streams[Int(index)]!
    }

    /// Fails with `.truncated` when the container's own index (an MP4 sample table, an AVI idx1)
    /// lists more packets of the stream than the `read` that reached the end of the file: the
    /// demuxer just stops where the data does. Headers that merely state a frame count (AVI's
    /// dwLength, often wrong) are not evidence, and indexes of keyframes only (Matroska cues) list fewer.
    func requireListedPackets(of index: Int32, read: Int, kind: String) throws(MediaError) {
        let listed = Int(avformat_index_get_entries_count(stream(index)))
        if listed > read {
            throw MediaError(.truncated, path: path,
                             "file truncated: its index lists \(listed) \(kind) packets but only \(read) are present")
        }
    }

    /// The width and height a YUV4MPEG2 header line (`head`, the file's first bytes) states (its
    /// `W` and `H` tags), or nil for another file.
    static func yuv4mpegFrameSize(_ head: [UInt8]) -> (Int, Int)? {
        guard head.starts(with: Array("YUV4MPEG2 ".utf8)) else { return nil }
        let line = String(decoding: head.prefix { $0 != 0x0A }, as: UTF8.self)
        let tags = line.split(separator: " ")
        guard let width = tags.first(where: { $0.hasPrefix("W") }).flatMap({ Int($0.dropFirst()) }),
              let height = tags.first(where: { $0.hasPrefix("H") }).flatMap({ Int($0.dropFirst()) }) else { return nil }
        return (width, height)
    }

    /// The index of the best stream of `type`, or an `.unsupported` error naming what is missing.
    func bestStream(_ type: AVMediaType, named kind: String) throws(MediaError) -> Int32 {
        let index = av_find_best_stream(format, type, -1, -1, nil, 0)
        guard index >= 0 else { throw MediaError(.unsupported, path: path, "no \(kind) stream") }
        return index
    }
}

/// What a reader opens for a `MediaSource`, checked before a library gets a chance to give a
/// vaguer error or to block. For a path: the file itself (a symbolic link judged by its target),
/// or, for a named pipe, a temporary copy of everything written to it, since probing, indexing and
/// decoding each read the file from the start and a pipe can be read only once; devices, sockets
/// and directories are refused (/dev/zero never ends). For bytes: the bytes. Either way empty and
/// truncated containers are refused here. Removes its copy of a pipe in `deinit`.
final class ReadableMedia: Sendable {
    /// What the libraries read.
    enum Content: Sendable {
        /// A file to open: the caller's, or the copy of a pipe.
        case file(String)
        /// The encoded bytes of a file.
        case memory([UInt8])
    }

    /// The path or name the caller gave, for error messages.
    let name: String
    let content: Content
    /// A copy of a pipe this object made and removes.
    private let temporaryCopy: String?

    /// The most bytes copied from a pipe before giving up: it might never end.
    static let maximumPipeBytes = 16 << 30

    init(_ source: MediaSource) throws(MediaError) {
        name = source.name
        switch source {
        case .bytes(let name, let bytes):
            guard !bytes.isEmpty else { throw MediaError(.empty, path: name, "no bytes to read (0 bytes)") }
            try ContainerLength.check(bytes: bytes, name: name)
            content = .memory(bytes)
            temporaryCopy = nil
        case .file(let path):
            var status = stat()
            guard stat(path, &status) == 0 else { throw Self.unreadable(path, errno) }
            if status.st_mode & S_IFMT == S_IFIFO {
                temporaryCopy = try Self.copy(pipe: path)
            } else if let kind = nonRegularKind(status.st_mode) {
                throw MediaError(.notRegularFile, path: path, "is \(kind), not a regular file")
            } else {
                temporaryCopy = nil
            }
            let readPath = temporaryCopy ?? path
            content = .file(readPath)
            if temporaryCopy == nil, status.st_size == 0 { throw MediaError(.empty, path: path, "file is empty (0 bytes)") }
            do { try ContainerLength.check(readPath, name: path) } catch {
                if let temporaryCopy { unlink(temporaryCopy) }
                throw error
            }
        }
    }

    deinit {
        if let temporaryCopy { unlink(temporaryCopy) }
    }

    /// The path under which what is read may be cached: the caller's own file. Nil for a pipe's
    /// copy (new for every reader) and for bytes (two buffers may share a name).
    var cachePath: String? {
        if case .file(let path) = content, temporaryCopy == nil { return path }
        return nil
    }

    /// Up to `count` bytes from the start: a header to sniff.
    func head(_ count: Int) -> [UInt8] {
        switch content {
        case .memory(let bytes):
            return Array(bytes.prefix(count))
        case .file(let path):
            guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
            defer { try? handle.close() }
            return (try? handle.read(upToCount: count)).map { [UInt8]($0) } ?? []
        }
    }

    private static func unreadable(_ path: String, _ code: Int32) -> MediaError {
        let reason = code == EACCES ? "permission denied" : code == ENOENT ? "no such file" : String(cString: strerror(code))
        return MediaError(.unreadable, path: path, "cannot open: \(reason)")
    }

    /// Copies what is written to the pipe until its writer closes it, into a new temporary file.
    private static func copy(pipe path: String) throws(MediaError) -> String {
        var template = Array("\(NSTemporaryDirectory())/sluice-pipe-XXXXXX".utf8CString)
        let output = mkstemp(&template)
        guard output >= 0 else { throw MediaError(.library, path: path, "cannot create a temporary copy of the pipe") }
        let copyPath = String(cString: template)
        defer { close(output) }
        let input = open(path, O_RDONLY)  // waits for a writer, as reading a pipe does
        guard input >= 0 else {
            unlink(copyPath)
            throw unreadable(path, errno)
        }
        defer { close(input) }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let got = block.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got == 0 { break }
            let written = got > 0 ? block.withUnsafeBytes { write(output, $0.baseAddress, got) } : -1
            total += max(0, got)
            guard got > 0, written == got, total <= maximumPipeBytes else {
                unlink(copyPath)
                let reason = total > maximumPipeBytes ? "more than \(maximumPipeBytes >> 30) GiB came through the pipe; save the stream to a file"
                    : "cannot copy the pipe to a temporary file: \(String(cString: strerror(errno)))"
                throw MediaError(got < 0 ? .unreadable : .library, path: path, reason)
            }
        }
        if total == 0 {
            unlink(copyPath)
            throw MediaError(.empty, path: path, "the pipe closed without data (0 bytes)")
        }
        return copyPath
    }
}

/// What a `st_mode` that is not a regular file names ("a directory", "a named pipe (FIFO)", ...),
/// or nil for a regular file.
func nonRegularKind(_ mode: mode_t) -> String? {
    switch mode & S_IFMT {
    case S_IFREG: nil
    case S_IFDIR: "a directory"
    case S_IFIFO: "a named pipe (FIFO)"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    default: "an unknown kind of file"
    }
}

/// An opened decoder for one stream: owns the AVCodecContext and frees it in `deinit`.
final class StreamDecoder {
    /// The codec context; non-nil for the object's whole life.
    let context: UnsafeMutablePointer<AVCodecContext>

    /// Opens the decoder of `stream` with `threads` decoding threads (0: FFmpeg picks). With
    /// `countingOnly`, it decodes only as far as numbering pictures needs: at the codec's lowest
    /// resolution, without IDCT or loop filter. Its pictures are unusable; their count, order and
    /// timestamps are the stream's, at a fraction of the work.
    init(stream: UnsafeMutablePointer<AVStream>, threads: Int, path: String, countingOnly: Bool = false) throws(MediaError) {
        let parameters = stream.pointee.codecpar!  // never nil: avformat_new_stream fails rather than leave a stream without one
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            let name = String(cString: avcodec_get_name(parameters.pointee.codec_id))
            throw MediaError(.unsupported, path: path, "no decoder for codec \(name)")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw MediaError(.library, path: path, "cannot allocate a decoder context")
        }
        self.context = context
        let copied = avcodec_parameters_to_context(context, parameters)
        if copied < 0 { throw MediaError(ffmpeg: copied, path: path, during: "cannot configure the decoder") }
        context.pointee.thread_count = Int32(clamping: threads)
        context.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        context.pointee.pkt_timebase = stream.pointee.time_base
        if countingOnly {
            context.pointee.lowres = Int32(codec.pointee.max_lowres)
            context.pointee.skip_idct = AVDISCARD_ALL
            context.pointee.skip_loop_filter = AVDISCARD_ALL
            context.pointee.flags2 |= AV_CODEC_FLAG2_FAST
        }
        let opened = avcodec_open2(context, codec, nil)
        if opened < 0 { throw MediaError(ffmpeg: opened, path: path, during: "cannot open the decoder") }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&owned)
    }
}

/// An AVPacket and an AVFrame, freed together in `deinit`.
final class PacketAndFrame {
    /// Reused for every av_read_frame.
    let packet: UnsafeMutablePointer<AVPacket>
    /// Reused for every avcodec_receive_frame.
    let frame: UnsafeMutablePointer<AVFrame>

    /// Allocates both, or fails with an error naming `path`.
    init(path: String) throws(MediaError) {
        guard let packet = av_packet_alloc() else {
            throw MediaError(.library, path: path, "cannot allocate a packet")
        }
        guard let frame = av_frame_alloc() else {
            var owned: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&owned)
            throw MediaError(.library, path: path, "cannot allocate a frame")
        }
        self.packet = packet
        self.frame = frame
    }

    deinit {
        var ownedPacket: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&ownedPacket)
        var ownedFrame: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&ownedFrame)
    }
}
