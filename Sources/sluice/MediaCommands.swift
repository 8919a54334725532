import ArgumentParser
import Foundation
import Media
import PipelineCore

/// `sluice probe FILE`: streams, codecs, sizes, rates, duration, rotation and the true frame count, as JSON.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a video file as JSON (streams, codec, size, fps, duration, rotation, frame count).")

    @Argument(help: "The video file.", transform: localPath)
    var file: String

    @Flag(help: "Skip counting frames by indexing every packet (faster; the header's count may be wrong).")
    var noCount = false

    func run() throws {
        let info = try VideoReader(path: file).probe(countFrames: !noCount)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(info), as: UTF8.self))
    }
}

/// `sluice frames FILE ... --out frames.npy`: exact frames as uint8 N x H x W x 3.
struct Frames: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode frames of a video into a .npy file (uint8 N x H x W x 3, RGB).",
        discussion: """
            Frame k is the k-th frame in presentation order, as `ffmpeg -vf select=eq(n\\,k)` numbers it.
              sluice frames samples/shapes/video/shapes-00000.mp4 --indices 0,10,20 --size 224x224 --out frames.npy
              sluice frames samples/shapes/video/shapes-00000.mp4 --count 8 --out frames.npy
            """)

    @Argument(help: "The video file.", transform: localPath)
    var file: String

    @Option(help: ArgumentHelp("Frame numbers, comma-separated.", valueName: "k,k,..."))
    var indices: String?

    @Option(help: ArgumentHelp("Times in seconds, comma-separated: the first frame at or after each, as ffmpeg -ss picks.",
                               valueName: "t,t,..."))
    var timestamps: String?

    @Option(help: "Resample to this many frames per second.")
    var fps: Double?

    @Option(help: "This many frames, evenly spread.")
    var count: Int?

    @Option(help: ArgumentHelp("A random clip of this many seconds (see --seed).", valueName: "seconds"))
    var clip: Double?

    @Option(help: "Seed of --clip.")
    var seed: UInt64 = 0

    @Option(help: "Every n-th frame.")
    var stride: Int?

    @Option(help: ArgumentHelp("Output size (default: the video's own).", valueName: "WxH"))
    var size: String?

    @Option(help: ArgumentHelp("Scale the shorter side to this, then centre-crop --size.", valueName: "pixels"))
    var shorterSide: Int?

    @Option(help: "Resize filter.")
    var filter = ScaleFilter.bicubic

    @Flag(help: "Keep pictures as stored instead of turning them upright as the display matrix asks.")
    var noAutorotate = false

    @Option(help: "Decoder threads, 0...64 (0: FFmpeg picks).")
    var threads: Int = 1

    @Option(help: "exact: the frames asked for; approximate: the keyframe nearest each (faster; drifts by up to half the gap between keyframes, more after the last one).")
    var seek = SeekMode.exact

    @Option(help: ArgumentHelp("The .npy file to write.", valueName: "file"), transform: localPath)
    var out: String

    func validate() throws {
        let chosen = [indices != nil, timestamps != nil, fps != nil, count != nil, clip != nil, stride != nil]
        guard chosen.filter({ $0 }).count <= 1 else {
            throw ValidationError("choose one of --indices, --timestamps, --fps, --count, --clip, --stride")
        }
        if let size, FrameSize.dimensions(size) == nil { throw ValidationError("--size '\(size)' is not WxH, e.g. 224x224") }
        if shorterSide != nil && size == nil { throw ValidationError("--shorter-side needs --size for the crop") }
        if !(0...64).contains(threads) { throw ValidationError("--threads \(threads) is outside 0...64") }
    }

    func run() throws {
        let reader = try VideoReader(path: file, threads: threads)
        let written = try reader.writeNPY(try selection(), output: output(), seek: seek, to: URL(fileURLWithPath: out))
        printError("\(out): \(written.frameNumbers.count) x \(written.height) x \(written.width) x 3 uint8 (frames \(summary(written.frameNumbers)))")
    }

    private func selection() throws -> FrameSelection {
        func list<T>(_ text: String, _ parse: (String) -> T?) throws -> [T] {
            try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
                guard let value = parse(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("'\(part)' is not a number")
                }
                return value
            }
        }
        if let indices { return .indices(try list(indices) { Int($0) }) }
        if let timestamps { return .timestamps(try list(timestamps) { Double($0) }) }
        if let fps { return .fps(fps) }
        if let count { return .uniform(count: count) }
        if let clip { return .randomClip(seconds: clip, seed: seed) }
        if let stride { return .stride(stride) }
        return .all
    }

    private func output() -> FrameOutput {
        var output = FrameOutput(filter: filter, autorotate: !noAutorotate)
        if let size, let (width, height) = FrameSize.dimensions(size) {
            output.size = shorterSide.map { .shorterSideThenCrop(shorterSide: $0, width: width, height: height) }
                ?? .exact(width: width, height: height)
        }
        return output
    }

    private func summary(_ numbers: [Int]) -> String {
        numbers.count <= 12 ? numbers.map(String.init).joined(separator: ",")
            : "\(numbers.prefix(6).map(String.init).joined(separator: ",")),...,\(numbers.last!)"
    }
}

/// `sluice mel FILE [options] --out mel.npy`: a log-mel spectrogram as float32 frames x mels.
struct Mel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute a log-mel spectrogram of an audio file (or a video's audio) into a .npy file (float32 frames x mels).",
        discussion: "Matches librosa.feature.melspectrogram + power_to_db(ref=np.max) for the same options; check with tools/mel-fixtures.py --check.")

    @Argument(help: "The audio or video file.", transform: localPath)
    var file: String

    // The defaults are MelOptions', as the log_mel stage's are.
    @Option(help: "Resample to this rate first.") var sampleRate = MelOptions().sampleRate
    @Option(help: "FFT length.") var nFft = MelOptions().fftSize
    @Option(help: "Window length, zero-padded to --n-fft.") var winLength = MelOptions().windowLength
    @Option(help: "Samples between frames.") var hopLength = MelOptions().hopLength
    @Option(help: "Analysis window.") var window = MelOptions().window
    @Option(help: "Mel bands.") var nMels = MelOptions().melBins
    @Option(help: "Lowest band edge, Hz.") var fmin = MelOptions().minFrequency
    @Option(help: "Highest band edge, Hz (default: half the sample rate).") var fmax: Double?
    @Option(help: "Hz-to-mel mapping.") var melScale = MelOptions().scale
    @Option(help: "2 for power, 1 for magnitude.") var power = MelOptions().power
    @Option(help: "Pre-emphasis coefficient, 0...1 (0: none).") var preemphasis = MelOptions().preEmphasis ?? 0
    @Option(help: "Floor at max - top_db (0: no floor).") var topDb = MelOptions().topDecibels ?? 0
    @Flag(help: "Linear mel energies instead of dB.") var linear = false
    @Flag(help: "No slaney area normalisation of the bands.") var unnormalized = false
    @Flag(help: "Do not pad n_fft/2 on both sides (frames start at sample 0).") var noCenter = false

    @Option(help: "Threads the spectrogram is split over (the default is this machine's core count).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: ArgumentHelp("The .npy file to write.", valueName: "file"), transform: localPath)
    var out: String

    func run() throws {
        var options = MelOptions()
        options.sampleRate = sampleRate
        options.fftSize = nFft
        options.windowLength = winLength
        options.hopLength = hopLength
        options.window = window
        options.melBins = nMels
        options.minFrequency = fmin
        options.maxFrequency = fmax
        options.scale = melScale
        options.normalizeBands = !unnormalized
        options.power = power
        options.preEmphasis = preemphasis == 0 ? nil : preemphasis  // anything else is checked by MelOptions
        options.center = !noCenter
        options.decibels = !linear
        options.topDecibels = topDb == 0 ? nil : topDb
        let mel = try MelExtractor(options: options, threads: threads).compute(try AudioReader.load(path: file, sampleRate: sampleRate))
        try NPY.write(mel.ndarray, to: URL(fileURLWithPath: out))
        printError("\(out): \(mel.frames) x \(mel.melBins) float32")
    }
}

extension ScaleFilter: ExpressibleByArgument {}
extension SeekMode: ExpressibleByArgument {}
extension MelOptions.Window: ExpressibleByArgument {}
extension MelOptions.Scale: ExpressibleByArgument {}
