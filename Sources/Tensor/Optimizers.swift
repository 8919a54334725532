import CTensorKernels
import Foundation

/// Updates parameters from their accumulated gradients; its state can go into a checkpoint.
public protocol Optimizer {
    /// The parameters it updates, by name; `stepCounts` and `step(_:learningRate:)` index this list.
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// Updates each parameter has taken. Counted per parameter, as PyTorch's `state["step"]`, so a
    /// group unfrozen late starts its bias correction afresh.
    var stepCounts: [Int] { get set }
    /// Named state tensors (moments, momentum buffers), saved and restored with a checkpoint.
    var state: [(name: String, tensor: Tensor)] { get }
    /// One update, at `learningRate`, of the parameters at `indices` that have a gradient.
    mutating func step(_ indices: [Int], learningRate: Float)
}

extension Optimizer {
    /// One update of every parameter that has a gradient.
    public mutating func step(learningRate: Float) { step(Array(parameters.indices), learningRate: learningRate) }
}

/// Adam as `torch.optim.Adam` computes it, or with decoupled weight decay as `torch.optim.AdamW`
/// (Loshchilov & Hutter) does.
public struct Adam: Optimizer {
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// true: AdamW (decay the weights directly); false: Adam (add L2 decay to the gradient).
    public var decoupledWeightDecay: Bool
    public let parameters: [(name: String, tensor: Tensor)]
    public var stepCounts: [Int]
    private let firstMoments: [Tensor]
    private let secondMoments: [Tensor]

    /// Typically `Adam(parameters: model.namedParameters)`: AdamW with PyTorch's defaults.
    public init(parameters: [(name: String, tensor: Tensor)], beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0.01, decoupledWeightDecay: Bool = true) {
        self.parameters = parameters
        stepCounts = Array(repeating: 0, count: parameters.count)
        firstMoments = parameters.map { Tensor.zeros($0.tensor.shape) }
        secondMoments = parameters.map { Tensor.zeros($0.tensor.shape) }
        (self.beta1, self.beta2, self.eps, self.weightDecay) = (beta1, beta2, eps, weightDecay)
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    public var state: [(name: String, tensor: Tensor)] {
        zip(parameters, firstMoments).map { ("exp_avg." + $0.name, $1) }
            + zip(parameters, secondMoments).map { ("exp_avg_sq." + $0.name, $1) }
    }

    public mutating func step(_ indices: [Int], learningRate lr: Float) {
        for index in indices {
            let parameter = parameters[index]
            guard let grad = parameter.tensor.grad else { continue }
            stepCounts[index] += 1
            let t = Float(stepCounts[index])
            let stepSize = lr / (1 - powf(beta1, t))
            let inverseCorrection2 = 1 / (1 - powf(beta2, t)).squareRoot()
            let (b1, b2, eps) = (beta1, beta2, eps)
            let (decay, l2) = decoupledWeightDecay ? (1 - lr * weightDecay, Float(0)) : (1, weightDecay)
            let p = parameter.tensor.storage.pointer, g = grad.storage.pointer
            let m = firstMoments[index].storage.pointer, v = secondMoments[index].storage.pointer
            parallelFor(parameter.tensor.count, cost: 8) { start, end in
                sluice_adam(p + start, g + start, m + start, v + start, end &- start, b1, b2, l2, decay,
                            stepSize, inverseCorrection2, eps)
            }
        }
    }
}

/// SGD with momentum and (coupled, L2) weight decay, computed as `torch.optim.SGD` does.
public struct SGD: Optimizer {
    public var momentum: Float, weightDecay: Float
    public let parameters: [(name: String, tensor: Tensor)]
    public var stepCounts: [Int]
    private let buffers: [Tensor]

    public init(parameters: [(name: String, tensor: Tensor)], momentum: Float = 0.9, weightDecay: Float = 0) {
        self.parameters = parameters
        stepCounts = Array(repeating: 0, count: parameters.count)
        buffers = parameters.map { Tensor.zeros($0.tensor.shape) }
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public var state: [(name: String, tensor: Tensor)] {
        zip(parameters, buffers).map { ("momentum_buffer." + $0.name, $1) }
    }

    public mutating func step(_ indices: [Int], learningRate lr: Float) {
        let (mu, decay) = (momentum, weightDecay)
        for index in indices {
            let parameter = parameters[index]
            guard let grad = parameter.tensor.grad else { continue }
            let first = stepCounts[index] == 0
            stepCounts[index] += 1
            let p = parameter.tensor.storage.pointer, g = grad.storage.pointer, b = buffers[index].storage.pointer
            parallelFor(parameter.tensor.count, cost: 4) { start, end in
                for i in start..<end {
                    let d = g[i] + decay * p[i]
                    b[i] = first ? d : mu * b[i] + d
                    p[i] -= lr * (mu == 0 ? d : b[i])
                }
            }
        }
    }
}

/// Learning rate over training: linear warm-up from 0, then constant, linear decay to 0, or
/// cosine decay to 0 at `totalSteps` (the Hugging Face schedules).
public struct LearningRateSchedule: Sendable {
    public enum Decay: Sendable { case constant, linear, cosine }

    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, decay: Decay) {
        (self.peak, self.warmupSteps, self.totalSteps, self.decay) = (peak, warmupSteps, totalSteps, decay)
    }

    /// The rate for the update numbered `step` (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step) / Float(max(1, warmupSteps)) }
        let progress = min(1, Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps)))
        switch decay {
        case .constant: return peak
        case .linear: return peak * (1 - progress)
        case .cosine: return peak * 0.5 * (1 + cosf(Float.pi * progress))
        }
    }
}

/// Scales all gradients down together so their global L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for grad in parameters.compactMap(\.grad) {
        let g = grad.storage.pointer
        var partial: Float = 0
        for i in 0..<grad.count { partial += g[i] * g[i] }
        total += Double(partial)
    }
    let norm = Float(total.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for grad in parameters.compactMap(\.grad) {
            let g = grad.storage.pointer
            for i in 0..<grad.count { g[i] *= scale }
        }
    }
    return norm
}
