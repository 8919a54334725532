import COpenBLAS
import Dispatch

/// One row-major `C = alpha * op(A) op(B) + beta * C`; `op(A)` is m x k and `op(B)` is k x n.
/// Transposes are BLAS flags, never copies.
///
/// A large product is cut into tiles: bands of C's rows when C is tall, of its columns when it is
/// wide (so the operand every tile re-packs is the smaller one), each tile one single-threaded
/// sgemm, the sum over k never split. The tiles depend on the product's shape alone and threads
/// only share them out, so the result is the same bits on any thread count, whatever kernels
/// OpenBLAS runs. Bands cut where the thread count says would not be: most of OpenBLAS's kernel
/// sets (Haswell, Zen, SkylakeX and Cooperlake above all) round an element differently depending
/// on where its call's edges fall (tools/gemm_bands.c counts the changed elements per band width).
/// Products that already run on several threads at once pass `threads: 1`.
func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = ComputeThreads.count) {
    let byRows = m >= n, extent = byRows ? m : n
    let tiles = gemmTiles(m: m, n: n, k: k)
    guard tiles > 1 else {
        sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    }
    let tile = ((extent + tiles - 1) / tiles + gemmTileAlignment - 1) / gemmTileAlignment * gemmTileAlignment
    let product = TiledProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, byRows: byRows, tile: tile)
    let workers = min(threads, tiles)
    guard workers > 1 else { for index in 0..<tiles { product.run(index) }; return }
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in Swift.stride(from: worker, to: tiles, by: workers) { product.run(index) }
    }
}

/// One product and its tiles, handed to the threads computing them. Unchecked: each tile writes
/// only its own rows or columns of C.
private struct TiledProduct: @unchecked Sendable {
    let transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float
    let a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int
    let beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    let byRows: Bool, tile: Int

    /// Tile `index`: rows (or columns) `index * tile ..< (index + 1) * tile` of C.
    func run(_ index: Int) {
        let extent = byRows ? m : n, first = index &* tile, size = min(extent, first &+ tile) &- first
        guard size > 0 else { return }
        if byRows {
            // Rows of op(A): columns of a stored A^T.
            sgemm(transposeA, transposeB, size, n, k, alpha, a + (transposeA ? first : first &* lda), lda,
                  b, ldb, beta, c + first &* ldc, ldc)
        } else {
            sgemm(transposeA, transposeB, m, size, k, alpha, a, lda,
                  b + (transposeB ? first &* ldb : first), ldb, beta, c + first, ldc)
        }
    }
}

/// One row-major sgemm on the calling thread.
private func sgemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                   _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                   _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    singleThreadedBLAS()
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// How many tiles `gemm` cuts an m x n x k product into: one below `gemmSplitThreshold`
/// multiply-adds, otherwise as many as keep each at least `gemmMinimumTile` rows or columns wide
/// and that threshold's work, up to `gemmMaximumTiles`. A function of the shape alone.
func gemmTiles(m: Int, n: Int, k: Int) -> Int {
    let work = m &* n &* k
    guard work >= gemmSplitThreshold else { return 1 }
    return max(1, min(gemmMaximumTiles, max(m, n) / gemmMinimumTile, work / gemmSplitThreshold))
}

/// Products below this many multiply-adds run whole on the calling thread: waking another costs more.
private let gemmSplitThreshold = 1 << 20
/// Tiles a lone product is cut into at most. Each tile re-packs the shared operand: on one thread
/// four tiles cost a mid-sized product 0-6% (12% once) and eight up to 19%, a small-BERT training
/// step 1-3% (BENCHMARKS.md, "GEMM tiles"). Four keep two or four threads evenly loaded.
private let gemmMaximumTiles = 4
/// Rows or columns a tile holds at least.
private let gemmMinimumTile = 64
/// Tile widths are whole multiples of OpenBLAS's register tiles.
private let gemmTileAlignment = 16

/// Where the members of a batched product keep one of its matrices: member i is head
/// `i % heads` of group `i / heads`, at `group * groupStride + head * headStride`, with rows `ld`
/// elements apart. A plain batch is one head per group; attention's head-packed `[B, L, H * d]`
/// tensors keep head h in columns h*d..<(h+1)*d of every row, so no permute copy is needed.
private struct MatrixLayout {
    let heads: Int, groupStride: Int, headStride: Int, ld: Int

    /// Matrices of `rows` x `columns` one after another.
    static func consecutive(rows: Int, columns: Int) -> MatrixLayout {
        MatrixLayout(heads: 1, groupStride: rows &* columns, headStride: 0, ld: columns)
    }

    /// The `heads` column blocks of `[groups, length, width]`.
    static func headPacked(length: Int, width: Int, heads: Int) -> MatrixLayout {
        MatrixLayout(heads: heads, groupStride: length &* width, headStride: width / heads, ld: width)
    }

    func offset(_ member: Int) -> Int { (member / heads) &* groupStride &+ (member % heads) &* headStride }
}

/// Shapes of one (possibly batched) matrix product: `batch` products of `op(A)` (m x k) by
/// `op(B)` (k x n) into C (m x n), each operand where its layout puts it.
private struct ProductPlan {
    let batch: Int, m: Int, n: Int, k: Int
    let transposeA: Bool, transposeB: Bool
    let a: MatrixLayout, b: MatrixLayout, c: MatrixLayout

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
    func run(_ pa: UnsafePointer<Float>, _ pb: UnsafePointer<Float>, _ pc: UnsafeMutablePointer<Float>,
             scale: Float, beta: Float) {
        forEachMember { i, threads in
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: scale,
                 a: pa + a.offset(i), lda: a.ld, b: pb + b.offset(i), ldb: b.ld,
                 beta: beta, c: pc + c.offset(i), ldc: c.ld, threads: threads)
        }
    }

    /// `scale * op(A) op(B)` into a new tensor of `shape`, recorded for autodiff; `bias` (only for
    /// a lone product) starts every row of the accumulator.
    func multiply(_ lhs: Tensor, _ rhs: Tensor, shape: [Int], scale: Float, bias: Tensor? = nil) -> Tensor {
        let result = Tensor(uninitialized: shape)
        if let bias {
            let row = bias.storage.pointer, out = result.storage.pointer
            parallelFor(m, cost: n) { start, end in
                for r in start..<end { (out + r &* n).update(from: row, count: n) }
            }
        }
        run(lhs.storage.pointer, rhs.storage.pointer, result.storage.pointer, scale: scale, beta: bias == nil ? 0 : 1)
        let va = lhs.detached(), vb = rhs.detached(), needA = lhs.requiresGrad, needB = rhs.requiresGrad
        let needBias = bias?.requiresGrad ?? false
        return record(result, [lhs, rhs] + (bias.map { [$0] } ?? [])) { g in
            let pg = g.storage.pointer, pa = va.storage.pointer, pb = vb.storage.pointer
            var gradA: Tensor?, gradB: Tensor?
            if needA {
                let ga = Tensor(uninitialized: va.shape)
                // op(A) grad = G op(B)^T; A^T's grad transposes it back.
                forEachMember { i, threads in
                    let gi = pg + c.offset(i), bi = pb + b.offset(i), out = ga.storage.pointer + a.offset(i)
                    if transposeA {
                        gemm(transposeA: transposeB, transposeB: true, m: k, n: m, k: n, alpha: scale,
                             a: bi, lda: b.ld, b: gi, ldb: c.ld, c: out, ldc: a.ld, threads: threads)
                    } else {
                        gemm(transposeA: false, transposeB: !transposeB, m: m, n: k, k: n, alpha: scale,
                             a: gi, lda: c.ld, b: bi, ldb: b.ld, c: out, ldc: a.ld, threads: threads)
                    }
                }
                gradA = ga
            }
            if needB {
                let gb = Tensor(uninitialized: vb.shape)
                forEachMember { i, threads in
                    let gi = pg + c.offset(i), ai = pa + a.offset(i), out = gb.storage.pointer + b.offset(i)
                    if transposeB {
                        gemm(transposeA: true, transposeB: transposeA, m: n, n: k, k: m, alpha: scale,
                             a: gi, lda: c.ld, b: ai, ldb: a.ld, c: out, ldc: b.ld, threads: threads)
                    } else {
                        gemm(transposeA: !transposeA, transposeB: false, m: k, n: n, k: m, alpha: scale,
                             a: ai, lda: a.ld, b: gi, ldb: c.ld, c: out, ldc: b.ld, threads: threads)
                    }
                }
                gradB = gb
            }
            return [gradA, gradB] + (bias == nil ? [] : [needBias ? sumToShape(g, [n]) : nil])
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
    if b.rank == 2 && !transposeA {
        // Fold the leading axes of `a` into the rows of one GEMM.
        let rows = a.count / k
        let plan = ProductPlan(batch: 1, m: rows, n: n, k: k, transposeA: false, transposeB: transposeB,
                               a: .consecutive(rows: rows, columns: k), b: .consecutive(rows: rb, columns: cb),
                               c: .consecutive(rows: rows, columns: n))
        if let bias { precondition(bias.shape == [n], "matmul: bias \(bias.shape) for \(a.shape) x \(b.shape)") }
        return plan.multiply(a, b, shape: Array(a.shape.dropLast()) + [n], scale: scale, bias: bias)
    }
    precondition(a.rank == b.rank && a.shape.dropLast(2) == b.shape.dropLast(2),
                 "matmul: batch axes differ: \(a.shape) and \(b.shape)")
    precondition(bias == nil, "matmul: a bias needs a b of rank 2, got \(b.shape)")
    let plan = ProductPlan(batch: product(a.shape, 0..<(a.rank - 2)), m: m, n: n, k: k,
                           transposeA: transposeA, transposeB: transposeB,
                           a: .consecutive(rows: ra, columns: ca), b: .consecutive(rows: rb, columns: cb),
                           c: .consecutive(rows: m, columns: n))
    return plan.multiply(a, b, shape: Array(a.shape.dropLast(2)) + [m, n], scale: scale)
}

/// Attention scores of every head, `scale * q_h k_h^T`, from head-packed `q` (`[B, Lq, H * d]`)
/// and `k` (`[B, Lk, H * d]`), head h in columns h*d..<(h+1)*d: `[B, H, Lq, Lk]`. The heads are
/// read in place, so the projections need no permute copies.
public func headScores(_ q: Tensor, _ k: Tensor, heads: Int, scale: Float = 1) -> Tensor {
    precondition(q.rank == 3 && k.rank == 3 && q.shape[0] == k.shape[0] && q.shape[2] == k.shape[2]
                 && q.shape[2] % heads == 0, "headScores: q \(q.shape), k \(k.shape), \(heads) heads")
    let (batch, queryLength, width, keyLength) = (q.shape[0], q.shape[1], q.shape[2], k.shape[1])
    let plan = ProductPlan(batch: batch &* heads, m: queryLength, n: keyLength, k: width / heads,
                           transposeA: false, transposeB: true,
                           a: .headPacked(length: queryLength, width: width, heads: heads),
                           b: .headPacked(length: keyLength, width: width, heads: heads),
                           c: .consecutive(rows: queryLength, columns: keyLength))
    return plan.multiply(q, k, shape: [batch, heads, queryLength, keyLength], scale: scale)
}

/// Every head's `p_h v_h`, from `p` (`[B, H, Lq, Lk]`) and head-packed `v` (`[B, Lk, H * d]`),
/// written head-packed (`[B, Lq, H * d]`): the layout the output projection reads.
public func headMix(_ p: Tensor, _ v: Tensor, heads: Int) -> Tensor {
    precondition(p.rank == 4 && v.rank == 3 && p.shape[0] == v.shape[0] && p.shape[1] == heads
                 && p.shape[3] == v.shape[1] && v.shape[2] % heads == 0, "headMix: p \(p.shape), v \(v.shape), \(heads) heads")
    let (batch, queryLength, keyLength, width) = (p.shape[0], p.shape[2], p.shape[3], v.shape[2])
    let plan = ProductPlan(batch: batch &* heads, m: queryLength, n: width / heads, k: keyLength,
                           transposeA: false, transposeB: false,
                           a: .consecutive(rows: queryLength, columns: keyLength),
                           b: .headPacked(length: keyLength, width: width, heads: heads),
                           c: .headPacked(length: queryLength, width: width, heads: heads))
    return plan.multiply(p, v, shape: [batch, queryLength, width], scale: 1)
}
