import DCLKit

/// The non-contrastive baselines' losses on their own (for checks against references and for
/// hosts that drive their own training loop). See the "Non-contrastive losses" section of
/// dclkit.h.

/// Negative-cosine prediction loss, one direction: form 0 = SimSiam's D = −cos(p, z), 1 = BYOL's
/// 2 − 2·cos(p, z); p, z: (n, d) raw predictions and stop-gradient targets. Writes the loss (mean
/// over the n rows) and dLoss/dp ((n, d)); there is no target gradient. See dclkit.h.
@_cdecl("dcl_prediction_loss")
public func dcl_prediction_loss(
    _ form: Int32, _ p: UnsafePointer<Float>?, _ z: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
    _ lossOut: UnsafeMutablePointer<Double>?, _ gradP: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let (loss, n, d) = try predictionLoss(form, n, d)
        let predictions = try finiteFloats(p, count: n * d, name: "p")
        let targets = try finiteFloats(z, count: n * d, name: "z")
        let lossOut = try Arguments.out(lossOut, name: "loss")
        let gradient = try Arguments.output(gradP, count: n * d, name: "grad_p")
        let value = loss.compute(predictions: predictions.baseAddress!, targets: targets.baseAddress!, rows: n, dim: d,
                                 predictionGradient: gradient.baseAddress!)
        lossOut.pointee = try finiteResult(value, gradients: [UnsafeBufferPointer(gradient)], loss: "prediction loss")
    }
}

/// The two-view symmetric prediction loss ½[ℓ(p1, z2) + ℓ(p2, z1)] (BYOL, SimSiam), form as
/// above; p1, p2, z1, z2: (n, d). Writes the loss and dLoss/dp1, dLoss/dp2 ((n, d) each).
/// See dclkit.h.
@_cdecl("dcl_symmetric_prediction_loss")
public func dcl_symmetric_prediction_loss(
    _ form: Int32, _ p1: UnsafePointer<Float>?, _ p2: UnsafePointer<Float>?,
    _ z1: UnsafePointer<Float>?, _ z2: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
    _ lossOut: UnsafeMutablePointer<Double>?, _ gradP1: UnsafeMutablePointer<Float>?, _ gradP2: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let (loss, n, d) = try predictionLoss(form, n, d)
        let predictions1 = try finiteFloats(p1, count: n * d, name: "p1")
        let predictions2 = try finiteFloats(p2, count: n * d, name: "p2")
        let targets1 = try finiteFloats(z1, count: n * d, name: "z1")
        let targets2 = try finiteFloats(z2, count: n * d, name: "z2")
        let lossOut = try Arguments.out(lossOut, name: "loss")
        let gradient1 = try Arguments.output(gradP1, count: n * d, name: "grad_p1")
        let gradient2 = try Arguments.output(gradP2, count: n * d, name: "grad_p2")
        let value = loss.computeSymmetric(
            predictions: predictions1.baseAddress!, predictions2.baseAddress!,
            targets: targets1.baseAddress!, targets2.baseAddress!, rows: n, dim: d,
            gradients: gradient1.baseAddress!, gradient2.baseAddress!)
        lossOut.pointee = try finiteResult(value, gradients: [UnsafeBufferPointer(gradient1), UnsafeBufferPointer(gradient2)],
                                           loss: "prediction loss")
    }
}

/// Barlow Twins' loss Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²; za, zb: (n, d) embeddings of the two
/// views; lambda ≥ 0. Writes the loss and dLoss/dza, dLoss/dzb ((n, d) each). See dclkit.h.
@_cdecl("dcl_barlow_twins_loss")
public func dcl_barlow_twins_loss(
    _ za: UnsafePointer<Float>?, _ zb: UnsafePointer<Float>?, _ n: Int64, _ d: Int64, _ lambda: Double,
    _ lossOut: UnsafeMutablePointer<Double>?, _ gradA: UnsafeMutablePointer<Float>?, _ gradB: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let lambda = try nonNegative(lambda, name: "lambda")
        let views = try TwoViews(za, zb, n, d, lossOut, gradA, gradB)
        try Tensor.requireAllocatable(floats: BarlowTwinsLoss.bufferElements(rows: views.n, dim: views.d))
        let value = try BarlowTwinsLoss(lambda: lambda).compute(
            views.a, views.b, rows: views.n, dim: views.d, gradientA: views.gradientA, gradientB: views.gradientB)
        try views.finish(value, loss: "Barlow Twins loss")
    }
}

/// VICReg's loss λ·s + μ·½[v(Z) + v(Z′)] + ν·[c(Z) + c(Z′)] (γ = 1, ε = 1e-4); za, zb: (n, d)
/// embeddings of the two views; the three weights ≥ 0. Writes the loss and dLoss/dza,
/// dLoss/dzb ((n, d) each). See dclkit.h.
@_cdecl("dcl_vicreg_loss")
public func dcl_vicreg_loss(
    _ za: UnsafePointer<Float>?, _ zb: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
    _ invariance: Double, _ variance: Double, _ covariance: Double,
    _ lossOut: UnsafeMutablePointer<Double>?, _ gradA: UnsafeMutablePointer<Float>?, _ gradB: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let lambda = try nonNegative(invariance, name: "invariance weight (lambda)")
        let mu = try nonNegative(variance, name: "variance weight (mu)")
        let nu = try nonNegative(covariance, name: "covariance weight (nu)")
        let views = try TwoViews(za, zb, n, d, lossOut, gradA, gradB)
        try Tensor.requireAllocatable(floats: VICRegLoss.bufferElements(rows: views.n, dim: views.d))
        let value = try VICRegLoss(invariance: lambda, variance: mu, covariance: nu).compute(
            views.a, views.b, rows: views.n, dim: views.d, gradient: views.gradientA, gradientPrime: views.gradientB)
        try views.finish(value, loss: "VICReg loss")
    }
}

/// The loss of a form code (0 DCL_PREDICTION_NEGATIVE_COSINE, 1 DCL_PREDICTION_BYOL) for n ≥ 1
/// rows of d ≥ 1, at most 2^28 values per matrix, once its buffers are known to fit in memory.
private func predictionLoss(_ code: Int32, _ n: Int64, _ d: Int64) throws -> (CosinePredictionLoss, Int, Int) {
    let form: CosinePredictionForm
    switch code {
    case 0: form = .negativeCosine
    case 1: form = .byol
    default: throw ABIError.invalid("unknown prediction loss form code \(code) (0 negative cosine, 1 BYOL)")
    }
    let n = try Arguments.atLeast(n, 1, name: "N (rows of p)")
    let d = try Arguments.atLeast(d, 1, name: "D (columns of p)")
    _ = try Arguments.product(n, d, limit: 1 << 28, name: "N·D")
    try Tensor.requireAllocatable(floats: CosinePredictionLoss.bufferElements(rows: n, dim: d))
    return (CosinePredictionLoss(form: form), n, d)
}

/// A non-null pointer to `count` finite floats.
private func finiteFloats(_ p: UnsafePointer<Float>?, count: Int, name: String) throws -> UnsafeBufferPointer<Float> {
    let values = try Arguments.floats(p, count: count, name: name)
    try Arguments.requireFinite(values, name: name)
    return values
}

/// A finite number at least 0.
private func nonNegative(_ x: Double, name: String) throws -> Double {
    guard x.isFinite, x >= 0 else { throw ABIError.invalid("\(name) must be a finite number >= 0, got \(x)") }
    return x
}

/// `value`, refused when it or a gradient value is not finite (inputs so large that their
/// squares or products leave float32's range).
private func finiteResult(_ value: Double, gradients: [UnsafeBufferPointer<Float>], loss: String) throws -> Double {
    guard value.isFinite, gradients.allSatisfy({ $0.allSatisfy { $0.isFinite } }) else {
        throw ABIError.invalid("the \(loss) or its gradient is not finite: the inputs' products leave float32's range; "
                               + "scale the embeddings down")
    }
    return value
}

/// The checked arguments of a two-embedding loss: za, zb (n, d) finite, 2 ≤ n, 1 ≤ d ≤ 16384,
/// n·d ≤ 2^28 (the d × d matrices at most 2^28 floats each), and the outputs.
private struct TwoViews {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>
    let n: Int, d: Int
    let lossOut: UnsafeMutablePointer<Double>
    let gradientA: UnsafeMutablePointer<Float>, gradientB: UnsafeMutablePointer<Float>

    init(_ za: UnsafePointer<Float>?, _ zb: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
         _ lossOut: UnsafeMutablePointer<Double>?, _ gradA: UnsafeMutablePointer<Float>?, _ gradB: UnsafeMutablePointer<Float>?) throws {
        self.n = try Arguments.atLeast(n, 2, name: "N (rows of za; the batch statistics need two)")
        self.d = try Arguments.atLeast(d, 1, name: "D (columns of za)")
        guard self.d <= 1 << 14 else { throw ABIError.invalid("D = \(self.d) is too large (D <= 16384: the D × D matrices)") }
        let count = try Arguments.product(self.n, self.d, limit: 1 << 28, name: "N·D")
        a = try finiteFloats(za, count: count, name: "za").baseAddress!
        b = try finiteFloats(zb, count: count, name: "zb").baseAddress!
        self.lossOut = try Arguments.out(lossOut, name: "loss")
        gradientA = try Arguments.output(gradA, count: count, name: "grad_za").baseAddress!
        gradientB = try Arguments.output(gradB, count: count, name: "grad_zb").baseAddress!
    }

    /// Writes `value` to the loss output once it and both gradients are finite.
    func finish(_ value: Double, loss: String) throws {
        let count = n * d
        lossOut.pointee = try finiteResult(
            value, gradients: [UnsafeBufferPointer(start: gradientA, count: count), UnsafeBufferPointer(start: gradientB, count: count)],
            loss: loss)
    }
}
