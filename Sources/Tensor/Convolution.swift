// Convolutions as im2col + GEMM, and the layers built from them.

/// Patches of `x` (`[N, C, H, W]`) laid out for a GEMM: `[N, OH * OW, C * KH * KW]`, zero where a
/// patch hangs over the padded border. The gradient adds each patch back where it came from.
public func im2col(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0)) -> Tensor {
    precondition(x.rank == 4, "im2col: expects [N, C, H, W], got \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (kh, kw) = kernel, (sh, sw) = stride, (ph, pw) = padding
    precondition(kh > 0 && kw > 0 && sh > 0 && sw > 0 && ph >= 0 && pw >= 0, "im2col: bad kernel, stride or padding")
    let oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1
    precondition(oh > 0 && ow > 0, "im2col: kernel \(kernel) larger than padded input \(x.shape)")
    let patch = c &* kh &* kw
    let result = Tensor(uninitialized: [n, oh &* ow, patch])
    /// Calls `body(column offset, input offset or -1)` for every patch element of every position.
    func walk(_ body: (Int, Int) -> Void) {
        for image in 0..<n {
            for y in 0..<oh {
                for xPos in 0..<ow {
                    let row = (image &* oh &* ow &+ y &* ow &+ xPos) &* patch
                    var column = row
                    for channel in 0..<c {
                        for dy in 0..<kh {
                            let iy = y &* sh &- ph &+ dy
                            for dx in 0..<kw {
                                let ix = xPos &* sw &- pw &+ dx
                                let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                                body(column, inside ? ((image &* c &+ channel) &* h &+ iy) &* w &+ ix : -1)
                                column &+= 1
                            }
                        }
                    }
                }
            }
        }
    }
    let input = x.storage.pointer, out = result.storage.pointer
    walk { column, source in out[column] = source >= 0 ? input[source] : 0 }
    let inputShape = x.shape
    return record(result, [x]) { g in
        let gx = Tensor.zeros(inputShape)
        let pg = g.storage.pointer, o = gx.storage.pointer
        walk { column, source in if source >= 0 { o[source] += pg[column] } }
        return [gx]
    }
}

/// 2-D convolution (cross-correlation, as PyTorch): `x` `[N, C, H, W]`, `weight`
/// `[O, C, KH, KW]`, optional `bias` `[O]`; result `[N, O, OH, OW]`.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0)) -> Tensor {
    precondition(weight.rank == 4 && x.rank == 4 && weight.shape[1] == x.shape[1],
                 "conv2d: weight \(weight.shape) for input \(x.shape)")
    let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let oh = (h + 2 * padding.0 - kh) / stride.0 + 1, ow = (w + 2 * padding.1 - kw) / stride.1 + 1
    let columns = im2col(x, kernel: (kh, kw), stride: stride, padding: padding)
    var y = matmul(columns, weight.reshaped([o, -1]), transposeB: true)
    if let bias { y = y + bias }
    return y.transposed(1, 2).reshaped([n, o, oh, ow])
}

/// 1-D convolution: `x` `[N, C, L]`, `weight` `[O, C, K]`, optional `bias` `[O]`; result `[N, O, OL]`.
public func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
    precondition(x.rank == 3 && weight.rank == 3, "conv1d: weight \(weight.shape) for input \(x.shape)")
    let y = conv2d(x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2]]),
                   weight: weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2]]),
                   bias: bias, stride: (1, stride), padding: (0, padding))
    return y.reshaped([y.shape[0], y.shape[1], y.shape[3]])
}

/// A 2-D convolution layer initialised like `torch.nn.Conv2d` (uniform in +-1/sqrt(C * KH * KW)).
public struct Conv2d: Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int)

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), bias: Bool = true, rng: inout RandomGenerator) {
        let bound = 1 / Float(inChannels * kernel.0 * kernel.1).squareRoot()
        weight = .uniform([outChannels, inChannels, kernel.0, kernel.1], low: -bound, high: bound, rng: &rng, requiresGrad: true)
        self.bias = bias ? .uniform([outChannels], low: -bound, high: bound, rng: &rng, requiresGrad: true) : nil
        (self.stride, self.padding) = (stride, padding)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// A 1-D convolution layer initialised like `torch.nn.Conv1d`.
public struct Conv1d: Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, rng: inout RandomGenerator) {
        let bound = 1 / Float(inChannels * kernel).squareRoot()
        weight = .uniform([outChannels, inChannels, kernel], low: -bound, high: bound, rng: &rng, requiresGrad: true)
        self.bias = bias ? .uniform([outChannels], low: -bound, high: bound, rng: &rng, requiresGrad: true) : nil
        (self.stride, self.padding) = (stride, padding)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv1d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Batch normalisation over axis 1 (`[N, C]`, `[N, C, L]` or `[N, C, H, W]`), as
/// `torch.nn.BatchNorm{1,2}d`: batch statistics while training (updating running averages with
/// `momentum`, the running variance unbiased), running statistics otherwise.
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

    public func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == weight.count, "BatchNorm: \(x.shape) for \(weight.count) channels")
        let channels = x.shape[1]
        // Per-channel parameters broadcast as [1, C, 1, ...].
        let broadcastShape = [1, channels] + [Int](repeating: 1, count: x.rank - 2)
        let gamma = weight.reshaped(broadcastShape), beta = bias.reshaped(broadcastShape)
        guard training else {
            let scale = (runningVariance + eps).sqrt().reshaped(broadcastShape)
            return (x - runningMean.reshaped(broadcastShape)) / scale * gamma + beta
        }
        // Channels first, everything else flattened: statistics are per row.
        let (n, spatial) = (x.shape[0], x.count / (x.shape[0] * channels))
        let rows = x.reshaped([n, channels, spatial]).permuted([1, 0, 2]).reshaped([channels, n * spatial])
        let mean = rows.mean(axis: 1, keepingAxis: true)
        let centered = rows - mean
        let variance = centered.squared().mean(axis: 1, keepingAxis: true)
        let normalized = (centered / (variance + eps).sqrt()).reshaped([channels, n, spatial]).permuted([1, 0, 2])
        let count = Float(n * spatial)
        let m = mean.storage.pointer, v = variance.storage.pointer
        let rm = runningMean.storage.pointer, rv = runningVariance.storage.pointer
        for c in 0..<channels {
            rm[c] = (1 - momentum) * rm[c] + momentum * m[c]
            rv[c] = (1 - momentum) * rv[c] + momentum * v[c] * count / max(count - 1, 1)
        }
        return normalized.reshaped(x.shape) * gamma + beta
    }
}

/// A ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN when the
/// shape changes), then ReLU. Names follow torchvision (`conv1`, `bn1`, `downsample.0`, ...).
public struct ResidualBlock: Layer {
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    public let downsample: (Conv2d, BatchNorm)?

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, rng: inout RandomGenerator) {
        conv1 = Conv2d(inChannels, outChannels, kernel: (3, 3), stride: (stride, stride), padding: (1, 1), bias: false, rng: &rng)
        bn1 = BatchNorm(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernel: (3, 3), padding: (1, 1), bias: false, rng: &rng)
        bn2 = BatchNorm(outChannels)
        downsample = stride != 1 || inChannels != outChannels
            ? (Conv2d(inChannels, outChannels, kernel: (1, 1), stride: (stride, stride), bias: false, rng: &rng), BatchNorm(outChannels))
            : nil
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("conv1", conv1) + prefixed("bn1", bn1) + prefixed("conv2", conv2) + prefixed("bn2", bn2)
            + (downsample.map { prefixed("downsample.0", $0.0) + prefixed("downsample.1", $0.1) } ?? [])
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        prefixedBuffers("bn1", bn1) + prefixedBuffers("bn2", bn2)
            + (downsample.map { prefixedBuffers("downsample.1", $0.1) } ?? [])
    }

    public func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        let main = bn2(conv2(bn1(conv1(x), training: training).relu()), training: training)
        let shortcut = downsample.map { $0.1($0.0(x), training: training) } ?? x
        return (main + shortcut).relu()
    }
}

extension Tensor {
    /// Gated linear unit over `axis`: the first half times the sigmoid of the second half.
    public func glu(axis: Int = -1) -> Tensor {
        let width = shape[axisIndex(axis)]
        precondition(width % 2 == 0, "glu: axis \(axis) of \(shape) has odd extent")
        let halves = split(axis: axis, sizes: [width / 2, width / 2])
        return halves[0] * halves[1].sigmoid()
    }
}
