import CFFmpeg
import CSndFile

/// Reads audio into an `AudioBuffer`: audio files through libsndfile, audio tracks of video
/// containers through FFmpeg and libswresample.
public enum AudioReader {
    /// Extensions libsndfile reads; `load` sends everything else to FFmpeg.
    public static let soundFileExtensions: Set<String> = [
        "wav", "wave", "flac", "ogg", "oga", "opus", "aif", "aiff", "aifc", "au", "snd", "caf", "w64", "rf64", "mp3",
    ]

    /// The audio of any file, as a pipeline wants it: optionally mixed to mono and resampled.
    public static func load(path: String, sampleRate: Int? = nil, mono: Bool = true) throws(MediaError) -> AudioBuffer {
        try load(.file(path), sampleRate: sampleRate, mono: mono)
    }

    /// The audio of a file or of a file's bytes, optionally mixed to mono and resampled. Picks
    /// libsndfile or FFmpeg by the extension of the path or of the name given to the bytes (bytes
    /// named without a sound-file extension go to FFmpeg, which tells formats by their contents).
    public static func load(_ source: MediaSource, sampleRate: Int? = nil, mono: Bool = true) throws(MediaError) -> AudioBuffer {
        var audio = soundFileExtensions.contains(source.fileExtension) ? try readSoundFile(source) : try readTrack(source)
        if mono { audio = audio.mono() }
        if let sampleRate { audio = try audio.resampled(to: sampleRate) }
        return audio
    }

    /// Every frame of an audio file through libsndfile (WAV, FLAC, Ogg/Vorbis, Opus, AIFF, ...);
    /// bytes in memory through its virtual I/O.
    public static func readSoundFile(_ source: MediaSource) throws(MediaError) -> AudioBuffer {
        let readable = try ReadableMedia(source)
        let path = readable.name
        var info = SF_INFO()
        var cursor: MemoryCursor?
        let opened: OpaquePointer?
        switch readable.content {
        case .file(let readPath):
            opened = sf_open(readPath, Int32(sluice_sfm_read), &info)
        case .memory(let bytes):
            cursor = MemoryCursor(bytes)
            opened = SoundFileIO.open(cursor!, info: &info)
        }
        defer { withExtendedLifetime(cursor) {} }  // read through until sf_close
        guard let file = opened else {
            let status = sf_error(nil)
            let code: MediaError.Code = switch Int(status) {
            case SF_ERR_SYSTEM: .unreadable
            case SF_ERR_UNSUPPORTED_ENCODING: .unsupported
            default: .invalidData
            }
            throw MediaError(code, path: path, "libsndfile cannot open it: \(String(cString: sf_error_number(status)))")
        }
        defer { sf_close(file) }
        let channels = Int(info.channels), expected = Int(info.frames)
        guard channels > 0, info.samplerate > 0, Int(info.samplerate) <= AudioBuffer.maximumSampleRate else {
            throw MediaError(.invalidData, path: path, "header gives \(channels) channels at \(info.samplerate) Hz (rates go up to \(AudioBuffer.maximumSampleRate))")
        }
        var samples: [Float] = []
        // The header's frame count is reserved only up to 16M samples: a hostile FLAC header may
        // promise 2^36 frames in a few bytes (the truncation check below says so after reading).
        samples.reserveCapacity(min(max(0, expected), (1 << 24) / channels) * channels)
        let chunk = 65536
        var block = [Float](repeating: 0, count: chunk * channels)
        while true {
            let read = Int(sf_readf_float(file, &block, sf_count_t(chunk)))
            if read <= 0 { break }
            samples.append(contentsOf: block[0..<read * channels])
        }
        // A cut FLAC file loses sync in its last frame: fewer frames than STREAMINFO promises says why.
        if expected > 0 && samples.count / channels < expected {
            throw MediaError(.truncated, path: path,
                             "file truncated: header promises \(expected) frames, \(samples.count / channels) are present")
        }
        if sf_error(file) != 0 {
            throw MediaError(.invalidData, path: path, "libsndfile: \(String(cString: sf_strerror(file)))")
        }
        return AudioBuffer(source: path, sampleRate: Int(info.samplerate), channels: channels, samples: samples)
    }

    /// The best audio track of any FFmpeg-readable file (MP4, MKV, WebM, AVI, ...), decoded and
    /// converted to interleaved float at its own rate and channel count.
    public static func readTrack(_ source: MediaSource) throws(MediaError) -> AudioBuffer {
        let input = try MediaInput(file: ReadableMedia(source))
        let path = input.path
        let streamIndex = try input.bestStream(AVMEDIA_TYPE_AUDIO, named: "audio")
        let decoder = try StreamDecoder(stream: input.stream(streamIndex), threads: 1, path: path)
        let buffers = try PacketAndFrame(path: path)
        let parameters = decoder.context.pointee
        let rate = Int(parameters.sample_rate), channels = Int(parameters.ch_layout.nb_channels)
        guard rate > 0, rate <= AudioBuffer.maximumSampleRate, channels > 0 else {
            throw MediaError(.invalidData, path: path, "audio track has \(channels) channels at \(rate) Hz (rates go up to \(AudioBuffer.maximumSampleRate))")
        }
        let resampler = try Resampler(
            inputRate: rate, inputChannels: channels, inputFormat: parameters.sample_fmt, outputRate: rate, path: path)
        var samples: [Float] = []
        var draining = false, packets = 0
        while true {
            let received = avcodec_receive_frame(decoder.context, buffers.frame)
            if received == 0 {
                let frame = buffers.frame
                guard Int(frame.pointee.ch_layout.nb_channels) == channels, Int(frame.pointee.sample_rate) == rate,
                      frame.pointee.format == parameters.sample_fmt.rawValue
                else {
                    throw MediaError(.unsupported, path: path, "audio changes its format, rate or channel count mid-stream")
                }
                // extended_data holds one plane per channel for planar formats (any channel count).
                let planeCount = av_sample_fmt_is_planar(parameters.sample_fmt) != 0 ? channels : 1
                var planes = (0..<planeCount).map { UnsafePointer(frame.pointee.extended_data[$0]) }
                samples.append(contentsOf: try resampler.convert(planes: &planes, frames: Int(frame.pointee.nb_samples)))
                av_frame_unref(frame)
                continue
            }
            if received == sluice_averror_eof() || (draining && received == sluice_averror_eagain()) { break }
            if received != sluice_averror_eagain() {
                throw MediaError(ffmpeg: received, path: path, during: "cannot decode audio")
            }
            let read = av_read_frame(input.format, buffers.packet)
            if read == sluice_averror_eof() {
                try input.requireListedPackets(of: streamIndex, read: packets, kind: "audio")
                draining = true
                avcodec_send_packet(decoder.context, nil)
                continue
            }
            if read < 0 { throw MediaError(ffmpeg: read, path: path, during: "cannot read an audio packet") }
            defer { av_packet_unref(buffers.packet) }
            guard buffers.packet.pointee.stream_index == streamIndex else { continue }
            packets += 1
            if buffers.packet.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                throw MediaError(.truncated, path: path, "audio packet \(packets - 1) is incomplete (file truncated or damaged)")
            }
            let sent = avcodec_send_packet(decoder.context, buffers.packet)
            if sent < 0 && sent != sluice_averror_eagain() {
                throw MediaError(ffmpeg: sent, path: path, during: "cannot decode an audio packet")
            }
        }
        samples.append(contentsOf: try resampler.flush())
        return AudioBuffer(source: path, sampleRate: rate, channels: channels, samples: samples)
    }
}
