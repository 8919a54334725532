import CFFmpeg

/// The libswscale interpolation filter used to resize (and to convert YUV to RGB).
public enum ScaleFilter: String, Sendable, CaseIterable, Codable {
    case fastBilinear = "fast_bilinear", bilinear, bicubic, point, area, lanczos, spline

    /// The SWS_* flag; bicubic is also what the ffmpeg CLI's scale filter uses by default.
    var swsFlag: Int32 {
        switch self {
        case .fastBilinear: SWS_FAST_BILINEAR
        case .bilinear: SWS_BILINEAR
        case .bicubic: SWS_BICUBIC
        case .point: SWS_POINT
        case .area: SWS_AREA
        case .lanczos: SWS_LANCZOS
        case .spline: SWS_SPLINE
        }
    }
}

/// The size of the output pictures.
public enum FrameSize: Sendable, Equatable {
    /// The coded size of the stream.
    case native
    /// Exactly `width` x `height` (aspect ratio not kept).
    case exact(width: Int, height: Int)
    /// Scale so the shorter side is `shorterSide` (aspect kept), then cut the centre
    /// `width` x `height` out of it: the usual training-time resize.
    case shorterSideThenCrop(shorterSide: Int, width: Int, height: Int)
}

/// How decoded frames are turned into RGB pictures.
public struct FrameOutput: Sendable, Equatable {
    /// Output size.
    public var size: FrameSize
    /// Resize filter.
    public var filter: ScaleFilter
    /// libswscale slice threads per picture (1: the caller's thread only). The ffmpeg CLI's scale
    /// filter slice-threads over every core by default.
    public var scalerThreads: Int

    /// RGB at `size` through `filter`, scaled on `scalerThreads` threads.
    public init(size: FrameSize = .native, filter: ScaleFilter = .bicubic, scalerThreads: Int = 1) {
        self.size = size
        self.filter = filter
        self.scalerThreads = scalerThreads
    }

    /// The (scaled width, scaled height, crop x, crop y, output width, output height) for a
    /// source of `width` x `height`.
    func geometry(width: Int, height: Int, path: String) throws(MediaError)
        -> (scaledWidth: Int, scaledHeight: Int, cropX: Int, cropY: Int, width: Int, height: Int)
    {
        switch size {
        case .native:
            return (width, height, 0, 0, width, height)
        case .exact(let w, let h):
            guard w > 0, h > 0 else { throw MediaError(.outOfRange, path: path, "output size \(w)x\(h) is empty") }
            return (w, h, 0, 0, w, h)
        case .shorterSideThenCrop(let side, let w, let h):
            let scaledWidth = width <= height ? side : Int((Double(width) * Double(side) / Double(height)).rounded())
            let scaledHeight = width <= height ? Int((Double(height) * Double(side) / Double(width)).rounded()) : side
            guard side > 0, w > 0, h > 0, w <= scaledWidth, h <= scaledHeight else {
                throw MediaError(.outOfRange, path: path,
                                 "crop \(w)x\(h) does not fit in \(scaledWidth)x\(scaledHeight) (shorter side \(side))")
            }
            return (scaledWidth, scaledHeight, (scaledWidth - w) / 2, (scaledHeight - h) / 2, w, h)
        }
    }
}

/// Decoded pictures: `count` RGB uint8 images, each `height` x `width` x 3 (HWC), back to back.
public struct FrameBatch: Sendable, Equatable {
    /// Frame numbers in the stream, one per picture.
    public var frameNumbers: [Int]
    /// Seconds from the stream start, one per picture.
    public var seconds: [Double]
    /// Picture height in pixels.
    public var height: Int
    /// Picture width in pixels.
    public var width: Int
    /// N x H x W x 3 bytes, RGB.
    public var pixels: [UInt8]

    /// Wraps pictures already in N x H x W x 3 layout.
    public init(frameNumbers: [Int], seconds: [Double], height: Int, width: Int, pixels: [UInt8]) {
        self.frameNumbers = frameNumbers
        self.seconds = seconds
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// Number of pictures.
    public var count: Int { frameNumbers.count }

    /// Bytes of one picture.
    public var pictureBytes: Int { height * width * 3 }

    /// The pixels as float32 N x 3 x H x W (CHW), each channel as (value / 255 - mean) / std:
    /// the layout and normalisation image models take.
    public func normalizedCHW(mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]) -> [Float] {
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per RGB channel")
        let plane = height * width
        var result = [Float](repeating: 0, count: count * 3 * plane)
        let scale = (0..<3).map { 1 / (255 * std[$0]) }, shift = (0..<3).map { -mean[$0] / std[$0] }
        pixels.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for picture in 0..<count {
                    let from = picture &* plane &* 3, to = picture &* plane &* 3
                    for channel in 0..<3 {
                        let a = scale[channel], b = shift[channel], base = to &+ channel &* plane
                        for pixel in 0..<plane {
                            target[base &+ pixel] = Float(source[from &+ pixel &* 3 &+ channel]) * a + b
                        }
                    }
                }
            }
        }
        return result
    }
}

/// Converts decoded frames to packed RGB24 through libswscale's frame API (which can slice-thread);
/// owns the SwsContext and the destination AVFrame.
final class FrameScaler {
    private var context: OpaquePointer?
    /// Source width, height and pixel format the context was built for.
    private var configured: (Int32, Int32, Int32)?
    private let destination: UnsafeMutablePointer<AVFrame>?
    private let output: FrameOutput
    private let path: String
    /// The full scaled picture when a crop follows; empty otherwise.
    private var scratch: [UInt8] = []

    init(output: FrameOutput, path: String) {
        self.output = output
        self.path = path
        destination = av_frame_alloc()
    }

    deinit {
        sws_freeContext(context)
        var owned = destination
        av_frame_free(&owned)
    }

    /// Output (width, height) for frames of the given source size.
    func outputSize(width: Int, height: Int) throws(MediaError) -> (width: Int, height: Int) {
        let g = try output.geometry(width: width, height: height, path: path)
        return (g.width, g.height)
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
    func convert(_ frame: UnsafePointer<AVFrame>, into target: UnsafeMutablePointer<UInt8>) throws(MediaError) {
        let source = frame.pointee
        let g = try output.geometry(width: Int(source.width), height: Int(source.height), path: path)
        let context = try prepare(source, scaledWidth: g.scaledWidth, scaledHeight: g.scaledHeight)
        guard let destination else { throw MediaError(.library, path: path, "cannot allocate a frame") }
        let cropping = g.scaledWidth != g.width || g.scaledHeight != g.height
        if cropping && scratch.count != g.scaledWidth * g.scaledHeight * 3 {
            scratch = [UInt8](repeating: 0, count: g.scaledWidth * g.scaledHeight * 3)
        }
        try scratch.withUnsafeMutableBufferPointer { (scratchBuffer) throws(MediaError) in
            let pixels = cropping ? scratchBuffer.baseAddress! : target
            let bytes = g.scaledWidth * g.scaledHeight * 3
            // The frame API wants a refcounted destination: wrap our memory, with a no-op free.
            guard let buffer = av_buffer_create(pixels, bytes, { _, _ in }, nil, 0) else {
                throw MediaError(.library, path: path, "cannot wrap the output buffer")
            }
            destination.pointee.buf.0 = buffer
            destination.pointee.data.0 = pixels
            destination.pointee.linesize.0 = Int32(g.scaledWidth * 3)
            destination.pointee.width = Int32(g.scaledWidth)
            destination.pointee.height = Int32(g.scaledHeight)
            destination.pointee.format = AV_PIX_FMT_RGB24.rawValue
            let scaled = sws_scale_frame(context, destination, frame)
            av_frame_unref(destination)
            if scaled < 0 { throw MediaError(ffmpeg: scaled, path: path, during: "cannot scale a picture") }
            guard cropping else { return }
            let rowBytes = g.width * 3, scaledRowBytes = g.scaledWidth * 3
            let origin: Int = g.cropY &* scaledRowBytes &+ g.cropX &* 3
            for row in 0..<g.height {
                let from: UnsafeMutablePointer<UInt8> = pixels + (origin &+ row &* scaledRowBytes)
                (target + row &* rowBytes).update(from: from, count: rowBytes)
            }
        }
    }
}

extension FrameSize {
    /// Parses "WxH" ("224x224") as pipeline files and the CLI write sizes; nil when malformed.
    public static func dimensions(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), width > 0, height > 0 else {
            return nil
        }
        return (width, height)
    }
}
