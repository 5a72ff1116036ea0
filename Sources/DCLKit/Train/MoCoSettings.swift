/// The settings of the MoCo family (MoCo v2, MoCo with DCL on the queue, MoCHi), nested in a
/// `RunConfiguration` only when its method is one of them. Names follow MoCo's paper: K, m.
public struct MoCoSettings: Equatable {
    /// K, the length of the queue of negatives (a multiple of the batch size, below 2²⁴).
    public var queueSize: Int
    /// m of θ_k ← m·θ_k + (1 − m)·θ_q, in [0, 1).
    public var keyMomentum: Double
    /// How many BatchNorm groups the shuffled key batch is split into (single-process shuffle-BN).
    public var shuffleGroups: Int
    /// The first K/B steps of a run only fill the queue with real keys (key encoder forward and
    /// enqueue, no loss, no update), so the loss never sees MoCo's random start vectors (see
    /// `MoCoMethod` and docs/MOCO_TRAINING.md).
    public var queueWarmup: Bool
    /// Also swap the views (queries from view 1, keys from view 0) and average the two losses.
    public var symmetric: Bool
    /// MoCHi's hard negative mixing; nil for plain MoCo.
    public var mixing: MoCHiSettings?

    /// Settings with MoCo v2's ImageNet defaults (K = 65536, m = 0.999), 4 shuffle groups,
    /// queue warm-up on, one direction, no mixing.
    public init(queueSize: Int = 65536, keyMomentum: Double = 0.999, shuffleGroups: Int = 4, queueWarmup: Bool = true,
                symmetric: Bool = false, mixing: MoCHiSettings? = nil) {
        self.queueSize = queueSize
        self.keyMomentum = keyMomentum
        self.shuffleGroups = shuffleGroups
        self.queueWarmup = queueWarmup
        self.symmetric = symmetric
        self.mixing = mixing
    }

    /// Keys a step of `count` images enqueues (2·count when symmetric).
    public func keysPerStep(_ count: Int) -> Int { symmetric ? 2 * count : count }
}

/// MoCHi's settings (Kalantidis et al. 2020): from the `hardest` negatives of each query, make
/// `pairs` mixes of two negatives (s) and `withQuery` mixes of the query with a negative (s′),
/// from epoch `startEpoch` on.
public struct MoCHiSettings: Equatable {
    /// N, the hardest negatives mixed from (at most K).
    public var hardest: Int
    /// s, mixes of two hard negatives per query.
    public var pairs: Int
    /// s′, mixes of the query with a hard negative per query.
    public var withQuery: Int
    /// The first epoch that mixes.
    public var startEpoch: Int

    /// The paper's ImageNet settings (N = 1024, s = s′ = 256), mixing from the first epoch.
    public init(hardest: Int = 1024, pairs: Int = 256, withQuery: Int = 256, startEpoch: Int = 0) {
        self.hardest = hardest
        self.pairs = pairs
        self.withQuery = withQuery
        self.startEpoch = startEpoch
    }
}
