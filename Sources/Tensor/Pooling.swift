// Max and average pooling over the last two axes of `[N, C, H, W]`.

/// The input rows and columns each output position pools over, clipped to the plane; every
/// pooling op is a choice of these windows and of what it does inside them.
private struct PoolWindows {
    let rows: [Range<Int>], columns: [Range<Int>]

    /// Sliding windows (`kernel`, `stride`, `padding`); padded cells are never read.
    init(h: Int, w: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), _ op: String) {
        let g = WindowGeometry(h: h, w: w, kernel: kernel, stride: stride, padding: padding, op)
        precondition(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1, "\(op): padding \(padding) over half the kernel \(kernel)")
        func windows(_ outputs: Int, _ size: Int, _ k: Int, _ s: Int, _ p: Int) -> [Range<Int>] {
            (0..<outputs).map { i in Swift.max(0, i * s - p)..<Swift.min(size, i * s - p + k) }
        }
        rows = windows(g.oh, h, g.kh, g.sh, g.ph)
        columns = windows(g.ow, w, g.kw, g.sw, g.pw)
    }

    /// `torch.nn.AdaptiveAvgPool2d`'s windows: output i covers floor(i * size / out) ..< ceil((i + 1) * size / out).
    init(h: Int, w: Int, output: (Int, Int)) {
        precondition(output.0 > 0 && output.1 > 0 && h > 0 && w > 0, "adaptiveAveragePool2d: output \(output) for \(h)x\(w)")
        func windows(_ size: Int, _ outputs: Int) -> [Range<Int>] {
            (0..<outputs).map { i in (i * size / outputs)..<(((i + 1) * size + outputs - 1) / outputs) }
        }
        rows = windows(h, output.0)
        columns = windows(w, output.1)
    }

    /// Runs `body(input plane, output plane, plane index)` for every `[H, W]` plane of `x`, in
    /// parallel; the result is `[N, C, rows, columns]`.
    func map(_ x: Tensor, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        precondition(x.rank == 4, "pooling: expects [N, C, H, W], got \(x.shape)")
        let planes = x.shape[0] &* x.shape[1], plane = x.shape[2] &* x.shape[3], outPlane = rows.count &* columns.count
        let result = Tensor(uninitialized: [x.shape[0], x.shape[1], rows.count, columns.count])
        let input = x.storage.pointer, out = result.storage.pointer
        parallelFor(planes, cost: plane) { start, end in
            for i in start..<end { body(input + i &* plane, out + i &* outPlane, i) }
        }
        return result
    }
}

extension Tensor {
    /// Max pooling as `torch.nn.MaxPool2d` (padding counts as minus infinity); the gradient goes to
    /// the first maximal element of each window. Without a gradient to record (a frozen
    /// backbone's stem) it keeps no winners.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        let windows = PoolWindows(h: shape[2], w: shape[3], kernel: kernel, stride: stride ?? kernel, padding: padding, "maxPool2d")
        let width = shape[3], outPlane = windows.rows.count &* windows.columns.count
        // Winner of each output element: its offset inside the input plane.
        let winners = GradMode.isEnabled && requiresGrad
            ? UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(1, shape[0] &* shape[1] &* outPlane)) : nil
        let result = windows.map(self) { input, out, plane in
            var o = 0
            for rows in windows.rows {
                for columns in windows.columns {
                    var best = -Float.infinity, at = rows.lowerBound &* width &+ columns.lowerBound
                    for y in rows {
                        let line = input + y &* width
                        for x in columns where line[x] > best { (best, at) = (line[x], y &* width &+ x) }
                    }
                    out[o] = best
                    winners?[plane &* outPlane &+ o] = Int32(truncatingIfNeeded: at)
                    o &+= 1
                }
            }
        }
        guard let winners else { return result }
        let inputShape = shape, plane = shape[2] &* shape[3]
        let owner = WinnerStore(winners)
        return record(result, [self]) { g in
            let gx = Tensor.zeros(inputShape)
            let pg = g.storage.pointer, out = gx.storage.pointer
            parallelFor(inputShape[0] &* inputShape[1], cost: outPlane) { start, end in
                for p in start..<end {
                    for o in 0..<outPlane { out[p &* plane &+ Int(owner.pointer[p &* outPlane &+ o])] += pg[p &* outPlane &+ o] }
                }
            }
            return [gx]
        }
    }

    /// Average pooling as `torch.nn.AvgPool2d` (padded cells count in the divisor, its default).
    public func averagePool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        let windows = PoolWindows(h: shape[2], w: shape[3], kernel: kernel, stride: stride ?? kernel, padding: padding, "averagePool2d")
        return averagePool(windows, divisor: { _, _ in Float(kernel.0 * kernel.1) })
    }

    /// Average pooling to a fixed `output` size as `torch.nn.AdaptiveAvgPool2d` (`(1, 1)`: the
    /// global average before a ResNet's classifier).
    public func adaptiveAveragePool2d(_ output: (Int, Int)) -> Tensor {
        precondition(rank == 4, "adaptiveAveragePool2d: expects [N, C, H, W], got \(shape)")
        return averagePool(PoolWindows(h: shape[2], w: shape[3], output: output), divisor: { Float($0.count * $1.count) })
    }

    private func averagePool(_ windows: PoolWindows, divisor: @escaping (Range<Int>, Range<Int>) -> Float) -> Tensor {
        let width = shape[3], plane = shape[2] &* shape[3]
        let result = windows.map(self) { input, out, _ in
            var o = 0
            for rows in windows.rows {
                for columns in windows.columns {
                    var total: Float = 0
                    for y in rows { for x in columns { total += input[y &* width &+ x] } }
                    out[o] = total / divisor(rows, columns)
                    o &+= 1
                }
            }
        }
        let inputShape = shape
        return record(result, [self]) { g in
            let gx = Tensor.zeros(inputShape)
            let planes = inputShape[0] &* inputShape[1], outPlane = windows.rows.count &* windows.columns.count
            let pg = g.storage.pointer, out = gx.storage.pointer
            parallelFor(planes, cost: plane) { start, end in
                for p in start..<end {
                    var o = 0
                    for rows in windows.rows {
                        for columns in windows.columns {
                            let share = pg[p &* outPlane &+ o] / divisor(rows, columns)
                            for y in rows { for x in columns { out[p &* plane &+ y &* width &+ x] += share } }
                            o &+= 1
                        }
                    }
                }
            }
            return [gx]
        }
    }
}

/// Max pooling's winner offsets, freed when the recorded graph lets go of the backward rule.
private final class WinnerStore: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}
