import Settings
import Tensor

/// What a clip model takes: frames per clip and their size, the longest spoken caption in seconds
/// and the mel bins. Recorded in its checkpoints, so eval, embed and search decode clips the way
/// training did.
public struct ClipShape: Sendable, Equatable, SettingsDescribed {
    public var frames = 8
    /// 56 px: on the development world both trainers ranked better than at 32 px at the same
    /// wall-clock, though each update costs more (BENCHMARKS.md, "What the clip trainers learn").
    public var size = 56
    /// The paper crops captions to a 10 s window.
    public var seconds = 10.0
    /// From one 25 ms mel window (a shorter caption would be padding only) to ten minutes.
    public static let secondsRange = 0.025...600.0
    /// `seconds` within `secondsRange` (the nearest end for a value a caller did not validate,
    /// the lower one for NaN): what window lengths are computed from, so no count traps.
    public var boundedSeconds: Double {
        seconds.isNaN ? Self.secondsRange.lowerBound : Swift.min(Swift.max(seconds, Self.secondsRange.lowerBound), Self.secondsRange.upperBound)
    }
    public var melBins = 40

    public init() {}

    public init(frames: Int, size: Int, seconds: Double, melBins: Int) {
        (self.frames, self.size, self.seconds, self.melBins) = (frames, size, seconds, melBins)
    }

    /// What a clip trainer's sink takes and its checkpoint records (as `clip.frames`, ...).
    public static var settings: [Setting<ClipShape>] {
        [
            .int("frames", \.frames, max: 64, "frames per clip (video_frames' count), checked on every batch"),
            .int("size", \.size, min: 8, max: 512, "frame width and height, checked on every batch"),
            .double("seconds", \.seconds, min: secondsRange.lowerBound, max: secondsRange.upperBound,
                    "longest caption window, recorded for eval and search: must be clip_batch's max_frames x the mel hop (checked)"),
            .int("mel_bins", \.melBins, max: 512, "mel bins of the captions (log_mel's n_mels)"),
        ]
    }

    /// Per clip, `[frames, 3, size, size]`.
    public var frameShape: [Int] { [frames, 3, size, size] }

    /// The `clip.*` entries a checkpoint records.
    public var metadata: [String: String] {
        Dictionary(uniqueKeysWithValues: settingValues.map { ("clip." + $0.key, $0.value) })
    }

    /// The shape a checkpoint's `clip.*` entries record; every one must be there and in range.
    public init(metadata: [String: String], file: String) throws(TrainingError) {
        let recorded = Dictionary(uniqueKeysWithValues: metadata.compactMap { key, value in
            key.hasPrefix("clip.") ? (String(key.dropFirst("clip.".count)), value) : nil
        })
        guard Self.settings.allSatisfy({ recorded[$0.name] != nil }), let shape = try? ClipShape(settingValues: recorded) else {
            throw TrainingError(.checkpoint, file, "no clip shape in the metadata (extra.clip.frames, size, seconds, mel_bins), or one out of range")
        }
        self = shape
    }
}

/// One batch of clips: frames `[B, T, 3, H, W]` in [0, 1], the spoken captions' log-mel
/// `[B, melBins, frames]` padded to the longest with each caption's true frame count, and the
/// captions' text (empty where a clip has none).
public struct ClipBatch {
    public var frames: Tensor
    public var mel: Tensor
    public var melLengths: [Int]
    public var captions: [String]

    public init(frames: Tensor, mel: Tensor, melLengths: [Int], captions: [String]) {
        (self.frames, self.mel, self.melLengths, self.captions) = (frames, mel, melLengths, captions)
    }

    public var count: Int { frames.shape[0] }

    /// Examples `range` of the batch.
    public func slice(_ range: Range<Int>) -> ClipBatch {
        let lengths = Array(melLengths[range])
        let longest = lengths.max() ?? 1
        return ClipBatch(frames: frames.slice(axis: 0, range), mel: mel.slice(axis: 0, range).slice(axis: 2, 0..<longest),
                         melLengths: lengths, captions: Array(captions[range]))
    }
}

/// Decoded clips held in memory, batched in a seeded order per epoch: batch `k` is a function of
/// `k`, so a checkpoint's data position resumes the same sequence.
public struct ClipDataset: Sendable {
    /// Each clip's frames `[T, 3, H, W]` (float, [0, 1]) and its caption's log-mel `[frames, melBins]`.
    public let frames: [[Float]]
    public let mels: [[Float]]
    public let ids: [String]
    /// Each clip's caption text (empty where it has none).
    public let captions: [String]
    public let frameShape: [Int]
    public let melBins: Int
    public let batchSize: Int
    public let seed: UInt64

    public init(frames: [[Float]], mels: [[Float]], ids: [String], captions: [String]? = nil, frameShape: [Int], melBins: Int,
                batchSize: Int, seed: UInt64) throws(TrainingError) {
        let captions = captions ?? Array(repeating: "", count: ids.count)
        guard frames.count == mels.count, frames.count == ids.count, captions.count == ids.count, batchSize >= 2, frames.count >= batchSize else {
            throw TrainingError(.data, "clips", "\(frames.count) clips cannot fill one batch of \(batchSize) (at least 2)")
        }
        let perClip = frameShape.reduce(1, *)
        if let bad = frames.firstIndex(where: { $0.count != perClip }) {
            throw TrainingError(.data, ids[bad], "\(frames[bad].count) frame values, expected \(frameShape)")
        }
        if let bad = mels.firstIndex(where: { $0.isEmpty || $0.count % melBins != 0 }) {
            throw TrainingError(.data, ids[bad], "a caption of \(mels[bad].count) values is not whole frames of \(melBins) mel bins")
        }
        (self.frames, self.mels, self.ids, self.captions, self.frameShape, self.melBins, self.batchSize, self.seed) =
            (frames, mels, ids, captions, frameShape, melBins, batchSize, seed)
    }

    public var count: Int { frames.count }

    /// The clips of batch `index`: full batches of a seeded permutation, a new one each epoch.
    public func indices(ofBatch index: Int) -> [Int] {
        let perEpoch = count / batchSize
        var rng = RandomGenerator(seed: seed &+ UInt64(index / perEpoch) &* 0x9E37_79B9_7F4A_7C15)
        let order = Array(0..<count).shuffled(using: &rng)
        let start = (index % perEpoch) * batchSize
        return Array(order[start..<start + batchSize])
    }

    public func batch(_ index: Int) -> ClipBatch { batch(of: indices(ofBatch: index)) }

    /// The clips at `indices`, captions padded to the longest with its true lengths kept.
    public func batch(of indices: [Int]) -> ClipBatch {
        let (mel, lengths) = Self.padded(indices.map { mels[$0] }, melBins: melBins)
        return ClipBatch(frames: Tensor(shape: [indices.count] + frameShape, scalars: indices.flatMap { frames[$0] }),
                         mel: mel, melLengths: lengths, captions: indices.map { captions[$0] })
    }

    /// Captions' log-mel (`[frames, melBins]` each) as one `[count, melBins, longest]` batch,
    /// zero-padded, with each caption's true frame count.
    public static func padded(_ mels: [[Float]], melBins: Int) -> (mel: Tensor, lengths: [Int]) {
        let lengths = mels.map { $0.count / melBins }
        let longest = lengths.max() ?? 1
        var mel = [Float](repeating: 0, count: mels.count * melBins * longest)
        for (row, values) in mels.enumerated() {
            // [frames, melBins] -> [melBins, longest] for this row.
            for t in 0..<lengths[row] {
                for m in 0..<melBins { mel[(row * melBins + m) * longest + t] = values[t * melBins + m] }
            }
        }
        return (Tensor(shape: [mels.count, melBins, longest], scalars: mel), lengths)
    }
}
