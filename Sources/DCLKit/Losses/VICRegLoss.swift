/// VICReg's variance-invariance-covariance loss (Bardes, Ponce & LeCun 2022) with its gradient
/// with respect to both embeddings.
///
/// Inputs: the embeddings of the two views, `z` = Z and `zPrime` = Z′, each (n, d) float32
/// row-major, row i of both coming from image i. With N rows in the batch and d features:
///
///     s(Z, Z′) = (1/(N·d)) Σ_b ‖z_b − z′_b‖²                        invariance
///     v(Z)     = (1/d) Σ_j max(0, γ − √(Var(z_·j) + ε))              variance hinge
///     c(Z)     = (1/d) Σ_{i≠j} Cov(Z)_ij²                            covariance
///     L = λ·s(Z, Z′) + μ·½[v(Z) + v(Z′)] + ν·[c(Z) + c(Z′)]
///
/// with Var the unbiased variance over the batch and Cov(Z) = (1/(N − 1)) Σ_b (z_b − z̄)(z_b − z̄)ᵀ
/// (d × d, one GEMM per view); λ = μ = 25, ν = 1, γ = 1, ε = 10⁻⁴ by default.
/// These are the reductions of the official code that produced the paper's results and
/// coefficients: `F.mse_loss` (the mean over N·d; the paper's s lacks the 1/d) and the variance
/// terms of the two views averaged (`/2` each; the paper's formula writes μ·[v(Z) + v(Z′)], which
/// is this with μ doubled).
///
/// Gradient: ∂s/∂z_b = 2(z_b − z′_b)/(N·d) (the negative for z′_b); for each feature under the
/// hinge (√(Var + ε) < γ) ∂v/∂z_bj = −(z_bj − z̄_j) / (d (N − 1) √(Var_j + ε)) (0 at and above
/// the kink, as ReLU's); ∂c/∂Z = 4/(d (N − 1)) · (Z − z̄) · offdiag(Cov) (one GEMM). Both
/// centred terms have columns summing to zero, so the mean's own dependence on z adds nothing.
/// Few rows (one process, 4N < 3d, as a batch of 64 against d = 2048): the d × d covariances are
/// never formed. With the centred rows X and the N × N Gram matrix K = X Xᵀ of each view,
/// Σ_ij Cov_ij² = Σ_bc K_bc² / (N − 1)² and (Z − z̄) · Cov = K X / (N − 1); the diagonal Cov_jj is
/// the feature's variance (the moments' Σ(x − μ)² / (N − 1)), taken off both. Two GEMMs of N²d
/// multiply-adds per view instead of two of Nd², and no d × d buffer.
/// Zero variance: a constant feature has √ε = 0.01 < γ, so it adds (γ − 0.01)/d to v, but its
/// centred values are 0 and so is its variance gradient: the hinge cannot revive an exactly
/// collapsed feature (only the invariance term moves it), while a nearly collapsed one is pushed
/// with a gradient scaled by 1/√(Var + ε) ≤ 100.
///
/// Data-parallel: with a `communicator`, each rank passes its own rows; the means, variances
/// (`TwoViewMoments`, float64) and the d × d covariances (one float32 allreduce of both views)
/// are the global batch's, and so is the returned loss, the same on every rank. The gradient
/// written is W · ∂L/∂(this rank's rows), the data-parallel convention of `PairMethod` /
/// `ProjectionGather`: the trainer's ÷W gradient average gives ∂L/∂θ. With W = 1 (or no
/// communicator) it is ∂L/∂z.
///
/// ```swift
/// let loss = VICRegLoss()
/// let value = try loss.compute(z, zPrime, rows: n, dim: d, gradient: dz, gradientPrime: dzPrime)
/// ```
/// Buffers are kept between calls, so repeated calls of the same size do not allocate.
public final class VICRegLoss {
    /// The invariance weight λ ≥ 0.
    public let invarianceWeight: Double
    /// The variance weight μ ≥ 0.
    public let varianceWeight: Double
    /// The covariance weight ν ≥ 0.
    public let covarianceWeight: Double
    /// The target standard deviation γ > 0 of the hinge.
    public let gamma: Double
    /// The variance floor ε > 0 inside the square root.
    public let epsilon: Double
    /// The ranks the batch is spread over (nil: one process).
    public let communicator: Communicator?

    private let moments = TwoViewMoments()
    private let centered = Tensor(shape: [0])
    private let centeredPrime = Tensor(shape: [0])
    private let covariances = Tensor(shape: [0])
    private var hingeSlope: [Double] = []

    /// A loss with weights λ (`invariance`), μ (`variance`), ν (`covariance`), all finite and
    /// ≥ 0, hinge target γ > 0 and floor ε > 0 (checked by callers), over the ranks of
    /// `communicator` (nil: one process).
    public init(invariance: Double = 25, variance: Double = 25, covariance: Double = 1,
                gamma: Double = 1, epsilon: Double = 1e-4, communicator: Communicator? = nil) {
        precondition([invariance, variance, covariance].allSatisfy { $0 >= 0 && $0.isFinite }
                     && gamma > 0 && gamma.isFinite && epsilon > 0 && epsilon.isFinite,
                     "VICRegLoss: λ \(invariance), μ \(variance), ν \(covariance), γ \(gamma), ε \(epsilon)")
        invarianceWeight = invariance
        varianceWeight = variance
        covarianceWeight = covariance
        self.gamma = gamma
        self.epsilon = epsilon
        self.communicator = communicator
    }

    /// An upper bound on the floats a call allocates for `rows` rows of `dim`, saturating at
    /// `Int.max` (`TwoViewMoments.bufferElements`).
    public static func bufferElements(rows: Int, dim: Int) -> Int {
        TwoViewMoments.bufferElements(rows: rows, dim: dim)
    }

    /// The loss of `z` and `zPrime` (rows × dim each, this rank's rows); writes the gradients
    /// into `gradient` and `gradientPrime` (rows × dim each; W times ∂L/∂z on W ranks, see the
    /// type's doc). Requires rows ≥ 1, dim ≥ 1 and a global batch of at least 2 rows; throws
    /// `DistributedError` when a collective fails or the global batch has fewer than 2 rows (on
    /// every rank alike).
    public func compute(
        _ z: UnsafePointer<Float>, _ zPrime: UnsafePointer<Float>, rows n: Int, dim d: Int,
        gradient: UnsafeMutablePointer<Float>, gradientPrime: UnsafeMutablePointer<Float>
    ) throws -> Double {
        precondition(n >= 1 && d >= 1, "VICRegLoss: rows \(n), dim \(d)")
        centered.resize([n, d])
        centeredPrime.resize([n, d])
        if hingeSlope.count != 2 * d { hingeSlope = [Double](repeating: 0, count: 2 * d) }
        var squaredDistance: Double = 0
        for k in 0..<(n * d) {
            let difference = Double(z[k]) - Double(zPrime[k])
            squaredDistance += difference * difference
        }
        let (x, xPrime) = (centered.data, centeredPrime.data)
        squaredDistance = try moments.center(z, zPrime, rows: n, dim: d, into: x, xPrime,
                                             extra: squaredDistance, communicator: communicator)
        let total = moments.globalRows
        guard total >= 2 else {
            throw DistributedError.invalid("VICReg needs a global batch of at least 2 rows, got \(total)")
        }
        let (count, features) = (Double(total), Double(d))

        // The hinge of each feature and its slope dv/dz_bj = slope_j · (z_bj − z̄_j), both views.
        var hinge: Double = 0
        for j in 0..<(2 * d) {
            let deviation = (moments.squares[j] / (count - 1) + epsilon).squareRoot()
            let gap = gamma - deviation
            hinge += max(0, gap)
            hingeSlope[j] = gap > 0 ? -1 / (features * (count - 1) * deviation) : 0
        }

        let ranks = Double(communicator?.size ?? 1)
        let invariance = 2 * invarianceWeight / (count * features)
        let variance = varianceWeight / 2
        let covariance = 4 * covarianceWeight / (features * (count - 1))
        if ranks == 1 && 4 * n < 3 * d {
            let offDiagonal = gramCovariance(z, zPrime, rows: n, dim: d, count: count, invariance: invariance, variance: variance,
                                             covariance: covariance, gradient: gradient, gradientPrime: gradientPrime)
            return invarianceWeight * squaredDistance / (count * features) + variance * hinge / features
                + covarianceWeight * offDiagonal / features
        }

        // Both covariances, summed over the ranks in one allreduce.
        covariances.resize([2, d, d])
        let cov = covariances.data
        for view in 0..<2 {
            let v = view == 0 ? x : xPrime
            BLAS.gemm(transA: true, m: d, n: d, k: n, alpha: Float(1 / (count - 1)), a: v, lda: d, b: v, ldb: d,
                      c: cov + view * d * d, ldc: d)
        }
        try communicator?.allreduceSum(covariances.buffer)
        var offDiagonal: Double = 0
        for view in 0..<2 {
            for i in 0..<d {
                for j in 0..<d where j != i {
                    let value = Double(cov[view * d * d + i * d + j])
                    offDiagonal += value * value
                }
                cov[view * d * d + i * d + i] = 0  // offdiag(Cov) for the gradient's GEMM
            }
        }

        // Elementwise terms first, then the covariance term added by GEMM (beta 1), then ×W.
        for view in 0..<2 {
            let (v, dz, o, sign) = view == 0 ? (x, gradient, 0, 1.0) : (xPrime, gradientPrime, d, -1.0)
            for r in 0..<n {
                for j in 0..<d {
                    let k = r * d + j
                    let pull = sign * invariance * (Double(z[k]) - Double(zPrime[k]))
                    dz[k] = Float(pull + variance * hingeSlope[o + j] * Double(v[k]))
                }
            }
            BLAS.gemm(m: n, n: d, k: d, alpha: Float(covariance), a: v, lda: d, b: cov + view * d * d, ldb: d, beta: 1, c: dz, ldc: d)
            if ranks != 1 { for k in 0..<(n * d) { dz[k] *= Float(ranks) } }
        }
        return invarianceWeight * squaredDistance / (count * features) + variance * hinge / features
            + covarianceWeight * offDiagonal / features
    }

    /// Σ_{i≠j} Cov_ij² of both views through their N × N Gram matrices (one process, few rows;
    /// see the type's doc), and both gradients: the invariance and hinge terms, then
    /// `covariance` · (Z − z̄) · offdiag(Cov) as K X / (N − 1) less X diag(Cov).
    private func gramCovariance(
        _ z: UnsafePointer<Float>, _ zPrime: UnsafePointer<Float>, rows n: Int, dim d: Int, count: Double,
        invariance: Double, variance: Double, covariance: Double,
        gradient: UnsafeMutablePointer<Float>, gradientPrime: UnsafeMutablePointer<Float>
    ) -> Double {
        covariances.resize([n, n])
        let gram = covariances.data
        var offDiagonal: Double = 0
        for view in 0..<2 {
            let (v, dz, o, sign) = view == 0 ? (centered.data, gradient, 0, 1.0) : (centeredPrime.data, gradientPrime, d, -1.0)
            BLAS.gemm(transB: true, m: n, n: n, k: d, a: v, lda: d, b: v, ldb: d, c: gram, ldc: n)
            for k in 0..<(n * n) { offDiagonal += Double(gram[k]) * Double(gram[k]) / ((count - 1) * (count - 1)) }
            for j in 0..<d {
                let diagonal = moments.squares[o + j] / (count - 1)
                offDiagonal -= diagonal * diagonal
            }
            for r in 0..<n {
                for j in 0..<d {
                    let k = r * d + j
                    let pull = sign * invariance * (Double(z[k]) - Double(zPrime[k]))
                    let diagonal = moments.squares[o + j] / (count - 1)
                    dz[k] = Float(pull + (variance * hingeSlope[o + j] - covariance * diagonal) * Double(v[k]))
                }
            }
            BLAS.gemm(m: n, n: d, k: n, alpha: Float(covariance / (count - 1)), a: gram, lda: n, b: v, ldb: d, beta: 1, c: dz, ldc: d)
        }
        return offDiagonal
    }
}
