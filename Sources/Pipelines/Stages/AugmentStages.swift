import Foundation
import Media
import PipelineCore
import Tensor

/// Training-time augmentation of decoded clips, for any pipeline and both clip trainers
/// (`--augment`): new views of each clip every epoch, so a model cannot memorise the one view a
/// fixed decode gives. Every draw comes from (`seed`, the item, its epoch), so a run and its
/// resume see the same views, and each epoch sees new ones. The parameters' defaults are common
/// values, not tuned; the trainers leave augmentation off by default because on the tuning world
/// it cost held-out accuracy at equal wall-clock, added noise most (BENCHMARKS.md, "What the clip
/// trainers learn").
enum AugmentStages {
    static let specs: [StageSpec] = [frames, audio, specAugment]

    static let frames = StageSpec(
        type: "frame_augment", role: .stage,
        summary: "a random resized crop of a clip's uint8 T x H x W x 3 frames (the same box on every frame, scaled back to H x W), "
            + "optional horizontal flip and colour jitter; off by default where captions name directions and colours",
        parameters: [
            ParameterSpec("field", .string, default: "frames", help: "the frames (video_frames, format uint8)"),
            ParameterSpec("min_area", .double(min: 0.05, max: 1), default: "0.6",
                          help: "smallest crop, as a share of the picture's area (1: no crop); the aspect ratio is drawn from 3/4...4/3"),
            ParameterSpec("flip", .bool, default: "false",
                          help: "mirror half the clips left to right; off by default: a caption saying \"left\" would then lie"),
            ParameterSpec("brightness", .double(min: 0, max: 1), default: "0",
                          help: "scale brightness by a factor drawn from 1 +- this; 0 by default: captions name colours"),
            ParameterSpec("contrast", .double(min: 0, max: 1), default: "0", help: "scale contrast around the mean by 1 +- this"),
            ParameterSpec("seed", .int(), default: "0", help: "mixed with each item's id and epoch"),
        ],
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field")
        let augment = FrameAugment(minArea: parameters.double("min_area"), flip: parameters.bool("flip"),
                                   brightness: parameters.double("brightness"), contrast: parameters.double("contrast"))
        let seed = UInt64(bitPattern: Int64(parameters.int("seed")))
        return .map { sample in
            guard case let .array(frames)? = sample[field], frames.dtype == .uint8, frames.shape.count == 4, frames.shape[3] == 3 else {
                throw StageError(path: sample.origin, reason: "no uint8 T x H x W x 3 frames in '\(field)' (video_frames with format uint8)")
            }
            var rng = RandomGenerator(seed: sample.randomSeed(seed, stage: "frame_augment"))
            var out = sample
            out[field] = .array(augment.apply(frames, using: &rng))
            return [out]
        }
    }

    static let audio = StageSpec(
        type: "audio_augment", role: .stage,
        summary: "speed perturbation (through libswresample), gain and added white noise on a mono float32 waveform",
        parameters: [
            ParameterSpec("field", .string, default: "waveform", help: "the mono waveform (audio_decode); its rate is read from `sample_rate`"),
            ParameterSpec("speed", .double(min: 0, max: 0.5), default: "0.1",
                          help: "play at a speed drawn from 1 +- this, pitch moving with it (Kaldi's speed perturbation); 0: off"),
            ParameterSpec("gain_db", .double(min: 0, max: 40), default: "6", help: "a gain drawn from +- this many dB; 0: off"),
            ParameterSpec("noise_snr_db", .double(min: 0, max: 100), default: "20",
                          help: "add white noise at a signal-to-noise ratio drawn from this to this + 20 dB; 0: off"),
            ParameterSpec("seed", .int(), default: "0", help: "mixed with each item's id and epoch"),
        ],
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field")
        let augment = AudioAugment(speed: parameters.double("speed"), gainDecibels: parameters.double("gain_db"),
                                   noiseDecibels: parameters.double("noise_snr_db"))
        let seed = UInt64(bitPattern: Int64(parameters.int("seed")))
        return .map { sample in
            guard case let .array(waveform)? = sample[field], waveform.dtype == .float32, waveform.shape.count == 1 else {
                throw StageError(path: sample.origin, reason: "no mono float32 waveform in '\(field)'")
            }
            guard case let .int(rate)? = sample["sample_rate"], rate > 0, rate <= AudioBuffer.maximumSampleRate else {
                throw StageError(path: sample.origin, reason: "no 'sample_rate' in 1...\(AudioBuffer.maximumSampleRate) Hz for the waveform in '\(field)'")
            }
            var rng = RandomGenerator(seed: sample.randomSeed(seed, stage: "audio_augment"))
            var out = sample
            do {
                let audio = AudioBuffer(source: sample.origin, sampleRate: rate, channels: 1, samples: waveform.values(as: Float.self))
                out[field] = .array(try augment.apply(audio, using: &rng).ndarray)
            } catch {
                throw StageError(path: sample.origin, reason: "\(error)")
            }
            return [out]
        }
    }

    static let specAugment = StageSpec(
        type: "spec_augment", role: .stage,
        summary: "SpecAugment's time and frequency masks on a frames x mels log-mel, filled with the clip's mean",
        parameters: [
            ParameterSpec("field", .string, default: "mel", help: "the frames x mels log-mel (log_mel)"),
            ParameterSpec("time_masks", .int(min: 0, max: 16), default: "2", help: "time masks per clip"),
            ParameterSpec("time_width", .int(min: 1, max: 10_000), default: "40",
                          help: "widest time mask in frames (at most a fifth of the clip's frames)"),
            ParameterSpec("freq_masks", .int(min: 0, max: 16), default: "2", help: "frequency masks per clip"),
            ParameterSpec("freq_width", .int(min: 1, max: 512), default: "6", help: "widest frequency mask in mel bins"),
            ParameterSpec("seed", .int(), default: "0", help: "mixed with each item's id and epoch"),
        ],
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field")
        let masks = SpecAugment(timeMasks: parameters.int("time_masks"), timeWidth: parameters.int("time_width"),
                                frequencyMasks: parameters.int("freq_masks"), frequencyWidth: parameters.int("freq_width"))
        let seed = UInt64(bitPattern: Int64(parameters.int("seed")))
        return .map { sample in
            guard case let .array(mel)? = sample[field], mel.dtype == .float32, mel.shape.count == 2, mel.shape[0] > 0, mel.shape[1] > 0 else {
                throw StageError(path: sample.origin, reason: "no float32 frames x mels log-mel in '\(field)'")
            }
            var rng = RandomGenerator(seed: sample.randomSeed(seed, stage: "spec_augment"))
            var out = sample
            out[field] = .array(NDArray(shape: mel.shape, values: masks.apply(mel.values(as: Float.self), frames: mel.shape[0],
                                                                              bins: mel.shape[1], using: &rng)))
            return [out]
        }
    }
}

/// A random resized crop (one box per clip, so motion stays motion), scaled back to the frame
/// size with bilinear interpolation (a box has sub-pixel corners, which libswscale's integer
/// crops cannot express), then an optional mirror and brightness/contrast jitter.
struct FrameAugment: Sendable {
    var minArea: Double, flip: Bool, brightness: Double, contrast: Double

    func apply(_ frames: NDArray, using rng: inout RandomGenerator) -> NDArray {
        let (count, height, width) = (frames.shape[0], frames.shape[1], frames.shape[2])
        let area = Double.random(in: minArea...1, using: &rng)
        // Aspect ratios whose box fits the picture at this area (only 1 for the whole picture).
        let aspect = exp(Double.random(in: log(max(3.0 / 4, area))...log(min(4.0 / 3, 1 / area)), using: &rng))
        let boxWidth = min(1, (area * aspect).squareRoot()), boxHeight = min(1, (area / aspect).squareRoot())
        let left = Double.random(in: 0...(1 - boxWidth), using: &rng), top = Double.random(in: 0...(1 - boxHeight), using: &rng)
        let mirrored = flip && Bool.random(using: &rng)
        let scale = 1 + Double.random(in: -brightness...brightness, using: &rng)
        let stretch = 1 + Double.random(in: -contrast...contrast, using: &rng)
        // The box is the same on every frame: each output row's and column's source rows,
        // columns and weights are worked out once per clip.
        func taps(_ size: Int, _ start: Double, _ extent: Double, mirrored: Bool) -> [(Int, Int, Double)] {
            (0..<size).map { position in
                let at = mirrored ? size - 1 - position : position
                let source = (start + (Double(at) + 0.5) / Double(size) * extent) * Double(size) - 0.5
                let first = max(0, min(size - 1, Int(source.rounded(.down))))
                return (first, min(size - 1, first + 1), max(0, min(1, source - Double(first))))
            }
        }
        let rows = taps(height, top, boxHeight, mirrored: false), columns = taps(width, left, boxWidth, mirrored: mirrored)
        let pictureBytes = height * width * 3
        var out = [UInt8](repeating: 0, count: frames.count)
        frames.data.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for t in 0..<count {
                    let picture = source.baseAddress! + t * pictureBytes, result = target.baseAddress! + t * pictureBytes
                    // The frame's mean brightness, the point contrast stretches around.
                    var mean = 0.0
                    if stretch != 1 { for i in 0..<pictureBytes { mean += Double(picture[i]) }; mean /= Double(pictureBytes) }
                    for (y, (y0, y1, fy)) in rows.enumerated() {
                        let above = picture + y0 * width * 3, below = picture + y1 * width * 3
                        for (x, (x0, x1, fx)) in columns.enumerated() {
                            for c in 0..<3 {
                                let value = (1 - fy) * ((1 - fx) * Double(above[x0 * 3 + c]) + fx * Double(above[x1 * 3 + c]))
                                    + fy * ((1 - fx) * Double(below[x0 * 3 + c]) + fx * Double(below[x1 * 3 + c]))
                                let jittered = ((value - mean) * stretch + mean) * scale
                                result[(y * width + x) * 3 + c] = UInt8(max(0, min(255, jittered.rounded())))
                            }
                        }
                    }
                }
            }
        }
        return NDArray(shape: frames.shape, values: out)
    }
}

/// Speed, gain and noise on one mono waveform.
struct AudioAugment: Sendable {
    var speed: Double, gainDecibels: Double, noiseDecibels: Double

    func apply(_ audio: AudioBuffer, using rng: inout RandomGenerator) throws(MediaError) -> AudioBuffer {
        var out = audio
        let factor = 1 + Double.random(in: -speed...speed, using: &rng)
        if factor != 1 {
            // Read as if recorded at rate x factor, then resampled back: `factor` times as fast.
            let relabelled = AudioBuffer(source: audio.source, sampleRate: Int((Double(audio.sampleRate) * factor).rounded()),
                                         channels: 1, samples: audio.samples)
            out = try relabelled.resampled(to: audio.sampleRate)
            out.sampleRate = audio.sampleRate
        }
        let gain = Float(pow(10, Double.random(in: -gainDecibels...gainDecibels, using: &rng) / 20))
        if noiseDecibels > 0, !out.samples.isEmpty {
            let power = out.samples.reduce(0) { $0 + Double($1) * Double($1) } / Double(out.samples.count)
            let snr = Double.random(in: noiseDecibels...(noiseDecibels + 20), using: &rng)
            let amplitude = Float((power / pow(10, snr / 10) * 3).squareRoot())  // uniform noise in +-a has power a^2 / 3
            for i in out.samples.indices { out.samples[i] += amplitude * Float.random(in: -1...1, using: &rng) }
        }
        if gain != 1 { for i in out.samples.indices { out.samples[i] = max(-1, min(1, out.samples[i] * gain)) } }
        return out
    }
}

/// SpecAugment's masks (Park et al. 2019; no time warping): `timeMasks` runs of up to
/// `timeWidth` frames (and at most a fifth of the clip) and `frequencyMasks` bands of up to
/// `frequencyWidth` bins, set to the clip's mean.
struct SpecAugment: Sendable {
    var timeMasks: Int, timeWidth: Int, frequencyMasks: Int, frequencyWidth: Int

    func apply(_ values: [Float], frames: Int, bins: Int, using rng: inout RandomGenerator) -> [Float] {
        var out = values
        let mean = values.reduce(0, +) / Float(values.count)
        for _ in 0..<frequencyMasks {
            let width = Int.random(in: 0...min(frequencyWidth, bins - 1), using: &rng)
            let start = Int.random(in: 0...(bins - width), using: &rng)
            for t in 0..<frames { for m in start..<(start + width) { out[t * bins + m] = mean } }
        }
        let longest = min(timeWidth, frames / 5)
        for _ in 0..<timeMasks {
            let width = Int.random(in: 0...longest, using: &rng)
            let start = Int.random(in: 0...(frames - width), using: &rng)
            for t in start..<(start + width) { for m in 0..<bins { out[t * bins + m] = mean } }
        }
        return out
    }
}
