import Tensor

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
        let lengths = indices.map { mels[$0].count / melBins }
        let longest = lengths.max() ?? 1
        var mel = [Float](repeating: 0, count: indices.count * melBins * longest)
        for (row, clip) in indices.enumerated() {
            // [frames, melBins] -> [melBins, longest] for this row.
            for t in 0..<lengths[row] {
                for m in 0..<melBins { mel[(row * melBins + m) * longest + t] = mels[clip][t * melBins + m] }
            }
        }
        return ClipBatch(frames: Tensor(shape: [indices.count] + frameShape, scalars: indices.flatMap { frames[$0] }),
                         mel: Tensor(shape: [indices.count, melBins, longest], scalars: mel), melLengths: lengths,
                         captions: indices.map { captions[$0] })
    }
}
