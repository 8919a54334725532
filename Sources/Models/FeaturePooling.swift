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
}
