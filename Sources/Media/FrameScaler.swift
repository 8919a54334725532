import CFFmpeg

/// How far a picture turns clockwise to stand upright.
enum QuarterTurn: Int {
    case none = 0, clockwise = 90, half = 180, counterclockwise = 270

    /// The turn the ffmpeg CLI's autorotation makes for a display matrix rotation of `degrees`
    /// (counter-clockwise, as av_display_rotation_get reports it): transpose=clock for 90 degrees
    /// clockwise, hflip + vflip for 180, transpose=cclock for 270. Other angles (the CLI's rotate
    /// filter, rare outside test files) are left unturned.
    init(displayRotation degrees: Double) {
        var clockwise = -degrees
        clockwise -= 360 * (clockwise / 360 + 0.9 / 360).rounded(.down)
        self = [.clockwise, .half, .counterclockwise].first { abs(clockwise - Double($0.rawValue)) < 1 } ?? .none
    }

    /// Whether width and height trade places.
    var swapsSides: Bool { self == .clockwise || self == .counterclockwise }
}

/// Converts decoded frames to packed RGB24 through libswscale's frame API (which can slice-thread),
/// turning them upright when asked; owns the SwsContext and the destination AVFrame.
final class FrameScaler {
    private var context: OpaquePointer?
    /// Source width, height and pixel format the context was built for.
    private var configured: (Int32, Int32, Int32)?
    private let destination: UnsafeMutablePointer<AVFrame>?
    private let output: FrameOutput
    private let turn: QuarterTurn
    private let path: String
    /// The full scaled picture when a crop follows; empty otherwise.
    private var scratch: [UInt8] = []
    /// The decoded picture turned upright, plane by plane, before scaling.
    private let upright: UnsafeMutablePointer<AVFrame>?
    /// A picture whose format cannot be turned, converted to one that can, and the scaler for that.
    private let intermediate: UnsafeMutablePointer<AVFrame>?
    private var formatContext: OpaquePointer?
    private var convertedFrom: Int32 = -1
    /// The last unturnable format seen and the format it is converted to (a search over every format).
    private var closest: (from: AVPixelFormat, to: AVPixelFormat)?

    /// A scaler for `output`, turning pictures by `turn` when `output.autorotate` is on.
    init(output: FrameOutput, turn: QuarterTurn, path: String) {
        self.output = output
        self.turn = output.autorotate ? turn : .none
        self.path = path
        destination = av_frame_alloc()
        upright = av_frame_alloc()
        intermediate = av_frame_alloc()
    }

    deinit {
        sws_freeContext(context)
        var owned = destination
        av_frame_free(&owned)
        owned = upright
        av_frame_free(&owned)
        owned = intermediate
        av_frame_free(&owned)
        sws_freeContext(formatContext)
    }

    /// Output (width, height) for frames of the given source size.
    func outputSize(width: Int, height: Int) throws(MediaError) -> (width: Int, height: Int) {
        let g = try geometry(width: width, height: height)
        return (g.width, g.height)
    }

    /// The output geometry, worked out on the upright picture as the CLI scales after turning.
    private func geometry(width: Int, height: Int) throws(MediaError)
        -> (scaledWidth: Int, scaledHeight: Int, cropX: Int, cropY: Int, width: Int, height: Int)
    {
        turn.swapsSides
            ? try output.geometry(width: height, height: width, path: path)
            : try output.geometry(width: width, height: height, path: path)
    }

    /// A context for this source size and format (rebuilt only when they change).
    private func prepare(_ source: AVFrame, scaledWidth: Int, scaledHeight: Int) throws(MediaError) -> OpaquePointer {
        if let context, let configured, configured == (source.width, source.height, source.format) { return context }
        sws_freeContext(context)
        context = sws_alloc_context()
        configured = nil
        guard let context else { throw MediaError(.library, path: path, "cannot allocate a scaler") }
        let object = UnsafeMutableRawPointer(context)
        for (name, value) in [("srcw", Int(source.width)), ("srch", Int(source.height)), ("src_format", Int(source.format)),
                              ("dstw", scaledWidth), ("dsth", scaledHeight), ("dst_format", Int(AV_PIX_FMT_RGB24.rawValue)),
                              ("sws_flags", Int(output.filter.swsFlag)), ("threads", max(1, output.scalerThreads))] {
            av_opt_set_int(object, name, Int64(value), 0)
        }
        let initialised = sws_init_context(context, nil, nil)
        if initialised < 0 {
            throw MediaError(ffmpeg: initialised, path: path, during: "cannot convert pixel format \(source.format) to RGB")
        }
        configured = (source.width, source.height, source.format)
        return context
    }

    /// Writes `frame` as RGB24 into `target` (output width x height x 3 bytes, tightly packed).
    /// A turn is made on the decoded planes before scaling, as the ffmpeg CLI's transpose and flip
    /// filters do, so the pixels match the CLI's.
    func convert(_ frame: UnsafePointer<AVFrame>, into target: UnsafeMutablePointer<UInt8>) throws(MediaError) {
        guard turn != .none else { return try scale(frame, into: target) }
        // A format that cannot be turned as decoded (4:2:2, say) is converted first, as the CLI's
        // filter graph does: straight to RGB when nothing is scaled after the turn, else to the
        // closest format that can be turned.
        let format = AVPixelFormat(frame.pointee.format)
        guard !Self.turnable(format) else { return try scale(try turnedPlanes(frame), into: target) }
        if output.size == .native {
            return try scale(try turnedPlanes(try converted(frame, to: AV_PIX_FMT_RGB24)), into: target)
        }
        if closest?.from != format { closest = (format, Self.closestTurnable(to: format)) }
        try scale(try turnedPlanes(try converted(frame, to: closest!.to)), into: target)
    }

    /// Whether the planes of `format` can be turned pixel by pixel: chroma subsampled equally both
    /// ways (what FFmpeg's transpose filter accepts), and whole bytes per pixel.
    private static func turnable(_ format: AVPixelFormat) -> Bool {
        guard let d = av_pix_fmt_desc_get(format)?.pointee else { return false }
        let excluded = UInt64(AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL)
        return d.flags & excluded == 0 && d.log2_chroma_w == d.log2_chroma_h
    }

    /// The turnable format FFmpeg's filter graph would convert `format` to before turning it: the
    /// best of them by av_find_best_pix_fmt_of_2, as its format negotiation picks.
    private static func closestTurnable(to format: AVPixelFormat) -> AVPixelFormat {
        let alpha = Int32((av_pix_fmt_desc_get(format)?.pointee.flags ?? 0) & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 ? 1 : 0)
        var best = AV_PIX_FMT_NONE, descriptor = av_pix_fmt_desc_next(nil)
        while let current = descriptor {
            let candidate = av_pix_fmt_desc_get_id(current)
            if turnable(candidate) && sws_isSupportedOutput(candidate) != 0 {
                best = best == AV_PIX_FMT_NONE ? candidate : av_find_best_pix_fmt_of_2(best, candidate, format, alpha, nil)
            }
            descriptor = av_pix_fmt_desc_next(current)
        }
        return best
    }

    /// `frame` in `format` at the same size, through a scaler kept for the next frame; the CLI's
    /// auto-inserted conversion uses its default bicubic flags.
    private func converted(_ frame: UnsafePointer<AVFrame>, to format: AVPixelFormat) throws(MediaError) -> UnsafePointer<AVFrame> {
        let source = frame.pointee
        guard let intermediate else { throw MediaError(.library, path: path, "cannot allocate a frame") }
        if intermediate.pointee.width != source.width || intermediate.pointee.height != source.height
            || intermediate.pointee.format != format.rawValue || convertedFrom != source.format {
            av_frame_unref(intermediate)
            intermediate.pointee.width = source.width
            intermediate.pointee.height = source.height
            intermediate.pointee.format = format.rawValue
            let allocated = av_frame_get_buffer(intermediate, 0)
            if allocated < 0 { throw MediaError(ffmpeg: allocated, path: path, during: "cannot allocate a converted picture") }
            sws_freeContext(formatContext)
            convertedFrom = source.format
            formatContext = sws_getContext(source.width, source.height, AVPixelFormat(source.format),
                                           source.width, source.height, format, SWS_BICUBIC, nil, nil, nil)
        }
        guard let formatContext else {
            throw MediaError(.unsupported, path: path, "cannot convert pixel format \(source.format) to turn it")
        }
        let done = sws_scale_frame(formatContext, intermediate, frame)
        if done < 0 { throw MediaError(ffmpeg: done, path: path, during: "cannot convert a picture to turn it") }
        return UnsafePointer(intermediate)
    }

    /// `frame`, in a turnable format, turned upright plane by plane in a frame this scaler owns.
    private func turnedPlanes(_ planar: UnsafePointer<AVFrame>) throws(MediaError) -> UnsafePointer<AVFrame> {
        let source = planar.pointee
        let format = AVPixelFormat(source.format)
        guard let upright, let d = av_pix_fmt_desc_get(format)?.pointee else {
            throw MediaError(.library, path: path, "cannot allocate a frame")
        }
        let (width, height) = turn.swapsSides ? (source.height, source.width) : (source.width, source.height)
        if upright.pointee.width != width || upright.pointee.height != height || upright.pointee.format != source.format {
            av_frame_unref(upright)
            upright.pointee.width = width
            upright.pointee.height = height
            upright.pointee.format = source.format
            let allocated = av_frame_get_buffer(upright, 0)
            if allocated < 0 { throw MediaError(ffmpeg: allocated, path: path, during: "cannot allocate a turned picture") }
        }
        av_frame_copy_props(upright, planar)
        // Per plane: bytes per pixel (the widest component step in it) and whether it holds chroma.
        let components = [d.comp.0, d.comp.1, d.comp.2, d.comp.3].prefix(Int(d.nb_components))
        var pixelBytes = [Int](repeating: 0, count: 4), chroma = [Bool](repeating: false, count: 4)
        for (c, component) in components.enumerated() {
            let plane = Int(component.plane)
            pixelBytes[plane] = max(pixelBytes[plane], Int(component.step))
            if c == 1 || c == 2 { chroma[plane] = true }
        }
        let shift = Int(d.log2_chroma_w)
        for plane in 0..<Int(av_pix_fmt_count_planes(format)) {
            let s = chroma[plane] ? shift : 0
            let w = (Int(source.width) + (1 << s) - 1) >> s, h = (Int(source.height) + (1 << s) - 1) >> s
            Self.turn(turn, from: Self.plane(planar, plane), stride: Self.stride(planar, plane), width: w, height: h,
                      bytes: pixelBytes[plane], into: Self.plane(upright, plane), stride: Self.stride(upright, plane),
                      crop: (0, 0, turn.swapsSides ? h : w, turn.swapsSides ? w : h))
        }
        return UnsafePointer(upright)
    }

    /// Plane `index` of a frame's data, and its row stride in bytes.
    private static func plane(_ frame: UnsafePointer<AVFrame>, _ index: Int) -> UnsafeMutablePointer<UInt8> {
        withUnsafeBytes(of: frame.pointee.data) { $0.load(fromByteOffset: index * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride,
                                                          as: UnsafeMutablePointer<UInt8>?.self)! }
    }

    private static func stride(_ frame: UnsafePointer<AVFrame>, _ index: Int) -> Int {
        withUnsafeBytes(of: frame.pointee.linesize) { Int($0.load(fromByteOffset: index * 4, as: Int32.self)) }
    }

    /// Scales `frame` into RGB at the output geometry.
    private func scale(_ frame: UnsafePointer<AVFrame>, into target: UnsafeMutablePointer<UInt8>) throws(MediaError) {
        let source = frame.pointee
        let g = try output.geometry(width: Int(source.width), height: Int(source.height), path: path)
        let context = try prepare(source, scaledWidth: g.scaledWidth, scaledHeight: g.scaledHeight)
        guard let destination else { throw MediaError(.library, path: path, "cannot allocate a frame") }
        // Scaled straight into `target` only when nothing is cropped and no row can spill.
        let paddedWidth = (g.scaledWidth + Self.rowGroup - 1) / Self.rowGroup * Self.rowGroup
        let staged = g.scaledWidth != g.width || g.scaledHeight != g.height || paddedWidth != g.scaledWidth
        let stride = staged ? paddedWidth * 3 : g.scaledWidth * 3
        if staged && scratch.count != stride * g.scaledHeight {
            scratch = [UInt8](repeating: 0, count: stride * g.scaledHeight)
        }
        try scratch.withUnsafeMutableBufferPointer { (scratchBuffer) throws(MediaError) in
            let pixels = staged ? scratchBuffer.baseAddress! : target
            // The frame API wants a refcounted destination: wrap our memory, with a no-op free.
            guard let buffer = av_buffer_create(pixels, stride * g.scaledHeight, { _, _ in }, nil, 0) else {
                throw MediaError(.library, path: path, "cannot wrap the output buffer")
            }
            destination.pointee.buf.0 = buffer
            destination.pointee.data.0 = pixels
            destination.pointee.linesize.0 = Int32(stride)
            destination.pointee.width = Int32(g.scaledWidth)
            destination.pointee.height = Int32(g.scaledHeight)
            destination.pointee.format = AV_PIX_FMT_RGB24.rawValue
            let scaled = sws_scale_frame(context, destination, frame)
            av_frame_unref(destination)
            if scaled < 0 { throw MediaError(ffmpeg: scaled, path: path, during: "cannot scale a picture") }
            if staged {
                Self.turn(.none, from: pixels, stride: stride, width: g.scaledWidth, height: g.scaledHeight,
                          bytes: 3, into: target, stride: g.width * 3, crop: (g.cropX, g.cropY, g.width, g.height))
            }
        }
    }

    /// libswscale's packed-RGB writers fill whole groups of pixels (x86's YUV-to-RGB converter
    /// writes rows of 8), so a row of another width spills past its end: over the next row (which
    /// a slice on another scaler thread may already have written) and, after the last row, past
    /// the buffer (a 4x2 video corrupted the heap). Such widths are scaled into `scratch`, whose
    /// rows are padded to a whole number of groups, and copied out.
    private static let rowGroup = 16

    /// Writes the `crop` (x, y, width, height) of the picture `from` turned upright by `turn` to
    /// `into`; pixels are `bytes` wide, rows `stride` bytes apart (`.none` just crops). Upright pixel (y, x) sits at
    /// stored (row, column): a walk over the stored picture with fixed steps per output column
    /// and per output row.
    private static func turn(_ turn: QuarterTurn, from: UnsafePointer<UInt8>, stride: Int, width: Int, height: Int, bytes: Int,
                             into: UnsafeMutablePointer<UInt8>, stride outStride: Int,
                             crop: (x: Int, y: Int, width: Int, height: Int)) {
        let lastRow = height - 1, lastColumn = width - 1
        let start: (row: Int, column: Int), columnStep: (row: Int, column: Int), rowStep: (row: Int, column: Int)
        switch turn {
        case .none: (start, columnStep, rowStep) = ((crop.y, crop.x), (0, 1), (1, 0))
        case .clockwise: (start, columnStep, rowStep) = ((lastRow - crop.x, crop.y), (-1, 0), (0, 1))
        case .counterclockwise: (start, columnStep, rowStep) = ((crop.x, lastColumn - crop.y), (1, 0), (0, -1))
        case .half: (start, columnStep, rowStep) = ((lastRow - crop.y, lastColumn - crop.x), (0, -1), (-1, 0))
        }
        let offset = { (step: (row: Int, column: Int)) in step.row &* stride &+ step.column &* bytes }
        let along = offset(columnStep), down = offset(rowStep)
        var rowStart = offset(start)
        for y in 0..<crop.height {
            let out = into + y &* outStride
            if along == bytes {  // no turn: whole rows at once
                out.update(from: from + rowStart, count: crop.width &* bytes)
            } else {
                var at = rowStart
                for x in 0..<crop.width {
                    for byte in 0..<bytes { out[x &* bytes &+ byte] = from[at &+ byte] }
                    at &+= along
                }
            }
            rowStart &+= down
        }
    }
}
