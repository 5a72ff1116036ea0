/// This rank's share of a global batch: with B images per step over W ranks, rank r computes
/// rows r·B/W ..< (r+1)·B/W of every global batch. B must be a multiple of W, so every rank has
/// the same share (the gathers and averages assume equal shares); otherwise every rank throws
/// the same error (the check needs no communication).
public struct BatchShare: Equatable {
    /// The global batch B.
    public let global: Int
    /// The rows per rank, B/W.
    public let local: Int
    /// This rank's first row in the global batch, r·B/W.
    public let offset: Int

    /// A share with the given values (for comparisons).
    init(global: Int, local: Int, offset: Int) {
        self.global = global
        self.local = local
        self.offset = offset
    }

    /// The share of `communicator`'s rank in a global batch of `global` (≥ 1) rows.
    public init(global: Int, communicator: Communicator) throws {
        let ranks = communicator.size
        guard global >= 1 else { throw DistributedError.invalid("the batch size must be at least 1, got \(global)") }
        guard global % ranks == 0 else {
            let lower = global / ranks * ranks, upper = lower + ranks
            throw DistributedError.invalid(
                "batch_size \(global) is the global batch and must be divisible by the \(ranks) ranks; "
                    + "use \(lower > 0 ? "\(lower) or " : "")\(upper)")
        }
        self.global = global
        self.local = global / ranks
        self.offset = communicator.rank * (global / ranks)
    }
}
