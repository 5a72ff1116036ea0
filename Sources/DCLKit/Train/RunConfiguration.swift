/// Everything that defines a pretraining run, complete and valid: the one owner of every default
/// and every rule. Python's `TrainConfig` and C callers write the same flat JSON object (the
/// field names of `sharedFields` and of the method's settings, snake_case); `init(json:)` fills
/// every absent or null field with its default and throws a `ConfigurationError` naming the
/// first field that breaks a rule, and `json` writes the completed object back: the shared
/// fields and the chosen method's own, nothing of other methods.
///
/// The method (`MethodRegistry`) supplies the family defaults (head, augmentation, base learning
/// rate) and reads its own settings (τ, MoCo's queue, NNCLR's support set, ...). The learning
/// rate defaults to base × B / 256 (Goyal et al.'s linear scaling rule); a given `lr` is absolute.
///
/// ```swift
/// let run = try RunConfiguration(json: #"{"method": "dcl", "batch_size": 128, "width": 0.25}"#)
/// run.learningRate     // 0.03 = 0.06 · 128 / 256
/// let trainer = try ContrastiveTrainer(configuration: run)
/// ```
public struct RunConfiguration {
    /// The optimiser.
    public enum OptimizerKind: String, CaseIterable {
        case sgd, lars
    }

    /// How BatchNorm in training treats a batch of two stacked views.
    public enum ViewBatchNorm: String, CaseIterable {
        /// Both views as one batch of 2N: one mean and variance, one running-statistics update.
        case joint
        /// Each view over its own N images (as a model called once per view, the BYOL paper's
        /// and lightly's code): two, and two running-statistics updates, view 0's first.
        case perView = "per_view"

        /// `BatchNorm.statisticsGroups` of a two-view batch: 1 or 2.
        public var statisticsGroups: Int { self == .joint ? 1 : 2 }
    }

    /// The method.
    public let method: MethodEntry
    /// The method's own settings (the family's `MethodSettings` type).
    public let settings: any MethodSettings
    /// Architecture, stem, width and projection head of the encoder.
    public var encoder: EncoderConfiguration
    /// Images per step, B.
    public var batchSize: Int
    /// Epochs of the whole run (the schedule's length).
    public var epochs: Int
    /// Side of the training views.
    public var imageSize: Int
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
    /// Keys the augmentation draws, the epoch permutations, the initial weights and every
    /// method's own draws (MoCo's shuffle-BN order, MoCHi's mixing).
    public var seed: UInt64
    /// Whether BatchNorm uses the statistics of the global batch when the run spans several
    /// processes (SyncBN); a single process always uses its own batch, which is the global one.
    public var syncBatchNorm: Bool
    /// How BatchNorm treats the methods' batches of two stacked views in training (joint, the
    /// default, or per view). A batch that is not two stacked views (MoCo's keys and its
    /// one-view queries, evaluation, `embed`) is one batch either way.
    public var viewBatchNorm: ViewBatchNorm
    /// The completed configuration as a flat JSON object: every shared field and the method's
    /// own, in the order of the schema.
    public let json: JSON

    /// The method's settings as `type`, or nil when the method is of another family.
    public func settings<Settings: MethodSettings>(as type: Settings.Type) -> Settings? {
        settings as? Settings
    }

    /// The largest batch, epoch count and queue accepted (sizes that reach allocations stay bounded).
    public static let maximumBatchSize = 1 << 16
    public static let maximumEpochs = 1 << 20
    public static let maximumQueueSize = (1 << 24) - 1

    /// The fields every method reads, in order (the method's own follow them).
    public static let sharedFields: [ConfigurationField] = [
        Field.method, Field.arch, Field.stem, Field.width, Field.head, Field.headDims, Field.batchSize, Field.epochs,
        Field.imageSize, Field.optimizer, Field.learningRate, Field.momentum, Field.weightDecay, Field.warmupEpochs,
        Field.augment, Field.seed, Field.syncBatchNorm, Field.viewBatchNorm,
    ]

    /// The declarations of the shared fields.
    enum Field {
        static let method = ConfigurationField("method", .choice(MethodRegistry.names), default: .value(.string("dcl")),
                                               doc: "the method (see the method table)")
        static let arch = ConfigurationField("arch", .choice(EncoderConfiguration.Architecture.allCases.map(\.rawValue)),
                                             default: .value(.string("resnet18")), doc: "the ResNet depth")
        static let stem = ConfigurationField("stem", .choice(EncoderConfiguration.Stem.allCases.map(\.rawValue)),
                                             default: .value(.string("cifar")),
                                             doc: "the first layers: cifar (3x3 conv, no max-pool) or imagenet (7x7/2 conv + max-pool)")
        static let width = ConfigurationField("width", .number(NumberRange(low: 0, high: EncoderConfiguration.maximumWidth, openLow: true, openHigh: false)),
                                              default: .value(.number(1)), doc: "channel width multiplier (1 = torchvision's widths)")
        static let head = ConfigurationField("head", .choice(EncoderConfiguration.Head.allCases.map(\.rawValue)),
                                             default: .rule("the method's head"), doc: "the projection head")
        static let headDims = ConfigurationField("head_dims", .integerPair(low: 1, high: EncoderConfiguration.maximumHeadSize),
                                                 default: .rule("the method's sizes ([F, 128] unless the README's methods section says otherwise), F the encoder's feature dimension"),
                                                 doc: "the head's hidden and output sizes")
        static let batchSize = ConfigurationField("batch_size", .integer(low: 2, high: RunConfiguration.maximumBatchSize),
                                                  default: .value(.number(256)), doc: "images per step, B")
        static let epochs = ConfigurationField("epochs", .integer(low: 1, high: RunConfiguration.maximumEpochs),
                                               default: .value(.number(100)), doc: "epochs of the whole run (the schedule's length)")
        static let imageSize = ConfigurationField("image_size", .integer(low: 1, high: AugmentConfiguration.maximumSize),
                                                  default: .value(.number(32)), doc: "side of the training views")
        static let optimizer = ConfigurationField("optimizer", .choice(OptimizerKind.allCases.map(\.rawValue)),
                                                  default: .value(.string("sgd")), doc: "the optimiser")
        static let learningRate = ConfigurationField("lr", .number(.learningRate),
                                                     default: .rule("the method's base rate for the optimiser × batch_size / 256"),
                                                     doc: "the peak learning rate (absolute)")
        static let momentum = ConfigurationField("momentum", .number(.unitOpen), default: .value(.number(0.9)),
                                                 doc: "the optimiser's momentum")
        static let weightDecay = ConfigurationField("weight_decay", .number(.weightDecay), default: .value(.number(5e-4)),
                                                    doc: "weight decay (every parameter but BatchNorm parameters and biases)")
        static let warmupEpochs = ConfigurationField("warmup_epochs", .integer(low: 0, high: RunConfiguration.maximumEpochs),
                                                     default: .value(.number(10)), doc: "epochs of linear warm-up before the cosine decay")
        static let augment = ConfigurationField("augment", .augmentation, default: .rule("the method's preset"),
                                                doc: "a preset name or an object of overrides with an optional \"pipeline\" key")
        static let seed = ConfigurationField("seed", .integer(low: 0, high: (1 << 53) - 1), default: .value(.number(0)),
                                             doc: "seed of the initial weights, the epoch order, the augmentation and the method's draws")
        static let syncBatchNorm = ConfigurationField("sync_bn", .bool, default: .value(.bool(false)),
                                                      doc: "BatchNorm over the global batch of all ranks (SyncBN)")
        static let viewBatchNorm = ConfigurationField("view_batchnorm", .choice(ViewBatchNorm.allCases.map(\.rawValue)),
                                                      default: .value(.string("joint")),
                                                      doc: "BatchNorm statistics in training over both views as one batch (joint) or over each view on its own (per_view)")
    }

    /// The completed configuration of the JSON object `text`; throws a `ConfigurationError` naming
    /// the first bad field (an unknown field is an error too, and so is a field of another method).
    public init(json text: String) throws {
        try self.init(RunConfiguration.parse(text))
    }

    /// The configuration a format-2 checkpoint stored: as `init(json:)`, but the fields of other
    /// methods (which that format wrote for every method) are ignored.
    public init(checkpointJSON text: String) throws {
        try self.init(RunConfiguration.parse(text), ignoringOtherMethods: true)
    }

    private static func parse(_ text: String) throws -> JSON {
        do { return try JSON.parse(Array(text.utf8)) } catch {
            throw ConfigurationError.value("the configuration is not valid JSON: \(error)")
        }
    }

    /// The completed configuration of a parsed JSON object.
    public init(_ value: JSON, ignoringOtherMethods: Bool = false) throws {
        var f = try ConfigurationFields(value)
        guard let entry = MethodRegistry.entry(named: try f.string(Field.method)) else { preconditionFailure("a choice of the registry") }
        method = entry
        let defaults = entry.defaults
        let arch = try f.string(Field.arch)
        let stem = try f.string(Field.stem)
        let width = try f.number(Field.width)
        let head = try f.string(Field.head, default: defaults.head.rawValue)
        var headHidden: Int? = nil, headOutput = 128
        if case .array(let dims) = try f.read(Field.headDims, default: .null), case .number(let hidden) = dims[0],
           case .number(let output) = dims[1] {
            headHidden = Int(hidden)
            headOutput = Int(output)
        }
        do {
            if headHidden == nil, let rule = defaults.headDimensions {
                let features = try EncoderConfiguration(architecture: arch, stem: stem, width: width, head: nil, headHidden: nil,
                                                        headOutput: headOutput).featureDimension
                (headHidden, headOutput) = rule.sizes(features: features)
            }
            encoder = try EncoderConfiguration(architecture: arch, stem: stem, width: width, head: head,
                                               headHidden: headHidden, headOutput: headOutput)
        } catch let error as EncoderError {
            throw ConfigurationError.value(error.description)
        }
        f.complete(Field.headDims.name, .array([.number(Double(encoder.headHidden)), .number(Double(encoder.headOutput))]))
        batchSize = try f.integer(Field.batchSize)
        epochs = try f.integer(Field.epochs)
        imageSize = try f.integer(Field.imageSize)
        guard imageSize >= encoder.totalStride else {
            throw ConfigurationError.value("image_size must be an integer in [\(encoder.totalStride), \(AugmentConfiguration.maximumSize)], got \(imageSize)")
        }
        optimizer = OptimizerKind(rawValue: try f.string(Field.optimizer))!
        let base = defaults.baseLearningRate[optimizer] ?? 0
        learningRate = try f.number(Field.learningRate, default: base * Double(batchSize) / 256)
        momentum = try f.number(Field.momentum)
        weightDecay = try f.number(Field.weightDecay)
        warmupEpochs = try f.integer(Field.warmupEpochs)
        augment = try AugmentSpecification(f.raw(Field.augment.name), size: imageSize, defaultPreset: defaults.augment)
        f.complete(Field.augment.name, augment.json)
        seed = UInt64(try f.integer(Field.seed))
        syncBatchNorm = try f.bool(Field.syncBatchNorm)
        viewBatchNorm = ViewBatchNorm(rawValue: try f.string(Field.viewBatchNorm))!
        settings = try entry.readSettings(&f, batchSize)
        try f.rejectUnknown(owners: MethodRegistry.methods(using:), dropOthers: ignoringOtherMethods)
        json = .object(f.completed)
    }
}
