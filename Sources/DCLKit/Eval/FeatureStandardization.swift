/// Per-feature standardisation x' = (x − mean) / std, with the statistics of a training set.
///
/// Mean and population standard deviation (divisor N) are accumulated in float64, two passes.
/// A feature whose standard deviation is zero, or below 1e-6·|mean| (float32 rounding noise
/// around a constant), keeps scale 1, so a constant feature maps to 0 (as scikit-learn's
/// `StandardScaler` does for zero variance).
public struct FeatureStandardization {
    /// Per-feature mean, length D.
    public let mean: [Float]
    /// Per-feature divisor (the standard deviation, or 1 for a constant feature), length D.
    public let scale: [Float]

    /// The statistics of `count` rows of `x` (row-major (count, dim)); count ≥ 1, dim ≥ 1.
    public init(fitting x: UnsafePointer<Float>, count: Int, dim: Int) {
        precondition(count >= 1 && dim >= 1, "FeatureStandardization: \(count) × \(dim)")
        var sum = [Double](repeating: 0, count: dim)
        for r in 0..<count {
            let row = x + r * dim
            for j in 0..<dim { sum[j] += Double(row[j]) }
        }
        let mean = sum.map { $0 / Double(count) }
        var squares = [Double](repeating: 0, count: dim)
        for r in 0..<count {
            let row = x + r * dim
            for j in 0..<dim {
                let centred = Double(row[j]) - mean[j]
                squares[j] += centred * centred
            }
        }
        self.mean = mean.map { Float($0) }
        scale = (0..<dim).map { j in
            let std = (squares[j] / Double(count)).squareRoot()
            return std == 0 || std < 1e-6 * abs(mean[j]) ? 1 : Float(std)
        }
    }

    /// Writes the standardised `count` rows of `x` into `out` (both (count, D)), in parallel chunks.
    public func apply(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        let dim = mean.count
        let inverse = scale.map { 1 / $0 }
        mean.withUnsafeBufferPointer { mean in
            inverse.withUnsafeBufferPointer { inverse in
                Threads.forEachChunk(count) { range in
                    for r in range {
                        let o = r * dim
                        for j in 0..<dim { out[o + j] = (x[o + j] - mean[j]) * inverse[j] }
                    }
                }
            }
        }
    }
}
