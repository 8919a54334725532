import CFFmpeg

/// One stream of a media file, as `probe` reports it.
public struct StreamInfo: Codable, Sendable, Equatable {
    /// Position in the container.
    public var index: Int
    /// "video", "audio", "subtitle", "data" or "attachment".
    public var kind: String
    /// FFmpeg's codec name, e.g. "h264", "vp9", "mjpeg", "aac".
    public var codec: String
    /// Video: coded width and height in pixels.
    public var width: Int?
    public var height: Int?
    /// Video: average frame rate, frames per second.
    public var frameRate: Double?
    /// Video: display rotation in degrees (counter-clockwise) from the display matrix; frames come
    /// upright unless `FrameOutput.autorotate` is off.
    public var rotation: Double?
    /// Audio: samples per second and channel count.
    public var sampleRate: Int?
    public var channels: Int?
    /// Seconds, when the container states it.
    public var duration: Double?
    /// The frame count the container header states (may be missing or wrong).
    public var declaredFrameCount: Int?
}

/// What `VideoReader.probe` finds in a file.
public struct VideoInfo: Codable, Sendable, Equatable {
    /// The file.
    public var path: String
    /// FFmpeg's name for the container format, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm".
    public var container: String
    /// Seconds, from the container.
    public var duration: Double?
    /// Every stream in the container.
    public var streams: [StreamInfo]
    /// Position of the video stream the reader decodes.
    public var videoStream: Int
    /// True frame count from indexing every packet; nil unless counting was asked for.
    public var frameCount: Int?
}

/// How `VideoReader` reaches the frames it is asked for.
public enum SeekMode: String, Sendable, Equatable, CaseIterable {
    /// Each wanted frame itself, decoded forward from the keyframe before it.
    case exact
    /// The keyframe nearest each wanted frame (the earlier on a tie): one packet decoded per
    /// frame, never the frames between. The drift is at most half the gap between the keyframes
    /// around a wanted frame (after the last keyframe, the distance to it), and
    /// `FrameBatch.frameNumbers` names the frames returned; on all-intra video it is exact.
    case approximate
}

/// The wanted frames of one forward stretch, by packet timestamp.
private struct Stretch {
    /// Every wanted frame's timestamp.
    let wanted: Set<Int64>
    /// Wanted frames whose packet has not yet gone to the decoder.
    var unsent: Set<Int64>

    init(_ timestamps: [Int64], _ frames: [Int]) {
        wanted = Set(frames.map { timestamps[$0] })
        unsent = wanted
    }
}

/// Reads frames of one video file with FFmpeg, exactly: frame k is the k-th picture in
/// presentation order, the same one the ffmpeg CLI calls frame k.
///
/// Random access seeks to the keyframe before the wanted frame and decodes forward; a
/// keyframe/timestamp index is built once per file (and kept in a process-wide cache, for files
/// only) so repeated access does not rescan. Owns every FFmpeg context it opens and frees them in `deinit`.
/// Not thread-safe: use one reader per thread.
public final class VideoReader {
    /// The file being read, or the name given to the bytes.
    public let path: String
    /// Opened again (not sought) to go back to the start of a file that cannot seek.
    private var input: MediaInput
    private let streamIndex: Int32
    private let decoder: StreamDecoder
    private let buffers: PacketAndFrame
    private var cachedIndex: FrameIndex?
    /// The decoder has been sent its end-of-stream flush and only drains now.
    private var draining = false
    /// Pictures decoded since the last rewind: the frame number in a sequential index.
    private var decodedSinceRewind = 0
    /// Cleared when seeking to the start failed and the file had to be opened again.
    private var canSeek = true
    /// Pictures the decoder has produced since the reader opened, wanted or not (indexing a
    /// stream without timestamps included): the decoding work the selections cost.
    public private(set) var picturesDecoded = 0
    /// The wanted frames of the stretch being decoded forward from one seek, when the index
    /// numbers frames by timestamp: unwanted frames no other frame needs are not decoded, and the
    /// decoder drains as soon as the last wanted packet is in.
    private var stretch: Stretch?

    /// Opens the best video stream of `path`, decoding with `threads` threads (0: FFmpeg picks).
    public convenience init(path: String, threads: Int = 1) throws(MediaError) {
        try self.init(.file(path), threads: threads)
    }

    /// Opens the best video stream of a file or of a file's bytes in memory (read in place, seeking
    /// as in a file), decoding with `threads` threads (0: FFmpeg picks).
    public init(_ source: MediaSource, threads: Int = 1) throws(MediaError) {
        path = source.name
        input = try MediaInput(file: ReadableMedia(source))
        streamIndex = try input.bestStream(AVMEDIA_TYPE_VIDEO, named: "video")
        decoder = try StreamDecoder(stream: input.stream(streamIndex), threads: threads, path: path)
        buffers = try PacketAndFrame(path: path)
    }

    /// Empties the process-wide index cache, so the next reader of every file indexes it again:
    /// what a first epoch, or a dataset larger than the cache, costs (benchmarks start here).
    public static func forgetIndexes() { FrameIndexCache.removeAll() }

    /// Streams, codecs, sizes, rates, duration, rotation; with `countFrames`, the true frame count
    /// from indexing the file (headers can be missing or wrong).
    public func probe(countFrames: Bool = false) throws(MediaError) -> VideoInfo {
        let format = input.format.pointee
        let streams = (0..<Int32(format.nb_streams)).map { streamInfo(input.stream($0), index: Int($0)) }
        let duration = format.duration == sluice_av_nopts_value() || format.duration <= 0
            ? nil : Double(format.duration) / Double(sluice_av_time_base())
        return VideoInfo(
            path: path, container: String(cString: format.iformat.pointee.name), duration: duration,
            streams: streams, videoStream: Int(streamIndex), frameCount: countFrames ? try index().count : nil)
    }

    private func streamInfo(_ stream: UnsafeMutablePointer<AVStream>, index: Int) -> StreamInfo {
        let parameters = stream.pointee.codecpar.pointee
        let kind = av_get_media_type_string(parameters.codec_type).map { String(cString: $0) } ?? "unknown"
        var info = StreamInfo(index: index, kind: kind, codec: String(cString: avcodec_get_name(parameters.codec_id)))
        let timeBase = stream.pointee.time_base
        if stream.pointee.duration != sluice_av_nopts_value() && stream.pointee.duration > 0 {
            info.duration = Double(stream.pointee.duration) * av_q2d(timeBase)
        }
        if parameters.codec_type == AVMEDIA_TYPE_VIDEO {
            info.width = Int(parameters.width)
            info.height = Int(parameters.height)
            let rate = stream.pointee.avg_frame_rate.num != 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
            info.frameRate = rate.den != 0 ? av_q2d(rate) : nil
            info.declaredFrameCount = stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil
            info.rotation = Self.displayRotation(of: stream)
        } else if parameters.codec_type == AVMEDIA_TYPE_AUDIO {
            info.sampleRate = Int(parameters.sample_rate)
            info.channels = Int(parameters.ch_layout.nb_channels)
        }
        return info
    }

    /// The keyframe/timestamp index of the video stream: built by reading every packet once
    /// (no decoding), then kept for this reader and for later readers of the same file.
    public func index() throws(MediaError) -> FrameIndex {
        if let cachedIndex { return cachedIndex }
        // A pipe's copy is new for every reader, and two byte buffers may share a name: nothing to share.
        let key = input.file.cachePath.flatMap { FrameIndexCache.key(path: $0, stream: streamIndex) }
        if let key, let cached = FrameIndexCache.lookup(key) {
            cachedIndex = cached
            return cached
        }
        let built = try scanPackets()
        cachedIndex = built
        if let key { FrameIndexCache.store(built, for: key) }
        return built
    }

    /// The index from packet timestamps, or from decoding when the packets cannot number the
    /// frames exactly (see `FrameIndex.sequential`).
    private func scanPackets() throws(MediaError) -> FrameIndex {
        // Raw elementary streams (.m1v, .264) carry no timestamps; the parser's guesses are not
        // the decoder's output order.
        if input.format.pointee.iformat.pointee.flags & AVFMT_NOTIMESTAMPS != 0 { return try scanPictures() }
        let packet = buffers.packet
        var packets: [(timestamp: Int64, duration: Int64, isKey: Bool)] = []
        var videoPackets = 0  // including those an edit list discards
        try rewind()
        while true {
            let read = av_read_frame(input.format, packet)
            if read == sluice_averror_eof() { break }
            if read < 0 { throw MediaError(ffmpeg: read, path: path, during: "cannot read packet \(packets.count)") }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            videoPackets += 1
            let flags = packet.pointee.flags
            if flags & AV_PKT_FLAG_CORRUPT != 0 {
                throw MediaError(.truncated, path: path, "video packet \(packets.count) is incomplete (file truncated or damaged)")
            }
            if flags & AV_PKT_FLAG_DISCARD != 0 { continue }
            // A packet without its own presentation time (an MPEG program stream stamps only some)
            // cannot be placed by timestamp; its decoding time would collide with another frame's.
            guard packet.pointee.pts != sluice_av_nopts_value() else {
                av_packet_unref(packet)  // scanPictures reads into the same packet
                return try scanPictures()
            }
            packets.append((packet.pointee.pts, packet.pointee.duration, flags & AV_PKT_FLAG_KEY != 0))
        }
        try input.requireListedPackets(of: streamIndex, read: videoPackets, kind: "video")
        try rewind()
        if !canSeek { return try scanPictures() }
        let stream = input.stream(streamIndex)  // after the rewinds: opening again makes new streams
        if packets.isEmpty { throw MediaError(.invalidData, path: path, "video stream has no frames") }
        let timeBase = stream.pointee.time_base
        let start = input.format.pointee.start_time
        let clockStart = start == sluice_av_nopts_value()
            ? 0 : av_rescale_q(start, AVRational(num: 1, den: sluice_av_time_base()), timeBase)
        let index = FrameIndex(packets: packets, timeBase: (Int64(timeBase.num), Int64(timeBase.den)), clockStart: clockStart)
        // Frames are told apart by timestamp; two sharing one are numbered by decoding instead.
        if zip(index.timestamps, index.timestamps.dropFirst()).contains(where: { $0 == $1 }) { return try scanPictures() }
        return index
    }

    /// The sequential index: decodes every picture once, numbering them in the order the decoder
    /// gives them, as the ffmpeg CLI's `select=eq(n\,k)` does. A picture without a usable
    /// timestamp (none, or not after the previous one) is placed one frame duration after the last.
    private func scanPictures() throws(MediaError) -> FrameIndex {
        let stream = input.stream(streamIndex)
        let timeBase = stream.pointee.time_base
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        let frameTicks = rate.num > 0 && rate.den > 0
            ? max(1, av_rescale_q(1, AVRational(num: rate.den, den: rate.num), timeBase)) : 1
        try rewind()
        // Only the pictures' number and timestamps are read here, not their pixels.
        let counter = try StreamDecoder(stream: input.stream(streamIndex), threads: 1, path: path, countingOnly: true)
        var timestamps: [Int64] = []
        while try decodeNext(in: nil, with: counter) != nil {
            let stamp = buffers.frame.pointee.best_effort_timestamp
            if let last = timestamps.last {
                timestamps.append(stamp != sluice_av_nopts_value() && stamp > last ? stamp : last &+ frameTicks)
            } else {
                timestamps.append(stamp != sluice_av_nopts_value() ? stamp : 0)
            }
        }
        try rewind()
        if timestamps.isEmpty { throw MediaError(.invalidData, path: path, "video stream has no frames") }
        let start = input.format.pointee.start_time
        let clockStart = start == sluice_av_nopts_value()
            ? min(0, timestamps[0]) : av_rescale_q(start, AVRational(num: 1, den: sluice_av_time_base()), timeBase)
        return FrameIndex(decodedTimestamps: timestamps, frameTicks: frameTicks,
                          timeBase: (Int64(timeBase.num), Int64(timeBase.den)), clockStart: clockStart)
    }

    /// Back to the start of the file, decoder emptied. A file whose demuxer cannot seek (SWF,
    /// some raw streams) is opened again instead, which only a sequential index can use.
    private func rewind() throws(MediaError) {
        if avformat_seek_file(input.format, -1, Int64.min, Int64.min, Int64.min, 0) < 0 {
            input = try MediaInput(file: input.file)
            canSeek = false
        }
        avcodec_flush_buffers(decoder.context)
        draining = false
        decodedSinceRewind = 0
    }

    /// Positions the demuxer at the keyframe `keyframe` (a frame number), decoder emptied.
    private func seek(toKeyframe keyframe: Int, in index: FrameIndex) throws(MediaError) {
        if keyframe == 0 { return try rewind() }
        let sought = av_seek_frame(input.format, streamIndex, index.timestamps[keyframe], AVSEEK_FLAG_BACKWARD)
        if sought < 0 { throw MediaError(ffmpeg: sought, path: path, during: "cannot seek to frame \(keyframe)") }
        avcodec_flush_buffers(decoder.context)
        draining = false
    }

    /// Decodes the next picture; returns its frame number, or nil at the end of the stream.
    /// Without an index, or with a sequential one, the number counts pictures since the last rewind.
    private func decodeNext(in index: FrameIndex?, with decoder: StreamDecoder? = nil) throws(MediaError) -> Int? {
        let packet = buffers.packet, frame = buffers.frame
        let decoder = decoder ?? self.decoder
        while true {
            let received = avcodec_receive_frame(decoder.context, frame)
            if received == 0 {
                picturesDecoded += 1
                guard let index, !index.sequential else {
                    decodedSinceRewind += 1
                    return decodedSinceRewind - 1
                }
                let stamp = frame.pointee.best_effort_timestamp != sluice_av_nopts_value()
                    ? frame.pointee.best_effort_timestamp : frame.pointee.pts
                guard let number = index.frameNumber(ofTimestamp: stamp) else {
                    throw MediaError(.invalidData, path: path, "decoded a picture with timestamp \(stamp), which no packet has")
                }
                return number
            }
            if received == sluice_averror_eof() { return nil }
            if received != sluice_averror_eagain() {
                throw MediaError(ffmpeg: received, path: path, during: "cannot decode a picture")
            }
            if draining { return nil }
            let read = av_read_frame(input.format, packet)
            if read == sluice_averror_eof() {
                draining = true
                avcodec_send_packet(decoder.context, nil)
                continue
            }
            if read < 0 { throw MediaError(ffmpeg: read, path: path, during: "cannot read a packet") }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            if packet.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                throw MediaError(.truncated, path: path, "a video packet is incomplete (file truncated or damaged)")
            }
            let timestamp = packet.pointee.pts
            let wanted = stretch.map { timestamp == sluice_av_nopts_value() || $0.wanted.contains(timestamp) } ?? true
            // A frame that is neither wanted nor a reference of another is not decoded at all.
            decoder.context.pointee.skip_frame = wanted ? AVDISCARD_DEFAULT : AVDISCARD_NONREF
            let sent = avcodec_send_packet(decoder.context, packet)
            if sent < 0 && sent != sluice_averror_eagain() {
                throw MediaError(ffmpeg: sent, path: path, during: "cannot decode packet at timestamp \(timestamp)")
            }
            // Every wanted frame is in the decoder: drain it rather than decode the frames after.
            if stretch?.unsent.remove(timestamp) != nil, stretch?.unsent.isEmpty == true {
                draining = true
                avcodec_send_packet(decoder.context, nil)
            }
        }
    }

    /// Decodes the frames `wanted` (any order, repeats allowed) and hands each decoded picture to
    /// `body` with its frame number, in ascending frame order.
    ///
    /// `.exact`: the wanted frames themselves. Frames are reached by seeking to the preceding
    /// keyframe only when that skips work; otherwise decoding continues forward. With a
    /// timestamp index, frames between that no wanted frame refers to are skipped, and decoding
    /// stops once the last wanted frame of a stretch is out.
    /// `.approximate`: the keyframe nearest each wanted frame, one packet decoded per keyframe.
    private func decode(
        _ wanted: [Int], in index: FrameIndex, seek mode: SeekMode,
        _ body: (Int, UnsafePointer<AVFrame>) throws(MediaError) -> Void
    ) throws(MediaError) {
        let targets = Set(wanted).sorted()
        // Stretches: runs of targets reached by decoding forward from one seek.
        var stretches: [[Int]] = []
        // Approximate targets are keyframes, each one packet away from its seek; a sequential
        // index gives exact targets in either mode.
        let forward = mode == .exact || index.sequential
        for target in targets {
            if let last = stretches.last?.last, forward, index.keyframe(atOrBefore: target) <= last {
                stretches[stretches.count - 1].append(target)
            } else {
                stretches.append([target])
            }
        }
        defer { stretch = nil }
        for frames in stretches {
            var keyframe = index.keyframe(atOrBefore: frames[0])
            try seek(toKeyframe: keyframe, in: index)
            stretch = index.sequential ? nil : Stretch(index.timestamps, frames)
            var pending = frames[...]
            var started = false  // a picture has come out since the seek
            while let target = pending.first {
                guard let number = try decodeNext(in: index) else {
                    throw MediaError(.truncated, path: path, "stream ended before frame \(target) could be decoded")
                }
                if !started && number > target {
                    // The demuxer landed after the wanted frame: step back one keyframe and retry.
                    guard keyframe > 0 else {
                        throw MediaError(.invalidData, path: path, "cannot reach frame \(target): decoding starts at frame \(number)")
                    }
                    keyframe = index.keyframe(atOrBefore: keyframe - 1)
                    try seek(toKeyframe: keyframe, in: index)
                    stretch = index.sequential ? nil : Stretch(index.timestamps, frames)
                    continue
                }
                started = true
                if number == target {
                    try body(number, buffers.frame)
                    pending.removeFirst()
                } else if number > target {
                    throw MediaError(.invalidData, path: path, "decoder skipped frame \(target)")
                }
            }
        }
    }

    /// Degrees (counter-clockwise) the stream's display matrix turns its pictures: 0 without one,
    /// nil when the matrix is not a rotation.
    private static func displayRotation(of stream: UnsafeMutablePointer<AVStream>) -> Double? {
        guard let matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nil) else { return 0 }
        let degrees = matrix.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
        return degrees.isNaN ? nil : degrees + 0  // + 0 turns -0 into 0
    }

    /// A scaler for the video stream's pictures, and the size of what it writes.
    private func scaler(for output: FrameOutput) throws(MediaError) -> (FrameScaler, width: Int, height: Int) {
        let stream = input.stream(streamIndex)
        let turn = QuarterTurn(displayRotation: Self.displayRotation(of: stream) ?? 0)
        let scaler = FrameScaler(output: output, turn: turn, path: path)
        let parameters = stream.pointee.codecpar.pointee
        let size = try scaler.outputSize(width: Int(parameters.width), height: Int(parameters.height))
        return (scaler, size.width, size.height)
    }

    /// The frame numbers `selection` names, moved to their nearest keyframes in approximate mode
    /// (a sequential index knows no keyframe but the first, so it stays exact).
    func frameNumbers(_ selection: FrameSelection, in index: FrameIndex, seek: SeekMode) throws(MediaError) -> [Int] {
        let numbers = try selection.frameNumbers(in: index, path: path)
        guard seek == .approximate, !index.sequential else { return numbers }
        return numbers.map { index.keyframe(nearest: $0) }
    }

    /// Width and height of the pictures `output` makes of this stream.
    func pictureSize(_ output: FrameOutput) throws(MediaError) -> (width: Int, height: Int) {
        let (_, width, height) = try scaler(for: output)
        return (width, height)
    }

    /// The selected frames as RGB pictures, in the selection's order.
    public func frames(
        _ selection: FrameSelection, output: FrameOutput = FrameOutput(), seek: SeekMode = .exact
    ) throws(MediaError) -> FrameBatch {
        let index = try index()
        let numbers = try frameNumbers(selection, in: index, seek: seek)
        let parameters = input.stream(streamIndex).pointee.codecpar.pointee
        let (scaler, width, height) = try scaler(for: output)
        let pictureBytes = width * height * 3
        var pixels = [UInt8](
            repeating: 0, count: try FrameOutput.batchBytes(count: numbers.count, width: width, height: height, path: path))
        var slots: [Int: [Int]] = [:]  // frame number -> positions in the output
        for (position, number) in numbers.enumerated() { slots[number, default: []].append(position) }
        try pixels.withUnsafeMutableBufferPointer { (target) throws(MediaError) in
            try decode(numbers, in: index, seek: seek) { (number, frame) throws(MediaError) in
                guard Int(frame.pointee.width) == Int(parameters.width), Int(frame.pointee.height) == Int(parameters.height) else {
                    throw MediaError(.unsupported, path: path, "frame \(number) changes the picture size mid-stream")
                }
                guard let positions = slots[number], let base = target.baseAddress else { return }
                let first = base + positions[0] &* pictureBytes
                try scaler.convert(frame, into: first)
                for position in positions.dropFirst() {
                    (base + position &* pictureBytes).update(from: first, count: pictureBytes)
                }
            }
        }
        return FrameBatch(
            frameNumbers: numbers, seconds: numbers.map { index.seconds(ofFrame: $0) },
            height: height, width: width, pixels: pixels)
    }

    /// Decodes the selected frames one at a time into one reused RGB buffer and hands each to
    /// `body` (frame number, H x W x 3 bytes), in ascending frame order, a frame selected twice
    /// twice: constant memory however long the video.
    public func forEachFrame(
        _ selection: FrameSelection, output: FrameOutput = FrameOutput(), seek: SeekMode = .exact,
        _ body: (Int, UnsafeBufferPointer<UInt8>) throws(MediaError) -> Void
    ) throws(MediaError) {
        let index = try index()
        let numbers = try frameNumbers(selection, in: index, seek: seek)
        let parameters = input.stream(streamIndex).pointee.codecpar.pointee
        let (scaler, width, height) = try scaler(for: output)
        var picture = [UInt8](repeating: 0, count: width * height * 3)
        var times: [Int: Int] = [:]  // frame number -> times selected
        for number in numbers { times[number, default: 0] += 1 }
        try picture.withUnsafeMutableBufferPointer { (buffer) throws(MediaError) in
            try decode(numbers, in: index, seek: seek) { (number, frame) throws(MediaError) in
                guard Int(frame.pointee.width) == Int(parameters.width), Int(frame.pointee.height) == Int(parameters.height) else {
                    throw MediaError(.unsupported, path: path, "frame \(number) changes the picture size mid-stream")
                }
                try scaler.convert(frame, into: buffer.baseAddress!)
                for _ in 0..<(times[number] ?? 0) { try body(number, UnsafeBufferPointer(buffer)) }
            }
        }
    }
}
