/// NNCLR's support set Q: the K most recent normalised projections (Dwibedi et al. 2021), unit
/// vectors of dimension D in a `UnitRowRing` saved as "support_set", "support_set_ptr" and
/// "support_set_filled", and each query's nearest neighbour in it by cosine similarity.
public final class SupportSet: UnitRowRing {
    /// The checkpoint names' prefix.
    public static let checkpointPrefix = "support_set"
    private let similarities = Tensor(shape: [0])

    /// A support set of `size` random unit rows of dimension `dim`, keyed by `seed` (see `UnitRowRing`).
    public init(size: Int, dim: Int, seed: UInt64) {
        super.init(size: size, dim: dim, seed: seed, checkpointPrefix: SupportSet.checkpointPrefix)
    }

    /// Writes NN(u_r) = argmax_{q ∈ Q} u_r·q for every row of `unit` (rows, dim) into
    /// `neighbours` (rows, dim): the support row of largest dot product (ties to the lower index).
    public func nearestNeighbours(of unit: UnsafePointer<Float>, rows: Int, into neighbours: UnsafeMutablePointer<Float>) {
        similarities.resize([rows, size])
        BLAS.gemm(transB: true, m: rows, n: size, k: dim, a: unit, lda: dim, b: keys.data, ldb: dim,
                  c: similarities.data, ldc: size)
        for r in 0..<rows {
            let row = similarities.data + r * size
            var best = 0
            for j in 1..<max(size, 1) where row[j] > row[best] { best = j }
            (neighbours + r * dim).update(from: keys.data + best * dim, count: dim)
        }
    }
}
