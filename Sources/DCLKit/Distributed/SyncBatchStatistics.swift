/// The global reductions of synchronised BatchNorm (SyncBN): BatchNorm over the union of all
/// ranks' batches, forward and backward, for C channels.
///
/// Forward: each rank passes, per channel c, its count n_r, Σx and Σx² (accumulated in
/// float64); one allreduce of the 2C + 1 values gives N = Σ n_r and
/// `mean_c = Σ_r Σx / N`, `var_c = max(0, Σ_r Σx² / N − mean_c²)` (biased, as BatchNorm
/// normalises with; BatchNorm's running variance uses N/(N−1) of it).
///
/// Backward: with x̂ = (x − mean)/σ and dy the output gradient, BatchNorm's input gradient
/// `dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))` needs Σdy and Σdy·x̂ over the global batch;
/// one allreduce of the 2C values gives both (and they are also the gradients of β and γ).
///
/// Sums travel in float64 so Σx² − N·mean² keeps its digits; each object keeps a 2C + 1
/// scratch buffer (2C·G + 1 once BatchNorm has reduced G statistics groups in one call),
/// reused between steps.
public final class SyncBatchStatistics {
    /// The group the batch is spread over.
    public let communicator: Communicator
    /// The number of channels C.
    public let channels: Int
    private var scratch: UnsafeMutableBufferPointer<Double>

    /// Reductions for `channels` (≥ 1) channels over `communicator`.
    public init(channels: Int, communicator: Communicator) throws {
        guard channels >= 1 else { throw DistributedError.invalid("channels must be at least 1, got \(channels)") }
        self.channels = channels
        self.communicator = communicator
        self.scratch = .allocate(capacity: 2 * channels + 1)
    }

    deinit { scratch.deallocate() }

    /// Global mean and biased variance per channel from this rank's `count` values per channel
    /// and their per-channel `sum` and `sumOfSquares` (C each); writes `mean` and `variance`
    /// (C each) and returns the global count N (the same on every rank, at least 1).
    public func meanAndVariance(
        sum: UnsafeBufferPointer<Double>, sumOfSquares: UnsafeBufferPointer<Double>, count: Int,
        mean: UnsafeMutableBufferPointer<Double>, variance: UnsafeMutableBufferPointer<Double>
    ) throws -> Int {
        let c = channels
        precondition(sum.count == c && sumOfSquares.count == c && mean.count == c && variance.count == c,
                     "SyncBatchStatistics: buffers must hold \(c) channels")
        guard count >= 0 else { throw DistributedError.invalid("the count of values per channel must be at least 0, got \(count)") }
        for i in 0..<c {
            scratch[i] = sum[i]
            scratch[c + i] = sumOfSquares[i]
        }
        let total = try reduceScratch(count: 2 * c, values: count)
        guard total >= 1 else { throw DistributedError.invalid("the global batch has no values per channel") }
        for i in 0..<c {
            let m = scratch[i] / Double(total)
            mean[i] = m
            variance[i] = max(0, scratch[c + i] / Double(total) - m * m)
        }
        return total
    }

    /// Replaces this rank's per-channel Σdy (`sumGradient`) and Σdy·x̂
    /// (`sumGradientTimesNormalized`), C each, by their sums over the global batch.
    public func reduceGradientSums(
        sumGradient: UnsafeMutableBufferPointer<Double>, sumGradientTimesNormalized: UnsafeMutableBufferPointer<Double>
    ) throws {
        let c = channels
        precondition(sumGradient.count == c && sumGradientTimesNormalized.count == c,
                     "SyncBatchStatistics: buffers must hold \(c) channels")
        for i in 0..<c {
            scratch[i] = sumGradient[i]
            scratch[c + i] = sumGradientTimesNormalized[i]
        }
        _ = try reduceScratch(count: 2 * c, values: 0)
        for i in 0..<c {
            sumGradient[i] = scratch[i]
            sumGradientTimesNormalized[i] = scratch[c + i]
        }
    }

    /// Sums the first `count` values in `scratch` and `values` over the ranks (one allreduce of
    /// `count` + 1 float64); returns the summed count.
    private func reduceScratch(count: Int, values: Int) throws -> Int {
        scratch[count] = Double(values)
        try communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: scratch[0...count]))
        return Int(scratch[count])
    }
}

/// SyncBN inside BatchNorm (`BatchNorm.synchronization`): the layer's 2C float64 totals per
/// statistics group (raw Σx, Σx² in forward; Σg, Σg·(x − μ) in backward) summed over the ranks
/// in one allreduce for all groups.
extension SyncBatchStatistics: BatchNormSynchronization {
    /// See `BatchNormSynchronization`; `count` must be 2C·G for G ≥ 1 groups (the scratch grows
    /// once to hold them). When the collective fails the totals and `values` come back unchanged
    /// and the communicator keeps the failure (a `TrainingCommunicator` throws it at the end of
    /// the step).
    public func sumOverGlobalBatch(_ totals: UnsafeMutablePointer<Double>, count: Int, values: Int) -> Int {
        precondition(count >= 2 * channels && count % (2 * channels) == 0,
                     "SyncBatchStatistics: \(count) totals for \(channels) channels")
        if count + 1 > scratch.count {
            scratch.deallocate()
            scratch = .allocate(capacity: count + 1)
        }
        scratch.baseAddress!.update(from: totals, count: count)
        guard let total = try? reduceScratch(count: count, values: values) else { return values }
        totals.update(from: scratch.baseAddress!, count: count)
        return total
    }
}
