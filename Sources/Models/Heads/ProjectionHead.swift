import Tensor

/// Spoken Moments' projection into the shared space: two linear layers (ReLU between), the second
/// twice the output width, then a gated linear unit (the first half gated by the sigmoid of the
/// second). Dense or Monarch maps; optional L2 normalisation of the output.
public struct ProjectionHead: Layer {
    public let first: any LinearMap, second: any LinearMap
    public let normalize: Bool

    public var outputWidth: Int { second.outFeatures / 2 }

    public init(_ inFeatures: Int, hidden: Int? = nil, output: Int, kind: LinearKind = .dense, normalize: Bool = false,
                rng: inout RandomGenerator) {
        let hidden = hidden ?? output
        first = kind.make(inFeatures, hidden, rng: &rng)
        second = kind.make(hidden, 2 * output, rng: &rng)
        self.normalize = normalize
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { prefixed("0", first) + prefixed("1", second) }

    /// `[N, output]` from `[N, inFeatures]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let gated = second(first(x).relu()).glu()
        return normalize ? gated.l2Normalized() : gated
    }
}
