import CTensorKernels
import Foundation

// MARK: Broadcasting

/// The shape two operands broadcast to (NumPy rules: align right, extents equal or 1).
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = max(a.count, b.count)
    return (0..<rank).map { i in
        let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        precondition(x == y || x == 1 || y == 1, "cannot broadcast shapes \(a) and \(b)")
        return max(x, y)
    }
}

/// Element strides of an operand of `shape` read as if it had `target` shape (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: target.count)
    var running = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let t = i + target.count - shape.count
        strides[t] = shape[i] == 1 && target[t] != 1 ? 0 : running
        running *= shape[i]
    }
    return strides
}

/// Walks the rows (last axis) of `shape` in `rows` (all by default), giving the row index and each
/// operand's offset of the row's first element; the caller steps through the row with the
/// operands' last-axis strides.
@inline(__always)
func forEachRow(_ shape: [Int], _ stridesA: [Int], _ stridesB: [Int], rows: Range<Int>? = nil,
                _ body: (Int, Int, Int) -> Void) {
    let rank = shape.count
    guard rank > 0 else { body(0, 0, 0); return }
    let rows = rows ?? 0..<product(shape, 0..<(rank - 1))
    // The index and offsets of the first row, unravelled from its number.
    var index = [Int](repeating: 0, count: rank)
    var offsetA = 0, offsetB = 0, remaining = rows.lowerBound
    for axis in stride(from: rank - 2, through: 0, by: -1) {
        index[axis] = remaining % shape[axis]
        remaining /= shape[axis]
        offsetA &+= index[axis] &* stridesA[axis]
        offsetB &+= index[axis] &* stridesB[axis]
    }
    for row in rows {
        body(row, offsetA, offsetB)
        var axis = rank - 2
        while axis >= 0 {
            index[axis] &+= 1
            offsetA &+= stridesA[axis]
            offsetB &+= stridesB[axis]
            if index[axis] < shape[axis] { break }
            offsetA &-= stridesA[axis] &* shape[axis]
            offsetB &-= stridesB[axis] &* shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// `forEachRow` with the rows split across the compute threads: for bodies that write only
/// their own row of an output.
@inline(__always)
func forEachRowInParallel(_ shape: [Int], _ stridesA: [Int], _ stridesB: [Int], _ body: (Int, Int, Int) -> Void) {
    let inner = shape.last ?? 1
    parallelFor(shape.isEmpty ? 1 : product(shape, 0..<(shape.count - 1)), cost: inner) { start, end in
        forEachRow(shape, stridesA, stridesB, rows: start..<end, body)
    }
}

/// `f(a, b)` elementwise with broadcasting, outside autodiff.
@inline(__always)
func broadcastMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let shape = broadcastShape(a.shape, b.shape)
    let result = Tensor(uninitialized: shape)
    let pa = a.storage.pointer, pb = b.storage.pointer, out = result.storage.pointer
    if a.shape == b.shape {
        parallelFor(result.count) { start, end in
            for i in start..<end { out[i] = f(pa[i], pb[i]) }
        }
        return result
    }
    if b.count == 1 || a.count == 1 {
        let scalarIsB = b.count == 1
        let s = scalarIsB ? pb[0] : pa[0]
        let p = scalarIsB ? pa : pb
        parallelFor(result.count) { start, end in
            if scalarIsB { for i in start..<end { out[i] = f(p[i], s) } }
            else { for i in start..<end { out[i] = f(s, p[i]) } }
        }
        return result
    }
    let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
    let inner = shape.last ?? 1
    let ia = sa.last ?? 0, ib = sb.last ?? 0
    forEachRowInParallel(shape, sa, sb) { row, offsetA, offsetB in
        let o = out + row &* inner
        let ra = pa + offsetA, rb = pb + offsetB
        for i in 0..<inner { o[i] = f(ra[i &* ia], rb[i &* ib]) }
    }
    return result
}

/// Sums `t` down to `shape` (the inverse of broadcasting), outside autodiff.
func sumToShape(_ t: Tensor, _ shape: [Int]) -> Tensor {
    if t.shape == shape { return t }
    if !shape.isEmpty, shape.first != 1, t.shape.suffix(shape.count).elementsEqual(shape) {
        return sumLeadingRows(t, shape)
    }
    let result = Tensor.zeros(shape)
    let strides = broadcastStrides(shape, to: t.shape)
    let inner = t.shape.last ?? 1, step = strides.last ?? 0
    let source = t.storage.pointer, out = result.storage.pointer
    forEachRow(t.shape, strides, strides) { row, offset, _ in
        let s = source + row &* inner, o = out + offset
        if step == 0 {
            var total: Float = 0
            for i in 0..<inner { total += s[i] }
            o[0] += total
        } else {
            for i in 0..<inner { o[i] += s[i] }
        }
    }
    return result
}

/// The bias-gradient case of `sumToShape`: `t` is rows of `shape`, summed. Rows are summed in
/// fixed blocks on all threads and the blocks added in order, so the result does not depend on
/// the thread count.
private func sumLeadingRows(_ t: Tensor, _ shape: [Int]) -> Tensor {
    let width = shape.reduce(1, *), rows = t.count / width
    let blockRows = 128
    let blocks = (rows + blockRows - 1) / blockRows
    let partials = Tensor.zeros([blocks, width])
    let source = t.storage.pointer, partial = partials.storage.pointer
    parallelFor(blocks, cost: blockRows &* width) { start, end in
        for b in start..<end {
            let o = partial + b &* width
            for r in (b &* blockRows)..<min(rows, (b &+ 1) &* blockRows) {
                let s = source + r &* width
                for i in 0..<width { o[i] += s[i] }
            }
        }
    }
    let result = Tensor.zeros(shape)
    let out = result.storage.pointer
    for b in 0..<blocks {
        let o = partial + b &* width
        for i in 0..<width { out[i] += o[i] }
    }
    return result
}

// MARK: Binary arithmetic

/// Elementwise `a + b` with broadcasting (bias add, additive masks).
public func + (a: Tensor, b: Tensor) -> Tensor {
    let result = broadcastMap(a, b, +)
    let shapeA = a.shape, shapeB = b.shape, needA = a.requiresGrad, needB = b.requiresGrad
    return record(result, [a, b]) { g in
        [needA ? sumToShape(g, shapeA) : nil, needB ? sumToShape(g, shapeB) : nil]
    }
}

/// Elementwise `a - b` with broadcasting.
public func - (a: Tensor, b: Tensor) -> Tensor {
    let result = broadcastMap(a, b, -)
    let shapeA = a.shape, shapeB = b.shape, needA = a.requiresGrad, needB = b.requiresGrad
    return record(result, [a, b]) { g in
        [needA ? sumToShape(g, shapeA) : nil, needB ? sumToShape(-g, shapeB) : nil]
    }
}

/// Elementwise `a * b` with broadcasting.
public func * (a: Tensor, b: Tensor) -> Tensor {
    let result = broadcastMap(a, b, *)
    let va = a.detached(), vb = b.detached(), needA = a.requiresGrad, needB = b.requiresGrad
    return record(result, [a, b]) { g in
        [needA ? sumToShape(broadcastMap(g, vb, *), va.shape) : nil,
         needB ? sumToShape(broadcastMap(g, va, *), vb.shape) : nil]
    }
}

/// Elementwise `a / b` with broadcasting.
public func / (a: Tensor, b: Tensor) -> Tensor {
    let result = broadcastMap(a, b, /)
    let vb = b.detached(), out = result.detached(), shapeA = a.shape
    let needA = a.requiresGrad, needB = b.requiresGrad
    return record(result, [a, b]) { g in
        [needA ? sumToShape(broadcastMap(g, vb, /), shapeA) : nil,
         needB ? sumToShape(broadcastMap(broadcastMap(g, out, *), vb) { x, y in -x / y }, vb.shape) : nil]
    }
}

// MARK: Unary maps

/// `forward` elementwise; the gradient is `g * derivative(x, y)` with `y = forward(x)`.
@inline(__always)
func unaryOp(_ x: Tensor, _ forward: (Float) -> Float,
             derivative: @escaping (Float, Float) -> Float) -> Tensor {
    let result = Tensor(uninitialized: x.shape)
    let input = x.storage.pointer, out = result.storage.pointer
    parallelFor(x.count, cost: 4) { start, end in
        for i in start..<end { out[i] = forward(input[i]) }
    }
    let vx = x.detached(), vy = result.detached()
    return record(result, [x]) { g in
        let gx = Tensor(uninitialized: vx.shape)
        let pg = g.storage.pointer, px = vx.storage.pointer, py = vy.storage.pointer, o = gx.storage.pointer
        parallelFor(gx.count, cost: 4) { start, end in
            for i in start..<end { o[i] = pg[i] * derivative(px[i], py[i]) }
        }
        return [gx]
    }
}

/// `x * s`.
public func * (x: Tensor, s: Float) -> Tensor { unaryOp(x, { $0 * s }, derivative: { _, _ in s }) }
/// `s * x`.
public func * (s: Float, x: Tensor) -> Tensor { x * s }
/// `x + s`.
public func + (x: Tensor, s: Float) -> Tensor { unaryOp(x, { $0 + s }, derivative: { _, _ in 1 }) }
/// `x - s`.
public func - (x: Tensor, s: Float) -> Tensor { x + (-s) }
/// `x / s`.
public func / (x: Tensor, s: Float) -> Tensor { x * (1 / s) }
/// `-x`.
public prefix func - (x: Tensor) -> Tensor { x * -1 }

extension Tensor {
    /// GELU in its exact erf form, as BERT uses: x * Phi(x) (erf to 1.5e-7, as PyTorch's
    /// vectorised CPU kernel computes it).
    public func gelu() -> Tensor {
        let result = Tensor(uninitialized: shape)
        let input = storage.pointer, out = result.storage.pointer
        parallelFor(count, cost: 4) { start, end in sluice_gelu(out + start, input + start, end &- start) }
        let vx = detached()
        return record(result, [self]) { g in
            let gx = Tensor(uninitialized: vx.shape)
            let pg = g.storage.pointer, px = vx.storage.pointer, o = gx.storage.pointer
            parallelFor(gx.count, cost: 4) { start, end in
                sluice_gelu_backward(o + start, pg + start, px + start, end &- start)
            }
            return [gx]
        }
    }

    /// max(x, 0).
    public func relu() -> Tensor {
        unaryOp(self, { Swift.max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 })
    }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        unaryOp(self, { tanhf($0) }, derivative: { _, y in 1 - y * y })
    }

    /// Logistic sigmoid.
    public func sigmoid() -> Tensor {
        unaryOp(self, { 1 / (1 + expf(-$0)) }, derivative: { _, y in y * (1 - y) })
    }

    /// Natural exponential.
    public func exp() -> Tensor {
        unaryOp(self, { expf($0) }, derivative: { _, y in y })
    }

    /// Natural logarithm.
    public func log() -> Tensor {
        unaryOp(self, { logf($0) }, derivative: { x, _ in 1 / x })
    }

    /// Square root.
    public func sqrt() -> Tensor {
        unaryOp(self, { $0.squareRoot() }, derivative: { _, y in 0.5 / y })
    }

    /// x squared.
    public func squared() -> Tensor {
        unaryOp(self, { $0 * $0 }, derivative: { x, _ in 2 * x })
    }
}
