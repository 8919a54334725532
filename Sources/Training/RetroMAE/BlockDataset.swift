import Models
import Text

/// Packed blocks served as collated RetroMAE batches in a seeded order.
///
/// Batch `k` is a pure function of `k` (epoch order from the seed, masks from the seed and `k`),
/// so the data position a checkpoint stores is just the number of batches consumed, and a resumed
/// run sees exactly the batches the uninterrupted one would have.
///
/// In data-parallel training, replica `r` of `R` serves rows `r*b ..< (r+1)*b` of the global
/// batch of `R*b` blocks a one-process run of that batch size would serve, masked alike: the
/// replicas together see exactly that run's batches, and a checkpoint's data position means the
/// same on any world size that keeps the global batch.
public struct BlockDataset: Sendable {
    public let blocks: [[Int32]]
    /// Blocks per micro-batch on this replica.
    public let batchSize: Int
    public let collator: RetroMAECollator
    public let seed: UInt64
    public let replica: Int
    public let replicas: Int
    let order: EpochOrder

    /// Fails when there are fewer blocks than one global batch.
    public init(blocks: [[Int32]], batchSize: Int, collator: RetroMAECollator, seed: UInt64,
                replica: Int = 0, of replicas: Int = 1) throws(TrainingError) {
        guard replicas >= 1, replica >= 0, replica < replicas else {
            throw TrainingError(.data, "dataset", "replica \(replica) of \(replicas) does not exist")
        }
        let (globalBatch, overflow) = batchSize.multipliedReportingOverflow(by: replicas)
        guard batchSize > 0, !overflow, blocks.count >= globalBatch else {
            throw TrainingError(.data, "dataset", "\(blocks.count) blocks cannot fill one batch of \(batchSize) x \(replicas) replicas")
        }
        (self.blocks, self.batchSize, self.collator, self.seed) = (blocks, batchSize, collator, seed)
        (self.replica, self.replicas) = (replica, replicas)
        order = EpochOrder(count: blocks.count, seed: seed)
    }

    /// Full global batches per epoch (a last partial batch is left out; the next epoch's order differs).
    public var batchesPerEpoch: Int { blocks.count / (batchSize * replicas) }

    /// The block indices of this replica's part of batch `index`.
    public func blockIndices(ofBatch index: Int) -> [Int] {
        let global = order.items(ofBatch: index, batchSize: batchSize * replicas)
        return Array(global[replica * batchSize ..< (replica + 1) * batchSize])
    }

    /// This replica's part of batch `index`, collated with masks drawn from the seed, `index` and
    /// each block's row in the global batch.
    public func batch(_ index: Int) throws(TextError) -> RetroMAEBatch {
        var masks = SplitMix64.stream(seed: seed, index: index)
        return try collator.collate(blockIndices(ofBatch: index).map { blocks[$0] }, seed: masks.next(), firstRow: replica * batchSize)
    }
}
