/// Everything that defines a pretraining run, complete and valid: the one owner of every default
/// and every rule. Python's `TrainConfig` and C callers write the same flat JSON object (the
/// field names below, snake_case); `init(json:)` fills every absent or null field with its
/// default and throws a `ConfigurationError` naming the first field that breaks a rule, and
/// `json` writes the completed object back (every field present).
///
/// Defaults that depend on the method: the SimCLR family (simclr, dcl, dclw) and NNCLR (nnclr,
/// nnclr-dcl) take τ = 0.1, the "simclr" head and augmentation; the MoCo family (moco, moco-dcl, mochi) τ = 0.2, the "moco"
/// head and the "mocov2" augmentation. The learning rate defaults to base × B / 256 (Goyal et
/// al.'s linear scaling rule) with the base of `baseLearningRate(optimizer:moco:)`; a given `lr`
/// is absolute.
///
/// ```swift
/// let run = try RunConfiguration(json: #"{"method": "dcl", "batch_size": 128, "width": 0.25}"#)
/// run.learningRate     // 0.03 = 0.06 · 128 / 256
/// let trainer = try ContrastiveTrainer(configuration: run)
/// ```
public struct RunConfiguration {
    /// The methods, by their configuration names.
    public enum Method: String, CaseIterable {
        case simclr, dcl, dclw, moco
        case mocoDCL = "moco-dcl"
        case mochi, nnclr
        case nnclrDCL = "nnclr-dcl"

        /// Whether the method belongs to the MoCo family (key encoder and queue).
        public var isMoCo: Bool { self == .moco || self == .mocoDCL || self == .mochi }
        /// Whether the method is NNCLR's (a support set of nearest neighbours, a prediction head).
        public var isNNCLR: Bool { self == .nnclr || self == .nnclrDCL }
    }

    /// The optimiser.
    public enum OptimizerKind: String, CaseIterable {
        case sgd, lars
    }

    /// The method.
    public var method: Method
    /// Architecture, stem, width and projection head of the encoder.
    public var encoder: EncoderConfiguration
    /// Images per step, B.
    public var batchSize: Int
    /// Epochs of the whole run (the schedule's length).
    public var epochs: Int
    /// Side of the training views.
    public var imageSize: Int
    /// τ of the loss.
    public var temperature: Double
    /// DCLW's σ of the positive weighting (used by dclw only).
    public var sigma: Double
    /// The optimiser.
    public var optimizer: OptimizerKind
    /// The peak learning rate (absolute).
    public var learningRate: Double
    /// The optimiser's momentum, in [0, 1).
    public var momentum: Double
    /// Weight decay, ≥ 0 (every parameter but BatchNorm parameters and biases).
    public var weightDecay: Double
    /// Epochs of linear warm-up before the cosine decay.
    public var warmupEpochs: Int
    /// The augmentation (and the `augment` field it came from).
    public var augment: AugmentSpecification
    /// Keys the augmentation draws, the epoch permutations, the initial weights, MoCo's
    /// shuffle-BN order and MoCHi's draws.
    public var seed: UInt64
    /// The MoCo family's settings; nil for the other methods.
    public var moco: MoCoSettings?
    /// NNCLR: K, the support set's size (default 24 · B, the paper's 98304 at B = 4096); nil for
    /// the other methods.
    public var supportSize: Int?
    /// Whether BatchNorm uses the statistics of the global batch when the run spans several
    /// processes (SyncBN); a single process always uses its own batch, which is the global one.
    public var syncBatchNorm: Bool
    private var supportField: Int
    /// The MoCo fields as read, kept so that `json` writes them back for every method.
    private var mocoFields: MoCoSettings
    private var mixingFields: MoCHiSettings

    /// The loss of a SimCLR-family method; nil for the MoCo family.
    public var pairObjective: PairObjective? {
        switch method {
        case .simclr: return .ntxent
        case .dcl: return .dcl
        case .dclw: return .dclw(sigma: sigma)
        case .moco, .mocoDCL, .mochi, .nnclr, .nnclrDCL: return nil
        }
    }

    /// The queue loss of a MoCo-family method, or whether NNCLR keeps the positive in the
    /// denominator; nil for the SimCLR family.
    public var queueObjective: QueueObjective? {
        switch method {
        case .moco, .mochi, .nnclr: return .infonce
        case .mocoDCL, .nnclrDCL: return .dcl
        case .simclr, .dcl, .dclw: return nil
        }
    }

    /// The base learning rate per 256 images of the papers' recipes: LARS 0.3 (SimCLR), SGD 0.03
    /// for the MoCo family (MoCo v2), SGD 0.06 for the SimCLR family (lightly's CIFAR benchmarks
    /// take 0.06 per 128 images; the DCL study found twice our rate no better at 32×32, README
    /// "Defaults for small images").
    public static func baseLearningRate(optimizer: OptimizerKind, moco: Bool) -> Double {
        switch optimizer {
        case .lars: return 0.3
        case .sgd: return moco ? 0.03 : 0.06
        }
    }

    /// The largest batch, epoch count and queue accepted (sizes that reach allocations stay bounded).
    public static let maximumBatchSize = 1 << 16
    public static let maximumEpochs = 1 << 20
    public static let maximumQueueSize = (1 << 24) - 1

    /// The completed configuration of the JSON object `text`; throws a `ConfigurationError` naming
    /// the first bad field (an unknown field is an error too).
    public init(json text: String) throws {
        let value: JSON
        do { value = try JSON.parse(Array(text.utf8)) } catch {
            throw ConfigurationError.value("the configuration is not valid JSON: \(error)")
        }
        try self.init(value)
    }

    /// The completed configuration of a parsed JSON object.
    public init(_ value: JSON) throws {
        var f = try ConfigurationFields(value)
        method = Method(rawValue: try f.string("method", default: "dcl", choices: Method.allCases.map(\.rawValue)))!
        let moco = method.isMoCo
        let arch = try f.string("arch", default: "resnet18", choices: EncoderConfiguration.Architecture.allCases.map(\.rawValue))
        let stem = try f.string("stem", default: "cifar", choices: EncoderConfiguration.Stem.allCases.map(\.rawValue))
        let width = try f.number("width", default: 1, in: NumberRange(low: 0, high: EncoderConfiguration.maximumWidth, openLow: true, openHigh: false))
        let head = try f.string("head", default: moco ? "moco" : "simclr", choices: EncoderConfiguration.Head.allCases.map(\.rawValue))
        var headHidden: Int? = nil, headOutput = 128
        if let dims = f.raw("head_dims") {
            guard case .array(let items) = dims, items.count == 2 else {
                throw ConfigurationError.type("head_dims must be null or [hidden, out], got \(JSON.kind(of: dims))")
            }
            let limit = EncoderConfiguration.maximumHeadSize
            headHidden = try ConfigurationFields.integer(items[0], "head_dims[0] (hidden)", low: 1, high: limit)
            headOutput = try ConfigurationFields.integer(items[1], "head_dims[1] (out)", low: 1, high: limit)
        }
        do {
            encoder = try EncoderConfiguration(architecture: arch, stem: stem, width: width, head: head,
                                               headHidden: headHidden, headOutput: headOutput)
        } catch let error as EncoderError {
            throw ConfigurationError.value(error.description)
        }
        batchSize = try f.integer("batch_size", default: 256, low: 2, high: RunConfiguration.maximumBatchSize)
        epochs = try f.integer("epochs", default: 100, low: 1, high: RunConfiguration.maximumEpochs)
        imageSize = try f.integer("image_size", default: 32, low: encoder.totalStride, high: AugmentConfiguration.maximumSize)
        temperature = try f.number("temperature", default: moco ? 0.2 : 0.1, in: .positive)
        sigma = try f.number("sigma", default: 0.5, in: .positive)
        optimizer = OptimizerKind(rawValue: try f.string("optimizer", default: "sgd", choices: OptimizerKind.allCases.map(\.rawValue)))!
        learningRate = try f.number("lr", default: RunConfiguration.baseLearningRate(optimizer: optimizer, moco: moco) * Double(batchSize) / 256,
                                    in: .positive)
        momentum = try f.number("momentum", default: 0.9, in: .unitOpen)
        weightDecay = try f.number("weight_decay", default: 5e-4, in: .nonNegative)
        warmupEpochs = try f.integer("warmup_epochs", default: 10, low: 0, high: RunConfiguration.maximumEpochs)
        augment = try AugmentSpecification(f.raw("augment"), size: imageSize, defaultPreset: moco ? "mocov2" : "simclr")
        seed = UInt64(try f.integer("seed", default: 0, low: 0, high: (1 << 53) - 1))

        let d = MoCoSettings(), dm = MoCHiSettings()
        mocoFields = MoCoSettings(
            queueSize: try f.integer("queue_size", default: d.queueSize, low: 1, high: RunConfiguration.maximumQueueSize),
            keyMomentum: try f.number("momentum_encoder", default: d.keyMomentum, in: .unitOpen),
            shuffleGroups: try f.integer("shuffle_bn_groups", default: d.shuffleGroups, low: 1, high: RunConfiguration.maximumBatchSize),
            queueWarmup: try f.bool("queue_warmup", default: d.queueWarmup),
            symmetric: try f.bool("symmetric", default: d.symmetric))
        mixingFields = MoCHiSettings(
            hardest: try f.integer("mochi_n_hard", default: dm.hardest, low: 1, high: RunConfiguration.maximumQueueSize),
            pairs: try f.integer("mochi_s", default: dm.pairs, low: 0, high: 1 << 16),
            withQuery: try f.integer("mochi_s_prime", default: dm.withQuery, low: 0, high: 1 << 16),
            startEpoch: try f.integer("mochi_start_epoch", default: dm.startEpoch, low: 0, high: RunConfiguration.maximumEpochs))
        supportField = try f.integer("support_size", default: 24 * batchSize, low: 1, high: RunConfiguration.maximumQueueSize)
        syncBatchNorm = try f.bool("sync_bn", default: false)
        try f.rejectUnknown()
        if moco { try checkMoCo() }
        if method.isNNCLR {
            guard supportField >= batchSize else {
                throw ConfigurationError.value("support_size (\(supportField)) must hold at least one batch (batch_size \(batchSize))")
            }
            supportSize = supportField
        }
    }

    /// The MoCo rules between fields; sets `moco`.
    private mutating func checkMoCo() throws {
        var settings = mocoFields
        let k = settings.queueSize
        guard k >= batchSize, k % batchSize == 0 else {
            throw ConfigurationError.value("queue_size (\(k)) must be a multiple of batch_size (\(batchSize))")
        }
        guard settings.keysPerStep(batchSize) <= k else {
            throw ConfigurationError.value("queue_size (\(k)) must hold the 2 x batch_size keys a symmetric step enqueues")
        }
        if method == .mochi {
            guard mixingFields.hardest <= k else {
                throw ConfigurationError.value("mochi_n_hard (\(mixingFields.hardest)) must not exceed queue_size (\(k))")
            }
            settings.mixing = mixingFields
        }
        moco = settings
    }

    /// The completed configuration as a flat JSON object, every field present, in the order of
    /// Python's `TrainConfig`.
    public var json: JSON {
        func number(_ x: Double) -> JSON { .number(x) }
        func integer(_ x: Int) -> JSON { .number(Double(x)) }
        return .object([
            ("method", .string(method.rawValue)),
            ("arch", .string(encoder.architecture.rawValue)),
            ("stem", .string(encoder.stem.rawValue)),
            ("width", number(encoder.width)),
            ("head", encoder.head.map { .string($0.rawValue) } ?? .null),
            ("head_dims", .array([integer(encoder.headHidden), integer(encoder.headOutput)])),
            ("batch_size", integer(batchSize)),
            ("epochs", integer(epochs)),
            ("image_size", integer(imageSize)),
            ("temperature", number(temperature)),
            ("sigma", number(sigma)),
            ("optimizer", .string(optimizer.rawValue)),
            ("lr", number(learningRate)),
            ("momentum", number(momentum)),
            ("weight_decay", number(weightDecay)),
            ("warmup_epochs", integer(warmupEpochs)),
            ("augment", augment.json),
            ("seed", integer(Int(seed))),
            ("queue_size", integer(mocoFields.queueSize)),
            ("momentum_encoder", number(mocoFields.keyMomentum)),
            ("shuffle_bn_groups", integer(mocoFields.shuffleGroups)),
            ("queue_warmup", .bool(mocoFields.queueWarmup)),
            ("symmetric", .bool(mocoFields.symmetric)),
            ("mochi_n_hard", integer(mixingFields.hardest)),
            ("mochi_s", integer(mixingFields.pairs)),
            ("mochi_s_prime", integer(mixingFields.withQuery)),
            ("mochi_start_epoch", integer(mixingFields.startEpoch)),
            ("support_size", integer(supportField)),
            ("sync_bn", .bool(syncBatchNorm)),
        ])
    }
}
