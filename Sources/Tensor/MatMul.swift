import COpenBLAS
import Dispatch

/// One row-major `C = alpha * op(A) op(B) + beta * C`; `op(A)` is m x k and `op(B)` is k x n.
/// Transposes are BLAS flags, never copies.
///
/// A large product is cut into one band of C per compute thread (rows when C is tall, columns
/// when it is wide, so the operand every band re-packs is the smaller one), each band a
/// single-threaded sgemm; the sum over k is never split, so the result is the same bits on any
/// thread count. Products that already run on several threads at once pass `threads: 1`.
func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = ComputeThreads.count) {
    let bands = min(threads, max(m, n) / gemmBandAlignment)
    guard bands > 1, m &* n &* k >= gemmSplitThreshold else {
        singleThreadedBLAS()
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        return
    }
    let byRows = m >= n, extent = byRows ? m : n
    let perBand = (extent + bands - 1) / bands
    let band = (perBand + gemmBandAlignment - 1) / gemmBandAlignment * gemmBandAlignment
    let operands = GemmOperands(a: a, b: b, c: c)
    DispatchQueue.concurrentPerform(iterations: bands) { part in
        let first = part &* band, size = min(extent, first &+ band) &- first
        guard size > 0 else { return }
        if byRows {
            // Rows of op(A): columns of a stored A^T.
            gemm(transposeA: transposeA, transposeB: transposeB, m: size, n: n, k: k, alpha: alpha,
                 a: operands.a + (transposeA ? first : first &* lda), lda: lda, b: operands.b, ldb: ldb,
                 beta: beta, c: operands.c + first &* ldc, ldc: ldc, threads: 1)
        } else {
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: size, k: k, alpha: alpha,
                 a: operands.a, lda: lda, b: operands.b + (transposeB ? first &* ldb : first), ldb: ldb,
                 beta: beta, c: operands.c + first, ldc: ldc, threads: 1)
        }
    }
}

/// Products below this many multiply-adds run on the calling thread: waking another costs more.
private let gemmSplitThreshold = 1 << 20
/// Bands are whole multiples of OpenBLAS's register tiles.
private let gemmBandAlignment = 16

/// The pointers of one product, handed to the threads computing its bands. Unchecked: each
/// band writes only its own rows or columns of C.
private struct GemmOperands: @unchecked Sendable {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
}

/// Shapes of one (possibly batched) matrix product: `batch` products of `op(A)` (m x k) by
/// `op(B)` (k x n), with element strides between consecutive batch members (0 = shared).
private struct ProductPlan {
    let batch: Int, m: Int, n: Int, k: Int
    let strideA: Int, strideB: Int
    let transposeA: Bool, transposeB: Bool

    var lda: Int { transposeA ? m : k }
    var ldb: Int { transposeB ? k : n }

    /// Calls `body(member, threads)` for every member of the batch: the members spread over
    /// the compute threads, one single-threaded product each (attention's many small heads), or a
    /// lone product splits itself over all of them.
    func forEachMember(_ body: (Int, Int) -> Void) {
        guard batch > 1 else { body(0, ComputeThreads.count); return }
        parallelFor(batch, cost: m &* n &* k) { start, end in
            for i in start..<end { body(i, 1) }
        }
    }

    /// Runs every product of the batch, `C = scale * op(A) op(B) + beta * C`.
    func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
             scale: Float, beta: Float) {
        forEachMember { i, threads in
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: scale,
                 a: a + i &* strideA, lda: lda, b: b + i &* strideB, ldb: ldb,
                 beta: beta, c: c + i &* m &* n, ldc: n, threads: threads)
        }
    }
}

/// Matrix product over the last two axes.
///
/// - `a` is `[..., m, k]` (or `[..., k, m]` with `transposeA`), `b` is `[k, n]` (or `[n, k]` with
///   `transposeB`): the leading axes of `a` fold into one GEMM, as a Linear layer needs.
/// - Both of rank 3 or more with equal leading axes: one GEMM per batch member (attention).
///
/// `scale` multiplies the product inside the GEMM (attention's 1/sqrt(d) costs no extra pass), and
/// `bias` (`[n]`, only with a `b` of rank 2) starts every row of the accumulator, so a Linear
/// layer's bias costs no pass of its own either.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                   scale: Float = 1, bias: Tensor? = nil) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul: needs rank >= 2, got \(a.shape) and \(b.shape)")
    let (ra, ca) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (rb, cb) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let m = transposeA ? ca : ra, k = transposeA ? ra : ca
    let kb = transposeB ? cb : rb, n = transposeB ? rb : cb
    precondition(k == kb, "matmul: inner extents differ: \(a.shape)\(transposeA ? "^T" : "") x \(b.shape)\(transposeB ? "^T" : "")")
    let plan: ProductPlan
    var outShape: [Int]
    if b.rank == 2 && !transposeA {
        // Fold the leading axes of `a` into the rows of one GEMM.
        let rows = a.count / k
        plan = ProductPlan(batch: 1, m: rows, n: n, k: k, strideA: 0, strideB: 0,
                           transposeA: false, transposeB: transposeB)
        outShape = Array(a.shape.dropLast()) + [n]
    } else {
        precondition(a.rank == b.rank && a.shape.dropLast(2) == b.shape.dropLast(2),
                     "matmul: batch axes differ: \(a.shape) and \(b.shape)")
        plan = ProductPlan(batch: product(a.shape, 0..<(a.rank - 2)), m: m, n: n, k: k,
                           strideA: m &* k, strideB: k &* n, transposeA: transposeA, transposeB: transposeB)
        outShape = Array(a.shape.dropLast(2)) + [m, n]
    }
    let result = Tensor(uninitialized: outShape)
    if let bias {
        precondition(plan.batch == 1 && b.rank == 2 && bias.shape == [n], "matmul: bias \(bias.shape) for \(a.shape) x \(b.shape)")
        let row = bias.storage.pointer, out = result.storage.pointer
        parallelFor(plan.m, cost: n) { start, end in
            for r in start..<end { (out + r &* n).update(from: row, count: n) }
        }
    }
    plan.run(a.storage.pointer, b.storage.pointer, result.storage.pointer, scale: scale, beta: bias == nil ? 0 : 1)
    let va = a.detached(), vb = b.detached(), needA = a.requiresGrad, needB = b.requiresGrad
    let needBias = bias?.requiresGrad ?? false
    return record(result, [a, b] + (bias.map { [$0] } ?? [])) { g in
        let pg = g.storage.pointer, pa = va.storage.pointer, pb = vb.storage.pointer
        let (m, n, k) = (plan.m, plan.n, plan.k)
        let (tA, tB) = (plan.transposeA, plan.transposeB)
        var gradA: Tensor?, gradB: Tensor?
        if needA {
            let ga = Tensor(uninitialized: va.shape)
            // op(A) grad = G op(B)^T; A^T's grad transposes it back.
            plan.forEachMember { i, threads in
                let gi = pg + i &* m &* n, bi = pb + i &* plan.strideB, out = ga.storage.pointer + i &* m &* k
                if tA {
                    gemm(transposeA: tB, transposeB: true, m: k, n: m, k: n, alpha: scale,
                         a: bi, lda: plan.ldb, b: gi, ldb: n, c: out, ldc: m, threads: threads)
                } else {
                    gemm(transposeA: false, transposeB: !tB, m: m, n: k, k: n, alpha: scale,
                         a: gi, lda: n, b: bi, ldb: plan.ldb, c: out, ldc: k, threads: threads)
                }
            }
            gradA = ga
        }
        if needB {
            let gb = Tensor(uninitialized: vb.shape)
            plan.forEachMember { i, threads in
                let gi = pg + i &* m &* n, ai = pa + i &* plan.strideA, out = gb.storage.pointer + i &* k &* n
                if tB {
                    gemm(transposeA: true, transposeB: tA, m: n, n: k, k: m, alpha: scale,
                         a: gi, lda: n, b: ai, ldb: plan.lda, c: out, ldc: k, threads: threads)
                } else {
                    gemm(transposeA: !tA, transposeB: false, m: k, n: n, k: m, alpha: scale,
                         a: ai, lda: plan.lda, b: gi, ldb: n, c: out, ldc: n, threads: threads)
                }
            }
            gradB = gb
        }
        return [gradA, gradB] + (bias == nil ? [] : [needBias ? sumToShape(g, [n]) : nil])
    }
}
