/// The all-gather of projections that gives every view the negatives of the global batch
/// (SimCLR family), with the backward of lightly's `GatherLayer`.
///
/// Forward: each rank's rows `(b, d)` → the global matrix `(W·b, d)`, rank 0's rows first.
/// Backward: each rank holds the gradient of *its own* loss term with respect to the whole
/// gathered matrix; the gradient of the sum of all ranks' terms with respect to this rank's
/// rows is the sum of those matrices over ranks, sliced at rows `rank·b ..< (rank+1)·b`.
/// With every rank's term the mean over its own anchors (the data-parallel convention) that
/// slice is W · ∂L/∂z for the global mean loss L, and the ÷W of `BucketedAverage` brings
/// the parameter gradients back to ∂L/∂θ; with each term normalised by the global anchor
/// count it is ∂L/∂z itself. Buffers are kept and reused between steps.
///
/// Views: a rank's rows may be `views` blocks of b rows each (the SimCLR family's two views of
/// its b images, view 0 first). The gathered matrix is then view-major, as one process holding
/// the global batch would stack it: view v of rank k's row i at row v·W·b + k·b + i.
public final class ProjectionGather {
    /// The group the rows are gathered over.
    public let communicator: Communicator
    /// The gathered rows of the last forward, `(W·b, d)`.
    public let gathered = Tensor(shape: [0])
    /// The gradient for this rank's rows of the last backward, `(b, d)`.
    public let localGradient = Tensor(shape: [0])
    private let summed = Tensor(shape: [0])

    /// A gather over `communicator`.
    public init(communicator: Communicator) { self.communicator = communicator }

    private let rankMajor = Tensor(shape: [0])

    /// Gathers `local` (`(views·b, d)`, b ≥ 1, d ≥ 1) from every rank into `gathered`
    /// (`(W·views·b, d)`, view-major) and returns it.
    @discardableResult
    public func forward(_ local: Tensor, views: Int = 1) throws -> Tensor {
        let (rows, dim) = try Self.matrixShape(local, name: "local projections")
        guard views >= 1, rows % views == 0 else {
            throw DistributedError.invalid("local projections have \(rows) rows, not \(views) views of equal size")
        }
        let ranks = communicator.size
        gathered.resize([ranks * rows, dim])
        guard views > 1, ranks > 1 else {
            try communicator.allgather(UnsafeBufferPointer(local.buffer), into: gathered.buffer)
            return gathered
        }
        rankMajor.resize([ranks * rows, dim])
        try communicator.allgather(UnsafeBufferPointer(local.buffer), into: rankMajor.buffer)
        reorder(rows: rows / views, views: views, dim: dim, toViewMajor: true, rankMajor.data, gathered.data)
        return gathered
    }

    /// Sums `gradient` (`(W·views·b, d)`, view-major: this rank's loss term differentiated with
    /// respect to the gathered rows) over ranks and returns this rank's `views·b` rows of the sum
    /// (`localGradient`, in the order of `forward`'s `local`).
    @discardableResult
    public func backward(_ gradient: Tensor, views: Int = 1) throws -> Tensor {
        let (rows, dim) = try Self.matrixShape(gradient, name: "gathered gradient")
        let ranks = communicator.size
        guard views >= 1, rows % (ranks * views) == 0 else {
            throw DistributedError.invalid("the gathered gradient has \(rows) rows, not \(views) views of a multiple of the \(ranks) ranks")
        }
        let local = rows / ranks
        summed.resize([rows, dim])
        if views > 1 && ranks > 1 {
            reorder(rows: local / views, views: views, dim: dim, toViewMajor: false, gradient.data, summed.data)
        } else {
            summed.data.update(from: gradient.data, count: gradient.count)
        }
        try communicator.allreduceSum(summed.buffer)
        localGradient.resize([local, dim])
        localGradient.data.update(from: summed.data + communicator.rank * local * dim, count: local * dim)
        return localGradient
    }

    /// Copies the W·views blocks of `rows` rows between rank-major order (rank k's view v at
    /// block k·views + v) and view-major order (block v·W + k).
    private func reorder(rows: Int, views: Int, dim: Int, toViewMajor: Bool,
                         _ source: UnsafeMutablePointer<Float>, _ target: UnsafeMutablePointer<Float>) {
        let ranks = communicator.size, block = rows * dim
        for k in 0..<ranks {
            for v in 0..<views {
                let (rankBlock, viewBlock) = (k * views + v, v * ranks + k)
                let (from, to) = toViewMajor ? (rankBlock, viewBlock) : (viewBlock, rankBlock)
                (target + to * block).update(from: source + from * block, count: block)
            }
        }
    }

    private static func matrixShape(_ t: Tensor, name: String) throws -> (Int, Int) {
        guard t.shape.count == 2, t.shape[0] >= 1, t.shape[1] >= 1 else {
            throw DistributedError.invalid("\(name) must be a non-empty matrix (rows, dim), got shape \(t.shape)")
        }
        return (t.shape[0], t.shape[1])
    }
}
