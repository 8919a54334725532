import COpenBLAS

/// A Monarch matrix used as a linear layer (Dao et al. 2022, "fly" parametrization):
/// y = P L P^T R x + b with block-diagonal R (`blkdiag1`, `[k, q, p]`) and L (`blkdiag2`,
/// `[k, s, r]`), where P reshapes to (a, b), transposes and flattens.
///
/// The input is zero-padded to k*p features and the output cut back from s*k. It costs
/// min(in, out)*(in + out)/k parameters and FLOPs instead of in*out, and computes as two
/// families of k GEMMs plus two permutation copies.
public struct MonarchLinear: LinearMap {
    /// First block-diagonal factor, `[k, q, p]`: block i maps input slice i (p wide) to q values.
    public let blkdiag1: Tensor
    /// Second block-diagonal factor, `[k, s, r]`.
    public let blkdiag2: Tensor
    public let bias: Tensor?
    public let inFeatures: Int
    public let outFeatures: Int

    /// Number of diagonal blocks in each factor.
    public var nblocks: Int { blkdiag1.shape[0] }

    /// Factor shapes for `inFeatures -> outFeatures` with `nblocks` blocks: with a = ceil(in/k)
    /// and c = ceil(out/k), blkdiag1 is (k, a, a) and blkdiag2 (k, c, a) when a < c, otherwise
    /// (k, c, a) and (k, c, c).
    public static func factorShapes(_ inFeatures: Int, _ outFeatures: Int, nblocks k: Int) -> ([Int], [Int]) {
        precondition(k > 0 && inFeatures > 0 && outFeatures > 0, "MonarchLinear: \(inFeatures)->\(outFeatures) with \(k) blocks")
        let a = (inFeatures + k - 1) / k, c = (outFeatures + k - 1) / k
        return a < c ? ([k, a, a], [k, c, a]) : ([k, c, a], [k, c, c])
    }

    /// Each factor uniform in +-1/sqrt(its block's fan-in), the bias like `torch.nn.Linear`'s.
    public init(_ inFeatures: Int, _ outFeatures: Int, nblocks: Int, bias: Bool = true, rng: inout RandomGenerator) {
        let (shape1, shape2) = Self.factorShapes(inFeatures, outFeatures, nblocks: nblocks)
        let bound1 = 1 / Float(shape1[2]).squareRoot(), bound2 = 1 / Float(shape2[2]).squareRoot()
        blkdiag1 = .uniform(shape1, low: -bound1, high: bound1, rng: &rng, requiresGrad: true)
        blkdiag2 = .uniform(shape2, low: -bound2, high: bound2, rng: &rng, requiresGrad: true)
        let boundBias = 1 / Float(inFeatures).squareRoot()
        self.bias = bias ? .uniform([outFeatures], low: -boundBias, high: boundBias, rng: &rng, requiresGrad: true) : nil
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// A layer around existing factors (shapes as `factorShapes` gives).
    public init(blkdiag1: Tensor, blkdiag2: Tensor, bias: Tensor?, inFeatures: Int, outFeatures: Int) {
        let (shape1, shape2) = Self.factorShapes(inFeatures, outFeatures, nblocks: blkdiag1.shape.first ?? 1)
        precondition(blkdiag1.shape == shape1 && blkdiag2.shape == shape2 && (bias == nil || bias?.shape == [outFeatures]),
                     "MonarchLinear: factors \(blkdiag1.shape), \(blkdiag2.shape) do not fit \(inFeatures)->\(outFeatures)")
        self.blkdiag1 = blkdiag1
        self.blkdiag2 = blkdiag2
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("blkdiag1", blkdiag1), ("blkdiag2", blkdiag2)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = monarchMultiply(x, blkdiag1, blkdiag2, outFeatures: outFeatures)
        return bias.map { y + $0 } ?? y
    }

    /// The dense `[out, in]` weight this layer applies (without bias): forward of the identity,
    /// transposed.
    public func denseWeight() -> Tensor {
        GradMode.withoutGradients {
            let identity = Tensor.zeros([inFeatures, inFeatures])
            for i in 0..<inFeatures { identity.storage.pointer[i * inFeatures + i] = 1 }
            return monarchMultiply(identity, blkdiag1, blkdiag2, outFeatures: outFeatures).transposed()
        }
    }

    /// A dense `Linear` computing the same map ("reverse sparsification": train Monarch, then
    /// finish training dense).
    public func densified() -> Linear {
        let weight = denseWeight()
        weight.requiresGrad = true
        return Linear(weight: weight, bias: bias?.trainableCopy())
    }

    /// The Monarch layer closest (Frobenius norm) to the dense `linear`: each block slice of the
    /// weight that one pair of factor blocks produces is replaced by its truncated SVD, with
    /// sqrt(sigma) given to each factor. A Monarch matrix is recovered exactly.
    public init(projecting linear: Linear, nblocks k: Int) throws(TensorError) {
        let (outFeatures, inFeatures) = (linear.outFeatures, linear.inFeatures)
        let (shape1, shape2) = Self.factorShapes(inFeatures, outFeatures, nblocks: k)
        let (q, p) = (shape1[1], shape1[2])
        let (s, r) = (shape2[1], shape2[2])
        let w1 = Tensor.zeros(shape1), w2 = Tensor.zeros(shape2)
        let weight = linear.weight.storage.pointer
        let p1 = w1.storage.pointer, p2 = w2.storage.pointer
        for l in 0..<k {
            for i in 0..<k {
                // Columns r' of block l of blkdiag2 that pair with block i of blkdiag1.
                let ranks = (0..<r).filter { ($0 * k + l) / q == i }
                guard !ranks.isEmpty else { continue }
                // The slice: output rows s'*k + l, input columns i*p + t (zero outside the matrix).
                var slice = [Float](repeating: 0, count: s * p)
                for row in 0..<s where row * k + l < outFeatures {
                    for t in 0..<p where i * p + t < inFeatures {
                        slice[row + t * s] = weight[(row * k + l) * inFeatures + i * p + t]
                    }
                }
                let svd = try singularValueDecomposition(columnMajor: &slice, rows: s, columns: p)
                for (n, column) in ranks.enumerated() where n < svd.values.count {
                    let scale = svd.values[n].squareRoot()
                    let j = (column * k + l) % q
                    for row in 0..<s { p2[(l * s + row) * r + column] = svd.u[row + n * s] * scale }
                    for t in 0..<p { p1[(i * q + j) * p + t] = svd.vt[n + t * svd.values.count] * scale }
                }
            }
        }
        w1.requiresGrad = true
        w2.requiresGrad = true
        self.init(blkdiag1: w1, blkdiag2: w2, bias: linear.bias?.trainableCopy(),
                  inFeatures: inFeatures, outFeatures: outFeatures)
    }
}

/// Thin SVD of a column-major `rows x columns` matrix (overwritten): `u` is rows x n and `vt`
/// n x columns, column-major, with n = min(rows, columns) and `values` descending.
func singularValueDecomposition(columnMajor a: inout [Float], rows: Int, columns: Int)
    throws(TensorError) -> (u: [Float], values: [Float], vt: [Float]) {
    singleThreadedBLAS()
    let n = min(rows, columns)
    var m32 = Int32(rows), n32 = Int32(columns), lda = Int32(rows), ldu = Int32(rows), ldvt = Int32(n)
    var values = [Float](repeating: 0, count: n)
    var u = [Float](repeating: 0, count: rows * n), vt = [Float](repeating: 0, count: n * columns)
    var info: Int32 = 0, lwork: Int32 = -1, optimal: Float = 0
    let job: CChar = 0x53  // "S": the first min(m, n) singular vectors
    var jobu = job, jobvt = job
    sgesvd_(&jobu, &jobvt, &m32, &n32, &a, &lda, &values, &u, &ldu, &vt, &ldvt, &optimal, &lwork, &info, 1, 1)
    guard info == 0 else { throw TensorError(.linearAlgebra, "", "sgesvd workspace query failed (info \(info))") }
    var work = [Float](repeating: 0, count: max(1, Int(optimal)))
    lwork = Int32(work.count)
    sgesvd_(&jobu, &jobvt, &m32, &n32, &a, &lda, &values, &u, &ldu, &vt, &ldvt, &work, &lwork, &info, 1, 1)
    guard info == 0 else {
        throw TensorError(.linearAlgebra, "", "sgesvd failed on a \(rows)x\(columns) block (info \(info))")
    }
    return (u, values, vt)
}

/// Within each of `rows` rows, reads `width = outer * inner` values as an (outer, inner) grid
/// and writes them transposed, (inner, outer): the Monarch permutation P and its inverse.
private func transposeWithinRows(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                                 rows: Int, outer: Int, inner: Int) {
    let width = outer &* inner
    parallelFor(rows, cost: width) { start, end in
        for b in start..<end {
            let s = source + b &* width, d = destination + b &* width
            for o in 0..<outer {
                for i in 0..<inner { d[i &* outer &+ o] = s[o &* inner &+ i] }
            }
        }
    }
}

/// The Monarch product without bias for `x` (`[..., in]`), as one autodiff op.
func monarchMultiply(_ x: Tensor, _ w1: Tensor, _ w2: Tensor, outFeatures: Int) -> Tensor {
    let (k, q, p) = (w1.shape[0], w1.shape[1], w1.shape[2])
    let (s, r) = (w2.shape[1], w2.shape[2])
    let inFeatures = x.shape.last ?? 0
    precondition(inFeatures <= k &* p && inFeatures > k &* (p - 1),
                 "MonarchLinear: input width \(inFeatures) does not fit factors \(w1.shape)")
    let batch = x.count / max(inFeatures, 1)
    let (widthIn, widthMid, widthOut) = (k &* p, k &* q, k &* s)
    // Zero-padded input (a view of x when no padding is needed).
    let padded: Tensor
    if inFeatures == widthIn {
        padded = x.detached()
    } else {
        padded = Tensor.zeros([batch, widthIn])
        copyBlocks(outer: batch, count: inFeatures, from: x.storage.pointer, fromStride: inFeatures,
                   to: padded.storage.pointer, toStride: widthIn)
    }
    let u = Tensor(uninitialized: [batch, widthMid])
    let h = Tensor(uninitialized: [batch, widthMid])
    let z = Tensor(uninitialized: [batch, widthOut])
    let pw1 = w1.storage.pointer, pw2 = w2.storage.pointer
    for i in 0..<k {
        gemm(transposeA: false, transposeB: true, m: batch, n: q, k: p,
             a: padded.storage.pointer + i &* p, lda: widthIn, b: pw1 + i &* q &* p, ldb: p,
             c: u.storage.pointer + i &* q, ldc: widthMid)
    }
    transposeWithinRows(u.storage.pointer, h.storage.pointer, rows: batch, outer: r, inner: k)
    for l in 0..<k {
        gemm(transposeA: false, transposeB: true, m: batch, n: s, k: r,
             a: h.storage.pointer + l &* r, lda: widthMid, b: pw2 + l &* s &* r, ldb: r,
             c: z.storage.pointer + l &* s, ldc: widthOut)
    }
    let full = Tensor(uninitialized: [batch, widthOut])
    transposeWithinRows(z.storage.pointer, full.storage.pointer, rows: batch, outer: k, inner: s)
    let outShape = Array(x.shape.dropLast()) + [outFeatures]
    let result: Tensor
    if outFeatures == widthOut {
        result = Tensor(shape: outShape, storage: full.storage)
    } else {
        result = Tensor(uninitialized: outShape)
        copyBlocks(outer: batch, count: outFeatures, from: full.storage.pointer, fromStride: widthOut,
                   to: result.storage.pointer, toStride: outFeatures)
    }
    let inputShape = x.shape, needX = x.requiresGrad, needW1 = w1.requiresGrad, needW2 = w2.requiresGrad
    return record(result, [x, w1, w2]) { g in
        // dz (block-major) from the output gradient, zero in the padded columns.
        let gradFull: Tensor
        if outFeatures == widthOut {
            gradFull = g
        } else {
            gradFull = Tensor.zeros([batch, widthOut])
            copyBlocks(outer: batch, count: outFeatures, from: g.storage.pointer, fromStride: outFeatures,
                       to: gradFull.storage.pointer, toStride: widthOut)
        }
        let dz = Tensor(uninitialized: [batch, widthOut])
        transposeWithinRows(gradFull.storage.pointer, dz.storage.pointer, rows: batch, outer: s, inner: k)
        let dw2 = needW2 ? Tensor(uninitialized: w2.shape) : nil
        let dh = Tensor(uninitialized: [batch, widthMid])
        for l in 0..<k {
            let dzl = dz.storage.pointer + l &* s
            if let dw2 {
                gemm(transposeA: true, transposeB: false, m: s, n: r, k: batch,
                     a: dzl, lda: widthOut, b: h.storage.pointer + l &* r, ldb: widthMid,
                     c: dw2.storage.pointer + l &* s &* r, ldc: r)
            }
            gemm(transposeA: false, transposeB: false, m: batch, n: r, k: s,
                 a: dzl, lda: widthOut, b: pw2 + l &* s &* r, ldb: r,
                 c: dh.storage.pointer + l &* r, ldc: widthMid)
        }
        let du = Tensor(uninitialized: [batch, widthMid])
        transposeWithinRows(dh.storage.pointer, du.storage.pointer, rows: batch, outer: k, inner: r)
        let dw1 = needW1 ? Tensor(uninitialized: w1.shape) : nil
        let dxPadded = needX ? Tensor(uninitialized: [batch, widthIn]) : nil
        for i in 0..<k {
            let dui = du.storage.pointer + i &* q
            if let dw1 {
                gemm(transposeA: true, transposeB: false, m: q, n: p, k: batch,
                     a: dui, lda: widthMid, b: padded.storage.pointer + i &* p, ldb: widthIn,
                     c: dw1.storage.pointer + i &* q &* p, ldc: p)
            }
            if let dxPadded {
                gemm(transposeA: false, transposeB: false, m: batch, n: p, k: q,
                     a: dui, lda: widthMid, b: pw1 + i &* q &* p, ldb: p,
                     c: dxPadded.storage.pointer + i &* p, ldc: widthIn)
            }
        }
        var dx: Tensor?
        if let dxPadded {
            if inFeatures == widthIn {
                dx = Tensor(shape: inputShape, storage: dxPadded.storage)
            } else {
                let cropped = Tensor(uninitialized: inputShape)
                copyBlocks(outer: batch, count: inFeatures, from: dxPadded.storage.pointer, fromStride: widthIn,
                           to: cropped.storage.pointer, toStride: inFeatures)
                dx = cropped
            }
        }
        return [dx, dw1, dw2]
    }
}
