import DCLKit

/// NNCLR's loss on its own (`dclkit.losses.nnclr`): objective 0 = InfoNCE (`nnclr`),
/// 1 = DCL (`nnclr-dcl`); q: (n, d) unit neighbours, p: (n, d) raw predictions of the other
/// view. Writes the loss (mean over the n rows) and dLoss/dp ((n, d)). See dclkit.h.
@_cdecl("dcl_nnclr_loss")
public func dcl_nnclr_loss(
    _ objective: Int32, _ q: UnsafePointer<Float>?, _ p: UnsafePointer<Float>?, _ n: Int64, _ d: Int64,
    _ temperature: Double, _ lossOut: UnsafeMutablePointer<Double>?, _ gradP: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let kind = try queueObjective(objective, loss: "NNCLR loss")
        let n = try Arguments.atLeast(n, 2, name: "N (rows of p)")
        let d = try Arguments.atLeast(d, 1, name: "D (columns of p)")
        guard n <= 1 << 12, d <= 1 << 16 else { throw ABIError.invalid("N = \(n), D = \(d) is too large (N <= 4096, D <= 65536)") }
        let tau = try Arguments.positive(temperature, name: "temperature")
        let neighbours = try Arguments.floats(q, count: n * d, name: "q")
        let predictions = try Arguments.floats(p, count: n * d, name: "p")
        try requireUnitRows(neighbours, dim: d, name: "q")
        try Arguments.requireFinite(predictions, name: "p")
        let lossOut = try Arguments.out(lossOut, name: "loss")
        let gradient = try Arguments.output(gradP, count: n * d, name: "grad_p")
        lossOut.pointee = NNCLRLoss(objective: kind, temperature: tau).compute(
            neighbours: neighbours.baseAddress!, anchors: n, firstAnchor: 0, predictions: predictions.baseAddress!, count: n,
            dim: d, gradient: gradient.baseAddress!)
    }
}
