import CFFmpeg

/// Decodes still pictures (JPEG, PNG, WebP: whatever FFmpeg's image demuxers read) into the RGB
/// pictures `VideoReader` gives, as a batch of one frame: an image is a one-frame clip to every
/// stage downstream. Pixels are those of `ffmpeg -i IMAGE -pix_fmt rgb24`: grey, palette, alpha
/// (dropped, not blended) and 16-bit pictures all come out as 8-bit RGB through libswscale. EXIF
/// orientation is not applied (nor is it by the ffmpeg CLI).
public enum ImageReader {
    /// The picture of an image file or of an image's bytes, sized by `output` (`autorotate` has
    /// nothing to turn: a still image has no display matrix).
    public static func decode(_ source: MediaSource, output: FrameOutput = FrameOutput()) throws(MediaError) -> FrameBatch {
        let input = try MediaInput(file: ReadableMedia(source))
        let name = input.path
        let demuxer = String(cString: input.format.pointee.iformat.pointee.name)
        // image2 reads image files by their extension; jpeg_pipe, png_pipe, webp_pipe, ... read
        // images by their contents (bytes, or a file with another extension).
        guard demuxer == "image2" || demuxer.hasSuffix("_pipe") else {
            throw MediaError(.unsupported, path: name, "is not a still image (FFmpeg reads it as '\(demuxer)')")
        }
        let streamIndex = try input.bestStream(AVMEDIA_TYPE_VIDEO, named: "picture")
        let decoder = try StreamDecoder(stream: input.stream(streamIndex), threads: 1, path: name)
        let buffers = try PacketAndFrame(path: name)
        let frame = buffers.frame
        do {
            try decodeFirstPicture(of: input, stream: streamIndex, with: decoder, into: buffers)
        } catch {
            // FFmpeg's decoders refuse a size over their limit as mere invalid data: say what it was.
            if let (width, height) = declaredSize(input.file.head(1 << 16)),
               let tooLarge = MediaError.frameSizeTooLarge(width: width, height: height, path: name) {
                throw tooLarge
            }
            throw error
        }
        defer { av_frame_unref(frame) }
        let scaler = FrameScaler(output: output, turn: .none, path: name)
        let size = try scaler.outputSize(width: Int(frame.pointee.width), height: Int(frame.pointee.height))
        var pixels = [UInt8](repeating: 0, count: try FrameOutput.batchBytes(count: 1, width: size.width, height: size.height, path: name))
        try pixels.withUnsafeMutableBufferPointer { (target) throws(MediaError) in
            try scaler.convert(frame, into: target.baseAddress!)
        }
        return FrameBatch(frameNumbers: [0], seconds: [0], height: size.height, width: size.width, pixels: pixels)
    }

    /// Sends the stream's packets to the decoder until a picture comes out, in `buffers.frame`.
    private static func decodeFirstPicture(
        of input: MediaInput, stream streamIndex: Int32, with decoder: StreamDecoder, into buffers: PacketAndFrame
    ) throws(MediaError) {
        let name = input.path
        while true {
            let received = avcodec_receive_frame(decoder.context, buffers.frame)
            if received == 0 { return }
            if received == sluice_averror_eof() { throw MediaError(.invalidData, path: name, "holds no picture") }
            if received != sluice_averror_eagain() { throw MediaError(ffmpeg: received, path: name, during: "cannot decode the picture") }
            let read = av_read_frame(input.format, buffers.packet)
            if read == sluice_averror_eof() {
                avcodec_send_packet(decoder.context, nil)  // drain: the picture may still be inside
                continue
            }
            if read < 0 { throw MediaError(ffmpeg: read, path: name, during: "cannot read the picture") }
            defer { av_packet_unref(buffers.packet) }
            guard buffers.packet.pointee.stream_index == streamIndex else { continue }
            if buffers.packet.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                throw MediaError(.truncated, path: name, "the picture's data is incomplete (file truncated or damaged)")
            }
            let sent = avcodec_send_packet(decoder.context, buffers.packet)
            if sent < 0 && sent != sluice_averror_eagain() {
                throw MediaError(ffmpeg: sent, path: name, during: "cannot decode the picture")
            }
        }
    }

    /// The width and height a PNG's IHDR or a JPEG's frame header (SOFn) in `head` states, or nil.
    static func declaredSize(_ head: [UInt8]) -> (width: Int, height: Int)? {
        func integer(_ bytes: ArraySlice<UInt8>) -> Int { bytes.reduce(0) { $0 << 8 | Int($1) } }
        if head.count >= 24, head.starts(with: [0x89, 0x50, 0x4E, 0x47]), head[12..<16].elementsEqual("IHDR".utf8) {
            return (integer(head[16..<20]), integer(head[20..<24]))
        }
        guard head.starts(with: [0xFF, 0xD8]) else { return nil }
        var offset = 2
        while offset + 9 <= head.count, head[offset] == 0xFF {
            let marker = head[offset + 1]
            // SOF0...SOF15 but DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                return (integer(head[offset + 7..<offset + 9]), integer(head[offset + 5..<offset + 7]))
            }
            offset += 2 + integer(head[offset + 2..<offset + 4])
        }
        return nil
    }
}
