import Foundation
import Models
import Settings
import Tensor

/// How a retrieval trainer scores a pair of embeddings and which contrastive loss ranks a batch,
/// with their settings written once for every clip trainer.
///
/// The defaults are the held-out table's best (BENCHMARKS.md, "What the clip trainers learn"):
/// cosine scores over a temperature with MMS, where the Spoken Moments paper's AMM on raw dot
/// products ranked held-out clips far worse at the same wall-clock; cosine also keeps the capsule
/// network learning, as its squashed output capsules start short and raw dot products of short
/// vectors give the loss almost no gradient.
public struct RetrievalOptions: Sendable, Equatable {
    /// The shared space.
    public var embedding = 256
    /// Unit-length embeddings and scores over `temperature` (cosine), instead of raw dot products.
    public var normalize = true
    public var temperature: Float = 0.05
    public var loss = ContrastiveLoss.Kind.mms
    public var alpha: Float = 0.5
    /// MMS: the margin at the start, times `marginGrowth` every 1000 updates (the paper's schedule).
    public var margin: Float = 0.001
    public var marginGrowth: Float = 1.002
    /// AMM: whether the margin is a constant (no gradient through it), and whether negative margins
    /// become zero. Clamped and not detached by default: with raw dot products a detached margin
    /// that starts negative (the positive below the mean negative) lets the scale run away.
    public var detachMargin = false
    public var clampMargin = true

    public init() {}

    /// Their settings, lifted into a trainer's options by `path`.
    public static func settings<Options>(at path: WritableKeyPath<Options, RetrievalOptions>) -> [Setting<Options>] {
        let own: [Setting<RetrievalOptions>] = [
            .int("embedding", \.embedding, max: 1 << 14, "size of the shared space"),
            .flag("normalize", \.normalize, "cosine scores over the temperature instead of raw dot products"),
            .float("temperature", \.temperature, min: 1e-4, "with normalize: the scores' temperature"),
            .choice("loss", \.loss, "contrastive loss over each pair of towers, both ways: mms (margin schedule), amm (adaptive margin) or nce"),
            .float("alpha", \.alpha, max: 1, "amm: share of the positive-to-mean-negative gap taken as margin"),
            .float("margin", \.margin, "mms: margin at the start"),
            .float("margin_growth", \.marginGrowth, min: 1, max: 2, "mms: factor applied to the margin every 1000 updates"),
            .flag("detach_margin", \.detachMargin, "amm: no gradient through the margin"),
            .flag("clamp_margin", \.clampMargin, "amm: negative margins become zero"),
        ]
        return own.map { $0.lifted(path) }
    }

    /// The MMS margin at update `step`.
    public func margin(at step: Int) -> Float { margin * powf(marginGrowth, Float(step / 1000)) }

    /// S[i][j] = <a_i, b_j>, over the temperature when normalised.
    public func scores(_ a: Tensor, _ b: Tensor) -> Tensor {
        let s = matmul(a, b, transposeB: true)
        return normalize ? s * (1 / temperature) : s
    }

    /// The loss of update `step` (the MMS margin grows with it).
    public func contrastiveLoss(at step: Int) -> ContrastiveLoss {
        ContrastiveLoss(kind: loss, margin: margin(at: step), alpha: alpha, detachMargin: detachMargin, clampMargin: clampMargin)
    }

    /// The loss summed over pairs of towers (their score matrices from `scores`, each ranked both
    /// ways), and each pair's value as a logged term.
    public func loss(over pairs: [(name: String, scores: Tensor)], step: Int) -> (loss: Tensor, terms: [(name: String, value: Float)]) {
        let contrastive = contrastiveLoss(at: step)
        let losses = pairs.map { ($0.name, contrastive($0.scores)) }
        return (losses.dropFirst().reduce(losses[0].1) { $0 + $1.1 }, losses.map { ($0.0, $0.1.item) })
    }
}

extension LoopOptions {
    /// The retrieval trainers' loop: Adam at a fixed 1e-3 (the Spoken Moments paper's), no warm-up,
    /// decay or clipping, a log line every 10 updates, evaluation and a checkpoint every 100.
    public static var retrieval: LoopOptions {
        var loop = LoopOptions()
        (loop.optimizer, loop.learningRate, loop.schedule, loop.warmup, loop.weightDecay, loop.clipNorm) = (.adam, 1e-3, .constant, 0, 0, 0)
        (loop.logEvery, loop.evalEvery, loop.checkpointEvery) = (10, 100, 100)
        return loop
    }
}
