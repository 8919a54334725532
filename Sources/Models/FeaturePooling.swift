import Tensor

/// How a run of feature vectors becomes one: frames over time, the positions of a frame's feature
/// map, a caption's tokens.
public enum FeaturePooling: String, Sendable, CaseIterable {
    /// The maximum per feature: keeps what shows strongly anywhere (a small object on a busy
    /// background, the one frame or word that names it).
    case max
    case mean

    /// `x` pooled over `axis`, which is removed.
    public func callAsFunction(_ x: Tensor, axis: Int) -> Tensor {
        self == .max ? x.max(axis: axis) : x.mean(axis: axis)
    }

    /// `[N, C]` from `[N, C, T]` whose row n holds `lengths[n]` real steps and padding after them:
    /// pooled over the real steps only, so padding contributes nothing forward or backward.
    public func callAsFunction(_ x: Tensor, lengths: [Int]) -> Tensor {
        precondition(x.rank == 3 && lengths.count == x.shape[0] && lengths.allSatisfy { $0 > 0 && $0 <= x.shape[2] },
                     "FeaturePooling: \(x.shape) with lengths \(lengths)")
        let steps = x.shape[2]
        switch self {
        case .mean:  // a matrix product with per-row averaging weights
            let weights = Tensor(shape: [x.shape[0], steps, 1],
                                 scalars: lengths.flatMap { length in (0..<steps).map { $0 < length ? 1 / Float(length) : 0 } })
            return matmul(x, weights).reshaped([x.shape[0], x.shape[1]])
        case .max:  // padding far below any feature never wins
            let padding = Tensor(shape: [x.shape[0], 1, steps], scalars: lengths.flatMap { length in
                (0..<steps).map { $0 < length ? 0 : MultiHeadAttention.maskedValue }
            })
            return (x + padding).max(axis: 2)
        }
    }
}
