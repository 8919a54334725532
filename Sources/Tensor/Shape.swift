// Reshape, transpose, concat, slice: data movement with their gradients.

extension Tensor {
    /// The same elements with another shape (a view sharing storage); one extent may be -1.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != hole }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshaped: cannot infer -1 in \(newShape) for \(shape)")
            resolved[hole] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "reshaped: \(shape) has \(count) elements, not \(resolved)")
        let result = Tensor(shape: resolved, storage: storage)
        let original = shape
        return record(result, [self]) { g in [Tensor(shape: original, storage: g.storage)] }
    }

    /// Axes reordered: axis i of the result is axis `permutation[i]` of this tensor (a copy).
    public func permuted(_ permutation: [Int]) -> Tensor {
        precondition(permutation.sorted() == Array(0..<rank), "permuted: \(permutation) is not a permutation of \(rank) axes")
        let result = Tensor(uninitialized: permutation.map { shape[$0] })
        permuteCopy(from: self, permutation: permutation, into: result)
        var inverse = permutation
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        return record(result, [self]) { g in
            let gx = Tensor(uninitialized: inverse.map { g.shape[$0] })
            permuteCopy(from: g, permutation: inverse, into: gx)
            return [gx]
        }
    }

    /// Two axes swapped (a copy).
    public func transposed(_ axis0: Int = -2, _ axis1: Int = -1) -> Tensor {
        var permutation = Array(0..<rank)
        permutation.swapAt(axisIndex(axis0), axisIndex(axis1))
        return permuted(permutation)
    }

    /// Elements `range` along `axis` (a copy).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = axisIndex(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice: \(range) outside axis \(axis) of \(shape)")
        var outShape = shape
        outShape[axis] = range.count
        let result = Tensor(uninitialized: outShape)
        let outer = product(shape, 0..<axis), inner = product(shape, (axis + 1)..<rank)
        let width = shape[axis]
        copyBlocks(outer: outer, count: range.count &* inner,
                   from: storage.pointer + range.lowerBound &* inner, fromStride: width &* inner,
                   to: result.storage.pointer, toStride: range.count &* inner)
        let inputShape = shape
        return record(result, [self]) { g in
            let gx = Tensor.zeros(inputShape)
            copyBlocks(outer: outer, count: range.count &* inner,
                       from: g.storage.pointer, fromStride: range.count &* inner,
                       to: gx.storage.pointer + range.lowerBound &* inner, toStride: width &* inner)
            return [gx]
        }
    }

    /// Consecutive pieces of the given sizes along `axis`.
    public func split(axis: Int, sizes: [Int]) -> [Tensor] {
        let resolved = axisIndex(axis)
        precondition(sizes.reduce(0, +) == shape[resolved], "split: sizes \(sizes) do not add up to axis \(resolved) of \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: resolved, start..<(start + size))
        }
    }
}

/// Tensors joined along `axis`; all other extents must agree.
public func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
    guard let first = tensors.first else { preconditionFailure("concat: no tensors") }
    let axis = first.axisIndex(axis)
    for t in tensors {
        precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] },
                     "concat: \(t.shape) does not fit \(first.shape) along axis \(axis)")
    }
    let widths = tensors.map { $0.shape[axis] }
    var outShape = first.shape
    outShape[axis] = widths.reduce(0, +)
    let result = Tensor(uninitialized: outShape)
    let outer = product(first.shape, 0..<axis), inner = product(first.shape, (axis + 1)..<first.rank)
    let total = outShape[axis] &* inner
    var offset = 0
    for (t, width) in zip(tensors, widths) {
        copyBlocks(outer: outer, count: width &* inner, from: t.storage.pointer, fromStride: width &* inner,
                   to: result.storage.pointer + offset, toStride: total)
        offset += width &* inner
    }
    let shapes = tensors.map(\.shape)
    return record(result, tensors) { g in
        var offset = 0
        return zip(shapes, widths).map { shape, width in
            let piece = Tensor(uninitialized: shape)
            copyBlocks(outer: outer, count: width &* inner, from: g.storage.pointer + offset, fromStride: total,
                       to: piece.storage.pointer, toStride: width &* inner)
            offset += width &* inner
            return piece
        }
    }
}

/// Copies `outer` runs of `count` elements between strided places.
func copyBlocks(outer: Int, count: Int, from: UnsafePointer<Float>, fromStride: Int,
                to: UnsafeMutablePointer<Float>, toStride: Int) {
    for o in 0..<outer {
        (to + o &* toStride).update(from: from + o &* fromStride, count: count)
    }
}

/// Writes `source` with its axes reordered by `permutation` into `destination`.
func permuteCopy(from source: Tensor, permutation: [Int], into destination: Tensor) {
    let rank = source.rank
    guard rank > 0 else { destination.storage.pointer[0] = source.storage.pointer[0]; return }
    var sourceStrides = [Int](repeating: 1, count: rank)
    for i in stride(from: rank - 2, through: 0, by: -1) { sourceStrides[i] = sourceStrides[i + 1] * source.shape[i + 1] }
    // Strides of the source as read in destination order; the destination is walked contiguously.
    let readStrides = permutation.map { sourceStrides[$0] }
    let inner = destination.shape[rank - 1], step = readStrides[rank - 1]
    let input = source.storage.pointer, out = destination.storage.pointer
    forEachRowInParallel(destination.shape, readStrides, readStrides) { row, offset, _ in
        let o = out + row &* inner, s = input + offset
        if step == 1 { o.update(from: s, count: inner) }
        else { for i in 0..<inner { o[i] = s[i &* step] } }
    }
}
