import Models
import Text

/// Seeded orders of `count` items, one per epoch: what both datasets batch from.
struct EpochOrder: Sendable {
    let count: Int
    let seed: UInt64

    /// A Fisher-Yates permutation of 0..<count for `epoch`.
    func order(_ epoch: Int) -> [Int] {
        var rng = SplitMix64.stream(seed: ~seed, index: epoch)
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        return order
    }

    /// Items of batch `index` when every epoch is cut into full batches of `batchSize`.
    func items(ofBatch index: Int, batchSize: Int) -> [Int] {
        let perEpoch = count / batchSize
        let start = (index % perEpoch) * batchSize
        return Array(order(index / perEpoch)[start..<start + batchSize])
    }
}

/// One contrastive batch: every query's positive is among `passages`, after it come the other
/// queries' positives and the hard negatives (in-batch negatives).
public struct PairBatch: Sendable {
    /// Token ids with [CLS] and [SEP].
    public var queries: [[Int32]]
    public var passages: [[Int32]]
    /// Index into `passages` of each query's positive.
    public var positives: [Int]
}

/// Tokenized query/passage pairs (with optional hard negatives) served in seeded batches; batch
/// `k` is a pure function of `k`, like `BlockDataset`.
public struct PairDataset: Sendable {
    public let queries: [[Int32]]
    public let positives: [[Int32]]
    public let negatives: [[[Int32]]]
    /// Pairs per batch on this replica; replica `r` of `R` serves pairs `r*b ..< (r+1)*b` of the
    /// global batch of `R*b` a one-process run of that batch size would serve.
    public let batchSize: Int
    public let replica: Int
    public let replicas: Int
    /// Pads sequences of one batch to a common length.
    public let padId: Int32
    let order: EpochOrder

    /// Tokenizes `pairs` (truncated to `maxLength`, special tokens included); `PairReader`'s
    /// `TextPair`s have these fields.
    public init(pairs: [(query: String, positive: String, negatives: [String])], tokenizer: BertTokenizer, maxLength: Int, batchSize: Int, seed: UInt64,
                replica: Int = 0, of replicas: Int = 1) throws(TrainingError) {
        let (globalBatch, overflow) = batchSize.multipliedReportingOverflow(by: replicas)
        guard replicas >= 1, replica >= 0, replica < replicas, batchSize > 0, !overflow, pairs.count >= globalBatch else {
            throw TrainingError(.data, "pairs", "\(pairs.count) pairs cannot fill one batch of \(batchSize) x \(replicas) replicas (replica \(replica))")
        }
        (self.replica, self.replicas) = (replica, replicas)
        var tokenizer = tokenizer
        tokenizer.truncation = maxLength
        tokenizer.padding = nil
        queries = pairs.map { tokenizer.encode($0.query).ids }
        positives = pairs.map { tokenizer.encode($0.positive).ids }
        negatives = pairs.map { $0.negatives.map { tokenizer.encode($0).ids } }
        self.batchSize = batchSize
        padId = tokenizer.padId
        order = EpochOrder(count: pairs.count, seed: seed)
    }

    public func batch(_ index: Int) -> PairBatch {
        let items = Array(order.items(ofBatch: index, batchSize: batchSize * replicas)[replica * batchSize ..< (replica + 1) * batchSize])
        return PairBatch(queries: items.map { queries[$0] },
                         passages: items.map { positives[$0] } + items.flatMap { negatives[$0] },
                         positives: Array(items.indices))
    }
}
