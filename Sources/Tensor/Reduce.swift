// Sum, mean and max reductions.

extension Tensor {
    /// Sum of all elements (a scalar).
    ///
    /// Partial sums over fixed blocks, added in order: large tensors use every compute thread and
    /// the result does not depend on how many there are (so resumed runs stay bit-exact).
    public func sum() -> Tensor {
        let block = 1 << 14
        let blocks = (count + block - 1) / block
        let partials = Tensor.zeros([Swift.max(blocks, 1)])
        let p = storage.pointer, out = partials.storage.pointer, total = count
        parallelFor(blocks, cost: block) { start, end in
            for b in start..<end {
                var partial: Float = 0
                for i in (b &* block)..<Swift.min(total, (b &+ 1) &* block) { partial += p[i] }
                out[b] = partial
            }
        }
        var sum: Float = 0
        for b in 0..<blocks { sum += out[b] }
        let inputShape = shape
        return record(Tensor(sum), [self]) { g in [Tensor.full(inputShape, g.item)] }
    }

    /// Mean of all elements (a scalar).
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Sum along `axis`; the axis is kept with extent 1 when `keepingAxis`.
    public func sum(axis: Int, keepingAxis: Bool = false) -> Tensor {
        let axis = axisIndex(axis)
        let (outer, width, inner) = (product(shape, 0..<axis), shape[axis], product(shape, (axis + 1)..<rank))
        var outShape = shape
        if keepingAxis { outShape[axis] = 1 } else { outShape.remove(at: axis) }
        let result = Tensor.zeros(outShape)
        let input = storage.pointer, out = result.storage.pointer
        for o in 0..<outer {
            let row = out + o &* inner
            for w in 0..<width {
                let s = input + (o &* width &+ w) &* inner
                for i in 0..<inner { row[i] += s[i] }
            }
        }
        var keptShape = shape
        keptShape[axis] = 1
        let inputShape = shape
        return record(result, [self]) { g in
            [broadcastMap(Tensor.zeros(inputShape), Tensor(shape: keptShape, storage: g.storage)) { _, y in y }]
        }
    }

    /// Mean along `axis`.
    public func mean(axis: Int, keepingAxis: Bool = false) -> Tensor {
        sum(axis: axis, keepingAxis: keepingAxis) * (1 / Float(shape[axisIndex(axis)]))
    }

    /// Maximum along `axis` (max-pooling over time is `max(axis: 1)` of `[B, T, C]`); the gradient
    /// goes to the first maximal element.
    public func max(axis: Int, keepingAxis: Bool = false) -> Tensor {
        let axis = axisIndex(axis)
        let (outer, width, inner) = (product(shape, 0..<axis), shape[axis], product(shape, (axis + 1)..<rank))
        precondition(width > 0, "max: empty axis \(axis) in \(shape)")
        var outShape = shape
        if keepingAxis { outShape[axis] = 1 } else { outShape.remove(at: axis) }
        let result = Tensor(uninitialized: outShape)
        var winners = [Int](repeating: 0, count: outer &* inner)
        let input = storage.pointer, out = result.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = input[o &* width &* inner &+ i], where_ = 0
                for w in 1..<width {
                    let v = input[(o &* width &+ w) &* inner &+ i]
                    if v > best { best = v; where_ = w }
                }
                out[o &* inner &+ i] = best
                winners[o &* inner &+ i] = (o &* width &+ where_) &* inner &+ i
            }
        }
        let inputShape = shape
        return record(result, [self]) { g in
            let gx = Tensor.zeros(inputShape)
            for (j, index) in winners.enumerated() { gx.storage.pointer[index] = g.storage.pointer[j] }
            return [gx]
        }
    }
}
