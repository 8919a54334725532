import CTensorKernels
import Foundation

// Softmax, normalisation, embedding, dropout and losses: fused ops with hand-written backward.

extension Tensor {
    /// Softmax over the last axis, after adding `mask` (broadcast to this shape; 0 keeps a
    /// position, a large negative number such as -1e9 removes it). Attention passes a
    /// `[B, 1, 1, L]` padding mask or a per-row `[B, 1, L, L]` mask for `[B, H, L, L]` scores.
    /// A row whose every position is -infinity comes out all zeros.
    public func softmax(mask: Tensor? = nil) -> Tensor {
        let x = mask.map { self + $0 } ?? self
        let width = x.shape.last ?? 1, rows = x.count / Swift.max(width, 1)
        let result = Tensor(uninitialized: x.shape)
        let input = x.storage.pointer, out = result.storage.pointer
        parallelFor(rows, cost: width &* 4) { start, end in
            sluice_softmax_rows(out + start &* width, input + start &* width, end &- start, width)
        }
        let y = result.detached()
        return record(result, [x]) { g in
            let gx = Tensor(uninitialized: y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, o = gx.storage.pointer
            parallelFor(rows, cost: width &* 2) { start, end in
                let offset = start &* width
                sluice_softmax_backward_rows(o + offset, pg + offset, py + offset, end &- start, width)
            }
            return [gx]
        }
    }

    /// Log-softmax over the last axis, after adding `mask` (as in `softmax`).
    public func logSoftmax(mask: Tensor? = nil) -> Tensor {
        let x = mask.map { self + $0 } ?? self
        let width = x.shape.last ?? 1, rows = x.count / Swift.max(width, 1)
        let result = Tensor(uninitialized: x.shape)
        let input = x.storage.pointer, out = result.storage.pointer
        for r in 0..<rows {
            let s = input + r &* width, o = out + r &* width
            let lse = sluice_log_sum_exp(s, width)
            for i in 0..<width { o[i] = s[i] - lse }
        }
        let y = result.detached()
        return record(result, [x]) { g in
            let gx = Tensor(uninitialized: y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, o = gx.storage.pointer
            for r in 0..<rows {
                let base = r &* width
                var total: Float = 0
                for i in 0..<width { total += pg[base &+ i] }
                for i in 0..<width { o[base &+ i] = pg[base &+ i] - expf(py[base &+ i]) * total }
            }
            return [gx]
        }
    }

    /// Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, with
    /// the biased variance, as PyTorch and BERT (eps 1e-12) compute it.
    public func layerNorm(gamma: Tensor, beta: Tensor, eps: Float = 1e-5) -> Tensor {
        let width = shape.last ?? 1, rows = count / Swift.max(width, 1)
        precondition(gamma.shape == [width] && beta.shape == [width], "layerNorm: gamma/beta \(gamma.shape) for \(shape)")
        let result = Tensor(uninitialized: shape)
        let normalized = Tensor(uninitialized: shape)
        let inverseStd = Tensor(uninitialized: [rows])
        let input = storage.pointer, out = result.storage.pointer, xhat = normalized.storage.pointer
        let pgamma = gamma.storage.pointer, pbeta = beta.storage.pointer, rstd = inverseStd.storage.pointer
        parallelFor(rows, cost: width &* 4) { start, end in
            let offset = start &* width
            sluice_layer_norm_rows(out + offset, xhat + offset, rstd + start, input + offset, pgamma, pbeta,
                                   end &- start, width, eps)
        }
        let vgamma = gamma.detached(), inputShape = shape
        let needX = requiresGrad, needGamma = gamma.requiresGrad, needBeta = beta.requiresGrad
        return record(result, [self, gamma, beta]) { g in
            let pg = g.storage.pointer, h = normalized.storage.pointer, pgamma = vgamma.storage.pointer
            let dgamma = Tensor.zeros([width]), dbeta = Tensor.zeros([width])
            let dg = dgamma.storage.pointer, db = dbeta.storage.pointer
            // Split over columns, so every column's sum runs over the rows in order on any thread count.
            parallelFor(width, cost: rows &* 2) { start, end in
                sluice_layer_norm_parameter_grads(dg + start, db + start, pg + start, h + start,
                                                  rows, end &- start, width)
            }
            var dx: Tensor?
            if needX {
                let gx = Tensor(uninitialized: inputShape)
                let o = gx.storage.pointer, rstd = inverseStd.storage.pointer
                parallelFor(rows, cost: width &* 6) { start, end in
                    let offset = start &* width
                    sluice_layer_norm_backward_rows(o + offset, pg + offset, h + offset, rstd + start, pgamma,
                                                    end &- start, width)
                }
                dx = gx
            }
            return [dx, needGamma ? dgamma : nil, needBeta ? dbeta : nil]
        }
    }

    /// Each row scaled to unit L2 norm over the last axis; `eps` keeps zero rows finite
    /// (x / sqrt(|x|^2 + eps^2), differentiable everywhere).
    public func l2Normalized(eps: Float = 1e-12) -> Tensor {
        self / (squared().sum(axis: -1, keepingAxis: true) + eps * eps).sqrt()
    }

    /// Dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p) while
    /// training; the identity otherwise.
    public func dropout(_ p: Float, training: Bool, rng: inout RandomGenerator) -> Tensor {
        guard training, p > 0 else { return self }
        precondition(p < 1, "dropout: p must be below 1, got \(p)")
        let mask = Tensor(uninitialized: shape), result = Tensor(uninitialized: shape)
        let m = mask.storage.pointer, out = result.storage.pointer, x = storage.pointer, scale = 1 / (1 - p)
        // One draw per element in order: each thread starts at its piece's offset in the stream,
        // so a seed gives the same masks on any thread count.
        let stream = rng
        var end = stream
        parallelFor(count, cost: 4) { start, stop in
            var local = stream.advanced(by: UInt64(start))
            for i in start..<stop {
                let keep = local.nextUniform() < p ? 0 : scale
                m[i] = keep
                out[i] = x[i] * keep
            }
            if stop == count { end = local }
        }
        rng = end
        return record(result, [self]) { g in [g * mask] }
    }
}

/// Rows of `weight` ([vocabulary, width]) picked by `indices`; the result has shape
/// `indexShape + [width]`. The gradient scatter-adds into the picked rows.
public func embedding(_ weight: Tensor, indices: [Int], indexShape: [Int]) throws(TensorError) -> Tensor {
    precondition(weight.rank == 2, "embedding: weight must be [vocabulary, width], got \(weight.shape)")
    precondition(indexShape.reduce(1, *) == indices.count, "embedding: \(indices.count) indices for shape \(indexShape)")
    let (vocabulary, width) = (weight.shape[0], weight.shape[1])
    if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
        throw TensorError(.indexOutOfRange, "embedding", "index \(indices[bad]) at position \(bad) is outside the table of \(vocabulary) rows")
    }
    let result = Tensor(uninitialized: indexShape + [width])
    let table = weight.storage.pointer, out = result.storage.pointer
    for (row, index) in indices.enumerated() {
        (out + row &* width).update(from: table + index &* width, count: width)
    }
    return record(result, [weight]) { g in
        let gw = Tensor.zeros([vocabulary, width])
        let pg = g.storage.pointer, o = gw.storage.pointer
        for (row, index) in indices.enumerated() {
            let target = o + index &* width, source = pg + row &* width
            for i in 0..<width { target[i] += source[i] }
        }
        return [gw]
    }
}

/// Mean cross-entropy of `logits` ([N, C]) against class `targets` (N of them), skipping targets
/// equal to `ignoreIndex` (PyTorch's -100 by default). With no counted target the loss is 0.
public func crossEntropy(_ logits: Tensor, targets: [Int], ignoreIndex: Int = -100) throws(TensorError) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == targets.count,
                 "crossEntropy: logits \(logits.shape) for \(targets.count) targets")
    let classes = logits.shape[1]
    if let bad = targets.firstIndex(where: { $0 != ignoreIndex && ($0 < 0 || $0 >= classes) }) {
        throw TensorError(.indexOutOfRange, "crossEntropy", "target \(targets[bad]) at row \(bad) is outside \(classes) classes")
    }
    let input = logits.storage.pointer
    // Log-normalisers of the counted rows, computed on all threads; summed in row order below.
    let logNormalizers = Tensor.zeros([targets.count])
    let lse = logNormalizers.storage.pointer
    targets.withUnsafeBufferPointer { targets in
        parallelFor(targets.count, cost: classes) { start, end in
            for row in start..<end where targets[row] != ignoreIndex {
                lse[row] = sluice_log_sum_exp(input + row &* classes, classes)
            }
        }
    }
    var total: Float = 0, counted = 0
    for (row, target) in targets.enumerated() where target != ignoreIndex {
        total += lse[row] - input[row &* classes &+ target]
        counted += 1
    }
    let scale = counted == 0 ? 0 : 1 / Float(counted)
    let vlogits = logits.detached()
    return record(Tensor(total * scale), [logits]) { g in
        let gx = Tensor(uninitialized: vlogits.shape)
        let o = gx.storage.pointer, x = vlogits.storage.pointer, factor = g.item * scale
        let lse = logNormalizers.storage.pointer
        targets.withUnsafeBufferPointer { targets in
            parallelFor(targets.count, cost: classes) { start, end in
                for row in start..<end {
                    let base = row &* classes, target = targets[row]
                    guard target != ignoreIndex else { (o + base).update(repeating: 0, count: classes); continue }
                    sluice_exp_scaled(o + base, x + base, classes, lse[row], factor)
                    o[base &+ target] -= factor
                }
            }
        }
        return [gx]
    }
}
