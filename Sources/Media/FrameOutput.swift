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
    /// Output size, of the upright picture when `autorotate` turns it.
    public var size: FrameSize
    /// Resize filter.
    public var filter: ScaleFilter
    /// libswscale slice threads per picture (1: the caller's thread only). The ffmpeg CLI's scale
    /// filter slice-threads over every core by default.
    public var scalerThreads: Int
    /// Turn pictures upright by the quarter turns the stream's display matrix asks for, as the
    /// ffmpeg CLI does unless given -noautorotate; false returns them as stored.
    public var autorotate: Bool

    /// RGB at `size` through `filter`, scaled on `scalerThreads` threads.
    public init(size: FrameSize = .native, filter: ScaleFilter = .bicubic, scalerThreads: Int = 1, autorotate: Bool = true) {
        self.size = size
        self.filter = filter
        self.scalerThreads = scalerThreads
        self.autorotate = autorotate
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
            try Self.requirePicture(width: w, height: h, what: "output size", path: path)
            return (w, h, 0, 0, w, h)
        case .shorterSideThenCrop(let side, let w, let h):
            try Self.requirePicture(width: w, height: h, what: "crop", path: path)
            // Both sides of the scaled picture, checked in floating point before they become integers.
            let longer = Double(max(width, height)) * Double(side) / Double(max(1, min(width, height)))
            guard width > 0, height > 0, longer.rounded() <= Double(Int32.max) else {
                throw MediaError(.outOfRange, path: path, "shorter side \(side) scales a \(width)x\(height) picture beyond any size")
            }
            let scaledWidth = width <= height ? side : Int(longer.rounded())
            let scaledHeight = width <= height ? Int(longer.rounded()) : side
            try Self.requirePicture(width: scaledWidth, height: scaledHeight, what: "scaled picture (shorter side \(side))",
                                    path: path)
            guard w <= scaledWidth, h <= scaledHeight else {
                throw MediaError(.outOfRange, path: path,
                                 "crop \(w)x\(h) does not fit in \(scaledWidth)x\(scaledHeight) (shorter side \(side))")
            }
            return (scaledWidth, scaledHeight, (scaledWidth - w) / 2, (scaledHeight - h) / 2, w, h)
        }
    }
}

extension FrameOutput {
    /// Fails unless a `width` x `height` picture is one FFmpeg can hold (`av_image_check_size`:
    /// positive sides, about 268 million pixels at most), before anything of that size is allocated.
    static func requirePicture(width: Int, height: Int, what: String, path: String) throws(MediaError) {
        guard width > 0, height > 0, width <= Int32.max, height <= Int32.max,
              av_image_check_size(UInt32(width), UInt32(height), 0, nil) >= 0
        else {
            throw MediaError(.outOfRange, path: path, "\(what) \(width)x\(height) is not a picture size FFmpeg can hold")
        }
    }

    /// The most bytes one batch of pictures may take (`VideoReader.frames`); `forEachFrame` streams
    /// any number of frames through one picture instead.
    public static let maximumBatchBytes = 4 << 30

    /// Bytes of `count` pictures of `width` x `height` RGB, or an error when that is more than
    /// `maximumBatchBytes` (computed without overflow).
    static func batchBytes(count: Int, width: Int, height: Int, path: String) throws(MediaError) -> Int {
        let picture = width.multipliedReportingOverflow(by: height * 3)
        let total = picture.partialValue.multipliedReportingOverflow(by: count)
        guard !picture.overflow, !total.overflow, total.partialValue <= maximumBatchBytes else {
            throw MediaError(.outOfRange, path: path,
                             "\(count) frames of \(width)x\(height) RGB exceed the \(maximumBatchBytes >> 30) GiB a batch may hold; "
                                 + "ask for fewer frames or a smaller size")
        }
        return total.partialValue
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
