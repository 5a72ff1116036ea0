import DCLKit

/// Two-view contrastive loss: objective 0 = NT-Xent, 1 = DCL, 2 = DCLW.
/// z0, z1: (n, d) float32 row-major raw projections. Writes the loss (mean over 2n views)
/// and dLoss/dz0, dLoss/dz1 (each (n, d)). See dclkit.h.
@_cdecl("dcl_pair_loss")
public func dcl_pair_loss(
    _ objective: Int32,
    _ z0: UnsafePointer<Float>?, _ z1: UnsafePointer<Float>?,
    _ n: Int64, _ d: Int64,
    _ temperature: Double, _ sigma: Double,
    _ lossOut: UnsafeMutablePointer<Double>?,
    _ gradZ0: UnsafeMutablePointer<Float>?, _ gradZ1: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let n = try Arguments.atLeast(n, 2, name: "N (rows of z0)")
        let d = try Arguments.atLeast(d, 1, name: "D (columns of z0)")
        // The 2N × 2N similarity matrix and the (2N, D) copies must fit in memory: at most 4 GB each.
        guard n <= 1 << 14, n * d <= 1 << 28 else {
            throw ABIError.invalid("N = \(n), D = \(d) is too large (N <= 16384 and N * D <= 2^28)")
        }
        let tau = try Arguments.positive(temperature, name: "temperature")
        let kind: PairObjective
        switch objective {
        case 0: kind = .ntxent
        case 1: kind = .dcl
        case 2: kind = .dclw(sigma: try Arguments.positive(sigma, name: "sigma"))
        default: throw ABIError.invalid("unknown loss objective code \(objective)")
        }
        let a = try Arguments.floats(z0, count: n * d, name: "z0")
        let b = try Arguments.floats(z1, count: n * d, name: "z1")
        try Arguments.requireFinite(a, name: "z0")
        try Arguments.requireFinite(b, name: "z1")
        let lossOut = try Arguments.out(lossOut, name: "loss")
        let g0 = try Arguments.output(gradZ0, count: n * d, name: "grad_z0")
        let g1 = try Arguments.output(gradZ1, count: n * d, name: "grad_z1")

        try Tensor.requireAllocatable(floats: PairContrastiveLoss.bufferElements(pairs: n, dim: d))
        let z = try Tensor.zeros([2 * n, d])
        z.data.update(from: a.baseAddress!, count: n * d)
        (z.data + n * d).update(from: b.baseAddress!, count: n * d)
        let gradient = try Tensor.zeros([2 * n, d])
        let loss = PairContrastiveLoss(objective: kind, temperature: tau)
        let value = loss.compute(z.data, pairs: n, dim: d, gradient: gradient.data)
        lossOut.pointee = try Arguments.finiteLoss(value, gradient: UnsafeBufferPointer(gradient.buffer), temperature: tau)
        g0.baseAddress!.update(from: gradient.data, count: n * d)
        g1.baseAddress!.update(from: gradient.data + n * d, count: n * d)
    }
}
