import Models
import Text

/// Packed blocks served as collated RetroMAE batches in a seeded order.
///
/// Batch `k` is a pure function of `k` (epoch order from the seed, masks from the seed and `k`),
/// so the data position a checkpoint stores is just the number of batches consumed, and a resumed
/// run sees exactly the batches the uninterrupted one would have.
public struct BlockDataset: Sendable {
    public let blocks: [[Int32]]
    public let batchSize: Int
    public let collator: RetroMAECollator
    public let seed: UInt64
    let order: EpochOrder

    /// Fails when there are fewer blocks than one batch.
    public init(blocks: [[Int32]], batchSize: Int, collator: RetroMAECollator, seed: UInt64) throws(TrainingError) {
        guard batchSize > 0, blocks.count >= batchSize else {
            throw TrainingError(.data, "dataset", "\(blocks.count) blocks cannot fill one batch of \(batchSize)")
        }
        (self.blocks, self.batchSize, self.collator, self.seed) = (blocks, batchSize, collator, seed)
        order = EpochOrder(count: blocks.count, seed: seed)
    }

    /// Full batches per epoch (a last partial batch is left out; the next epoch's order differs).
    public var batchesPerEpoch: Int { blocks.count / batchSize }

    /// The block indices of batch `index`.
    public func blockIndices(ofBatch index: Int) -> [Int] { order.items(ofBatch: index, batchSize: batchSize) }

    /// Batch `index`, collated with masks drawn from the seed and `index`.
    public func batch(_ index: Int) throws(TextError) -> RetroMAEBatch {
        var masks = SplitMix64.stream(seed: seed, index: index)
        return try collator.collate(blockIndices(ofBatch: index).map { blocks[$0] }, seed: masks.next())
    }
}
