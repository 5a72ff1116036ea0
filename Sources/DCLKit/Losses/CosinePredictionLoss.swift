/// The per-pair loss of a predictor against a stop-gradient target (BYOL, SimSiam).
public enum CosinePredictionForm: Equatable {
    /// SimSiam (Chen & He 2021): `D(p, z) = −cos(p, z)`, in [−1, 1].
    case negativeCosine
    /// BYOL (Grill et al. 2020): `‖p/‖p‖ − z/‖z‖‖² = 2 − 2·cos(p, z)`, in [0, 4].
    case byol
}

/// The negative-cosine prediction loss of BYOL and SimSiam, with its gradient with respect to
/// the predictions only.
///
/// Inputs: predictions `p` and targets `z`, each (n, d) float32 row-major; row i of `p` is
/// compared with row i of `z`. The targets are the stopped branch (BYOL's target network,
/// SimSiam's `sg(z)`): they are read-only pointers and no call has an output for their
/// gradient, so none can leak into them.
///
/// One direction (`compute`): `L = (1/n) Σ_i ℓ(p_i, z_i)`, ℓ = `−cos` or `2 − 2·cos` (`form`).
/// Symmetric (`computeSymmetric`, two views): `L = ½[L(p₁, z₂) + L(p₂, z₁)]`, each view's
/// prediction against the other view's target. SimSiam's paper writes exactly this. BYOL's paper
/// sums the two directions (`L_sym = L + L̃`): its value and gradients are twice these; lightly's
/// BYOL example uses the half taken here. Choosing the half keeps both methods on one scale.
///
/// Gradient: with u = p/‖p‖ and v = z/‖z‖, dℓ/du = −c·v (c = 1 for `negativeCosine`, 2 for
/// `byol`), carried back to the raw `p` through `RowNormalization` (`(g − u (u·g))/‖p‖`).
/// Numerics: norms are clamped at `RowNormalization.epsilon` = 1e-12 (PyTorch's `F.normalize`);
/// cosines are summed in float64. A zero target row has cosine 0 with its prediction and gives
/// that prediction no gradient; a zero prediction row has cosine 0 and gets the clamped branch's
/// gradient −c·v/(n·1e-12) (finite, very large: an exact zero output of a predictor does not
/// occur in training).
///
/// Data-parallel: the loss is per row, so a rank passes its own rows; its mean and gradient are
/// its term of the data-parallel convention (the sum over ranks of the gradients is W times the
/// gradient of the global mean, which the trainer's ÷W brings back), like `PairMethod`'s.
///
/// ```swift
/// let loss = CosinePredictionLoss(form: .negativeCosine)
/// let value = loss.computeSymmetric(predictions: p1, p2, targets: z1, z2, rows: n, dim: d,
///                                   gradients: dp1, dp2)
/// ```
/// Buffers are kept between calls, so repeated calls of the same size do not allocate.
public final class CosinePredictionLoss {
    /// Which per-pair loss.
    public let form: CosinePredictionForm

    private let predictionUnit = Tensor(shape: [0])
    private let predictionNorms = Tensor(shape: [0])
    private let targetUnit = Tensor(shape: [0])
    private let targetNorms = Tensor(shape: [0])
    private let unitGradient = Tensor(shape: [0])

    /// A loss of the given form.
    public init(form: CosinePredictionForm) { self.form = form }

    /// An upper bound on the floats a call allocates for `rows` rows of `dim` (unit rows of both
    /// inputs, their norms, the unit gradient), saturating at `Int.max`.
    public static func bufferElements(rows: Int, dim: Int) -> Int {
        saturatingSum(saturatingProduct(3, rows, dim), saturatingProduct(2, rows))
    }

    /// `(1/n) Σ_i ℓ(p_i, z_i)` for predictions `p` and targets `z` (rows × dim each); writes
    /// dLoss/dp into `predictionGradient` (rows × dim). Requires rows ≥ 1, dim ≥ 1.
    public func compute(
        predictions p: UnsafePointer<Float>, targets z: UnsafePointer<Float>, rows n: Int, dim d: Int,
        predictionGradient: UnsafeMutablePointer<Float>
    ) -> Double {
        compute(p, z, rows: n, dim: d, weight: 1, gradient: predictionGradient)
    }

    /// `½[L(p₁, z₂) + L(p₂, z₁)]` for the two views' predictions `p1`, `p2` and targets `z1`,
    /// `z2` (rows × dim each); writes dLoss/dp₁ into `gradient1` and dLoss/dp₂ into `gradient2`
    /// (rows × dim each). Requires rows ≥ 1, dim ≥ 1.
    public func computeSymmetric(
        predictions p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
        targets z1: UnsafePointer<Float>, _ z2: UnsafePointer<Float>, rows n: Int, dim d: Int,
        gradients gradient1: UnsafeMutablePointer<Float>, _ gradient2: UnsafeMutablePointer<Float>
    ) -> Double {
        let first = compute(p1, z2, rows: n, dim: d, weight: 0.5, gradient: gradient1)
        let second = compute(p2, z1, rows: n, dim: d, weight: 0.5, gradient: gradient2)
        return first + second
    }

    /// `weight · (1/n) Σ_i ℓ(p_i, z_i)`, and its gradient with respect to `p`.
    private func compute(
        _ p: UnsafePointer<Float>, _ z: UnsafePointer<Float>, rows n: Int, dim d: Int, weight: Double,
        gradient: UnsafeMutablePointer<Float>
    ) -> Double {
        precondition(n >= 1 && d >= 1, "CosinePredictionLoss: rows \(n), dim \(d)")
        predictionUnit.resize([n, d])
        targetUnit.resize([n, d])
        unitGradient.resize([n, d])
        predictionNorms.resize([n])
        targetNorms.resize([n])
        RowNormalization.forward(p, rows: n, dim: d, into: predictionUnit.data, norms: predictionNorms.data)
        RowNormalization.forward(z, rows: n, dim: d, into: targetUnit.data, norms: targetNorms.data)
        let (u, v, g) = (predictionUnit.data, targetUnit.data, unitGradient.data)
        // ℓ = a + c·(−cos): a = 0, c = 1 (SimSiam's D) or a = 2, c = 2 (BYOL).
        let (offset, slope): (Double, Double) = form == .byol ? (2, 2) : (0, 1)
        let step = Float(-slope * weight / Double(n))
        var cosines: Double = 0
        for i in 0..<n {
            var dot: Double = 0
            for j in 0..<d { dot += Double(u[i * d + j]) * Double(v[i * d + j]) }
            cosines += dot
            for j in 0..<d { g[i * d + j] = step * v[i * d + j] }
        }
        RowNormalization.backward(g, u: u, norms: predictionNorms.data, rows: n, dim: d, into: gradient)
        return weight * (offset - slope * cosines / Double(n))
    }
}
