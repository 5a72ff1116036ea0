/// A linear softmax classifier on standardised features: logits = ((x − mean) / scale)·W + b.
///
/// Shapes: features (N, D) → logits (N, C); W is (D, C) row-major, b is (C). The prediction is
/// the arg-max logit (the lower class on ties). Fitted by `LinearProbe`.
public final class LinearClassifier {
    /// The standardisation applied to raw features first.
    public let standardization: FeatureStandardization
    /// Weights W, shape (D, C).
    public let weights: Tensor
    /// Bias b, shape (C).
    public let bias: Tensor

    /// Rows standardised and scored per chunk in `predict`, bounding its memory.
    static let chunkRows = 4096

    /// A zero classifier for `classes` ≥ 1 classes on features standardised by `standardization`.
    public init(standardization: FeatureStandardization, classes: Int) {
        precondition(classes >= 1, "LinearClassifier: \(classes) classes")
        self.standardization = standardization
        weights = Tensor(shape: [standardization.mean.count, classes])
        bias = Tensor(shape: [classes])
    }

    /// Feature dimension D.
    public var dim: Int { weights.shape[0] }
    /// Number of classes C.
    public var classes: Int { weights.shape[1] }

    /// Writes the logits of `count` already standardised rows `x` (count, D) into `out` (count, C).
    public func logits(standardized x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        let c = classes
        for r in 0..<count { (out + r * c).update(from: bias.data, count: c) }
        BLAS.gemm(m: count, n: c, k: dim, a: x, lda: dim, b: weights.data, ldb: c, beta: 1, c: out, ldc: c)
    }

    /// The predicted class of each of `count` raw feature rows (count, D).
    public func predict(_ features: UnsafePointer<Float>, count: Int) -> [Int] {
        let c = classes, d = dim
        let rowsPerChunk = min(count, LinearClassifier.chunkRows)
        let standardized = Tensor(shape: [rowsPerChunk, d])
        let scores = Tensor(shape: [rowsPerChunk, c])
        var predictions = [Int](repeating: 0, count: count)
        var start = 0
        while start < count {
            let rows = min(rowsPerChunk, count - start)
            standardization.apply(features + start * d, count: rows, into: standardized.data)
            logits(standardized: standardized.data, count: rows, into: scores.data)
            for r in 0..<rows {
                let row = scores.data + r * c
                var winner = 0
                for k in 1..<c where row[k] > row[winner] { winner = k }
                predictions[start + r] = winner
            }
            start += rows
        }
        return predictions
    }
}
