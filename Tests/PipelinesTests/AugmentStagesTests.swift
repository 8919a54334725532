import Foundation
import Media
import PipelineCore
@testable import Pipelines
import Synchronization
import Tensor
import Testing
import Training

/// Training-time augmentation: each draw is fixed by (seed, item, epoch), new every epoch, and
/// does what its parameter says.
struct AugmentStagesTests {
    /// T x H x W x 3 frames whose pixel (y, x) of frame t, channel c is a distinct pattern.
    static func frames(count: Int = 2, height: Int = 12, width: Int = 16) -> NDArray {
        var values = [UInt8](repeating: 0, count: count * height * width * 3)
        for t in 0..<count { for y in 0..<height { for x in 0..<width { for c in 0..<3 {
            values[((t * height + y) * width + x) * 3 + c] = UInt8((x * 13 + y * 7 + t * 29 + c * 50) % 256)
        } } } }
        return NDArray(shape: [count, height, width, 3], values: values)
    }

    static func sample(epoch: Int?) -> Sample {
        var sample = Sample(["id": .string("clip-7")])
        if let epoch { sample["epoch"] = .int(epoch) }
        return sample
    }

    @Test func theSameItemAndEpochDrawTheSameViewAndAnotherEpochANewOne() throws {
        let augment = FrameAugment(minArea: 0.5, flip: false, brightness: 0, contrast: 0)
        func view(_ epoch: Int?) -> NDArray {
            var rng = RandomGenerator(seed: Self.sample(epoch: epoch).randomSeed(3, stage: "frame_augment"))
            return augment.apply(Self.frames(), using: &rng)
        }
        #expect(view(1) == view(1))
        #expect(view(1) != view(2))
        // Epoch 0 (and no epoch at all: one pass) keep the seed a single-epoch run always had.
        #expect(view(0) == view(nil))
        #expect(Self.sample(epoch: nil).randomSeed(3, stage: "frame_augment") == 3 ^ stableHash("frame_augment/clip-7"))
        // Stages given the same seed draw independently.
        #expect(Self.sample(epoch: 1).randomSeed(3, stage: "frame_augment") != Self.sample(epoch: 1).randomSeed(3, stage: "spec_augment"))
    }

    @Test func aWholePictureCropIsTheIdentityAndAFlipMirrorsIt() throws {
        let frames = Self.frames()
        var rng = RandomGenerator(seed: 1)
        #expect(FrameAugment(minArea: 1, flip: false, brightness: 0, contrast: 0).apply(frames, using: &rng) == frames)
        let (t, h, w) = (frames.shape[0], frames.shape[1], frames.shape[2])
        var mirrored = [UInt8](repeating: 0, count: frames.count)
        let source = frames.values(as: UInt8.self)
        for n in 0..<t { for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            mirrored[((n * h + y) * w + x) * 3 + c] = source[((n * h + y) * w + (w - 1 - x)) * 3 + c]
        } } } }
        var flips = Set<Bool>()
        for seed in 0..<16 as Range<UInt64> {
            var rng = RandomGenerator(seed: seed)
            let out = FrameAugment(minArea: 1, flip: true, brightness: 0, contrast: 0).apply(frames, using: &rng)
            #expect(out == frames || out == NDArray(shape: frames.shape, values: mirrored))
            flips.insert(out != frames)
        }
        #expect(flips == [true, false])
    }

    @Test func aCropZoomsIntoTheSameBoxOnEveryFrame() throws {
        // Two identical frames stay identical: the box is drawn once per clip.
        let frame = Self.frames(count: 1)
        let twice = NDArray(shape: [2] + frame.shape.dropFirst(), values: frame.values(as: UInt8.self) + frame.values(as: UInt8.self))
        var rng = RandomGenerator(seed: 5)
        let out = FrameAugment(minArea: 0.3, flip: false, brightness: 0, contrast: 0).apply(twice, using: &rng).values(as: UInt8.self)
        #expect(out.prefix(out.count / 2).elementsEqual(out.suffix(out.count / 2)))
        #expect(NDArray(shape: twice.shape, values: out) != twice)
    }

    @Test func specAugmentMasksWholeBandsAndRunsWithTheMean() throws {
        let (frames, bins) = (200, 40)
        let values = (0..<(frames * bins)).map { Float($0 % 97) - 40 }
        let mean = values.reduce(0, +) / Float(values.count)
        var rng = RandomGenerator(seed: 9)
        let out = SpecAugment(timeMasks: 2, timeWidth: 30, frequencyMasks: 2, frequencyWidth: 6).apply(values, frames: frames, bins: bins, using: &rng)
        let maskedBins = (0..<bins).filter { m in (0..<frames).allSatisfy { out[$0 * bins + m] == mean } }
        let maskedFrames = (0..<frames).filter { t in (0..<bins).allSatisfy { out[t * bins + $0] == mean } }
        #expect(maskedBins.count <= 12 && maskedFrames.count <= 60)
        #expect(!maskedBins.isEmpty || !maskedFrames.isEmpty)
        // Everything outside the masks is untouched.
        for t in 0..<frames where !maskedFrames.contains(t) {
            for m in 0..<bins where !maskedBins.contains(m) { #expect(out[t * bins + m] == values[t * bins + m]) }
        }
    }

    @Test func speedChangesTheLengthGainTheLevelAndNoiseStaysWithinItsRatio() throws {
        let rate = 16_000
        let tone = (0..<rate).map { Float(0.5 * sin(2 * Double.pi * 440 * Double($0) / Double(rate))) }
        let audio = AudioBuffer(source: "tone", sampleRate: rate, channels: 1, samples: tone)
        var lengths = Set<Int>()
        for seed in 0..<8 as Range<UInt64> {
            var rng = RandomGenerator(seed: seed)
            let fast = try AudioAugment(speed: 0.1, gainDecibels: 0, noiseDecibels: 0).apply(audio, using: &rng)
            #expect(fast.sampleRate == rate && (Int(Double(rate) / 1.1) - 1...Int(Double(rate) / 0.9) + 1).contains(fast.samples.count))
            lengths.insert(fast.samples.count)
        }
        #expect(lengths.count > 1)

        func power(_ x: [Float]) -> Double { x.reduce(0) { $0 + Double($1) * Double($1) } / Double(x.count) }
        var rng = RandomGenerator(seed: 2)
        let louder = try AudioAugment(speed: 0, gainDecibels: 6, noiseDecibels: 0).apply(audio, using: &rng)
        let decibels = 10 * log10(power(louder.samples) / power(tone))
        #expect(abs(decibels) <= 6.01 && abs(decibels) > 0)

        rng = RandomGenerator(seed: 4)
        let noisy = try AudioAugment(speed: 0, gainDecibels: 0, noiseDecibels: 20).apply(audio, using: &rng)
        let snr = 10 * log10(power(tone) / power(zip(noisy.samples, tone).map { $0 - $1 }))
        #expect(snr >= 19.5 && snr <= 40.5, "SNR \(snr) dB")
    }

    @Test func jitteredFramesFallInsideTheirSegmentsAndDifferBySeed() throws {
        let index = try VideoReader(path: MediaStagesTests.root.appendingPathComponent("samples/shapes/video/shapes-00001.mkv").path).index()
        let count = index.count
        let draws = try (0..<6 as Range<UInt64>).map { try FrameSelection.jittered(count: 4, seed: $0).frameNumbers(in: index, path: "clip") }
        for numbers in draws {
            for (k, n) in numbers.enumerated() { #expect(n >= k * count / 4 && n <= (k + 1) * count / 4) }
        }
        #expect(Set(draws.map { $0 }).count > 1)
    }

    /// The manifest source marks each sample with its epoch, and `mismatch` hands a fixed share of
    /// the rows another row's caption, the same in every epoch.
    @Test func epochsAreMarkedAndMismatchedCaptionsStayMismatched() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-augment-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outcome = try PipelineRunner(plan: PipelineFile().plan(yaml: """
            name: noisy
            output: \(dir.path)
            source: {type: manifest, path: \(MediaStagesTests.root.path)/samples/shapes/manifest.jsonl, split: train, epochs: 2, shuffle: true, mismatch: 0.25, seed: 1}
            sink: {type: jsonl, path: rows.jsonl}
            """, file: "noisy.yaml"), progress: nil).run()
        #expect(outcome.report.completion == .finished)
        let rows = try String(contentsOf: dir.appendingPathComponent("rows.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(rows.count == 36 && rows.prefix(18).allSatisfy { $0["epoch"] as? Int == 0 } && rows.suffix(18).allSatisfy { $0["epoch"] as? Int == 1 })
        func swapped(_ epoch: [[String: Any]]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: epoch.compactMap { row in (row["mismatched_with"] as? String).map { (row["id"] as! String, $0) } })
        }
        let first = swapped(Array(rows.prefix(18)))
        #expect(first.count == 5 && first == swapped(Array(rows.suffix(18))))
        #expect(first.allSatisfy { $0.key != $0.value } && Set(first.values) == Set(first.keys))
        // Each row carries how far its epoch's order was read through it (test rows passed over counted).
        let read = rows.map { $0["stream_position"] as? Int ?? -1 }
        #expect(Array(read.prefix(18)) == read.prefix(18).sorted() && Array(read.suffix(18)) == read.suffix(18).sorted() && read.allSatisfy { 1...24 ~= $0 })
        #expect(rows.map { $0["stream_epoch"] as? Int } == rows.map { $0["epoch"] as? Int })
    }

    /// A resumed trainer's checkpoint says how far its stream was read; the manifest source begins
    /// there, with the very rows the whole run read next, and none before.
    @Test func aResumedManifestBeginsAfterTheRowsItsCheckpointRead() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-resume-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        func read(from point: StreamPoint?) throws -> [(id: String, point: StreamPoint)] {
            let source = ManifestSource(urls: [MediaStagesTests.root.appendingPathComponent("samples/shapes/manifest.jsonl")], split: "train",
                                        log: InputLog(), objects: ObjectInputs(outputDirectory: dir), epochs: 3, shuffleSeed: 5,
                                        resumeAt: { point })
            let rows = Mutex<[(id: String, point: StreamPoint)]>([])
            try Pipeline(name: "resume").source("manifest", source).forEach("collect") { sample in
                guard case let .string(id)? = sample["id"], let point = sample.streamPoint else { return }
                rows.withLock { $0.append((id, point)) }
            }.run()
            return rows.withLock { $0 }
        }
        let whole = try read(from: nil)
        #expect(whole.count == 54 && whole.map(\.point) == whole.map(\.point).sorted())
        // Mid-epoch (the 8th train row of epoch 1) and at an epoch's end.
        for consumed in [25, 17] {
            let resumed = try read(from: whole[consumed].point)
            #expect(resumed.map(\.id) == whole.dropFirst(consumed + 1).map(\.id))
            #expect(resumed.map(\.point) == whole.dropFirst(consumed + 1).map(\.point))
        }
        #expect(try read(from: StreamPoint(epoch: 3, position: 0)).isEmpty && read(from: StreamPoint(epoch: 9, position: 99)).isEmpty)
    }
}
