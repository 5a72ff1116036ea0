/// The settings of the MoCo family (MoCo v2, MoCo with DCL on the queue, MoCHi). Names follow
/// MoCo's paper: K, m. The family reads MoCHi's fields too (`mixingFields`); only the mochi
/// method mixes (its factory sets `mixing`).
public struct MoCoSettings: MethodSettings, Equatable {
    /// τ of the queue loss.
    public var temperature = 0.2
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
    /// MoCHi's fields as read (the mochi method's `mixing`).
    public var mixingFields = MoCHiSettings()

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

    /// The key encoder and the queue of K keys of D.
    public func constructionElements(encoder: EncoderConfiguration) -> Int {
        saturatingSum(Encoder.constructionElements(encoder), saturatingProduct(queueSize, encoder.headOutput))
    }

    /// Keys a step of `count` images enqueues (2·count when symmetric).
    public func keysPerStep(_ count: Int) -> Int { symmetric ? 2 * count : count }

    static let queueSizeField = ConfigurationField(
        "queue_size", .integer(low: 1, high: RunConfiguration.maximumQueueSize), default: .value(.number(Double(MoCoSettings().queueSize))),
        doc: "K, the length of the queue of negatives (a multiple of batch_size)")
    static let keyMomentumField = ConfigurationField(
        "momentum_encoder", .number(.unitOpen), default: .value(.number(MoCoSettings().keyMomentum)),
        doc: "m of the key encoder's update θ_k ← m·θ_k + (1 − m)·θ_q")
    static let shuffleGroupsField = ConfigurationField(
        "shuffle_bn_groups", .integer(low: 1, high: RunConfiguration.maximumBatchSize), default: .value(.number(Double(MoCoSettings().shuffleGroups))),
        doc: "BatchNorm groups of the shuffled key batch (single-process shuffle-BN)")
    static let queueWarmupField = ConfigurationField(
        "queue_warmup", .bool, default: .value(.bool(MoCoSettings().queueWarmup)),
        doc: "the first queue_size / batch_size steps only fill the queue with real keys (docs/MOCO_TRAINING.md)")
    static let symmetricField = ConfigurationField(
        "symmetric", .bool, default: .value(.bool(MoCoSettings().symmetric)), doc: "also swap the views and average the two losses")

    static let hardestField = ConfigurationField(
        "mochi_n_hard", .integer(low: 1, high: RunConfiguration.maximumQueueSize), default: .rule("min(\(MoCHiSettings().hardest), queue_size)"),
        doc: "N, the hardest negatives of each query mixed from (at most queue_size; mochi only)")
    static let pairsField = ConfigurationField(
        "mochi_s", .integer(low: 0, high: 1 << 16), default: .value(.number(Double(MoCHiSettings().pairs))),
        doc: "s, mixes of two hard negatives per query (mochi only)")
    static let withQueryField = ConfigurationField(
        "mochi_s_prime", .integer(low: 0, high: 1 << 16), default: .value(.number(Double(MoCHiSettings().withQuery))),
        doc: "s′, mixes of the query with a hard negative per query (mochi only)")
    static let startEpochField = ConfigurationField(
        "mochi_start_epoch", .integer(low: 0, high: RunConfiguration.maximumEpochs), default: .value(.number(Double(MoCHiSettings().startEpoch))),
        doc: "the first epoch that mixes (mochi only)")

    public static let fields = [ConfigurationField.temperature(default: MoCoSettings().temperature), queueSizeField, keyMomentumField,
                                shuffleGroupsField, queueWarmupField, symmetricField, hardestField, pairsField, withQueryField,
                                startEpochField]

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {
        temperature = try fields.number(Self.fields[0])
        queueSize = try fields.integer(Self.queueSizeField)
        keyMomentum = try fields.number(Self.keyMomentumField)
        shuffleGroups = try fields.integer(Self.shuffleGroupsField)
        queueWarmup = try fields.bool(Self.queueWarmupField)
        symmetric = try fields.bool(Self.symmetricField)
        guard queueSize >= batchSize, queueSize % batchSize == 0 else {
            throw ConfigurationError.value("queue_size (\(queueSize)) must be a multiple of batch_size (\(batchSize))")
        }
        guard keysPerStep(batchSize) <= queueSize else {
            throw ConfigurationError.value("queue_size (\(queueSize)) must hold the 2 x batch_size keys a symmetric step enqueues")
        }
        mixingFields = MoCHiSettings(hardest: try fields.integer(Self.hardestField, default: min(MoCHiSettings().hardest, queueSize)),
                                     pairs: try fields.integer(Self.pairsField), withQuery: try fields.integer(Self.withQueryField),
                                     startEpoch: try fields.integer(Self.startEpochField))
    }

    /// MoCHi's rule: it mixes from the N hardest of the K queue keys (checked for mochi only; the
    /// family's other methods read the mixing fields without using them).
    func checkMixing() throws {
        guard mixingFields.hardest <= queueSize else {
            throw ConfigurationError.value("mochi_n_hard (\(mixingFields.hardest)) must not exceed queue_size (\(queueSize))")
        }
    }
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
