import DCLKit

/// How far from 1 the norm of a queue or extra-negative row may be (float32 rounding of a
/// normalised row of dimension 10⁶ stays far below this; an unnormalised row does not).
private let unitNormTolerance: Float = 1e-3

/// Queue loss: objective 0 = InfoNCE (MoCo), 1 = DCL. q, k: (n, d) raw queries and keys;
/// queue: (queueSize, d) unit rows; extra: (n, extraPerQuery, d) unit rows or null when
/// extraPerQuery is 0. Writes the loss (mean over the n queries) and dLoss/dq ((n, d)).
/// See dclkit.h.
@_cdecl("dcl_queue_loss")
public func dcl_queue_loss(
    _ objective: Int32,
    _ q: UnsafePointer<Float>?, _ k: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
    _ queue: UnsafePointer<Float>?, _ queueSize: Int64,
    _ extra: UnsafePointer<Float>?, _ extraPerQuery: Int64,
    _ temperature: Double,
    _ lossOut: UnsafeMutablePointer<Double>?, _ gradQ: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let kind = try queueObjective(objective, loss: "queue loss")
        let (n, d, size) = try queueShape(n, d, queueSize)
        let s = try Arguments.atLeast(extraPerQuery, 0, name: "S (extra negatives per query)")
        guard s <= 1 << 20, n * s * d <= 1 << 31 else {
            throw ABIError.invalid("N·S·D = \(n)·\(s)·\(d) extra negative values is too large")
        }
        let tau = try Arguments.positive(temperature, name: "temperature")
        let queries = try Arguments.floats(q, count: n * d, name: "q")
        let keys = try Arguments.floats(k, count: n * d, name: "k")
        let queueRows = try Arguments.floats(queue, count: size * d, name: "queue")
        try Arguments.requireFinite(queries, name: "q")
        try Arguments.requireFinite(keys, name: "k")
        try requireUnitRows(queueRows, dim: d, name: "queue")
        var extraRows: UnsafeBufferPointer<Float>?
        if s > 0 {
            let rows = try Arguments.floats(extra, count: n * s * d, name: "extra_negatives")
            try requireUnitRows(rows, dim: d, name: "extra_negatives")
            extraRows = rows
        }
        let lossOut = try Arguments.out(lossOut, name: "loss")
        let gradient = try Arguments.output(gradQ, count: n * d, name: "grad_q")

        try Tensor.requireAllocatable(floats: QueueContrastiveLoss.bufferElements(count: n, dim: d, queueSize: size, extraPerQuery: s))
        let loss = QueueContrastiveLoss(objective: kind, temperature: tau)
        let value = loss.compute(
            queries: queries.baseAddress!, keys: keys.baseAddress!, count: n, dim: d,
            queue: queueRows.baseAddress!, queueSize: size,
            extraNegatives: extraRows?.baseAddress, extraPerQuery: s,
            gradient: gradient.baseAddress!)
        lossOut.pointee = try Arguments.finiteLoss(value, gradient: UnsafeBufferPointer(gradient), temperature: tau)
    }
}

/// MoCHi's synthetic negatives. q: (n, d) raw queries; queue: (queueSize, d) unit rows;
/// 1 ≤ nHard ≤ queueSize; s, sPrime ≥ 0. Writes mixed ((n, s, d)) and queryMixed ((n, sPrime, d));
/// either may be null when its count is 0. See dclkit.h.
@_cdecl("dcl_mochi_negatives")
public func dcl_mochi_negatives(
    _ q: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
    _ queue: UnsafePointer<Float>?, _ queueSize: Int64,
    _ nHard: Int64, _ s: Int64, _ sPrime: Int64, _ seed: UInt64,
    _ mixedOut: UnsafeMutablePointer<Float>?, _ queryMixedOut: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let (n, d, size) = try queueShape(n, d, queueSize)
        let hardest = try Arguments.atLeast(nHard, 1, name: "n_hard")
        guard hardest <= size else {
            throw ABIError.invalid("n_hard must be at most the queue size K = \(size), got \(hardest)")
        }
        let s = try Arguments.atLeast(s, 0, name: "s")
        let sPrime = try Arguments.atLeast(sPrime, 0, name: "s_prime")
        guard s <= 1 << 20, sPrime <= 1 << 20, n * (s + sPrime) * d <= 1 << 31 else {
            throw ABIError.invalid("N·(s + s_prime)·D = \(n)·\(s + sPrime)·\(d) output values is too large")
        }
        let queries = try Arguments.floats(q, count: n * d, name: "q")
        let queueRows = try Arguments.floats(queue, count: size * d, name: "queue")
        try Arguments.requireFinite(queries, name: "q")
        try requireUnitRows(queueRows, dim: d, name: "queue")
        let mixed = s > 0 ? try Arguments.output(mixedOut, count: n * s * d, name: "mixed") : nil
        let queryMixed = sPrime > 0 ? try Arguments.output(queryMixedOut, count: n * sPrime * d, name: "query_mixed") : nil

        let mixing = HardNegativeMixing(hardest: hardest, mixed: s, queryMixed: sPrime)
        try Tensor.requireAllocatable(floats: mixing.bufferElements(count: n, dim: d, queueSize: size))
        let negatives = try Tensor.zeros([n, s + sPrime, d])
        mixing.makeNegatives(queries: queries.baseAddress!, count: n, dim: d,
                             queue: queueRows.baseAddress!, queueSize: size,
                             seed: seed, step: 0, into: negatives.data)
        for i in 0..<n {
            let row = negatives.data + i * (s + sPrime) * d
            mixed?.baseAddress!.advanced(by: i * s * d).update(from: row, count: s * d)
            queryMixed?.baseAddress!.advanced(by: i * sPrime * d).update(from: row + s * d, count: sPrime * d)
        }
    }
}

/// N ≥ 1 queries of dimension D ≥ 1 against K ≥ 1 queue rows, with the sizes bounded so the
/// N × K logits the core allocates stay within 1 GiB and every index fits.
private func queueShape(_ n: Int64, _ d: Int64, _ queueSize: Int64) throws -> (Int, Int, Int) {
    let n = try Arguments.atLeast(n, 1, name: "N (rows of q)")
    let d = try Arguments.atLeast(d, 1, name: "D (columns of q)")
    let size = try Arguments.atLeast(queueSize, 1, name: "K (rows of queue)")
    guard n <= 1 << 16, d <= 1 << 20, size <= 1 << 24 else {
        throw ABIError.invalid("N = \(n), D = \(d), K = \(size) is too large")
    }
    guard n * size <= 1 << 28, size * d <= 1 << 31 else {
        throw ABIError.invalid("N·K = \(n)·\(size) logits (at most 2^28) or K·D = \(size)·\(d) queue values is too large")
    }
    return (n, d, size)
}

/// Rows of `dim` finite floats, each of norm 1 within `unitNormTolerance`.
func requireUnitRows(_ values: UnsafeBufferPointer<Float>, dim: Int, name: String) throws {
    try Arguments.requireFinite(values, name: name)
    for r in 0..<values.count / dim {
        var sum: Double = 0
        for c in 0..<dim { sum += Double(values[r * dim + c]) * Double(values[r * dim + c]) }
        let norm = Float(sum.squareRoot())
        guard abs(norm - 1) <= unitNormTolerance else {
            throw ABIError.invalid("\(name) row \(r) has norm \(norm); its rows must be unit vectors (normalise them first)")
        }
    }
}

/// The objective of a C loss code (0 InfoNCE, 1 DCL's decoupled denominator); `loss` names the
/// loss in the error.
func queueObjective(_ code: Int32, loss: String) throws -> QueueObjective {
    switch code {
    case 0: return .infonce
    case 1: return .dcl
    default: throw ABIError.invalid("unknown \(loss) objective code \(code)")
    }
}
