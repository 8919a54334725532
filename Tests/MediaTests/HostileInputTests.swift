import Foundation
import Media
import Testing

/// Files cut short, files that are not files, and numbers chosen to trap or to allocate without
/// end: each ends in a `MediaError` naming the file and the reason, never a signal or a hang.
struct HostileInputTests {
    /// A fresh directory, removed by the caller.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("media-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The first `fraction` of a committed sample, written to `directory` under its own name.
    static func cut(_ sample: String, to fraction: Double, in directory: URL) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.path(sample)))
        let url = directory.appendingPathComponent((sample as NSString).lastPathComponent)
        try data.prefix(Int(Double(data.count) * fraction)).write(to: url)
        return url.path
    }

    /// A WAV header claiming 2 GHz: refused where the file is read, so no later length in seconds
    /// (a caption padded to 10 s) allocates by that rate.
    @Test func aSampleRateBeyondAnyAudioIsRefused() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var wav = try Data(contentsOf: URL(fileURLWithPath: Repository.path("samples/shapes/audio/shapes-00000.wav")))
        // RIFF/WAVE with the fmt chunk first: the sample rate is the little-endian UInt32 at byte 24.
        #expect(String(decoding: wav[12..<16], as: UTF8.self) == "fmt ")
        withUnsafeBytes(of: UInt32(2_000_000_000).littleEndian) { wav.replaceSubrange(24..<28, with: $0) }
        let file = directory.appendingPathComponent("fast.wav")
        try wav.write(to: file)
        let error = #expect(throws: MediaError.self) { try AudioReader.load(path: file.path) }
        #expect(error?.description.contains("fast.wav") == true && error?.description.contains("rates go up to") == true, "\(String(describing: error))")
    }

    // MARK: Truncated containers

    /// Sound files and video containers cut at 60%: libsndfile and FFmpeg would return the part
    /// that is there without a word; the error says the file is truncated.
    @Test(arguments: [
        "samples/shapes/audio/shapes-00000.wav", "samples/shapes/audio/shapes-00001.flac",
        "samples/shapes/audio/shapes-00002.ogg", "samples/shapes/audio/shapes-00003.opus",
        "samples/shapes/video/shapes-00000.mp4", "samples/shapes/video/shapes-00001.mkv",
        "samples/shapes/video/shapes-00002.webm", "samples/shapes/video/shapes-00003.avi",
    ])
    func cutAudioIsReportedAsTruncated(sample: String) throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Self.cut(sample, to: 0.6, in: directory)
        let error = mediaFailure { _ = try AudioReader.load(path: path, sampleRate: 16000) }
        #expect(error?.code == .truncated, "\(error.map(String.init(describing:)) ?? "no error")")
        #expect(error?.path == path)
    }

    @Test(arguments: [
        "samples/shapes/video/shapes-00001.mkv", "samples/shapes/video/shapes-00002.webm",
        "samples/shapes/video/shapes-00003.avi",
    ])
    func cutVideoIsReportedAsTruncated(sample: String) throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Self.cut(sample, to: 0.6, in: directory)
        #expect(mediaFailure { _ = try VideoReader(path: path).frames(.all) }?.code == .truncated)
    }

    /// The untouched samples still read in full: the length checks accept what is whole.
    @Test func wholeFilesPassTheLengthChecks() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: Repository.path("samples/shapes/audio")) {
            _ = try AudioReader.load(path: Repository.path("samples/shapes/audio/\(name)"))
        }
        for clip in Repository.allClips { _ = try AudioReader.load(path: clip) }
    }

    // MARK: Files that are not regular files

    /// Writes `data` into the named pipe `fifo` on another thread, as `cat file > fifo` would.
    static func feed(_ fifo: String, _ data: Data) {
        Thread.detachNewThread {
            guard let pipe = FileHandle(forWritingAtPath: fifo) else { return }
            pipe.write(data)
            try? pipe.close()
        }
    }

    /// A new named pipe `name` in `directory`.
    static func fifo(_ name: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent(name).path
        guard mkfifo(path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return path
    }

    static func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// A pipe is read once, as the ffmpeg CLI reads it, and then indexed and decoded like a file.
    @Test(.timeLimit(.minutes(1)))
    func aPipeIsDecodedLikeTheFileWrittenToIt() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = try Self.fifo("stream.mp4", in: directory)
        Self.feed(fifo, try Self.contents(Repository.clips[0]))
        let piped = try VideoReader(path: fifo).frames(.indices([44, 0, 22]))
        #expect(piped == (try VideoReader(path: Repository.clips[0]).frames(.indices([44, 0, 22]))))

        Self.feed(fifo, try Self.contents(Repository.path("samples/shapes/audio/shapes-00000.wav")))
        #expect(try AudioReader.load(path: fifo) == (try AudioReader.load(path: Repository.path("samples/shapes/audio/shapes-00000.wav"))).withSource(fifo))
    }

    @Test(.timeLimit(.minutes(1)))
    func aPipeClosedWithoutDataIsEmpty() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = try Self.fifo("silent.wav", in: directory)
        Self.feed(fifo, Data())
        let error = mediaFailure { _ = try AudioReader.load(path: fifo) }
        #expect(error?.code == .empty)
        #expect(error?.reason == "the pipe closed without data (0 bytes)")
    }

    @Test func devZeroIsACharacterDeviceNotAnEmptyFile() {
        let error = mediaFailure { _ = try VideoReader(path: "/dev/zero") }
        #expect(error?.code == .notRegularFile)
        #expect(error?.reason.hasPrefix("is a character device") == true)
        #expect(mediaFailure { _ = try AudioReader.load(path: "/dev/zero") }?.code == .notRegularFile)
    }

    @Test func aSymbolicLinkIsReadAsTheFileItNames() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("linked.mp4").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Repository.clips[0])
        #expect(try VideoReader(path: link).probe(countFrames: true).frameCount == 45)
    }

    // MARK: Sizes, times and rates that would trap or allocate without bound

    @Test func hugeOutputSizesAreRefusedBeforeAllocating() throws {
        let reader = try VideoReader(path: Repository.clips[0])
        let exact = mediaFailure { _ = try reader.frames(.indices([0]), output: FrameOutput(size: .exact(width: 100_000, height: 100_000))) }
        #expect(exact?.code == .outOfRange)
        #expect(exact?.reason == "output size 100000x100000 is not a picture size FFmpeg can hold")
        let side = mediaFailure {
            _ = try reader.frames(.indices([0]), output: FrameOutput(size: .shorterSideThenCrop(shorterSide: 100_000, width: 64, height: 64)))
        }
        #expect(side?.code == .outOfRange)
        let sideMax = mediaFailure {
            _ = try reader.frames(.indices([0]), output: FrameOutput(size: .shorterSideThenCrop(shorterSide: .max, width: 64, height: 64)))
        }
        #expect(sideMax?.code == .outOfRange)
        // Each picture fits, but not a million of them in one batch.
        let batch = mediaFailure { _ = try reader.frames(.uniform(count: 1_000_000), output: FrameOutput(size: .exact(width: 1000, height: 1000))) }
        #expect(batch?.code == .outOfRange)
    }

    /// A raw video stream (YUV4MPEG2) whose header claims 30000x30000 frames: refused as before,
    /// but with the size and the limit instead of "Device or resource busy", the errno FFmpeg's
    /// demuxer arithmetic turned its EINVAL into. A 16x16 stream of the same form still decodes.
    @Test func anOverLargeRawVideoHeaderSaysTheFrameSizeIsTooLarge() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        func y4m(_ name: String, width: Int, height: Int, data: Int) throws -> String {
            let url = directory.appendingPathComponent(name)
            try (Data("YUV4MPEG2 W\(width) H\(height) F25:1 Ip A1:1 C420jpeg\nFRAME\n".utf8) + Data(count: data)).write(to: url)
            return url.path
        }
        let huge = try y4m("huge.y4m", width: 30000, height: 30000, data: 4096)
        let error = mediaFailure { _ = try VideoReader(path: huge).frames(.all) }
        #expect(error?.code == .invalidData)
        #expect(error?.path == huge)
        #expect(error?.reason.contains("frame size 30000x30000") == true && error?.reason.contains("too large") == true
                    && error?.reason.contains("268 million pixels") == true, "\(error.map(String.init(describing:)) ?? "no error")")
        #expect(error?.reason.contains("busy") == false)

        let small = try y4m("small.y4m", width: 16, height: 16, data: 16 * 16 * 3 / 2)
        #expect(try VideoReader(path: small).frames(.all).count == 1)
    }

    @Test func infiniteAndHugeTimesAndRatesAreOutOfRange() throws {
        let reader = try VideoReader(path: Repository.clips[0])
        for selection: FrameSelection in [
            .timestamps([.infinity]), .timestamps([1e19]), .timestamps([.nan]), .fps(1e19), .fps(.infinity),
            .randomClip(seconds: .infinity, seed: 1), .randomClip(seconds: 1e19, seed: 1), .uniform(count: .max),
        ] {
            #expect(mediaFailure { _ = try reader.frames(selection) }?.code == .outOfRange, "\(selection)")
        }
    }

    @Test func fittingToAnImpossibleLengthIsOutOfRange() {
        let audio = AudioBuffer(source: "tone.wav", sampleRate: 16000, channels: 1, samples: [0, 1, 0])
        for seconds in [Double.infinity, 1e19, -1, .nan] {
            #expect(mediaFailure { _ = try audio.fitted(toSeconds: seconds) }?.code == .outOfRange)
        }
        #expect(mediaFailure { _ = try audio.resampled(to: 1 << 40) }?.code == .outOfRange)
    }

    // MARK: Log-mel options

    /// Each bad option is named in a sentence (not a dump of the whole options struct).
    @Test func badMelOptionsAreExplainedInASentence() {
        func problem(_ change: (inout MelOptions) -> Void) -> String? {
            var options = MelOptions()
            change(&options)
            return mediaFailure { _ = try MelExtractor(options: options) }?.reason
        }
        #expect(problem { $0.windowLength = 1024 } == "window length (win_length) 1024 must be in 1...512, the FFT length")
        #expect(problem { $0.preEmphasis = .infinity } == "pre-emphasis coefficient inf must be in 0...1")
        #expect(problem { $0.fftSize = 1 << 40 } == "FFT length (n_fft) 1099511627776 must be even and in 2...1048576")
        #expect(problem { $0.melBins = 1 << 30 }?.hasPrefix("mel band count (n_mels)") == true)
        #expect(problem { $0.power = .nan }?.hasPrefix("power nan") == true)
        #expect(problem { $0.maxFrequency = 9000 }?.hasPrefix("highest band edge (fmax) 9000.0 Hz") == true)
        #expect(problem { $0.topDecibels = .infinity }?.hasPrefix("top_db inf") == true)
        for reason in [problem { $0.hopLength = 0 }, problem { $0.minFrequency = .infinity }, problem { $0.sampleRate = -1 }] {
            #expect(reason != nil && reason?.contains("MelOptions(") == false)
        }
        #expect(mediaFailure { _ = try MelExtractor(threads: 1 << 30) }?.code == .outOfRange)
    }
}

extension AudioBuffer {
    /// The same samples, named as read from `source`.
    func withSource(_ source: String) -> AudioBuffer {
        AudioBuffer(source: source, sampleRate: sampleRate, channels: channels, samples: samples)
    }
}
