#if canImport(Glibc)
import Glibc
#endif

/// NNCLR's loss, one direction (Dwibedi et al. 2021): neighbours q (the nearest support-set rows
/// of one view's projections: unit rows, no gradient) against the raw predictions p of the other
/// view, normalised inside (p̂ = p / ‖p‖, `RowNormalization`). With s_ik = q_i·p̂_k / τ,
///
///     ℓ_i = −s_{i,f+i} + log Σ_{k ∈ D_i} exp(s_ik),   D_i = every k (InfoNCE) or k ≠ f + i (DCL)
///
/// for the anchors i of `anchors` neighbours whose positives are predictions f ..< f + anchors of
/// the `count` predictions (a data-parallel rank passes its own neighbours and all ranks'
/// predictions). Reduction: the mean over the anchors, times `scale`. Gradient: scale · dℓ/dp for
/// all `count` rows, written (not added). The similarities and their gradient are two GEMMs; each
/// row's log-sum-exp is max-shifted in Float64, so any τ > 0 is safe. A zero prediction row has
/// similarity 0 with every neighbour (see `RowNormalization`).
///
/// Buffers are kept between calls: repeated calls of one size do not allocate.
///
/// ```swift
/// let loss = NNCLRLoss(objective: .dcl, temperature: 0.1)
/// let value = loss.compute(neighbours: q, anchors: n, firstAnchor: 0, predictions: p, count: n, dim: d, gradient: dp)
/// ```
public final class NNCLRLoss {
    /// InfoNCE (nnclr) or DCL's denominator (nnclr-dcl).
    public let objective: QueueObjective
    /// τ > 0.
    public let temperature: Double

    private let unit = Tensor(shape: [0])
    private let norms = Tensor(shape: [0])
    private let logits = Tensor(shape: [0])
    private let unitGradient = Tensor(shape: [0])

    /// The loss with `objective` and τ = `temperature` (> 0, finite; checked by callers).
    public init(objective: QueueObjective, temperature: Double) {
        precondition(temperature > 0 && temperature.isFinite, "NNCLRLoss: temperature \(temperature)")
        self.objective = objective
        self.temperature = temperature
    }

    /// The loss of neighbours q (anchors, dim) against predictions p (count, dim), times `scale`;
    /// scale · dℓ/dp into `gradient` (count, dim). Requires 1 ≤ anchors, 0 ≤ firstAnchor,
    /// firstAnchor + anchors ≤ count.
    public func compute(neighbours q: UnsafePointer<Float>, anchors a: Int, firstAnchor f: Int,
                        predictions p: UnsafePointer<Float>, count n: Int, dim d: Int, scale: Double = 1,
                        gradient: UnsafeMutablePointer<Float>) -> Double {
        precondition(a >= 1 && f >= 0 && f + a <= n && d >= 1, "NNCLRLoss: anchors \(f)..<\(f + a) of \(n), dim \(d)")
        unit.resize([n, d])
        norms.resize([n])
        logits.resize([a, n])
        unitGradient.resize([n, d])
        RowNormalization.forward(p, rows: n, dim: d, into: unit.data, norms: norms.data)
        let inverse = 1 / temperature
        BLAS.gemm(transB: true, m: a, n: n, k: d, alpha: Float(inverse), a: q, lda: d, b: unit.data, ldb: d,
                  c: logits.data, ldc: n)
        var total = 0.0
        for i in 0..<a {
            let row = logits.data + i * n, positive = f + i
            let included = { (k: Int) in self.objective == .infonce || k != positive }
            var peak = -Double.infinity
            for k in 0..<n where included(k) { peak = max(peak, Double(row[k])) }
            var sum = 0.0
            for k in 0..<n where included(k) { sum += exp(Double(row[k]) - peak) }
            total += -Double(row[positive]) + peak + log(sum)
            // dℓ_i/ds_ik = softmax_k − [k = positive], kept in place of the logits.
            let weight = scale / (Double(a) * temperature)
            for k in 0..<n {
                let softmax = included(k) ? exp(Double(row[k]) - peak) / sum : 0
                row[k] = Float(weight * (softmax - (k == positive ? 1 : 0)))
            }
        }
        // dL/dp̂ = (dL/ds)ᵀ q / τ (the 1/τ is in the weight).
        BLAS.gemm(transA: true, m: n, n: d, k: a, a: logits.data, lda: n, b: q, ldb: d, c: unitGradient.data, ldc: d)
        RowNormalization.backward(unitGradient.data, u: unit.data, norms: norms.data, rows: n, dim: d, into: gradient)
        return scale * total / Double(a)
    }

    /// A bound on the floats `compute` allocates for `anchors` neighbours against `count`
    /// predictions of `dim` (unit rows and their gradient, the logits, OpenBLAS's buffers),
    /// saturating at `Int.max`.
    public static func bufferElements(anchors: Int, count: Int, dim: Int) -> Int {
        [saturatingProduct(2, count, dim), saturatingProduct(anchors, count), count, BLAS.threadBufferElements]
            .reduce(0, saturatingSum)
    }
}
