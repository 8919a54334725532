import MPIRanks
import Tensor

/// Data-parallel training's gradient average over the ranks of a `World`.
///
/// Small gradients are packed into float32 buckets of up to `bucketElements` and each bucket is
/// summed with one in-place allreduce (a BERT's ~200 tensors cost a few calls, not 200 latencies);
/// a gradient as large as a bucket is reduced where it lies, without a copy. Sums are scaled by
/// 1/size when copied back, so every rank ends with the same mean and takes the same update.
///
/// It is also the loss's view of the ranks (`ReplicaGroup`), for contrastive losses that gather
/// every rank's embeddings.
public final class MPIGradientReducer: GradientReducer, ReplicaGroup {
    public let world: World
    public let bucketElements: Int
    private var bucket: [Float]

    /// 4M elements (16 MB) per bucket by default: far past the size where a ring allreduce reaches
    /// its bandwidth, small beside the model.
    public init(world: World, bucketElements: Int = 1 << 22) {
        (self.world, self.bucketElements) = (world, max(1, bucketElements))
        bucket = []
    }

    public var replicas: Int { world.size }
    public var rank: Int { world.rank }
    public var count: Int { world.size }

    public func allgather(_ values: [Float]) throws -> [[Float]] {
        let bytes = values.withUnsafeBytes { Array($0) }
        return try world.allgather(bytes: bytes).map { part in
            part.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    public func averageAcrossReplicas(_ gradients: [Tensor]) throws {
        let scale = 1 / Float(world.size)
        var packed: [Tensor] = []
        var used = 0
        func flush() throws {
            guard !packed.isEmpty else { return }
            try bucket.withUnsafeMutableBufferPointer { buffer in
                try world.allreduceSum(UnsafeMutableBufferPointer(rebasing: buffer[0..<used]))
                var offset = 0
                for gradient in packed {
                    let target = gradient.storage.pointer
                    for i in 0..<gradient.count { target[i] = buffer[offset + i] * scale }
                    offset += gradient.count
                }
            }
            (packed, used) = ([], 0)
        }
        for gradient in gradients {
            let count = gradient.count
            if count >= bucketElements {
                let buffer = UnsafeMutableBufferPointer(start: gradient.storage.pointer, count: count)
                try world.allreduceSum(buffer)
                for i in 0..<count { buffer[i] *= scale }
                continue
            }
            if used + count > bucketElements { try flush() }
            if bucket.count < used + count { bucket.append(contentsOf: repeatElement(0, count: min(bucketElements, used + count) - bucket.count)) }
            bucket.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: used).update(from: gradient.storage.pointer, count: count)
            }
            packed.append(gradient)
            used += count
        }
        try flush()
    }

    public func sumAcrossReplicas(_ values: [Float]) throws -> [Float] {
        var values = values
        try world.allreduceSum(&values)
        return values
    }
}
