/// Batch normalisation over axis 1 (`[N, C]`, `[N, C, L]` or `[N, C, H, W]`), as
/// `torch.nn.BatchNorm{1,2}d`: batch statistics while training (updating running averages with
/// `momentum`, the running variance unbiased), running statistics otherwise.
///
/// One fused kernel per direction: a convolutional network normalises every activation, and a
/// composition of elementwise ops would pass over each of them a dozen times.
public struct BatchNorm: Layer {
    public let weight: Tensor, bias: Tensor
    /// Running statistics: buffers, saved in checkpoints but not trained.
    public let runningMean: Tensor, runningVariance: Tensor
    public let eps: Float, momentum: Float

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = .full([channels], 1, requiresGrad: true)
        bias = .zeros([channels], requiresGrad: true)
        runningMean = .zeros([channels])
        runningVariance = .full([channels], 1)
        (self.eps, self.momentum) = (eps, momentum)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVariance)]
    }

    /// Per-channel `scale` and `shift` with `eval(x) = x * scale + shift`.
    func evalScaleAndShift() -> (scale: [Float], shift: [Float]) {
        let g = weight.storage.pointer, b = bias.storage.pointer
        let rm = runningMean.storage.pointer, rv = runningVariance.storage.pointer
        let scale = (0..<weight.count).map { g[$0] / (rv[$0] + eps).squareRoot() }
        return (scale, (0..<weight.count).map { b[$0] - rm[$0] * scale[$0] })
    }

    public func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == weight.count, "BatchNorm: \(x.shape) for \(weight.count) channels")
        let (images, channels) = (x.shape[0], x.shape[1])
        let positions = x.count / Swift.max(1, images &* channels), count = images &* positions
        let px = x.storage.pointer, gamma = weight.storage.pointer, beta = bias.storage.pointer
        // Per channel: the mean and 1 / sqrt(variance + eps) the output was normalised with.
        var mean = [Float](repeating: 0, count: channels), inverseStd = mean, variance = mean
        if training {
            precondition(count > 1, "BatchNorm: training needs more than one value per channel, got \(x.shape)")
            mean.withUnsafeMutableBufferPointer { m in
                variance.withUnsafeMutableBufferPointer { v in
                    let (m, v) = (m.baseAddress!, v.baseAddress!)
                    parallelFor(channels, cost: count) { start, end in
                        for c in start..<end {
                            // One pass over the channel: sums of x and x^2 in Double keep
                            // E[x^2] - E[x]^2 at float precision while |mean| / std < 1e4.
                            var total: Double = 0, squares: Double = 0
                            forEachRow(px, images, channels, positions, c) { row in
                                for p in 0..<positions { let value = Double(row[p]); total += value; squares += value * value }
                            }
                            let mu = total / Double(count)
                            (m[c], v[c]) = (Float(mu), Float(Swift.max(0, squares / Double(count) - mu * mu)))
                        }
                    }
                }
            }
            let rm = runningMean.storage.pointer, rv = runningVariance.storage.pointer
            let unbias = Float(count) / Float(count - 1)
            for c in 0..<channels {
                inverseStd[c] = 1 / (variance[c] + eps).squareRoot()
                rm[c] = (1 - momentum) * rm[c] + momentum * mean[c]
                rv[c] = (1 - momentum) * rv[c] + momentum * variance[c] * unbias
            }
        } else {
            let rm = runningMean.storage.pointer, rv = runningVariance.storage.pointer
            for c in 0..<channels { (mean[c], inverseStd[c]) = (rm[c], 1 / (rv[c] + eps).squareRoot()) }
        }
        let result = Tensor(uninitialized: x.shape)
        let out = result.storage.pointer
        parallelFor(images &* channels, cost: positions) { start, end in
            for task in start..<end {
                let c = task % channels
                let scale = gamma[c] * inverseStd[c], shift = beta[c] - mean[c] * scale
                let row = px + task &* positions, o = out + task &* positions
                for p in 0..<positions { o[p] = row[p] * scale + shift }
            }
        }
        let vx = x.detached(), needX = x.requiresGrad
        return record(result, [x, weight, bias]) { g in
            let pg = g.storage.pointer, px = vx.storage.pointer
            // Per channel: sum of g and sum of g * xhat (the bias and weight gradients).
            let gBeta = Tensor(uninitialized: [channels]), gGamma = Tensor(uninitialized: [channels])
            let sb = gBeta.storage.pointer, sg = gGamma.storage.pointer
            parallelFor(channels, cost: count) { start, end in
                for c in start..<end {
                    var total: Double = 0, weighted: Double = 0
                    let mu = mean[c], s = inverseStd[c]
                    for image in 0..<images {
                        let offset = (image &* channels &+ c) &* positions
                        for p in 0..<positions {
                            total += Double(pg[offset &+ p])
                            weighted += Double(pg[offset &+ p] * (px[offset &+ p] - mu) * s)
                        }
                    }
                    (sb[c], sg[c]) = (Float(total), Float(weighted))
                }
            }
            guard needX else { return [nil, gGamma, gBeta] }
            let gx = Tensor(uninitialized: vx.shape)
            let out = gx.storage.pointer, n = Float(count)
            parallelFor(images &* channels, cost: positions) { start, end in
                for task in start..<end {
                    let c = task % channels, s = inverseStd[c], mu = mean[c], offset = task &* positions
                    let k = gamma[c] * s
                    if training {
                        let meanG = sb[c] / n, meanGX = sg[c] / n
                        for p in 0..<positions {
                            let xhat = (px[offset &+ p] - mu) * s
                            out[offset &+ p] = k * (pg[offset &+ p] - meanG - xhat * meanGX)
                        }
                    } else {
                        for p in 0..<positions { out[offset &+ p] = k * pg[offset &+ p] }
                    }
                }
            }
            return [gx, gGamma, gBeta]
        }
    }
}

/// Calls `body` with the `positions`-long row of channel `c` in each image of `[N, C, P]`.
@inline(__always)
private func forEachRow(_ x: UnsafePointer<Float>, _ images: Int, _ channels: Int, _ positions: Int, _ c: Int,
                        _ body: (UnsafePointer<Float>) -> Void) {
    for image in 0..<images { body(x + (image &* channels &+ c) &* positions) }
}
