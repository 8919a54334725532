import Foundation
import Tensor

/// How votes become output capsules. The paper (Duarte et al., arXiv 2112.00775) publishes no
/// equations; everything below is this project's design, following the public formulations named.
///
/// Notation: votes û_{n|i} (`[B, M, N, D]`: output capsule n of M, primary capsule i of N, pose
/// dimension D), primary activations a_i in (0, 1) with a_i = 0 for padded tokens, the activation
/// mass m = sum_i a_i, and ε = 1e-6.
///
/// - `selfAttention` (after Efficient-CapsNet, Mazzia et al. 2021), one pass:
///   z_{n,i} = û_{n|i} · (sum_k a_k û_{n|k}) / ((m + ε) sqrt(D))   (the activation-weighted row
///   mean of A_n = Û_n Û_nᵀ / sqrt(D); computed without forming the N x N matrix, so O(M N D)),
///   c_{n,i} = softmax over n of z_{n,i},
///   s_n = sum_i a_i c_{n,i} û_{n|i} / (m + ε),
///   v_n = (1 - 1 / (e^{|s_n|} + ε)) s_n / |s_n|,   |s| = sqrt(|s|² + ε²).
///   Selection is by soft weights a_i c_{n,i}, not top-k: every capsule keeps a gradient, the
///   weights need no k to tune across modalities with 5 words or 50 audio steps, and a padded
///   capsule (a_i = 0) drops out exactly. Efficient-CapsNet's learned prior b_{n,i} is left out:
///   i indexes a variable-length token sequence, so no per-i parameter exists.
/// - `dynamic` (Sabour, Frosst, Hinton 2017), 3 iterations from b_{n,i} = 0:
///   c_{n,i} = softmax over n of b_{n,i}, s_n = sum_i a_i c_{n,i} û_{n|i} / (m + ε),
///   v_n = |s_n|² / (1 + |s_n|²) s_n / |s_n|, and b_{n,i} += û_{n|i} · v_n between iterations.
/// - `none` (the no-capsule baseline): s_n = the mean of û_{n|i} over unpadded tokens (that is, the
///   transforms applied to the mean-pooled tokens), no activations, no squash.
///
/// The output capsule's activation is α_n = |v_n| in [0, 1); v_n = α_n times a unit pose, so the
/// output poses weighted by their activations are v_n themselves.
public enum CapsuleRouting: String, Sendable, CaseIterable {
    case selfAttention = "self_attention"
    case dynamic
    case none

    /// Iterations of dynamic routing (Sabour et al.'s r = 3).
    public static let dynamicIterations = 3
    static let epsilon: Float = 1e-6

    /// Output capsules `[B, M, D]` from votes `[B, M, N, D]` and activations `[B, N]` (zero where
    /// padded) and `valid` `[B, N]` (1 on real tokens, 0 on padding).
    public func route(votes: Tensor, activations: Tensor, valid: Tensor) -> Tensor {
        precondition(votes.rank == 4 && activations.shape == [votes.shape[0], votes.shape[2]] && valid.shape == activations.shape,
                     "CapsuleRouting: votes \(votes.shape), activations \(activations.shape), valid \(valid.shape)")
        let (b, m, n, d) = (votes.shape[0], votes.shape[1], votes.shape[2], votes.shape[3])
        let eps = Self.epsilon
        switch self {
        case .none:
            let weights = valid / (valid.sum(axis: 1, keepingAxis: true) + eps)  // [B, N]
            return weightedSum(votes, weights.reshaped([b, 1, 1, n]) * Tensor.full([1, m, 1, 1], 1))
        case .selfAttention:
            let mass = activations.sum(axis: 1, keepingAxis: true).reshaped([b, 1, 1]) + eps
            let spread = activations.reshaped([b, 1, 1, n]) * Tensor.full([1, m, 1, 1], 1)  // [B, M, 1, N]
            let centre = weightedSum(votes, spread) / mass  // [B, M, D]: sum_k a_k û_{n|k} / m
            let z = matmul(votes, centre.reshaped([b, m, d, 1])).reshaped([b, m, n]) * (1 / Float(d).squareRoot())
            let coupling = z.transposed(1, 2).softmax().transposed(1, 2)  // softmax over n
            let weights = coupling * activations.reshaped([b, 1, n]) / mass
            return efficientSquash(weightedSum(votes, weights.reshaped([b, m, 1, n])))
        case .dynamic:
            let mass = activations.sum(axis: 1, keepingAxis: true).reshaped([b, 1, 1]) + eps
            let scale = activations.reshaped([b, 1, n]) / mass
            var logits = Tensor.zeros([b, m, n])
            var output = votes
            for iteration in 0..<Self.dynamicIterations {
                let coupling = logits.transposed(1, 2).softmax().transposed(1, 2)
                output = sabourSquash(weightedSum(votes, (coupling * scale).reshaped([b, m, 1, n])))
                if iteration + 1 < Self.dynamicIterations {
                    logits = logits + matmul(votes, output.reshaped([b, m, d, 1])).reshaped([b, m, n])
                }
            }
            return output
        }
    }
}

/// `[B, M, D]`: sum_i w_{n,i} û_{n|i} for weights `[B, M, 1, N]` (one batched product).
func weightedSum(_ votes: Tensor, _ weights: Tensor) -> Tensor {
    let (b, m, d) = (votes.shape[0], votes.shape[1], votes.shape[3])
    return matmul(weights, votes).reshaped([b, m, d])
}

/// |s| over the last axis, kept as an axis of 1, with ε² under the root so that s = 0 has a
/// finite gradient.
func guardedLength(_ s: Tensor) -> Tensor {
    (s.squared().sum(axis: -1, keepingAxis: true) + CapsuleRouting.epsilon * CapsuleRouting.epsilon).sqrt()
}

/// Efficient-CapsNet's squash, with 1 / (e^x + ε) written as e^{-x} / (1 + ε e^{-x}) so that a
/// long s overflows neither forward nor backward.
func efficientSquash(_ s: Tensor) -> Tensor {
    let length = guardedLength(s)
    let decay = (-length).exp()
    return (-(decay / (decay * CapsuleRouting.epsilon + 1)) + 1) * s / length
}

/// Sabour et al.'s squash: |s|² / (1 + |s|²) s / |s|.
func sabourSquash(_ s: Tensor) -> Tensor {
    let length = guardedLength(s)
    let squared = length.squared()
    return squared / (squared + 1) * s / length
}
