import CFFTW
import CFFmpeg
import CMelKernels
import Foundation
import Settings
import Synchronization

/// Options of a (log-)mel spectrogram, named as in librosa's `melspectrogram` + `power_to_db`,
/// which the output matches for the same options. The defaults, each property's initial value, are
/// the spoken-caption setup (a 25 ms Hamming window every 10 ms, pre-emphasised).
public struct MelOptions: Sendable, Hashable, Codable, SettingsDescribed {
    /// Analysis window shape (periodic, as librosa/scipy `fftbins=True`).
    public enum Window: String, Sendable, Codable, CaseIterable { case hann, hamming }
    /// Hz-to-mel mapping: Slaney's (librosa's default, linear below 1 kHz) or HTK's.
    public enum Scale: String, Sendable, Codable, CaseIterable { case slaney, htk }

    public var sampleRate = 16000
    /// FFT length (librosa `n_fft`).
    public var fftSize = 512
    /// Window length in samples, zero-padded to `fftSize` around the centre (`win_length`).
    public var windowLength = 400
    /// Samples between frames (`hop_length`).
    public var hopLength = 160
    public var window = Window.hamming
    /// Number of mel bands (`n_mels`).
    public var melBins = 40
    /// Lowest and highest band edges in Hz (`fmin`, `fmax`; nil: half the sample rate).
    public var minFrequency = 20.0
    public var maxFrequency: Double? = nil
    public var scale = Scale.slaney
    /// Slaney area normalisation of each band (`norm='slaney'`); false for unnormalised triangles.
    public var normalizeBands = true
    /// Exponent of the magnitude spectrum: 2 for power, 1 for magnitude.
    public var power = 2.0
    /// Pre-emphasis coefficient applied first as `librosa.effects.preemphasis` does; nil for none.
    public var preEmphasis: Double? = 0.97
    /// Pad the signal by fftSize/2 zeros on both sides so frame t is centred on t x hop.
    public var center = true
    /// Convert to dB relative to the maximum (`power_to_db(S, ref=np.max)`); false for linear.
    public var decibels = true
    /// Floor at (max - topDecibels) dB when converting; nil for no floor.
    public var topDecibels: Double? = 80
    /// Smallest value taken before the logarithm (`amin`).
    public var minimumValue = 1e-10

    /// The spoken-caption defaults described above.
    public init() {}

    /// What a `log_mel` stage takes, named as librosa names them; the sample rate is not one of
    /// them, as it comes with each waveform. Checks that span several are `problem`'s, made once
    /// the rate is known.
    public static var settings: [Setting<MelOptions>] {
        [
            .int("n_fft", \.fftSize, min: 2, "FFT length"),
            .int("win_length", \.windowLength, "window length, zero-padded to n_fft"),
            .int("hop_length", \.hopLength, "samples between frames"),
            .choice("window", \.window, "window shape"),
            .int("n_mels", \.melBins, "mel bands"),
            .double("fmin", \.minFrequency, "lowest band edge, Hz"),
            .double("fmax", \.maxFrequency, "highest band edge, Hz (default: half the sample rate)"),
            .choice("mel_scale", \.scale, "Hz-to-mel mapping"),
            .double("power", \.power, min: 0.001, "2 for power, 1 for magnitude"),
            .doubleOrOff("preemphasis", \.preEmphasis, max: 1, "pre-emphasis coefficient (0: none)"),
            .flag("decibels", \.decibels, "power_to_db relative to the maximum"),
            .doubleOrOff("top_db", \.topDecibels, "floor at max - top_db (0: no floor)"),
        ]
    }

    /// The largest FFT length accepted (a million points; 8 MB of buffers per thread).
    public static let maximumFFTSize = 1 << 20
    /// The most mel bands accepted.
    public static let maximumMelBins = 4096

    /// Why these options cannot make a spectrogram, as a sentence naming the option and the
    /// librosa parameter; nil when they can. Every number is checked for being finite, so no
    /// option can trap or silently produce zeros further on.
    public var problem: String? {
        let nyquist = Double(sampleRate) / 2
        let top = maxFrequency ?? nyquist
        if sampleRate <= 0 || sampleRate > AudioBuffer.maximumSampleRate {
            return "sample rate \(sampleRate) Hz is outside 1...\(AudioBuffer.maximumSampleRate)"
        }
        if fftSize < 2 || fftSize % 2 != 0 || fftSize > Self.maximumFFTSize {
            return "FFT length (n_fft) \(fftSize) must be even and in 2...\(Self.maximumFFTSize)"
        }
        if windowLength <= 0 || windowLength > fftSize {
            return "window length (win_length) \(windowLength) must be in 1...\(fftSize), the FFT length"
        }
        if hopLength <= 0 { return "hop length (hop_length) \(hopLength) must be positive" }
        if melBins <= 0 || melBins > Self.maximumMelBins {
            return "mel band count (n_mels) \(melBins) must be in 1...\(Self.maximumMelBins)"
        }
        if !(power > 0 && power.isFinite) { return "power \(power) must be a positive number (2 for power, 1 for magnitude)" }
        if let c = preEmphasis, !(c >= 0 && c <= 1) { return "pre-emphasis coefficient \(c) must be in 0...1" }
        if !(minFrequency >= 0 && minFrequency.isFinite) { return "lowest band edge (fmin) \(minFrequency) Hz must be a number from 0" }
        if !(top > minFrequency && top <= nyquist + 1e-9) {
            return "highest band edge (fmax) \(top) Hz must lie above fmin \(minFrequency) Hz and at most at half the sample rate, \(nyquist) Hz"
        }
        if let floor = topDecibels, !(floor >= 0 && floor.isFinite) { return "top_db \(floor) must be a number from 0" }
        if !(minimumValue > 0 && minimumValue.isFinite) { return "amin \(minimumValue) must be a positive number" }
        return nil
    }
}

/// A mel spectrogram: `frames` rows of `melBins` float32 values, row-major (frames x mels).
public struct MelSpectrogram: Sendable, Equatable {
    public var frames: Int
    public var melBins: Int
    /// frames x melBins values.
    public var values: [Float]

    /// Wraps computed values.
    public init(frames: Int, melBins: Int, values: [Float]) {
        self.frames = frames
        self.melBins = melBins
        self.values = values
    }
}

/// Computes log-mel spectrograms, matching librosa for the same options. Everything runs in
/// float32 (SIMD FFTs, and CMelKernels' loops built for AVX2): at worst 5.6e-4 dB from librosa's
/// float64 result on the fixtures.
///
/// One spectrogram's frames can be split over several threads, each with its own FFT, so a single
/// long clip uses every core; a pipeline that already runs one clip per worker wants 1.
/// Not reentrant: use one extractor per thread.
public final class MelExtractor {
    /// The options this extractor was built for.
    public let options: MelOptions
    /// Threads one spectrogram is split over.
    public var threads: Int { spectra.count }
    /// The most threads one spectrogram is split over (each holds its own FFT).
    public static let maximumThreads = 256
    /// The analysis window, already zero-padded to fftSize.
    private let window: UnsafeMutableBufferPointer<Float>
    /// Mel filter bank in blocks of eight bands (see `sluice_mel_group`), pointing into `weights`.
    private let groups: UnsafeMutableBufferPointer<sluice_mel_group>, weights: UnsafeMutableBufferPointer<Float>
    /// One FFT and its buffers per thread.
    private let spectra: [PowerSpectrum]

    /// Prepares FFTs, window and filter bank; fails for options that make no sense.
    public init(options: MelOptions = MelOptions(), threads: Int = 1) throws(MediaError) {
        self.options = options
        let o = options
        let top = o.maxFrequency ?? Double(o.sampleRate) / 2
        if let problem = o.problem {
            throw MediaError(.outOfRange, path: "log-mel options", problem)
        }
        guard threads <= Self.maximumThreads else {
            throw MediaError(.outOfRange, path: "log-mel options", "threads is \(threads); use 1...\(Self.maximumThreads)")
        }
        var spectra: [PowerSpectrum] = []
        for _ in 0..<max(1, threads) { spectra.append(try PowerSpectrum(length: o.fftSize)) }
        self.spectra = spectra
        window = .allocate(copying: Self.paddedWindow(o))
        // Each group of eight bands spans the bins from its lowest band's first to its highest
        // band's last nonzero weight (bands with none, possible with many bands and a short FFT, add nothing).
        let bank = Self.filterBank(o, maxFrequency: top)
        var spans: [Range<Int>] = [], blocks: [Float] = []
        for group in stride(from: 0, to: bank.count, by: 8) {
            let members = bank[group..<min(group + 8, bank.count)]
            let covered = members.filter { !$0.weights.isEmpty }
            let first = covered.map(\.firstBin).min() ?? 0
            let end = covered.map { $0.firstBin + $0.weights.count }.max() ?? first
            var block = [Float](repeating: 0, count: (end - first) * 8)
            for (i, band) in members.enumerated() {
                for (j, weight) in band.weights.enumerated() { block[(band.firstBin - first + j) * 8 + i] = Float(weight) }
            }
            spans.append(first..<end)
            blocks += block
        }
        let weights = UnsafeMutableBufferPointer.allocate(copying: blocks)
        var offset = 0
        groups = .allocate(copying: spans.map { span in
            defer { offset += span.count * 8 }
            return sluice_mel_group(first: span.lowerBound, count: span.count, weights: weights.baseAddress! + offset)
        })
        self.weights = weights
    }

    deinit {
        window.deallocate()
        groups.deallocate()
        weights.deallocate()
    }

    /// Periodic window of windowLength, centred in fftSize zeros (librosa `pad_center`).
    private static func paddedWindow(_ o: MelOptions) -> [Float] {
        let n = Double(o.windowLength)
        let (a, b) = o.window == .hann ? (0.5, 0.5) : (0.54, 0.46)
        var padded = [Float](repeating: 0, count: o.fftSize)
        let offset = (o.fftSize - o.windowLength) / 2
        for i in 0..<o.windowLength { padded[offset + i] = Float(a - b * cos(2 * Double.pi * Double(i) / n)) }
        return padded
    }

    private static func hzToMel(_ hz: Double, _ scale: MelOptions.Scale) -> Double {
        switch scale {
        case .htk: return 2595 * log10(1 + hz / 700)
        case .slaney: return hz < 1000 ? hz * 3 / 200 : 15 + log(hz / 1000) / (log(6.4) / 27)
        }
    }

    private static func melToHz(_ mel: Double, _ scale: MelOptions.Scale) -> Double {
        switch scale {
        case .htk: return 700 * (pow(10, mel / 2595) - 1)
        case .slaney: return mel < 15 ? mel * 200 / 3 : 1000 * exp(log(6.4) / 27 * (mel - 15))
        }
    }

    /// Triangular bands with edges evenly spaced in mel, evaluated at the FFT bin frequencies,
    /// rounded to float32 as librosa stores them.
    private static func filterBank(_ o: MelOptions, maxFrequency: Double) -> [(firstBin: Int, weights: [Double])] {
        let low = hzToMel(o.minFrequency, o.scale), high = hzToMel(maxFrequency, o.scale)
        let edges = (0..<(o.melBins + 2)).map {
            melToHz(low + (high - low) * Double($0) / Double(o.melBins + 1), o.scale)
        }
        let bins = o.fftSize / 2 + 1
        return (0..<o.melBins).map { band in
            let left = edges[band], centre = edges[band + 1], right = edges[band + 2]
            let norm = o.normalizeBands ? 2 / (right - left) : 1
            var weights = (0..<bins).map { bin -> Double in
                let hz = Double(bin) * Double(o.sampleRate) / Double(o.fftSize)
                let w = max(0, min((hz - left) / (centre - left), (right - hz) / (right - centre))) * norm
                return Double(Float(w))
            }
            let first = weights.firstIndex { $0 > 0 } ?? 0
            let last = weights.lastIndex { $0 > 0 } ?? -1
            weights = last >= first ? Array(weights[first...last]) : []
            return (first, weights)
        }
    }

    /// The spectrogram of `audio`, which must already be mono at `options.sampleRate`.
    public func compute(_ audio: AudioBuffer) throws(MediaError) -> MelSpectrogram {
        guard audio.channels == 1, audio.sampleRate == options.sampleRate else {
            throw MediaError(.outOfRange, path: audio.source,
                             "log-mel wants mono at \(options.sampleRate) Hz, got \(audio.channels) channels at \(audio.sampleRate) Hz")
        }
        return try compute(audio.samples)
    }

    /// The spectrogram of mono samples at `options.sampleRate`.
    public func compute(_ samples: [Float]) throws(MediaError) -> MelSpectrogram {
        let n = options.fftSize, mels = options.melBins
        let pad = options.center ? n / 2 : 0
        guard samples.count + 2 * pad >= n else {
            throw MediaError(.outOfRange, path: "log-mel input",
                             "\(samples.count) samples are fewer than one \(n)-sample frame")
        }
        let frames = 1 + (samples.count + 2 * pad - n) / options.hopLength
        // Frames go out in chunks that the threads claim in turn, so a thread that starts late on a
        // busy machine takes fewer; a short clip is not worth waking a second thread for.
        let chunk = 64, chunks = (frames + chunk - 1) / chunk
        let rows = { (index: Int) in (index * chunk)..<min(frames, (index + 1) * chunk) }
        let workers = min(spectra.count, chunks)
        // power_to_db with ref = max: 10 log10(max(amin, S)) - 10 log10(max(amin, max S)),
        // floored at max - topDecibels, as the maximum is 0 dB. The threads take the logarithms
        // and the maxima of their chunks; the shift by the overall maximum is a light pass after.
        // For magnitude spectrograms (power 1) librosa's amplitude_to_db would use 20 log10; this
        // follows power_to_db for every exponent, as librosa does when given any S.
        let amin = Float(options.minimumValue)
        let mel = [Float](unsafeUninitializedCapacity: frames * mels) { out, initialised in
            samples.withUnsafeBufferPointer { x in
                let out = out.baseAddress!
                var maxima = [Float](repeating: 0, count: workers)
                maxima.withUnsafeMutableBufferPointer { maxima in
                    Self.share(chunks, among: workers) { worker, index in
                        let span = rows(index), values = out + span.lowerBound * mels
                        melFrames(span, with: spectra[worker], of: x, into: out)
                        maxima[worker] = max(maxima[worker], sluice_largest(values, span.count * mels))
                        if options.decibels { sluice_decibels_of(values, span.count * mels, amin) }
                    }
                }
                if options.decibels {
                    let lowest = options.topDecibels.map { -Float($0) } ?? -.infinity
                    sluice_relative_decibels(out, frames * mels, sluice_decibels(max(amin, maxima.max()!)), lowest)
                }
            }
            initialised = frames * mels
        }
        return MelSpectrogram(frames: frames, melBins: mels, values: mel)
    }

    /// Runs body(worker, chunk) for every chunk in 0..<chunks on `workers` threads, which claim
    /// chunks in order.
    private static func share(_ chunks: Int, among workers: Int, _ body: (_ worker: Int, _ chunk: Int) -> Void) {
        guard workers > 1 else {
            for index in 0..<chunks { body(0, index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let work = SharedChunks(body: body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                while case let index = work.next.add(1, ordering: .relaxed).oldValue, index < chunks {
                    work.body(worker, index)
                }
            }
        }
    }

    /// Writes the mel rows of `frames` (melBins floats each, at out + frame x melBins).
    private func melFrames(_ frames: Range<Int>, with spectrum: PowerSpectrum, of x: UnsafeBufferPointer<Float>,
                           into out: UnsafeMutablePointer<Float>) {
        let o = options
        let n = o.fftSize, hop = o.hopLength, half = n / 2, mels = o.melBins
        let pad = o.center ? n / 2 : 0
        let input = spectrum.input, p = spectrum.power
        // The window is zero outside [lead, tail), so only that span is written; the rest of the
        // frame buffer stays zero from allocation.
        let lead = (n - o.windowLength) / 2, tail = lead + o.windowLength
        let emphasis = x.count > 1 ? o.preEmphasis.map { Float($0) } : nil
        let exponent = Float(o.power)
        for frame in frames {
            let start = frame &* hop &- pad
            // Pre-emphasis y[t] - c y[t-1] is applied on the fly, so no emphasised copy is made.
            if start &+ lead >= (emphasis == nil ? 0 : 1), start &+ tail <= x.count {
                sluice_window_frame(input + lead, x.baseAddress! + (start &+ lead), window.baseAddress! + lead,
                                    emphasis ?? 0, tail &- lead)
            } else {
                for i in lead..<tail { input[i] = Self.emphasised(x, at: start &+ i, by: emphasis) * window[i] }
            }
            spectrum.transform()
            if exponent != 2 {
                for k in 0...half { p[k] = pow(p[k].squareRoot(), exponent) }
            }
            sluice_mel_bands(out + frame &* mels, p, groups.baseAddress!, mels)
        }
    }

    /// Sample t of the signal as librosa.effects.preemphasis leaves it: y[t] - c y[t-1], with the
    /// initial filter state 2 y[0] - y[1] making y[0] 3 y[0] - y[1]; zero outside the signal.
    @inline(__always)
    private static func emphasised(_ x: UnsafeBufferPointer<Float>, at t: Int, by c: Float?) -> Float {
        guard t >= 0, t < x.count else { return 0 }
        guard let c else { return x[t] }
        return t == 0 ? 3 * x[0] - x[1] : x[t] - c * x[t &- 1]
    }
}

/// Single-threaded extractors for callers on many threads, such as a pipeline's parallel stage:
/// building one plans an FFT and a filter bank, which can cost more than a short clip's spectrogram,
/// so each is kept for reuse, at most one per thread per set of options.
public final class MelExtractorPool: @unchecked Sendable {
    private let lock = NSLock()
    /// Idle extractors. Guarded by `lock`; an extractor taken out belongs to one caller until returned.
    private var idle: [MelOptions: [MelExtractor]] = [:]

    public init() {}

    /// The spectrogram of `samples` with `options`, on an idle extractor, made if none is free.
    public func compute(_ samples: [Float], options: MelOptions) throws(MediaError) -> MelSpectrogram {
        let extractor: MelExtractor
        if let reused = lock.withLock({ idle[options]?.popLast() }) {
            extractor = reused
        } else {
            extractor = try MelExtractor(options: options)
        }
        defer { lock.withLock { idle[options, default: []].append(extractor) } }
        return try extractor.compute(samples)
    }
}

/// Work shared among threads. Unchecked: each chunk writes only its own rows, and each worker
/// index (so each FFT and each running maximum) belongs to one thread.
private final class SharedChunks: @unchecked Sendable {
    let body: (Int, Int) -> Void
    let next = Atomic<Int>(0)
    init(body: @escaping (Int, Int) -> Void) { self.body = body }
}

private extension UnsafeMutableBufferPointer {
    /// A new buffer holding a copy of `values`; the caller deallocates it.
    static func allocate(copying values: [Element]) -> Self {
        let buffer = allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
        return buffer
    }
}
