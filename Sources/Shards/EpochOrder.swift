/// A run of consecutive samples of one source (a shard, or a slice of one when mixing): the unit the
/// shuffle moves around whole, so that reads stay mostly sequential.
public struct SampleSpan: Equatable, Sendable {
    /// Which dataset of a mixture (0 for a single dataset).
    public var source: Int
    /// Index of the span's first sample in that dataset.
    public var start: Int
    public var count: Int

    public init(source: Int = 0, start: Int, count: Int) {
        self.source = source
        self.start = start
        self.count = count
    }
}

/// How an epoch's order is drawn.
public struct ShuffleOptions: Equatable, Sendable {
    public var shuffle: Bool
    public var seed: UInt64
    /// The order is defined over this many canonical partitions, never over ranks or workers, so it
    /// is the same for every world size. Rank counts that divide it read the fewest shards each.
    public var canonicalPartitions: Int
    /// Samples are shuffled within blocks of this many consecutive samples of a partition.
    public var blockSize: Int

    public init(shuffle: Bool = true, seed: UInt64 = 0, canonicalPartitions: Int = 24, blockSize: Int = 1 << 16) {
        self.shuffle = shuffle
        self.seed = seed
        self.canonicalPartitions = max(1, canonicalPartitions)
        self.blockSize = max(1, blockSize)
    }
}

/// The global sample order of one epoch, computed position by position: building it is O(spans)
/// and `subscript(position)` is O(log spans), with no per-sample table, so resuming at sample
/// 10,000,000 costs the same as starting.
///
/// With shuffling, seeded by (seed, epoch):
/// 1. the spans (shards) are permuted and laid end to end;
/// 2. that stream is cut into `canonicalPartitions` contiguous partitions;
/// 3. within each partition, samples are permuted inside blocks of `blockSize` (a keyed bijection,
///    so no table is built);
/// 4. the global order takes one sample from each partition in turn (position p reads partition
///    p mod C), so consecutive positions, which go to different ranks, come from different shards.
public struct EpochOrder: Sendable {
    public let epoch: Int
    public let options: ShuffleOptions
    /// Total samples in the epoch.
    public let count: Int
    /// The spans in stream order (permuted when shuffling), and where each starts in the stream.
    private let spans: [SampleSpan]
    private let streamStarts: [Int]
    private let partitions: Int
    private let rowLength: Int
    private let longPartitions: Int

    public init(spans: [SampleSpan], epoch: Int, options: ShuffleOptions) {
        self.epoch = epoch
        self.options = options
        var ordered = spans.filter { $0.count > 0 }
        if options.shuffle {
            var rng = SplitMix64(seed: Keyed.key(options.seed, UInt64(epoch), 0x5348_4152_4453))
            rng.shuffle(&ordered)
        }
        var starts: [Int] = []
        starts.reserveCapacity(ordered.count)
        var total = 0
        for span in ordered {
            starts.append(total)
            total += span.count
        }
        self.spans = ordered
        self.streamStarts = starts
        self.count = total
        partitions = max(1, min(options.canonicalPartitions, total))
        rowLength = total / partitions
        longPartitions = total % partitions
    }

    /// The sample at global position `position` (0..<count) of the epoch: its dataset and index.
    public subscript(position: Int) -> (source: Int, sample: Int) {
        precondition(position >= 0 && position < count, "position \(position) outside the epoch of \(count)")
        guard options.shuffle else { return resolve(position) }
        // Step 4: position -> (partition, offset). Partitions 0..<longPartitions hold one extra sample,
        // which the final, short row of the interleave visits.
        let partition = position % partitions
        let offset = position / partitions
        let partitionStart = partition &* rowLength &+ min(partition, longPartitions)
        let partitionLength = rowLength &+ (partition < longPartitions ? 1 : 0)
        // Step 3: permute within the block.
        let block = offset / options.blockSize
        let blockStart = block &* options.blockSize
        let blockLength = min(options.blockSize, partitionLength &- blockStart)
        let key = Keyed.key(options.seed, UInt64(epoch), UInt64(partition) << 32 | UInt64(block))
        let shuffled = blockStart &+ Keyed.permute(offset &- blockStart, count: blockLength, key: key)
        return resolve(partitionStart &+ shuffled)
    }

    /// Stream position -> sample, by binary search over the spans.
    private func resolve(_ streamPosition: Int) -> (source: Int, sample: Int) {
        var low = 0
        var high = streamStarts.count - 1
        while low < high {
            let mid = (low &+ high &+ 1) >> 1
            if streamStarts[mid] <= streamPosition { low = mid } else { high = mid &- 1 }
        }
        let span = spans[low]
        return (span.source, span.start &+ (streamPosition &- streamStarts[low]))
    }
}

/// A small fast generator for permutations; quality is ample for shuffling, and it is stable
/// across platforms and Swift versions (unlike the standard library's default generator).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Keyed.mix(state)
    }

    /// Fisher-Yates, spelled out so the order never depends on the standard library's version.
    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, Int(next(below: UInt64(i + 1))))
        }
    }

    /// Uniform in 0..<bound (Lemire's multiply-shift with rejection).
    mutating func next(below bound: UInt64) -> UInt64 {
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }
}

/// Keyed hashing and a keyed bijection on 0..<n (a balanced Feistel network with cycle walking),
/// which shuffles a block without materializing it.
enum Keyed {
    /// SplitMix64's finalizer: a strong 64-bit mixer.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func key(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        mix(mix(mix(a &+ 0x243F_6A88_85A3_08D3) ^ b) ^ c)
    }

    /// Where `x` (0..<count) goes under the permutation of 0..<count named by `key`.
    static func permute(_ x: Int, count: Int, key: UInt64) -> Int {
        guard count > 1 else { return x }
        var bits = UInt64(64 - UInt64(count - 1).leadingZeroBitCount)
        bits += bits & 1  // even, so both halves have the same width
        let half = bits / 2
        let mask: UInt64 = (1 << half) - 1
        var value = UInt64(x)
        repeat {
            var left = value >> half
            var right = value & mask
            for round in 0..<4 as Range<UInt64> {
                let f = mix(right ^ key ^ (round &* 0x9E37_79B9_7F4A_7C15)) & mask
                (left, right) = (right, left ^ f)
            }
            value = left << half | right
        } while value >= UInt64(count)
        return Int(value)
    }
}
