/// The all-gather of projections that gives every view the negatives of the global batch
/// (SimCLR family), with the backward of lightly's `GatherLayer`.
///
/// Forward: each rank's rows `(b, d)` → the global matrix `(W·b, d)`, rank 0's rows first.
/// Backward: each rank holds the gradient of *its own* loss term with respect to the whole
/// gathered matrix; the gradient of the sum of all ranks' terms with respect to this rank's
/// rows is the sum of those matrices over ranks, sliced at rows `rank·b ..< (rank+1)·b`.
/// With every rank's term the mean over its own anchors (the data-parallel convention) that
/// slice is W · ∂L/∂z for the global mean loss L, and the ÷W of `GradientAllreduce` brings
/// the parameter gradients back to ∂L/∂θ; with each term normalised by the global anchor
/// count it is ∂L/∂z itself. Buffers are kept and reused between steps.
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

    /// Gathers `local` (`(b, d)`, b ≥ 1, d ≥ 1) from every rank into `gathered` and returns it.
    @discardableResult
    public func forward(_ local: Tensor) throws -> Tensor {
        let (rows, dim) = try Self.matrixShape(local, name: "local projections")
        gathered.resize([communicator.size * rows, dim])
        try communicator.allgather(UnsafeBufferPointer(local.buffer), into: gathered.buffer)
        return gathered
    }

    /// Sums `gradient` (`(W·b, d)`, this rank's loss term differentiated with respect to the
    /// gathered rows) over ranks and returns this rank's `b` rows of the sum.
    @discardableResult
    public func backward(_ gradient: Tensor) throws -> Tensor {
        let (rows, dim) = try Self.matrixShape(gradient, name: "gathered gradient")
        let ranks = communicator.size
        guard rows % ranks == 0 else {
            throw DistributedError.invalid("the gathered gradient has \(rows) rows, not a multiple of the \(ranks) ranks")
        }
        let local = rows / ranks
        summed.resize([rows, dim])
        summed.data.update(from: gradient.data, count: gradient.count)
        try communicator.allreduceSum(summed.buffer)
        localGradient.resize([local, dim])
        localGradient.data.update(from: summed.data + communicator.rank * local * dim, count: local * dim)
        return localGradient
    }

    private static func matrixShape(_ t: Tensor, name: String) throws -> (Int, Int) {
        guard t.shape.count == 2, t.shape[0] >= 1, t.shape[1] >= 1 else {
            throw DistributedError.invalid("\(name) must be a non-empty matrix (rows, dim), got shape \(t.shape)")
        }
        return (t.shape[0], t.shape[1])
    }
}
