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

    /// Writes the direction of each row of `z` (rows × dim), z / ‖z‖, into `u`, whatever the
    /// row's scale: the row is first divided by its largest magnitude, so neither the squares of
    /// tiny values (1e-38) underflow nor those of huge ones overflow, and a row and any positive
    /// multiple of it give the same direction (to float rounding). A zero row maps to a zero row.
    /// No ε floor: for cosine similarities (kNN), where only the direction matters.
    public static func direction(
        _ z: UnsafePointer<Float>, rows: Int, dim: Int, into u: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let row = z + r * dim
            var largest: Float = 0
            for j in 0..<dim { largest = max(largest, abs(row[j])) }
            guard largest > 0 else {
                for j in 0..<dim { u[r * dim + j] = 0 }
                continue
            }
            let scale = 1 / Double(largest)
            var s: Double = 0
            for j in 0..<dim {
                let v = Double(row[j]) * scale
                s += v * v
            }
            let inv = scale / s.squareRoot()
            for j in 0..<dim { u[r * dim + j] = Float(Double(row[j]) * inv) }
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
