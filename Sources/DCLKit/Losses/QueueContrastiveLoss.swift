#if canImport(Glibc)
import Glibc
#endif

/// The contrastive objectives of a query against its key and a queue of negatives.
public enum QueueObjective: Equatable {
    /// InfoNCE on the queue (MoCo, He et al. 2020; MoCo v2, Chen et al. 2020): the positive stays
    /// in the denominator, `l = −q·k⁺/τ + log(exp(q·k⁺/τ) + Σ_n exp(q·n/τ))`.
    case infonce
    /// DCL on the queue (Yeh et al. 2022): the positive is removed from the denominator,
    /// `l = −q·k⁺/τ + log Σ_n exp(q·n/τ)`.
    case dcl
}

/// MoCo's queue loss with its gradient with respect to the queries.
///
/// Inputs: the raw queries `q` and keys `k`, shape (N, D), row i of `k` being the positive of
/// row i of `q`; the queue, shape (K, D), whose rows are already unit vectors; optionally S
/// extra negatives per query, shape (N, S, D), unit rows (MoCHi's synthetic negatives,
/// `HardNegativeMixing`). Queries and keys are L2-normalised inside (`RowNormalization`); the
/// logits against the queue, q·queueᵀ, are one GEMM. Query i's negatives are the K queue rows
/// and its own S extra rows.
///
/// Reduction: the mean of `l_i` over the N queries. Gradient: dLoss/dq for the raw queries only;
/// keys, queue and extra negatives carry no gradient (MoCo's keys come from the momentum encoder).
/// Writing p for the softmax over the terms of the denominator, the gradient with respect to the
/// unit query is (1/(Nτ))·(Σ_n p_n n + (p⁺ − 1) k⁺), with p⁺ = 0 for DCL; `RowNormalization`
/// carries it back to the raw query.
/// Numerics: each row's log-sum-exp subtracts its maximum, so any τ > 0 is safe.
/// A zero query or key has similarity 0 with everything (see `RowNormalization`).
///
/// ```swift
/// let loss = QueueContrastiveLoss(objective: .infonce, temperature: 0.2)
/// let value = loss.compute(queries: q, keys: k, count: n, dim: d,
///                          queue: queue.keys.data, queueSize: queue.size, gradient: dq)
/// ```
/// Buffers are kept between calls, so repeated calls of the same size do not allocate.
public final class QueueContrastiveLoss {
    /// Which objective.
    public let objective: QueueObjective
    /// The temperature τ > 0.
    public let temperature: Double

    private let queryUnit = Tensor(shape: [0])
    private let queryNorms = Tensor(shape: [0])
    private let keyUnit = Tensor(shape: [0])
    private let keyNorms = Tensor(shape: [0])
    private let queueLogits = Tensor(shape: [0])
    private let extraLogits = Tensor(shape: [0])
    private let unitGradient = Tensor(shape: [0])
    private var rowLoss: [Double] = []

    /// A loss with the given objective and temperature (τ > 0, checked by callers).
    public init(objective: QueueObjective, temperature: Double) {
        precondition(temperature > 0 && temperature.isFinite, "QueueContrastiveLoss: temperature \(temperature)")
        self.objective = objective
        self.temperature = temperature
    }

    /// An upper bound on the floats `compute` allocates for `count` queries of `dim` against a
    /// queue of `queueSize` and `extraPerQuery` extra negatives (unit rows and their gradient,
    /// the logits, per-row sums, OpenBLAS's buffers), saturating at `Int.max`.
    public static func bufferElements(count: Int, dim: Int, queueSize: Int, extraPerQuery: Int) -> Int {
        [saturatingProduct(3, count, dim), saturatingProduct(count, saturatingSum(queueSize, extraPerQuery)),
         saturatingProduct(16, count), BLAS.threadBufferElements].reduce(0, saturatingSum)
    }

    /// Computes the loss of the queries `q` against keys `k` (both count × dim, row-major), the
    /// queue (queueSize × dim, unit rows) and `extraPerQuery` extra negatives per query
    /// (`extraNegatives`: count × extraPerQuery × dim, unit rows; may be nil when extraPerQuery
    /// is 0), and writes dLoss/dq into `gradient` (count × dim).
    /// Requires count ≥ 1, dim ≥ 1, queueSize ≥ 1, extraPerQuery ≥ 0.
    public func compute(
        queries q: UnsafePointer<Float>, keys k: UnsafePointer<Float>, count n: Int, dim d: Int,
        queue: UnsafePointer<Float>, queueSize: Int,
        extraNegatives: UnsafePointer<Float>? = nil, extraPerQuery s: Int = 0,
        gradient: UnsafeMutablePointer<Float>
    ) -> Double {
        precondition(n >= 1 && d >= 1 && queueSize >= 1 && s >= 0,
                     "QueueContrastiveLoss: count \(n), dim \(d), queue \(queueSize), extra \(s)")
        precondition(s == 0 || extraNegatives != nil, "QueueContrastiveLoss: \(s) extra negatives but no buffer")
        queryUnit.resize([n, d])
        queryNorms.resize([n])
        keyUnit.resize([n, d])
        keyNorms.resize([n])
        queueLogits.resize([n, queueSize])
        extraLogits.resize([n, s])
        unitGradient.resize([n, d])
        RowNormalization.forward(q, rows: n, dim: d, into: queryUnit.data, norms: queryNorms.data)
        RowNormalization.forward(k, rows: n, dim: d, into: keyUnit.data, norms: keyNorms.data)
        let u = queryUnit.data, keys = keyUnit.data
        let logits = queueLogits.data, extra = extraLogits.data, du = unitGradient.data
        let invT = 1 / temperature
        let invTf = Float(invT)
        BLAS.gemm(transB: true, m: n, n: queueSize, k: d, alpha: invTf, a: u, lda: d, b: queue, ldb: d,
                  c: logits, ldc: queueSize)

        if rowLoss.count != n { rowLoss = [Double](repeating: 0, count: n) }
        let scale = invT / Double(n)
        let keepPositive = objective == .infonce
        rowLoss.withUnsafeMutableBufferPointer { rowLoss in
            Threads.forEachChunk(n) { range in
                for i in range {
                    // Row i of the logits (q·n/τ) becomes the queue's softmax weights times 1/(Nτ).
                    let ui = u + i * d, ki = keys + i * d
                    let row = logits + i * queueSize
                    let extraRow = extra + i * s
                    let extraVectors = extraNegatives.map { $0 + i * s * d }
                    let positiveLogit = Double(dot(ui, ki, d)) * invT
                    var m = keepPositive ? Float(positiveLogit) : -Float.infinity
                    for j in 0..<queueSize { m = max(m, row[j]) }
                    if let extraVectors {
                        for j in 0..<s {
                            extraRow[j] = dot(ui, extraVectors + j * d, d) * invTf
                            m = max(m, extraRow[j])
                        }
                    }
                    var sum: Double = 0
                    for j in 0..<queueSize { row[j] = exp(row[j] - m); sum += Double(row[j]) }
                    for j in 0..<s { extraRow[j] = exp(extraRow[j] - m); sum += Double(extraRow[j]) }
                    let positiveWeight = keepPositive ? exp(positiveLogit - Double(m)) : 0
                    sum += positiveWeight
                    rowLoss[i] = -positiveLogit + Double(m) + log(sum)

                    let softmaxScale = Float(scale / sum)
                    for j in 0..<queueSize { row[j] *= softmaxScale }
                    // du_i = Σ_extra w_j x_j + (p⁺ − 1)·scale·k_i; the queue term is added by one GEMM below.
                    let positiveCoefficient = Float((positiveWeight / sum - 1) * scale)
                    let dui = du + i * d
                    for c in 0..<d { dui[c] = positiveCoefficient * ki[c] }
                    if let extraVectors {
                        for j in 0..<s {
                            let w = extraRow[j] * softmaxScale
                            let x = extraVectors + j * d
                            for c in 0..<d { dui[c] += w * x[c] }
                        }
                    }
                }
            }
        }
        BLAS.gemm(m: n, n: d, k: queueSize, a: logits, lda: queueSize, b: queue, ldb: d,
                  beta: 1, c: du, ldc: d)
        RowNormalization.backward(du, u: u, norms: queryNorms.data, rows: n, dim: d, into: gradient)
        return rowLoss.reduce(0, +) / Double(n)
    }
}

/// The dot product of two float vectors of length `d`, with four partial sums.
@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: Int) -> Float {
    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
    var c = 0
    while c + 4 <= d {
        s0 += a[c] * b[c]; s1 += a[c + 1] * b[c + 1]
        s2 += a[c + 2] * b[c + 2]; s3 += a[c + 3] * b[c + 3]
        c += 4
    }
    while c < d { s0 += a[c] * b[c]; c += 1 }
    return (s0 + s1) + (s2 + s3)
}
