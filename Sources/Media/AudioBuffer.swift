import CFFmpeg

/// Decoded audio: float samples in [-1, 1], interleaved when there is more than one channel.
/// Both readers (libsndfile for audio files, FFmpeg for tracks inside video containers) produce it.
public struct AudioBuffer: Sendable, Equatable {
    /// Where the samples came from, for error messages further down a pipeline.
    public var source: String
    /// Samples per second per channel.
    public var sampleRate: Int
    /// Channels interleaved in `samples`.
    public var channels: Int
    /// frameCount x channels values.
    public var samples: [Float]

    /// Wraps samples already decoded.
    public init(source: String, sampleRate: Int, channels: Int, samples: [Float]) {
        self.source = source
        self.sampleRate = sampleRate
        self.channels = channels
        self.samples = samples
    }

    /// The longest `fitted(toSeconds:)` pads to: a day, 5.5 GB of float samples at 16 kHz.
    public static let maximumSeconds = 86_400.0
    /// The highest rate `resampled(to:)` converts to (FFmpeg's resampler takes 32-bit rates).
    public static let maximumSampleRate = 768_000

    /// Samples per channel.
    public var frameCount: Int { channels > 0 ? samples.count / channels : 0 }

    /// Length in seconds.
    public var seconds: Double { sampleRate > 0 ? Double(frameCount) / Double(sampleRate) : 0 }

    /// The channels averaged into one (equal weights, so a stereo file with the same signal on
    /// both sides comes back unchanged).
    public func mono() -> AudioBuffer {
        guard channels > 1 else { return self }
        let frames = frameCount, width = channels, weight = 1 / Float(channels)
        var mixed = [Float](repeating: 0, count: frames)
        samples.withUnsafeBufferPointer { input in
            mixed.withUnsafeMutableBufferPointer { output in
                for frame in 0..<frames {
                    var sum: Float = 0
                    let base = frame &* width
                    for channel in 0..<width { sum += input[base &+ channel] }
                    output[frame] = sum * weight
                }
            }
        }
        return AudioBuffer(source: source, sampleRate: sampleRate, channels: 1, samples: mixed)
    }

    /// The audio at `rate` samples per second, through libswresample (FFmpeg's resampler; it is
    /// already linked for video-container audio, so libsamplerate would be a second dependency
    /// doing the same job). The result has exactly round(frameCount x rate / sampleRate) frames.
    public func resampled(to rate: Int) throws(MediaError) -> AudioBuffer {
        guard rate != sampleRate else { return self }
        guard rate > 0, rate <= Self.maximumSampleRate else {
            throw MediaError(.outOfRange, path: source, "target sample rate \(rate) Hz is outside 1...\(Self.maximumSampleRate)")
        }
        let resampler = try Resampler(
            inputRate: sampleRate, inputChannels: channels, inputFormat: AV_SAMPLE_FMT_FLT,
            outputRate: rate, path: source)
        var output = try samples.withUnsafeBufferPointer { (input) throws(MediaError) -> [Float] in
            var planes: [UnsafePointer<UInt8>?] = [UnsafeRawPointer(input.baseAddress).map { $0.assumingMemoryBound(to: UInt8.self) }]
            return try resampler.convert(planes: &planes, frames: frameCount)
        }
        output.append(contentsOf: try resampler.flush())
        let wanted = Int((Double(frameCount) * Double(rate) / Double(sampleRate)).rounded()) * channels
        if output.count > wanted { output.removeLast(output.count - wanted) }
        if output.count < wanted { output.append(contentsOf: repeatElement(0, count: wanted - output.count)) }
        return AudioBuffer(source: source, sampleRate: rate, channels: channels, samples: output)
    }

    /// Exactly `seconds` long: a longer buffer is cropped to a window (the start when `seed` is
    /// nil, else a start drawn uniformly from `seed`); a shorter one is padded with silence at
    /// the end. This is the fixed-length input a spoken-caption encoder takes.
    /// A length that is not a number, negative or over `maximumSeconds` is an `.outOfRange` error.
    public func fitted(toSeconds seconds: Double, seed: UInt64? = nil) throws(MediaError) -> AudioBuffer {
        guard seconds >= 0, seconds <= Self.maximumSeconds else {
            throw MediaError(.outOfRange, path: source, "cannot fit audio to \(seconds) s: lengths go from 0 to \(Self.maximumSeconds) s")
        }
        let wanted = Int((seconds * Double(sampleRate)).rounded())
        var copy = self
        if frameCount > wanted {
            var start = 0
            if let seed {
                var generator = SplitMix64(seed: seed)
                start = Int(generator.next() % UInt64(frameCount - wanted + 1))
            }
            copy.samples = Array(samples[start * channels..<(start + wanted) * channels])
        } else if frameCount < wanted {
            copy.samples.append(contentsOf: repeatElement(0, count: (wanted - frameCount) * channels))
        }
        return copy
    }
}

/// A libswresample context converting any sample format and rate to interleaved float at one
/// rate, keeping the channel count; freed in `deinit`.
final class Resampler {
    private var context: OpaquePointer?
    private let channels: Int
    private let inputRate: Int
    private let outputRate: Int
    private let path: String

    init(inputRate: Int, inputChannels: Int, inputFormat: AVSampleFormat, outputRate: Int, path: String) throws(MediaError) {
        self.channels = inputChannels
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.path = path
        var inputLayout = AVChannelLayout(), outputLayout = AVChannelLayout()
        av_channel_layout_default(&inputLayout, Int32(inputChannels))
        av_channel_layout_default(&outputLayout, Int32(inputChannels))
        defer { av_channel_layout_uninit(&inputLayout); av_channel_layout_uninit(&outputLayout) }
        let configured = swr_alloc_set_opts2(
            &context, &outputLayout, AV_SAMPLE_FMT_FLT, Int32(outputRate),
            &inputLayout, inputFormat, Int32(inputRate), 0, nil)
        if configured < 0 { throw MediaError(ffmpeg: configured, path: path, during: "cannot configure the resampler") }
        let initialised = swr_init(context)
        if initialised < 0 { throw MediaError(ffmpeg: initialised, path: path, during: "cannot start the resampler") }
    }

    deinit { swr_free(&context) }

    /// Converts `frames` input frames given as FFmpeg plane pointers (one for packed formats).
    func convert(planes: inout [UnsafePointer<UInt8>?], frames: Int) throws(MediaError) -> [Float] {
        try run(input: &planes, frames: frames)
    }

    /// The samples still inside the resampler's filter at the end of the input.
    func flush() throws(MediaError) -> [Float] {
        var none: [UnsafePointer<UInt8>?] = []
        return try run(input: &none, frames: 0)
    }

    private func run(input: inout [UnsafePointer<UInt8>?], frames: Int) throws(MediaError) -> [Float] {
        let capacity = Int(swr_get_out_samples(context, Int32(frames))) + 32
        var output = [Float](repeating: 0, count: capacity * channels)
        let produced = output.withUnsafeMutableBytes { bytes in
            var planes: [UnsafeMutablePointer<UInt8>?] = [bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)]
            return input.withUnsafeMutableBufferPointer { inputPlanes in
                swr_convert(context, &planes, Int32(capacity), frames > 0 ? inputPlanes.baseAddress : nil, Int32(frames))
            }
        }
        if produced < 0 { throw MediaError(ffmpeg: produced, path: path, during: "cannot resample") }
        output.removeLast(output.count - Int(produced) * channels)
        return output
    }
}
