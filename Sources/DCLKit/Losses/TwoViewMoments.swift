/// The per-feature batch moments of two embeddings (A and B, n × d each), over the global batch
/// when the rows are spread over the ranks of a communicator: what Barlow Twins' standardisation
/// and VICReg's variance and covariance start from.
///
/// Two passes, both accumulated in float64: the column sums give the global mean μ (one
/// allreduce of 2d + 1 values, the last the row count), then the centred rows x − μ are written
/// out (float32) and their column sums of squares Σ(x − μ)² summed over the ranks (a second
/// allreduce of 2d values plus the caller's `extra` scalar). The second pass keeps the digits
/// that the one-pass Σx² − Nμ² would lose when |μ| ≫ σ. Buffers are kept between calls (no
/// allocation after the first call of a given dim).
final class TwoViewMoments {
    /// The global row count N of the last call.
    private(set) var globalRows = 0
    /// Σ_b (x_bj − μ_j)² over the global batch: A's d values, then B's.
    private(set) var squares: [Double] = []
    private var scratch: [Double] = []

    /// An upper bound on the floats a two-embedding loss built on these moments allocates for
    /// `rows` rows of `dim` (two rows × dim matrices, two d × d ones, per-feature sums in float64,
    /// OpenBLAS's buffers), saturating at `Int.max`: what callers check with
    /// `Tensor.requireAllocatable(floats:)` first.
    static func bufferElements(rows: Int, dim: Int) -> Int {
        [saturatingProduct(2, rows, dim), saturatingProduct(2, dim, dim), saturatingProduct(16, dim),
         BLAS.threadBufferElements].reduce(0, saturatingSum)
    }

    /// Centres `a` and `b` (rows × dim, this rank's rows) with the global column means into
    /// `centeredA` and `centeredB` (rows × dim), fills `squares` and `globalRows`, and returns
    /// `extra` summed over the ranks. Every rank must call it with the same dim.
    /// Throws `DistributedError` when a collective fails.
    func center(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows n: Int, dim d: Int,
        into centeredA: UnsafeMutablePointer<Float>, _ centeredB: UnsafeMutablePointer<Float>,
        extra: Double = 0, communicator: Communicator?
    ) throws -> Double {
        if scratch.count != 2 * d + 1 { scratch = [Double](repeating: 0, count: 2 * d + 1) }
        if squares.count != 2 * d { squares = [Double](repeating: 0, count: 2 * d) }
        for j in 0..<(2 * d) { scratch[j] = 0 }
        for view in 0..<2 {
            let (x, o) = (view == 0 ? a : b, view * d)
            for r in 0..<n { for j in 0..<d { scratch[o + j] += Double(x[r * d + j]) } }
        }
        scratch[2 * d] = Double(n)
        try scratch.withUnsafeMutableBufferPointer { try communicator?.allreduceSum($0) }
        globalRows = Int(scratch[2 * d])
        let count = Double(globalRows)
        for j in 0..<(2 * d) { scratch[j] /= count }
        for j in 0..<(2 * d) { squares[j] = 0 }
        for view in 0..<2 {
            let (x, y, o) = view == 0 ? (a, centeredA, 0) : (b, centeredB, d)
            for r in 0..<n {
                for j in 0..<d {
                    let c = Double(x[r * d + j]) - scratch[o + j]
                    y[r * d + j] = Float(c)
                    squares[o + j] += c * c
                }
            }
        }
        scratch[2 * d] = extra
        for j in 0..<(2 * d) { scratch[j] = squares[j] }
        try scratch.withUnsafeMutableBufferPointer { try communicator?.allreduceSum($0) }
        for j in 0..<(2 * d) { squares[j] = scratch[j] }
        return scratch[2 * d]
    }
}
