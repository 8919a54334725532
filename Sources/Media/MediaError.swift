import CFFmpeg
import SystemErrors

/// A media file could not be read: which file, what was being done, and why.
///
/// Every failure on input data surfaces as this error (never a crash), so a pipeline can
/// quarantine the record under its `skip` policy and a user can see what to fix.
public struct MediaError: CodedError, Equatable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Code: String, Sendable {
        /// The file does not exist or cannot be opened.
        case unreadable
        /// A directory, device or socket: reading it could block or never end (/dev/zero).
        case notRegularFile
        /// Zero bytes.
        case empty
        /// Not a recognisable media file, or its header is damaged.
        case invalidData
        /// The data ends early or a packet is incomplete.
        case truncated
        /// No stream of the requested kind, or no decoder for its codec.
        case unsupported
        /// A frame index, timestamp or option outside what the file or the operation allows.
        case outOfRange
        /// The output file could not be written (a full disk, a read-only file system).
        case writeFailed
        /// A native library call failed for a reason not listed above.
        case library
    }

    /// What kind of failure.
    public let code: Code
    /// The file that failed.
    public let path: String
    /// A sentence a user can act on.
    public let reason: String

    /// Builds the error from its parts.
    public init(_ code: Code, path: String, _ reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    /// Translates an FFmpeg return code into the kind a user cares about, keeping FFmpeg's text.
    init(ffmpeg result: Int32, path: String, during action: String) {
        let code: Code
        switch result {
        case sluice_averror(ENOENT), sluice_averror(EACCES), sluice_averror(EISDIR): code = .unreadable
        case sluice_averror_eof(): code = .truncated
        case sluice_averror(EINVAL), sluice_averror(ENOSYS): code = .unsupported
        case sluice_averror_invaliddata(): code = .invalidData
        default: code = .library
        }
        self.init(code, path: path, "\(action): \(ffmpegMessage(result))")
    }

    /// The error for a frame size a header states that FFmpeg will not decode (`av_image_check_size`),
    /// or nil when it will or the size is not known (a side of 0). Said in plain words because
    /// FFmpeg's own code for it is EINVAL or, from the YUV4MPEG demuxer, an unrelated errno.
    static func frameSizeTooLarge(width: Int, height: Int, path: String) -> MediaError? {
        guard width > 0, height > 0 else { return nil }
        if width <= Int32.max, height <= Int32.max, av_image_check_size(UInt32(width), UInt32(height), 0, nil) >= 0 { return nil }
        return MediaError(.invalidData, path: path,
                          "frame size \(width)x\(height) in its header is too large to decode: FFmpeg takes frames up to "
                              + "about 268 million pixels ((8 x width + 1024) x (height + 128) below 2^31)")
    }

    /// A file that cannot be opened or written is the system's; the rest, a device or directory
    /// given as a media file included, is the data's.
    public var failure: Failure {
        switch code {
        case .unreadable, .writeFailed: .io
        case .notRegularFile, .empty, .invalidData, .truncated, .unsupported, .outOfRange, .library: .data
        }
    }

    public var description: String { "\(path): \(reason)" }
}

/// FFmpeg's own text for an error code.
func ffmpegMessage(_ code: Int32) -> String {
    let size = Int(sluice_av_error_max_string_size())
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { buffer in
        String(cString: sluice_av_err2str(code, buffer.baseAddress, size))
    }
}
