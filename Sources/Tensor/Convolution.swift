// Convolutions as im2col + one GEMM per chunk of images, and the layers built from them.

/// Kernel, stride and padding of a 2-D convolution or pooling window over an `h x w` plane.
struct WindowGeometry {
    let h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int
    var oh: Int { (h + 2 * ph - kh) / sh + 1 }
    var ow: Int { (w + 2 * pw - kw) / sw + 1 }
    /// Output positions per image.
    var positions: Int { oh &* ow }

    init(h: Int, w: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), _ op: String) {
        (self.h, self.w, kh, kw, sh, sw, ph, pw) = (h, w, kernel.0, kernel.1, stride.0, stride.1, padding.0, padding.1)
        precondition(kh > 0 && kw > 0 && sh > 0 && sw > 0 && ph >= 0 && pw >= 0, "\(op): bad kernel, stride or padding")
        precondition(h + 2 * ph >= kh && w + 2 * pw >= kw, "\(op): kernel \(kernel) larger than padded input \(h)x\(w)")
    }

    /// Output columns `lo..<hi` whose input column `x * sw - pw + dx` lies inside the plane.
    func validColumns(_ dx: Int) -> Range<Int> {
        let lo = Swift.max(0, (pw - dx + sw - 1) / sw)
        let hi = w + pw - dx > 0 ? Swift.min(ow, (w + pw - dx - 1) / sw + 1) : 0
        return lo..<Swift.max(lo, hi)
    }
}

/// Images per chunk: enough for a GEMM at least `minColumns` wide (narrower GEMMs repack the
/// weight too often for too little work), else as many as keep the patch matrix within
/// `cachedPatches` elements, so the GEMM reads it from cache right after im2col wrote it; never
/// over `patchBudget`, so a batch of 256 frames never holds all its patches at once.
/// (ResNet-18 at 112 x 112: 1.3-1.6x faster forward than one 64 MB patch matrix per chunk.)
private let minColumns = 2048, cachedPatches = 1 << 20, patchBudget = 1 << 24

/// Writes the patches of images `first..<first + images` of `x` (`[N, C, H, W]`) as a
/// `[C * KH * KW, images * OH * OW]` matrix (zero where a patch hangs over the border).
private func im2col(_ x: UnsafePointer<Float>, channels: Int, _ g: WindowGeometry, first: Int, images: Int,
                    into col: UnsafeMutablePointer<Float>) {
    let rows = channels &* g.kh &* g.kw, width = images &* g.positions, plane = g.h &* g.w
    // Stride 1 with the output as wide as the input (a "same" or 1x1 convolution): each patch
    // row of an image is the input plane shifted by one offset, so one copy per plane.
    let shiftedPlane = g.sh == 1 && g.sw == 1 && g.ow == g.w
    parallelFor(rows, cost: width) { start, end in
        for row in start..<end {
            let c = row / (g.kh &* g.kw), dy = row / g.kw % g.kh, dx = row % g.kw
            let valid = g.validColumns(dx)
            for image in 0..<images {
                let source = x + ((first &+ image) &* channels &+ c) &* plane
                let target = col + (row &* width &+ image &* g.positions)
                if shiftedPlane {
                    copyShiftedPlane(source, into: target, g, dy: dy, dx: dx, columns: valid)
                    continue
                }
                for y in 0..<g.oh {
                    let out = target + y &* g.ow
                    let iy = y &* g.sh &- g.ph &+ dy
                    guard iy >= 0 && iy < g.h, !valid.isEmpty else {
                        out.update(repeating: 0, count: g.ow)
                        continue
                    }
                    out.update(repeating: 0, count: valid.lowerBound)
                    let line = source + (iy &* g.w &- g.pw &+ dx)
                    if g.sw == 1 {
                        (out + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
                    } else if g.sw == 2 {
                        gatherEvenElements(line, into: out, valid)
                    } else {
                        for xo in valid { out[xo] = line[xo &* g.sw] }
                    }
                    (out + valid.upperBound).update(repeating: 0, count: g.ow &- valid.upperBound)
                }
            }
        }
    }
}

/// `out[x] = line[2 * x]` for `x` in `columns` (a stride-2 patch row, as every ResNet stage's
/// first convolution reads), 16 outputs per vector step from 32 loaded inputs.
@inline(__always)
private func gatherEvenElements(_ line: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ columns: Range<Int>) {
    var x = columns.lowerBound
    // Each step reads line[2x ..< 2x + 32]; stopping 16 short of the end keeps the odd element
    // after the last even one needed inside the row.
    while x &+ 16 < columns.upperBound {
        let pairs = UnsafeRawPointer(line + 2 &* x).loadUnaligned(as: SIMD32<Float>.self)
        UnsafeMutableRawPointer(out + x).storeBytes(of: pairs.evenHalf, as: SIMD16<Float>.self)
        x &+= 16
    }
    while x < columns.upperBound {
        out[x] = line[2 &* x]
        x &+= 1
    }
}

/// One patch row of one image when stride is 1 and `ow == w`: output `(y, x)` reads input
/// `(y - ph + dy, x - pw + dx)`, a constant flat offset, so the valid rows are one contiguous
/// copy; the columns that wrapped into a neighbouring row and the rows over the border are zeroed.
@inline(__always)
private func copyShiftedPlane(_ source: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                              _ g: WindowGeometry, dy: Int, dx: Int, columns: Range<Int>) {
    let firstRow = Swift.max(0, g.ph &- dy), endRow = Swift.min(g.oh, g.h &+ g.ph &- dy)
    guard firstRow < endRow, !columns.isEmpty else {
        out.update(repeating: 0, count: g.positions)
        return
    }
    let start = firstRow &* g.ow &+ columns.lowerBound, end = (endRow &- 1) &* g.ow &+ columns.upperBound
    out.update(repeating: 0, count: start)
    (out + start).update(from: source + (start &+ (dy &- g.ph) &* g.w &+ dx &- g.pw), count: end &- start)
    for y in firstRow..<(endRow &- 1) {
        (out + (y &* g.ow &+ columns.upperBound)).update(repeating: 0, count: g.ow &- columns.upperBound &+ columns.lowerBound)
    }
    (out + end).update(repeating: 0, count: g.positions &- end)
}

/// The adjoint of `im2col`: adds every patch entry of `col` back into `dx` where it came from.
private func col2im(_ col: UnsafePointer<Float>, channels: Int, _ g: WindowGeometry, first: Int, images: Int,
                    into dx: UnsafeMutablePointer<Float>) {
    let width = images &* g.positions, plane = g.h &* g.w
    // One (image, channel) plane per task: each writes only its own plane of `dx`.
    parallelFor(images &* channels, cost: g.kh &* g.kw &* g.positions) { start, end in
        for task in start..<end {
            let image = task / channels, c = task % channels
            let target = dx + ((first &+ image) &* channels &+ c) &* plane
            for dy in 0..<g.kh {
                for dx in 0..<g.kw {
                    let row = (c &* g.kh &+ dy) &* g.kw &+ dx
                    let valid = g.validColumns(dx)
                    for y in 0..<g.oh {
                        let iy = y &* g.sh &- g.ph &+ dy
                        guard iy >= 0 && iy < g.h else { continue }
                        let patch = col + (row &* width &+ image &* g.positions &+ y &* g.ow)
                        let line = target + (iy &* g.w &- g.pw &+ dx)
                        if g.sw == 1 {
                            for xo in valid { line[xo] += patch[xo] }
                        } else {
                            for xo in valid { line[xo &* g.sw] += patch[xo] }
                        }
                    }
                }
            }
        }
    }
}

/// Copies `[O, images * P]` (GEMM order) into images `first...` of `[N, O, P]`, or back.
private func exchangeChannelsFirst(_ matrix: UnsafeMutablePointer<Float>, _ batched: UnsafeMutablePointer<Float>,
                                   channels: Int, positions: Int, first: Int, images: Int, toBatched: Bool) {
    let width = images &* positions
    parallelFor(channels &* images, cost: positions) { start, end in
        for task in start..<end {
            let o = task / images, image = task % images
            let m = matrix + (o &* width &+ image &* positions)
            let b = batched + ((first &+ image) &* channels &+ o) &* positions
            if toBatched { b.update(from: m, count: positions) } else { m.update(from: b, count: positions) }
        }
    }
}

/// What the pass that lays a convolution's output out as `[N, O, P]` also does to each element:
/// add the channel's bias, add a residual of the output's shape, clamp at zero (in that order,
/// so the result equals `(conv + bias + residual).relu()` bit for bit).
private struct ConvolutionEpilogue {
    let bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, relu: Bool

    var isEmpty: Bool { bias == nil && residual == nil && !relu }

    /// `target[p] = f(source[p])` for the `positions` outputs of channel `o` starting at flat
    /// output offset `offset` (`source` may be `target`).
    @inline(__always)
    func apply(_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, channel o: Int, offset: Int,
               positions: Int) {
        let b = bias?[o] ?? 0
        switch (residual.map { $0 + offset }, relu) {
        case (nil, false): for p in 0..<positions { target[p] = source[p] + b }
        case (nil, true): for p in 0..<positions { target[p] = Swift.max(source[p] + b, 0) }
        case (let r?, false): for p in 0..<positions { target[p] = source[p] + b + r[p] }
        case (let r?, true): for p in 0..<positions { target[p] = Swift.max(source[p] + b + r[p], 0) }
        }
    }

    /// Copies `[O, images * P]` (GEMM order) into images `first...` of `[N, O, P]`, applying this.
    func scatter(_ matrix: UnsafePointer<Float>, into batched: UnsafeMutablePointer<Float>, channels: Int, positions: Int,
                 first: Int, images: Int) {
        let width = images &* positions
        parallelFor(channels &* images, cost: positions) { start, end in
            for task in start..<end {
                let o = task / images, image = task % images, offset = ((first &+ image) &* channels &+ o) &* positions
                apply(matrix + (o &* width &+ image &* positions), batched + offset, channel: o, offset: offset,
                      positions: positions)
            }
        }
    }

    /// Applies this in place to every element of `[N, O, P]`.
    func applyInPlace(_ batched: UnsafeMutablePointer<Float>, channels: Int, positions: Int, images: Int) {
        guard !isEmpty else { return }
        parallelFor(channels &* images, cost: positions) { start, end in
            for task in start..<end {
                let offset = task &* positions
                apply(batched + offset, batched + offset, channel: task % channels, offset: offset, positions: positions)
            }
        }
    }
}

/// Output positions from which a 1x1, stride-1 convolution multiplies each image's `[C, H * W]`
/// plane directly instead of gathering a patch matrix: below it, per-image GEMMs are too narrow.
private let directPositions = 128

/// The forward pass of `conv2d` with `epilogue` fused into its output pass; records nothing.
///
/// Images are processed in chunks: im2col into a `[C * KH * KW, images * OH * OW]` matrix, one
/// GEMM with the weight, then one pass that lays the product out as `[N, O, OH, OW]` and applies
/// the epilogue. A 1x1 stride-1 convolution over large planes skips the patch matrix and the
/// layout pass: its GEMM reads and writes each image in place.
private func convolutionForward(_ x: Tensor, _ weight: Tensor, _ g: WindowGeometry, chunk: Int,
                                epilogue: ConvolutionEpilogue) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1]), o = weight.shape[0]
    let patch = c &* g.kh &* g.kw, positions = g.positions
    let result = Tensor(uninitialized: [n, o, g.oh, g.ow])
    let px = x.storage.pointer, pw = weight.storage.pointer, out = result.storage.pointer
    if patch == c && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && positions >= directPositions {
        for image in 0..<n {
            gemm(transposeA: false, transposeB: false, m: o, n: positions, k: c, a: pw, lda: c,
                 b: px + image &* c &* positions, ldb: positions, c: out + image &* o &* positions, ldc: positions)
        }
        epilogue.applyInPlace(out, channels: o, positions: positions, images: n)
        return result
    }
    // Scratch as tensors: large buffers come back from the engine's cache instead of fresh,
    // page-faulting memory on every call.
    let colScratch = Tensor(uninitialized: [patch &* chunk &* positions]), productScratch = Tensor(uninitialized: [o &* chunk &* positions])
    let col = colScratch.storage.pointer, product = productScratch.storage.pointer
    for first in Swift.stride(from: 0, to: n, by: chunk) {
        let images = Swift.min(chunk, n &- first), width = images &* positions
        im2col(px, channels: c, g, first: first, images: images, into: col)
        gemm(transposeA: false, transposeB: false, m: o, n: width, k: patch,
             a: pw, lda: patch, b: col, ldb: width, c: product, ldc: width)
        epilogue.scatter(product, into: out, channels: o, positions: positions, first: first, images: images)
    }
    withExtendedLifetime((colScratch, productScratch)) {}
    return result
}

/// The geometry and images per chunk of one convolution, after checking the shapes.
private func convolutionPlan(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: (Int, Int), padding: (Int, Int))
    -> (geometry: WindowGeometry, chunk: Int) {
    precondition(weight.rank == 4 && x.rank == 4 && weight.shape[1] == x.shape[1],
                 "conv2d: weight \(weight.shape) for input \(x.shape)")
    let o = weight.shape[0]
    precondition(bias == nil || bias?.shape == [o], "conv2d: bias \(bias?.shape ?? []) for \(o) output channels")
    let g = WindowGeometry(h: x.shape[2], w: x.shape[3], kernel: (weight.shape[2], weight.shape[3]),
                           stride: stride, padding: padding, "conv2d")
    let perImage = Swift.max(1, weight.shape[1] &* g.kh &* g.kw &* g.positions)
    let wanted = Swift.max((minColumns + g.positions - 1) / Swift.max(1, g.positions), cachedPatches / perImage)
    return (g, Swift.max(1, Swift.min(x.shape[0], wanted, patchBudget / perImage)))
}

/// 2-D convolution (cross-correlation, as PyTorch): `x` `[N, C, H, W]`, `weight`
/// `[O, C, KH, KW]`, optional `bias` `[O]`; result `[N, O, OH, OW]`.
///
/// im2col + GEMM per chunk of images (see `convolutionForward`). Backward recomputes the
/// patches instead of keeping them.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0)) -> Tensor {
    let (g, chunk) = convolutionPlan(x, weight, bias, stride: stride, padding: padding)
    let (n, c) = (x.shape[0], x.shape[1]), o = weight.shape[0]
    let patch = c &* g.kh &* g.kw, positions = g.positions
    let result = withExtendedLifetime(bias) {
        convolutionForward(x, weight, g, chunk: chunk,
                           epilogue: ConvolutionEpilogue(bias: bias?.storage.pointer, residual: nil, relu: false))
    }
    let vx = x.detached(), vw = weight.detached()
    let (needX, needW) = (x.requiresGrad, weight.requiresGrad)
    return record(result, [x, weight] + (bias.map { [$0] } ?? [])) { gradient in
        let gx = needX ? Tensor.zeros(vx.shape) : nil, gw = needW ? Tensor.zeros(vw.shape) : nil
        let colScratch = Tensor(uninitialized: [patch &* chunk &* positions]), gyScratch = Tensor(uninitialized: [o &* chunk &* positions])
        let col = colScratch.storage.pointer, gy = gyScratch.storage.pointer
        for first in Swift.stride(from: 0, to: n, by: chunk) {
            let images = Swift.min(chunk, n &- first), width = images &* positions
            exchangeChannelsFirst(gy, gradient.storage.pointer, channels: o, positions: positions,
                                  first: first, images: images, toBatched: false)
            if let gw {
                im2col(vx.storage.pointer, channels: c, g, first: first, images: images, into: col)
                gemm(transposeA: false, transposeB: true, m: o, n: patch, k: width, a: gy, lda: width,
                     b: col, ldb: width, beta: 1, c: gw.storage.pointer, ldc: patch)
            }
            if let gx {
                gemm(transposeA: true, transposeB: false, m: patch, n: width, k: o, a: vw.storage.pointer, lda: patch,
                     b: gy, ldb: width, c: col, ldc: width)
                col2im(col, channels: c, g, first: first, images: images, into: gx.storage.pointer)
            }
        }
        withExtendedLifetime((colScratch, gyScratch)) {}
        let gb = bias == nil ? nil : sumPerChannel(gradient.storage.pointer, images: n, channels: o, positions: positions)
        return [gx, gw] + (bias == nil ? [] : [gb])
    }
}

/// `conv2d` with `bias`, then `residual` (of the output's shape) added and ReLU applied when
/// asked, all in the one pass that lays out the convolution's output. Inference only: it records
/// no gradient (callers check `GradMode.isRecording`).
func fusedConv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                 adding residual: Tensor?, relu: Bool) -> Tensor {
    let (g, chunk) = convolutionPlan(x, weight, bias, stride: stride, padding: padding)
    let shape = [x.shape[0], weight.shape[0], g.oh, g.ow]
    precondition(residual == nil || residual?.shape == shape, "conv2d: residual \(residual?.shape ?? []) for output \(shape)")
    let epilogue = ConvolutionEpilogue(bias: bias?.storage.pointer, residual: residual?.storage.pointer, relu: relu)
    return withExtendedLifetime((bias, residual)) { convolutionForward(x, weight, g, chunk: chunk, epilogue: epilogue) }
}

/// `[C]` sums of `values[n, c, p]` over `n` and `p` (a bias gradient).
func sumPerChannel(_ values: UnsafePointer<Float>, images: Int, channels: Int, positions: Int) -> Tensor {
    let result = Tensor(uninitialized: [channels])
    let out = result.storage.pointer
    parallelFor(channels, cost: images &* positions) { start, end in
        for c in start..<end {
            var total: Float = 0
            for image in 0..<images {
                let row = values + (image &* channels &+ c) &* positions
                for p in 0..<positions { total += row[p] }
            }
            out[c] = total
        }
    }
    return result
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

    /// This convolution followed by `norm` in eval mode, as one convolution: the weight scaled by
    /// gamma / sqrt(running variance + eps) per output channel and the shift folded into the bias.
    /// Inference with a frozen backbone then skips a pass over every activation; without gradient
    /// recording, `residual` and ReLU join the same pass over the output.
    public func foldedForward(_ x: Tensor, _ norm: BatchNorm, adding residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        let (scale, shift) = norm.evalScaleAndShift()
        let o = weight.shape[0], perChannel = weight.count / o
        let folded = Tensor(uninitialized: weight.shape), foldedBias = Tensor(uninitialized: [o])
        let w = weight.storage.pointer, fw = folded.storage.pointer, fb = foldedBias.storage.pointer
        for channel in 0..<o {
            let s = scale[channel]
            for i in 0..<perChannel { fw[channel &* perChannel &+ i] = w[channel &* perChannel &+ i] * s }
            fb[channel] = shift[channel] + (bias.map { $0.storage.pointer[channel] * s } ?? 0)
        }
        guard !GradMode.isRecording else {
            return conv2d(x, weight: folded, bias: foldedBias, stride: stride, padding: padding).adding(residual, relu: relu)
        }
        return fusedConv2d(x, weight: folded, bias: foldedBias, stride: stride, padding: padding, adding: residual, relu: relu)
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

/// A convolution and the BatchNorm after it, the unit ResNets are built from. In eval mode
/// without gradient recording the two run as one folded convolution.
public struct ConvNorm: Layer {
    public let conv: Conv2d, norm: BatchNorm

    public init(_ conv: Conv2d, _ norm: BatchNorm) { (self.conv, self.norm) = (conv, norm) }

    /// A bias-free convolution (BatchNorm's shift makes a bias redundant) and its BatchNorm.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), rng: inout RandomGenerator) {
        conv = Conv2d(inChannels, outChannels, kernel: kernel, stride: stride, padding: padding, bias: false, rng: &rng)
        norm = BatchNorm(outChannels)
    }

    /// Parameters under the caller's names for the two parts (torchvision: `conv1` / `bn1`).
    public func named(_ convName: String, _ normName: String) -> [(name: String, tensor: Tensor)] {
        prefixed(convName, conv) + prefixed(normName, norm)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { named("0", "1") }
    public var namedBuffers: [(name: String, tensor: Tensor)] { prefixedBuffers("1", norm) }

    /// The convolution and BatchNorm, then `residual` added and ReLU when asked (a residual
    /// block's tail). In eval mode without gradient recording all of it is one folded convolution
    /// with one pass over its output.
    public func callAsFunction(_ x: Tensor, training: Bool, adding residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        if !training && !GradMode.isRecording { return conv.foldedForward(x, norm, adding: residual, relu: relu) }
        return norm(conv(x), training: training).adding(residual, relu: relu)
    }
}

extension Tensor {
    /// `(self + residual).relu()`, each part only when asked.
    fileprivate func adding(_ residual: Tensor?, relu: Bool) -> Tensor {
        let sum = residual.map { self + $0 } ?? self
        return relu ? sum.relu() : sum
    }

    /// Gated linear unit over `axis`: the first half times the sigmoid of the second half.
    public func glu(axis: Int = -1) -> Tensor {
        let width = shape[axisIndex(axis)]
        precondition(width % 2 == 0, "glu: axis \(axis) of \(shape) has odd extent")
        let halves = split(axis: axis, sizes: [width / 2, width / 2])
        return halves[0] * halves[1].sigmoid()
    }
}
