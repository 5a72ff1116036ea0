/// Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021) with its gradient with respect
/// to both embeddings.
///
/// Inputs: the embeddings of the two views, `a` = z^A and `b` = z^B, each (n, d) float32
/// row-major, row i of both coming from image i.
///
/// Each is standardised along the batch per feature, as the official code's `BatchNorm1d`
/// without affine does: `ẑ_bj = (z_bj − μ_j) / √(σ²_j + ε)` with the biased variance
/// `σ²_j = (1/N) Σ_b (z_bj − μ_j)²` and ε = `epsilon` = 1e-5. Then `C = ẑ^Aᵀ ẑ^B / N` (d × d,
/// one GEMM) and
///
///     L = Σ_i (1 − C_ii)² + λ Σ_i Σ_{j≠i} C_ij²
///
/// with no batch or feature mean (the paper's sum). λ = 5·10⁻³ is the paper's default (the
/// official code's is 0.0051), tuned for d = 8192; for small projectors λ = 1/d is the choice
/// of later work (Tsai et al. 2021), which weighs the d(d − 1) off-diagonal terms like the d
/// diagonal ones.
///
/// Gradient: with G = dL/dC (G_ii = −2(1 − C_ii), G_ij = 2λC_ij), dL/dẑ^A = ẑ^B Gᵀ/N and
/// dL/dẑ^B = ẑ^A G/N (two GEMMs), then BatchNorm's backward
/// `dz = (g − mean_b g − ẑ·mean_b(g ẑ)) / √(σ² + ε)`. Here mean_b g = 0 (the columns of ẑ sum to
/// zero) and Σ_b g_bj ẑ^A_bj = Σ_k G_jk C_jk (Σ_k G_kj C_kj for B), read off C and G, so the
/// backward needs no further pass over the batch.
///
/// Few rows (one process, 4N < 3d, as a batch of 64 against d = 2048): C is never formed. With the
/// N × N Gram matrices K_A = ẑ^A ẑ^Aᵀ and K_B = ẑ^B ẑ^Bᵀ, Σ_ij C_ij² = Σ_bc K_A,bc K_B,bc / N², and
/// with G = 2λC + diag(δ), δ_j = −2(1 − C_jj) − 2λC_jj, the products above become
/// dL/dẑ^A = (2λ/N²) K_B ẑ^A + ẑ^B diag(δ)/N and dL/dẑ^B = (2λ/N²) K_A ẑ^B + ẑ^A diag(δ)/N, and
/// Σ_k G_jk C_jk = (2λ/N²) Σ_b ẑ^A_bj (K_B ẑ^A)_bj + δ_j C_jj (B's with K_A ẑ^B): four GEMMs of
/// 4N²d multiply-adds in all instead of three of 3Nd², and no d × d buffer.
/// Zero variance: a constant feature j has ẑ_·j = 0, so row and column j of C are 0 and its
/// diagonal term is 1; its gradient (the first term of BatchNorm's backward, scaled by 1/√ε ≈ 316)
/// stays finite and pushes the feature's rows apart.
///
/// Data-parallel: with a `communicator`, each rank passes its own rows; μ and σ² come from the
/// global batch (`TwoViewMoments`) and the d × d cross-products are summed over the ranks (one
/// float32 allreduce), so C and the returned loss are the global ones, the same on every rank.
/// The gradient written is W · ∂L/∂(this rank's rows), the data-parallel convention of
/// `PairMethod` / `ProjectionGather`: the trainer's ÷W gradient average gives ∂L/∂θ. With W = 1
/// (or no communicator) it is ∂L/∂z.
///
/// ```swift
/// let loss = BarlowTwinsLoss(lambda: 5e-3)
/// let value = try loss.compute(za, zb, rows: n, dim: d, gradientA: dza, gradientB: dzb)
/// ```
/// Buffers are kept between calls, so repeated calls of the same size do not allocate.
public final class BarlowTwinsLoss {
    /// The paper's off-diagonal weight λ = 5·10⁻³.
    public static let paperLambda = 5e-3
    /// The variance floor ε = 1e-5 of the standardisation (BatchNorm's default).
    public static let epsilon = 1e-5

    /// The off-diagonal weight λ ≥ 0.
    public let lambda: Double
    /// The ranks the batch is spread over (nil: one process).
    public let communicator: Communicator?

    private let moments = TwoViewMoments()
    private let standardA = Tensor(shape: [0])
    private let standardB = Tensor(shape: [0])
    private let correlation = Tensor(shape: [0])
    private let correlationGradient = Tensor(shape: [0])
    private var inverseDeviation: [Double] = []
    private var gradientDotStandard: [Double] = []
    private var diagonal: [Double] = []

    /// A loss with off-diagonal weight `lambda` (finite, ≥ 0; checked by callers), over the ranks
    /// of `communicator` (nil: one process).
    public init(lambda: Double = BarlowTwinsLoss.paperLambda, communicator: Communicator? = nil) {
        precondition(lambda >= 0 && lambda.isFinite, "BarlowTwinsLoss: lambda \(lambda)")
        self.lambda = lambda
        self.communicator = communicator
    }

    /// An upper bound on the floats a call allocates for `rows` rows of `dim`, saturating at
    /// `Int.max` (`TwoViewMoments.bufferElements`).
    public static func bufferElements(rows: Int, dim: Int) -> Int {
        TwoViewMoments.bufferElements(rows: rows, dim: dim)
    }

    /// The loss of `a` and `b` (rows × dim each, this rank's rows); writes the gradients into
    /// `gradientA` and `gradientB` (rows × dim each; W times ∂L/∂z on W ranks, see the type's
    /// doc). Requires rows ≥ 1, dim ≥ 1 and a global batch of at least 2 rows; throws
    /// `DistributedError` when a collective fails or the global batch has fewer than 2 rows
    /// (on every rank alike).
    public func compute(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows n: Int, dim d: Int,
        gradientA: UnsafeMutablePointer<Float>, gradientB: UnsafeMutablePointer<Float>
    ) throws -> Double {
        precondition(n >= 1 && d >= 1, "BarlowTwinsLoss: rows \(n), dim \(d)")
        standardA.resize([n, d])
        standardB.resize([n, d])
        if inverseDeviation.count != 2 * d {
            inverseDeviation = [Double](repeating: 0, count: 2 * d)
            gradientDotStandard = [Double](repeating: 0, count: 2 * d)
            diagonal = [Double](repeating: 0, count: d)
        }
        let (za, zb) = (standardA.data, standardB.data)
        _ = try moments.center(a, b, rows: n, dim: d, into: za, zb, communicator: communicator)
        let total = moments.globalRows
        guard total >= 2 else {
            throw DistributedError.invalid("Barlow Twins needs a global batch of at least 2 rows, got \(total)")
        }
        let count = Double(total)
        for j in 0..<(2 * d) { inverseDeviation[j] = 1 / (moments.squares[j] / count + Self.epsilon).squareRoot() }
        for r in 0..<n {
            for j in 0..<d {
                za[r * d + j] = Float(Double(za[r * d + j]) * inverseDeviation[j])
                zb[r * d + j] = Float(Double(zb[r * d + j]) * inverseDeviation[d + j])
            }
        }

        if (communicator?.size ?? 1) == 1 && 4 * n < 3 * d {
            return gramLoss(za, zb, rows: n, dim: d, count: count, gradientA: gradientA, gradientB: gradientB)
        }
        correlation.resize([d, d])
        correlationGradient.resize([d, d])
        let (c, g) = (correlation.data, correlationGradient.data)
        BLAS.gemm(transA: true, m: d, n: d, k: n, alpha: Float(1 / count), a: za, lda: d, b: zb, ldb: d, c: c, ldc: d)
        try communicator?.allreduceSum(correlation.buffer)

        // The loss, G = dL/dC, and the row and column sums of G ⊙ C (BatchNorm's Σ g ẑ).
        var onDiagonal: Double = 0, offDiagonal: Double = 0
        for j in 0..<(2 * d) { gradientDotStandard[j] = 0 }
        for i in 0..<d {
            for j in 0..<d {
                let cij = Double(c[i * d + j])
                let gij: Double
                if i == j {
                    onDiagonal += (1 - cij) * (1 - cij)
                    gij = -2 * (1 - cij)
                } else {
                    offDiagonal += cij * cij
                    gij = 2 * lambda * cij
                }
                g[i * d + j] = Float(gij)
                gradientDotStandard[i] += gij * cij
                gradientDotStandard[d + j] += gij * cij
            }
        }

        // dL/dẑ^A = ẑ^B Gᵀ / N, dL/dẑ^B = ẑ^A G / N, then through the standardisation.
        BLAS.gemm(transB: true, m: n, n: d, k: d, alpha: Float(1 / count), a: zb, lda: d, b: g, ldb: d, c: gradientA, ldc: d)
        BLAS.gemm(m: n, n: d, k: d, alpha: Float(1 / count), a: za, lda: d, b: g, ldb: d, c: gradientB, ldc: d)
        standardizationBackward(rows: n, dim: d, count: count, gradientA: gradientA, gradientB: gradientB)
        return onDiagonal + lambda * offDiagonal
    }

    /// The loss and dL/dẑ through the N × N Gram matrices (one process, few rows; see the type's
    /// doc), then through the standardisation.
    private func gramLoss(
        _ za: UnsafeMutablePointer<Float>, _ zb: UnsafeMutablePointer<Float>, rows n: Int, dim d: Int, count: Double,
        gradientA: UnsafeMutablePointer<Float>, gradientB: UnsafeMutablePointer<Float>
    ) -> Double {
        correlation.resize([2, n, n])
        let (ka, kb) = (correlation.data, correlation.data + n * n)
        BLAS.gemm(transB: true, m: n, n: n, k: d, a: za, lda: d, b: za, ldb: d, c: ka, ldc: n)
        BLAS.gemm(transB: true, m: n, n: n, k: d, a: zb, lda: d, b: zb, ldb: d, c: kb, ldc: n)
        var squares: Double = 0
        for k in 0..<(n * n) { squares += Double(ka[k]) * Double(kb[k]) }
        // K_B ẑ^A and K_A ẑ^B, the (C Cᵀ)_jj and (Cᵀ C)_jj sums, then the gradients over them.
        BLAS.gemm(m: n, n: d, k: n, a: kb, lda: n, b: za, ldb: d, c: gradientA, ldc: d)
        BLAS.gemm(m: n, n: d, k: n, a: ka, lda: n, b: zb, ldb: d, c: gradientB, ldc: d)
        for j in 0..<d { diagonal[j] = 0 }
        for j in 0..<(2 * d) { gradientDotStandard[j] = 0 }
        for r in 0..<n {
            for j in 0..<d {
                let k = r * d + j
                diagonal[j] += Double(za[k]) * Double(zb[k])
                gradientDotStandard[j] += Double(za[k]) * Double(gradientA[k])
                gradientDotStandard[d + j] += Double(zb[k]) * Double(gradientB[k])
            }
        }
        let scale = 2 * lambda / (count * count)
        var onDiagonal: Double = 0, diagonalSquares: Double = 0
        for j in 0..<d {
            let cjj = diagonal[j] / count
            onDiagonal += (1 - cjj) * (1 - cjj)
            diagonalSquares += cjj * cjj
            let delta = -2 * (1 - cjj) - 2 * lambda * cjj
            diagonal[j] = delta / count
            gradientDotStandard[j] = scale * gradientDotStandard[j] + delta * cjj
            gradientDotStandard[d + j] = scale * gradientDotStandard[d + j] + delta * cjj
        }
        for r in 0..<n {
            for j in 0..<d {
                let k = r * d + j
                let (a, b) = (gradientA[k], gradientB[k])
                gradientA[k] = Float(scale * Double(a) + diagonal[j] * Double(zb[k]))
                gradientB[k] = Float(scale * Double(b) + diagonal[j] * Double(za[k]))
            }
        }
        standardizationBackward(rows: n, dim: d, count: count, gradientA: gradientA, gradientB: gradientB)
        return onDiagonal + lambda * (squares / (count * count) - diagonalSquares)
    }

    /// BatchNorm's backward of the standardisation, in place: dz = W · (g − ẑ Σ_b g ẑ / N) / √(σ² + ε)
    /// from g = dL/dẑ in the gradients and Σ_b g ẑ in `gradientDotStandard`.
    private func standardizationBackward(rows n: Int, dim d: Int, count: Double,
                                         gradientA: UnsafeMutablePointer<Float>, gradientB: UnsafeMutablePointer<Float>) {
        let ranks = Double(communicator?.size ?? 1)
        for view in 0..<2 {
            let (z, dz, o) = view == 0 ? (standardA.data, gradientA, 0) : (standardB.data, gradientB, d)
            for r in 0..<n {
                for j in 0..<d {
                    let k = r * d + j
                    let centered = Double(dz[k]) - Double(z[k]) * gradientDotStandard[o + j] / count
                    dz[k] = Float(ranks * inverseDeviation[o + j] * centered)
                }
            }
        }
    }
}
