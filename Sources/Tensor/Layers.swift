import Foundation

/// Something with named parameters: a layer or a whole model.
///
/// Names follow the Hugging Face layout (`weight`, `bias`, `attention.self.query.weight`, ...),
/// joined with dots, so checkpoints load and export under the names users know.
public protocol Layer {
    /// Every trainable tensor with its name relative to this layer.
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// State that is saved with the parameters but not trained (BatchNorm running statistics).
    var namedBuffers: [(name: String, tensor: Tensor)] { get }
}

extension Layer {
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    /// Parameters and buffers: everything a checkpoint or an exported model holds.
    public var namedState: [(name: String, tensor: Tensor)] { namedParameters + namedBuffers }
    /// The trainable tensors, in `namedParameters` order.
    public var parameters: [Tensor] { namedParameters.map(\.tensor) }
    /// Total number of trainable scalars.
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.tensor.count } }
    /// Clears every parameter's gradient.
    public func zeroGradients() { for p in parameters { p.zeroGrad() } }
}

/// Parameters of `layer` with `prefix.` before each name: how a composite layer lists its parts.
public func prefixed(_ prefix: String, _ layer: some Layer) -> [(name: String, tensor: Tensor)] {
    layer.namedParameters.map { (prefix + "." + $0.name, $0.tensor) }
}

/// Buffers of `layer` with `prefix.` before each name (composites holding BatchNorm need these).
public func prefixedBuffers(_ prefix: String, _ layer: some Layer) -> [(name: String, tensor: Tensor)] {
    layer.namedBuffers.map { (prefix + "." + $0.name, $0.tensor) }
}

/// Per-call state of a forward pass: whether we are training (dropout on) and the generator
/// dropout draws from, so a checkpoint can save it and a resumed run draws the same masks.
public struct ForwardContext: Sendable {
    /// Dropout is active only while training.
    public var training: Bool
    /// Source of dropout masks.
    public var rng: RandomGenerator
    /// The update being taken (0-based), set by the training loop: a loss with a schedule (a margin
    /// that grows) reads it here, so a resumed run goes on with the schedule where it stopped.
    public var step = 0

    public init(training: Bool, rng: RandomGenerator) {
        self.training = training
        self.rng = rng
    }

    /// Inference: no dropout (the generator is never drawn from).
    public static var inference: ForwardContext { ForwardContext(training: false, rng: RandomGenerator(seed: 0)) }
}

/// A learned map from `inFeatures` to `outFeatures` on the last axis: dense `Linear` or `MonarchLinear`.
public protocol LinearMap: Layer {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Applies the map to `[..., inFeatures]`, giving `[..., outFeatures]`.
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Which linear map a layer uses where it has a choice (a model config's `ffn: monarch, nblocks: 4`).
public enum LinearKind: Sendable, Equatable {
    case dense
    case monarch(nblocks: Int)

    /// The kind a config names: `dense` (or `linear`), or `monarch` with `nblocks` (default 4).
    public init(config name: String, nblocks: Int? = nil) throws(TensorError) {
        switch name.lowercased() {
        case "dense", "linear": self = .dense
        case "monarch":
            let blocks = nblocks ?? 4
            guard blocks > 0 else { throw TensorError(.invalidConfiguration, "", "nblocks must be positive, got \(blocks)") }
            self = .monarch(nblocks: blocks)
        default: throw TensorError(.invalidConfiguration, "", "unknown linear kind '\(name)' (expected dense or monarch)")
        }
    }

    /// A freshly initialised map of this kind.
    public func make(_ inFeatures: Int, _ outFeatures: Int, rng: inout RandomGenerator) -> any LinearMap {
        switch self {
        case .dense: Linear(inFeatures, outFeatures, rng: &rng)
        case .monarch(let nblocks): MonarchLinear(inFeatures, outFeatures, nblocks: nblocks, rng: &rng)
        }
    }
}

/// y = x W^T + b, with W as `[out, in]` (PyTorch's layout), initialised like `torch.nn.Linear`:
/// W and b uniform in +-1/sqrt(in).
public struct Linear: LinearMap {
    public let weight: Tensor
    public let bias: Tensor?

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = .uniform([outFeatures, inFeatures], low: -bound, high: bound, rng: &rng, requiresGrad: true)
        self.bias = bias ? .uniform([outFeatures], low: -bound, high: bound, rng: &rng, requiresGrad: true) : nil
    }

    /// A layer around existing tensors (weight `[out, in]`, bias `[out]`).
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2 && (bias == nil || bias?.shape == [weight.shape[0]]),
                     "Linear: weight \(weight.shape) with bias \(bias?.shape ?? [])")
        self.weight = weight
        self.bias = bias
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        matmul(x, weight, transposeB: true, bias: bias)
    }
}

/// A lookup table of `count` vectors, initialised N(0, 1) like `torch.nn.Embedding`.
public struct Embedding: Layer {
    public let weight: Tensor

    public init(_ count: Int, _ dimension: Int, rng: inout RandomGenerator) {
        weight = .normal([count, dimension], rng: &rng, requiresGrad: true)
    }

    /// A table around an existing `[count, dimension]` tensor.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: weight must be [count, dimension], got \(weight.shape)")
        self.weight = weight
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight)] }

    /// Vectors for `indices` laid out as `shape`: the result is `shape + [dimension]`.
    public func callAsFunction(_ indices: [Int], shape: [Int]) throws(TensorError) -> Tensor {
        try embedding(weight, indices: indices, indexShape: shape)
    }
}

/// Layer normalisation over the last axis with learned scale (ones) and shift (zeros).
public struct LayerNorm: Layer {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ dimension: Int, eps: Float = 1e-5) {
        weight = .full([dimension], 1, requiresGrad: true)
        bias = .zeros([dimension], requiresGrad: true)
        self.eps = eps
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(gamma: weight, beta: bias, eps: eps) }
}

/// Multi-head scaled dot-product attention with query/key/value/output projections.
///
/// Self-attention passes the same tensor as query and memory; cross-attention passes another
/// sequence as memory (keys and values). The projections start as `torch.nn.Linear` does
/// (BERT-style separate projections; `torch.nn.MultiheadAttention` would use Xavier weights).
public struct MultiHeadAttention: Layer {
    public let query: Linear, key: Linear, value: Linear, output: Linear
    public let heads: Int
    /// Dropout on the attention probabilities.
    public let dropout: Float

    public init(hidden: Int, heads: Int, dropout: Float = 0.1, rng: inout RandomGenerator) {
        precondition(hidden % heads == 0, "MultiHeadAttention: hidden \(hidden) not divisible by \(heads) heads")
        query = Linear(hidden, hidden, rng: &rng)
        key = Linear(hidden, hidden, rng: &rng)
        value = Linear(hidden, hidden, rng: &rng)
        output = Linear(hidden, hidden, rng: &rng)
        self.heads = heads
        self.dropout = dropout
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("query", query) + prefixed("key", key) + prefixed("value", value) + prefixed("output", output)
    }

    /// Attends from `x` (`[B, Lq, D]`) over `memory` (`[B, Lk, D]`). `mask` is additive and
    /// broadcasts to `[B, heads, Lq, Lk]`: see `paddingMask` and `rowMask`.
    public func callAsFunction(_ x: Tensor, memory: Tensor, mask: Tensor?, context: inout ForwardContext) -> Tensor {
        precondition(x.rank == 3 && memory.rank == 3 && x.shape[0] == memory.shape[0],
                     "MultiHeadAttention: x \(x.shape), memory \(memory.shape)")
        let headWidth = x.shape[2] / heads
        // The projections stay head-packed ([B, L, heads * d]); the per-head products read and
        // write each head's columns in place.
        let scores = headScores(query(x), key(memory), heads: heads, scale: 1 / Float(headWidth).squareRoot())
        let probabilities = scores.softmax(mask: mask).dropout(dropout, training: context.training, rng: &context.rng)
        let mixed = headMix(probabilities, value(memory), heads: heads)
        return output(mixed)
    }

    /// The additive mask value that removes a position (HF uses the most negative float; any
    /// value far below the scores works, and a finite one keeps arithmetic NaN-free).
    public static let maskedValue: Float = -1e9

    /// `[B, 1, 1, L]` mask from per-sequence flags (true = real token, false = padding).
    public static func paddingMask(_ valid: [[Bool]]) -> Tensor {
        let length = valid.first?.count ?? 0
        precondition(valid.allSatisfy { $0.count == length }, "paddingMask: rows of different lengths")
        return Tensor(shape: [valid.count, 1, 1, length], scalars: valid.flatMap { $0.map { $0 ? 0 : maskedValue } })
    }

    /// `[B, 1, Lq, Lk]` mask from a per-row `[B, Lq, Lk]` additive mask (e.g. RetroMAE's
    /// enhanced decoder, where every query row sees its own set of keys).
    public static func rowMask(_ mask: Tensor) -> Tensor {
        precondition(mask.rank == 3, "rowMask: expects [B, Lq, Lk], got \(mask.shape)")
        return mask.reshaped([mask.shape[0], 1, mask.shape[1], mask.shape[2]])
    }
}
