import Tensor

/// Cross-modal contrastive losses over a batch's score matrix S (`S[i][j]` = <a_i, b_j>, pair i
/// matched): the three of the Spoken Moments paper, each summed over both directions,
/// `L = L_ab + L_ba`, where L_ab ranks row i of S for anchor a_i and L_ba ranks column i.
///
/// For one direction with scores s_ij and margin M_i (all in log-sum-exp form, so large raw dot
/// products stay finite):
/// - NCE:  l_i = -s_ii + log sum_{j != i} exp(s_ij)                  (negatives only below)
/// - MMS:  l_i = -(s_ii - M) + log( exp(s_ii - M) + sum_{j != i} exp(s_ij) ),   M a constant
/// - AMM:  the same with M_i = alpha * (s_ii - 1/(B-1) sum_{j != i} s_ij), from the row mean for
///   L_ab and the column mean for L_ba (not the row margins reused on the transpose).
/// and the direction's loss is the mean of l_i over the batch. Text retrieval's one-direction form
/// over rectangular scores (hard negatives beside the batch) is `inBatchSoftmax`.
public struct ContrastiveLoss: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        /// Noise-contrastive estimation (InfoNCE without the positive in the denominator).
        case nce
        /// Masked margin softmax: a fixed margin (the trainer may grow it on a schedule).
        case mms
        /// Adaptive mean margin: a margin per example and direction from its mean negative score.
        case amm
    }

    public var kind: Kind
    /// MMS: the margin.
    public var margin: Float
    /// AMM: the share of the gap between the positive and the mean negative taken as the margin.
    public var alpha: Float
    /// AMM: treat the margin as a constant (no gradient through it). Not detached, the positive's
    /// logit becomes (1 - alpha) s_ii + alpha * mean negative: half the pull on the positive at 0.5,
    /// and the negatives pushed up; the paper's remark that alpha = 1 removes the positive from the
    /// optimisation fits that form.
    public var detachMargin: Bool
    /// AMM: margins below zero (early in training the positive scores below the mean negative)
    /// become zero instead of a bonus for the positive, which on raw dot products lets the scale
    /// run away.
    public var clampMargin: Bool

    public init(kind: Kind, margin: Float = 0.001, alpha: Float = 0.5, detachMargin: Bool = false, clampMargin: Bool = false) {
        (self.kind, self.margin, self.alpha, self.detachMargin, self.clampMargin) = (kind, margin, alpha, detachMargin, clampMargin)
    }

    /// `L_ab + L_ba` for a square score matrix `[B, B]` (B >= 2), a scalar.
    public func callAsFunction(_ scores: Tensor) -> Tensor {
        precondition(scores.rank == 2 && scores.shape[0] == scores.shape[1] && scores.shape[0] >= 2,
                     "ContrastiveLoss: scores must be [B, B] with B >= 2, got \(scores.shape)")
        return direction(scores) + direction(scores.transposed())
    }

    /// The mean of l_i over the rows of `scores` (anchor i, candidates j).
    func direction(_ scores: Tensor) -> Tensor {
        let b = scores.shape[0]
        let identity = Tensor(shape: [b, b], scalars: (0..<b * b).map { $0 / b == $0 % b ? 1 : 0 })
        let positives = (scores * identity).sum(axis: 1, keepingAxis: true)  // [B, 1]: s_ii
        let logits: Tensor
        var diagonalMask: Tensor?
        switch kind {
        case .nce:
            logits = scores
            diagonalMask = identity * MultiHeadAttention.maskedValue
        case .mms:
            logits = scores - identity * margin
        case .amm:
            let meanNegative = (scores.sum(axis: 1, keepingAxis: true) - positives) * (1 / Float(b - 1))
            var margins = (positives - meanNegative) * alpha
            if clampMargin { margins = margins.relu() }
            if detachMargin { margins = margins.detached() }
            logits = scores - identity * margins
        }
        let masked = diagonalMask.map { logits + $0 } ?? logits
        // log-sum-exp of each row, shifted by its (constant) maximum.
        let top = masked.max(axis: 1, keepingAxis: true).detached()
        let logSumExp = (masked - top).exp().sum(axis: 1, keepingAxis: true).log() + top
        let positiveLogits = (logits * identity).sum(axis: 1, keepingAxis: true)
        return (logSumExp - positiveLogits).mean()
    }
}

extension ContrastiveLoss {
    /// The family's one-direction member over a rectangular score matrix, the form text retrieval
    /// trains with (RetroMAE's stage 2): query i should score passage `positives[i]` above every
    /// other passage of the batch (the other queries' positives and any hard negatives), the positive
    /// kept in the denominator (InfoNCE: cross-entropy over the row, MMS with no margin). Scores are
    /// dot products over `temperature`; normalise the embeddings first for cosine scores.
    public static func inBatchSoftmax(queries: Tensor, passages: Tensor, positives: [Int], temperature: Float) throws
        -> (loss: Tensor, accuracy: TokenAccuracy) {
        precondition(queries.shape[0] == positives.count, "inBatchSoftmax: \(positives.count) positives for \(queries.shape[0]) queries")
        let scores = matmul(queries, passages, transposeB: true) * (1 / temperature)
        return (try crossEntropy(scores, targets: positives), accuracy(scores, targets: positives))
    }
}
