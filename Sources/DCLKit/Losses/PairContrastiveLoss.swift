#if canImport(Glibc)
import Glibc
#endif

/// The contrastive objectives over two views of a batch.
public enum PairObjective: Equatable {
    /// NT-Xent / InfoNCE (SimCLR, Chen et al. 2020): the positive stays in the denominator,
    /// `l_i = −s_ip/τ + log Σ_{k≠i} exp(s_ik/τ)`.
    case ntxent
    /// DCL (Yeh et al. 2022): the positive is removed from the denominator,
    /// `l_i = −s_ip/τ + log Σ_{k∉{i,p}} exp(s_ik/τ)`.
    case dcl
    /// DCLW: DCL with the positive term weighted by `w_i = 2 − N·softmax_j(s_jj'/σ)_i`,
    /// the softmax taken over the N positive pairs; `w` carries no gradient.
    case dclw(sigma: Double)
}

/// A two-view contrastive loss with its gradient, over the 2N views of N images.
///
/// Input: `z`, the raw projections of both views stacked as rows, shape (2N, D):
/// rows 0..<N are view 0, rows N..<2N view 1, and row i's positive is row (i + N) mod 2N.
/// Rows are L2-normalised inside (`RowNormalization`), the 2N × 2N cosine similarity
/// matrix is one GEMM, and every view is an anchor once.
///
/// Reduction: the mean of `l_i` over the 2N anchors. Gradient: dLoss/dz for the raw rows.
/// Numerics: each row's log-sum-exp subtracts its maximum, so any τ > 0 is safe.
/// A zero row has similarity 0 with every row (see `RowNormalization`).
///
/// ```swift
/// let loss = PairContrastiveLoss(objective: .dcl, temperature: 0.1)
/// let value = loss.compute(z, pairs: n, dim: d, gradient: dz)
/// ```
/// Buffers are kept between calls, so repeated calls of the same size do not allocate.
public final class PairContrastiveLoss {
    /// Which objective.
    public let objective: PairObjective
    /// The temperature τ > 0.
    public let temperature: Double

    private let unit = Tensor(shape: [0])
    private let norms = Tensor(shape: [0])
    private let similarity = Tensor(shape: [0])
    private let unitGradient = Tensor(shape: [0])
    private var positiveWeights: [Double] = []
    private var rowLoss: [Double] = []

    /// A loss with the given objective and temperature (τ > 0, checked by callers).
    public init(objective: PairObjective, temperature: Double) {
        precondition(temperature > 0 && temperature.isFinite, "PairContrastiveLoss: temperature \(temperature)")
        self.objective = objective
        self.temperature = temperature
    }

    /// An upper bound on the floats `compute` allocates for `pairs` pairs of `dim` (its unit rows,
    /// their gradient, the 2N × 2N similarities, per-row sums, OpenBLAS's buffers), saturating
    /// at `Int.max`: what the caller checks with `Tensor.requireAllocatable(floats:)` first.
    public static func bufferElements(pairs: Int, dim: Int) -> Int {
        let rows = saturatingProduct(2, pairs)
        return [saturatingProduct(2, rows, dim), saturatingProduct(rows, rows), saturatingProduct(16, rows),
                BLAS.threadBufferElements].reduce(0, saturatingSum)
    }

    /// Computes the loss of `z` (2·pairs × dim, row-major) and writes dLoss/dz into `gradient`
    /// (same shape). Requires pairs ≥ 2 (DCL needs a negative) and dim ≥ 1.
    public func compute(
        _ z: UnsafePointer<Float>, pairs n: Int, dim d: Int,
        gradient: UnsafeMutablePointer<Float>
    ) -> Double {
        compute(z, pairs: n, dim: d, anchorPairs: 0..<n, gradient: gradient)
    }

    /// The loss of the anchors of `anchorPairs` only, each against all 2·pairs rows: the mean of
    /// `l_i` over the anchor rows i ∈ `anchorPairs` ∪ (`anchorPairs` + pairs), and its gradient
    /// with respect to every row of `z` (rows that are only negatives get a gradient too).
    /// A data-parallel rank passes the gathered global batch and its own pairs; the sum over
    /// ranks of these gradients, each scaled by its anchor share, is the full loss's gradient.
    /// DCLW's weights come from all pairs. Requires a non-empty range within 0..<pairs.
    public func compute(
        _ z: UnsafePointer<Float>, pairs n: Int, dim d: Int, anchorPairs: Range<Int>,
        gradient: UnsafeMutablePointer<Float>
    ) -> Double {
        precondition(n >= 2 && d >= 1, "PairContrastiveLoss: pairs \(n), dim \(d)")
        precondition(!anchorPairs.isEmpty && anchorPairs.lowerBound >= 0 && anchorPairs.upperBound <= n,
                     "PairContrastiveLoss: anchor pairs \(anchorPairs) of \(n)")
        let rows = 2 * n, a = anchorPairs.count, anchors = 2 * a, lo = anchorPairs.lowerBound
        unit.resize([rows, d])
        norms.resize([rows])
        similarity.resize([anchors, rows])
        unitGradient.resize([rows, d])
        RowNormalization.forward(z, rows: rows, dim: d, into: unit.data, norms: norms.data)
        let u = unit.data
        let s = similarity.data
        // Anchor row r (0..<2a) is row `anchorRow(r)` of z: view 0's block, then view 1's. With
        // every pair an anchor that is every row in order, and S = U Uᵀ is one GEMM.
        let allAnchors = a == n
        let anchorRow = { (r: Int) in r < a ? lo + r : n + lo + (r - a) }
        if allAnchors {
            BLAS.gemm(transB: true, m: rows, n: rows, k: d, a: u, lda: d, b: u, ldb: d, c: s, ldc: rows)
        } else {
            for (block, first) in [(0, lo), (a, n + lo)] {
                BLAS.gemm(transB: true, m: a, n: rows, k: d, a: u + first * d, lda: d, b: u, ldb: d, c: s + block * rows, ldc: rows)
            }
        }

        computePositiveWeights(pairs: n, fromSimilarity: allAnchors)
        if rowLoss.count != anchors { rowLoss = [Double](repeating: 0, count: anchors) }
        let invT = 1 / temperature
        let invTf = Float(invT)
        let scale = invT / Double(anchors)
        let dropPositive = objective != .ntxent
        rowLoss.withUnsafeMutableBufferPointer { rowLoss in
            positiveWeights.withUnsafeBufferPointer { weights in
                Threads.forEachChunk(anchors) { range in
                    for r in range {
                        // Row r of S becomes row r of G = dLoss/dS.
                        let i = anchorRow(r)
                        let p = (i + n) % rows
                        let row = s + r * rows
                        let positiveLogit = Double(row[p]) * invT
                        // Excluded entries get −∞ logits so one pass serves max, exp and sum.
                        row[i] = -.infinity
                        if dropPositive { row[p] = -.infinity }
                        var m: Float = -.infinity
                        for k in 0..<rows { m = max(m, row[k]) }
                        let shift = m * invTf
                        var sum: Float = 0
                        for k in 0..<rows {
                            let e = expf(row[k] * invTf - shift)
                            row[k] = e
                            sum += e
                        }
                        let mDouble = Double(shift)
                        let logSum = log(Double(sum))
                        let w = weights[i % n]
                        rowLoss[r] = -w * positiveLogit + mDouble + logSum
                        let softmaxScale = Float(scale / Double(sum))
                        for k in 0..<rows { row[k] *= softmaxScale }
                        row[p] -= Float(w * scale)
                    }
                }
            }
        }
        // s_rk = u_anchor(r) · u_k, so dLoss/dU = Gᵀ U_anchors, plus G U at the anchor rows
        // (G U + Gᵀ U when every row is an anchor).
        if allAnchors {
            BLAS.gemm(m: rows, n: d, k: rows, a: s, lda: rows, b: u, ldb: d, c: unitGradient.data, ldc: d)
            BLAS.gemm(transA: true, m: rows, n: d, k: rows, a: s, lda: rows, b: u, ldb: d,
                      beta: 1, c: unitGradient.data, ldc: d)
        } else {
            BLAS.gemm(transA: true, m: rows, n: d, k: a, a: s, lda: rows, b: u + lo * d, ldb: d, c: unitGradient.data, ldc: d)
            BLAS.gemm(transA: true, m: rows, n: d, k: a, a: s + a * rows, lda: rows, b: u + (n + lo) * d, ldb: d,
                      beta: 1, c: unitGradient.data, ldc: d)
            for (block, first) in [(0, lo), (a, n + lo)] {
                BLAS.gemm(m: a, n: d, k: rows, a: s + block * rows, lda: rows, b: u, ldb: d,
                          beta: 1, c: unitGradient.data + first * d, ldc: d)
            }
        }
        RowNormalization.backward(unitGradient.data, u: u, norms: norms.data, rows: rows, dim: d, into: gradient)
        return rowLoss.reduce(0, +) / Double(anchors)
    }

    /// DCLW's weights w_j = 2 − N·softmax_j(s_jj'/σ) over the N positive pairs; 1 otherwise.
    /// The positive similarities are read from the full similarity matrix when it was computed
    /// (`fromSimilarity`), else computed from the unit rows.
    private func computePositiveWeights(pairs n: Int, fromSimilarity: Bool) {
        if positiveWeights.count != n { positiveWeights = [Double](repeating: 1, count: n) }
        guard case .dclw(let sigma) = objective else {
            for j in 0..<n { positiveWeights[j] = 1 }
            return
        }
        let (u, d, rows) = (unit.data, unit.shape[1], 2 * n)
        let logits = (0..<n).map { j -> Double in
            if fromSimilarity { return Double(similarity.data[j * rows + j + n]) / sigma }
            var dot: Float = 0
            for c in 0..<d { dot += u[j * d + c] * u[(j + n) * d + c] }
            return Double(dot) / sigma
        }
        let m = logits.max()!
        let e = logits.map { exp($0 - m) }
        let total = e.reduce(0, +)
        for j in 0..<n { positiveWeights[j] = 2 - Double(n) * e[j] / total }
    }
}
