/// MoCo's queue of negatives: the K most recent keys, unit vectors of dimension D, in a
/// `UnitRowRing` saved as "queue", "queue_ptr" and "queue_filled".
public final class NegativeQueue: UnitRowRing {
    /// The checkpoint names' prefix.
    public static let checkpointPrefix = "queue"

    /// A queue of `size` random unit keys of dimension `dim`, keyed by `seed` (see `UnitRowRing`).
    public init(size: Int, dim: Int, seed: UInt64) {
        super.init(size: size, dim: dim, seed: seed, checkpointPrefix: NegativeQueue.checkpointPrefix)
    }
}
