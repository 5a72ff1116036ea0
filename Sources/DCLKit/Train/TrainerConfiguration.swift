/// Everything the Swift trainer needs to know about a run, already checked by its caller
/// (the ABI validates every field before building one).
public struct TrainerConfiguration {
    /// Which family of method, with its loss.
    public enum Method: Equatable {
        /// SimCLR family: both views of every image in one batch, a two-view loss
        /// (NT-Xent for SimCLR, DCL, DCLW).
        case pair(PairObjective)
        /// MoCo family: a query encoder, a momentum key encoder and a queue of negatives, with
        /// InfoNCE (MoCo) or DCL on the queue; `mixing` adds MoCHi's synthetic hard negatives.
        case momentum(QueueObjective, mixing: Bool)
    }

    /// The optimiser.
    public enum OptimizerKind: String {
        case sgd, lars
    }

    public var method: Method
    /// τ of the loss.
    public var temperature: Double
    public var optimizer: OptimizerKind
    /// The peak learning rate (absolute: any batch-size scaling is already applied).
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    public var warmupEpochs: Int
    public var epochs: Int
    public var batchSize: Int
    /// Keys augmentation draws (with epoch, sample index and view), the shuffle-BN order and
    /// MoCHi's draws.
    public var seed: UInt64
    /// MoCo: K, the queue length.
    public var queueSize: Int = 65536
    /// MoCo: m of θ_k ← m·θ_k + (1 − m)·θ_q.
    public var keyMomentum: Double = 0.999
    /// MoCo: how many BN groups the shuffled key batch is split into.
    public var shuffleGroups: Int = 4
    /// MoCo: swap the views too and average the two losses.
    public var symmetric: Bool = false
    /// MoCHi: the hardest negatives to mix from, and how many of each kind to make.
    public var mixingHardest: Int = 1024
    public var mixingPairs: Int = 256
    public var mixingWithQuery: Int = 256
    /// MoCHi: the first epoch that mixes.
    public var mixingStartEpoch: Int = 0

    /// A configuration; the MoCo fields keep their defaults until set.
    public init(method: Method, temperature: Double, optimizer: OptimizerKind, learningRate: Double,
                momentum: Double, weightDecay: Double, warmupEpochs: Int, epochs: Int, batchSize: Int, seed: UInt64) {
        self.method = method
        self.temperature = temperature
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.warmupEpochs = warmupEpochs
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
    }
}
