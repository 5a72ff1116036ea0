/// L2 normalisation of the rows of a matrix, with its backward.
///
/// u = z / max(‖z‖, ε), ε = 1e-12 as in PyTorch's `F.normalize`. A zero row maps to a zero
/// row (its similarity to everything is 0); its gradient is then du/ε, the Jacobian of the
/// clamped branch.
public enum RowNormalization {
    /// The norm floor ε.
    public static let epsilon: Float = 1e-12

    /// Writes the normalised rows of `z` (rows × dim) into `u` and their clamped norms into `norms`.
    public static func forward(
        _ z: UnsafePointer<Float>, rows: Int, dim: Int,
        into u: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let row = z + r * dim
            var s: Double = 0
            for j in 0..<dim { s += Double(row[j]) * Double(row[j]) }
            let norm = max(Float(s.squareRoot()), epsilon)
            norms[r] = norm
            let inv = 1 / norm
            for j in 0..<dim { u[r * dim + j] = row[j] * inv }
        }
    }

    /// Given du = dL/du, writes dL/dz = (du − u (u·du)) / ‖z‖ (or du / ε for a clamped row).
    public static func backward(
        _ du: UnsafePointer<Float>, u: UnsafePointer<Float>, norms: UnsafePointer<Float>,
        rows: Int, dim: Int, into dz: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let o = r * dim
            let inv = 1 / norms[r]
            if norms[r] <= epsilon {
                for j in 0..<dim { dz[o + j] = du[o + j] * inv }
                continue
            }
            var dot: Double = 0
            for j in 0..<dim { dot += Double(u[o + j]) * Double(du[o + j]) }
            let d = Float(dot)
            for j in 0..<dim { dz[o + j] = (du[o + j] - u[o + j] * d) * inv }
        }
    }
}
