/// One `AugmentScratch` per parallel chunk, kept across calls, and the parallel loop over
/// samples that hands each chunk its own.
public final class ScratchPool {
    private var scratches: [AugmentScratch] = []

    /// An empty pool; scratches are created as chunks need them.
    public init() {}

    /// Calls `body(i, scratch)` for every i in 0..<count, in parallel over at most
    /// `Threads.count` contiguous chunks; samples of one chunk share one scratch, in order.
    /// Not reentrant: one call at a time per pool.
    public func forEachSample(_ count: Int, _ body: (Int, AugmentScratch) -> Void) {
        guard count > 0 else { return }
        let chunks = min(Threads.count, count)
        while scratches.count < chunks { scratches.append(AugmentScratch()) }
        let pool = scratches
        Threads.forEachChunk(chunks) { range in
            for c in range {
                let scratch = pool[c]
                for i in (count * c / chunks)..<(count * (c + 1) / chunks) { body(i, scratch) }
            }
        }
    }
}
