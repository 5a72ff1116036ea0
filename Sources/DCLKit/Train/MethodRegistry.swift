/// The methods a run can train, by their configuration names. Each method's file declares its
/// entries (`PairMethod.entries`, `MoCoMethod.entries`, ...): names, family defaults, settings,
/// checkpoint entries and a factory. `RunConfiguration` reads the chosen entry's settings and
/// `ContrastiveTrainer` builds `entry.build(...)`; nothing else chooses between methods. A new
/// method adds its file's entries to `all`.
public enum MethodRegistry {
    /// Every method, in the order the schema, the CLI and the README list them.
    public static let all: [MethodEntry] = PairMethod.entries + MoCoMethod.entries + NNCLRMethod.entries
        + TwoEmbeddingMethod.barlowTwinsEntries
        + TwoEmbeddingMethod.vicregEntries
        + SimSiamMethod.entries
        + BYOLMethod.entries

    /// The method named `name`, or nil.
    public static func entry(named name: String) -> MethodEntry? {
        all.first { $0.name == name }
    }

    /// The names, in order.
    public static var names: [String] { all.map(\.name) }

    /// The methods whose settings declare a field named `field` (empty for a shared field or an
    /// unknown name).
    public static func methods(using field: String) -> [String] {
        all.filter { entry in entry.settingsFields.contains { $0.name == field } }.map(\.name)
    }
}

/// What a method family sets unless the configuration says otherwise: the head, the
/// augmentation preset and the base learning rate of each optimiser (the rate per 256 images).
public struct MethodDefaults {
    /// The projection head.
    public var head: EncoderConfiguration.Head
    /// The augmentation preset ("simclr", "mocov2").
    public var augment: String
    /// The base learning rate of each optimiser; the run's default is base × B / 256.
    public var baseLearningRate: [RunConfiguration.OptimizerKind: Double]
    /// The head's default sizes (`head_dims`); nil: the shared rule [F, 128].
    public var headDimensions: HeadDimensions?

    /// Family defaults.
    public init(head: EncoderConfiguration.Head, augment: String, baseLearningRate: [RunConfiguration.OptimizerKind: Double],
                headDimensions: HeadDimensions? = nil) {
        self.head = head
        self.augment = augment
        self.baseLearningRate = baseLearningRate
        self.headDimensions = headDimensions
    }
}

/// A family's rule for the head's default hidden and output sizes from the encoder's feature
/// dimension F (each at most `EncoderConfiguration.maximumHeadSize`): the sizes scale with the
/// width multiplier through F, as the shared rule's hidden size does.
public struct HeadDimensions {
    /// The hidden size is `hiddenPerFeature` × F.
    public var hiddenPerFeature: Int
    /// The output size is `outputPerFeature` × F when set, else `output`.
    public var outputPerFeature: Int?
    /// The fixed output size (when `outputPerFeature` is nil).
    public var output: Int

    /// Hidden `hiddenPerFeature` × F; output `outputPerFeature` × F, or `output` when that is nil.
    public init(hiddenPerFeature: Int, outputPerFeature: Int? = nil, output: Int = 128) {
        self.hiddenPerFeature = hiddenPerFeature
        self.outputPerFeature = outputPerFeature
        self.output = output
    }

    /// (hidden, output) for features of size `features`.
    public func sizes(features: Int) -> (hidden: Int, output: Int) {
        let limit = EncoderConfiguration.maximumHeadSize
        return (min(saturatingProduct(hiddenPerFeature, features), limit),
                outputPerFeature.map { min(saturatingProduct($0, features), limit) } ?? output)
    }

    /// The rule as text ("[2F, 256]").
    public var rule: String {
        func times(_ k: Int) -> String { k == 1 ? "F" : "\(k)F" }
        return "[\(times(hiddenPerFeature)), \(outputPerFeature.map(times) ?? String(output))]"
    }
}

/// A method's own settings: one struct per family, read from the configuration fields it
/// declares (with their ranges, defaults and docs), checked against each other and the batch size,
/// and written back into the completed configuration by the reader.
public protocol MethodSettings {
    /// The fields the settings read, in order.
    static var fields: [ConfigurationField] { get }

    /// The settings of the configuration `fields` for batches of `batchSize` images; throws a
    /// `ConfigurationError` naming the first bad field.
    init(reading fields: inout ConfigurationFields, batchSize: Int) throws

    /// An upper bound on the floats the method allocates when it is built for an encoder of
    /// `encoder`, beyond the encoder itself: its second encoder, prediction head (with the
    /// optimiser's state for it), queue or support set. The trainer asks for this much memory
    /// before it builds anything (`ContrastiveTrainer.requireMemory(for:)`). 0 by default, for
    /// the methods that own nothing but the encoder.
    func constructionElements(encoder: EncoderConfiguration) -> Int
}

extension MethodSettings {
    /// Nothing beyond the encoder.
    public func constructionElements(encoder: EncoderConfiguration) -> Int { 0 }
}

/// What a method's factory is given: the run, its encoder (with the projection head) and the
/// ranks of the run.
public struct MethodContext {
    /// The completed configuration.
    public let configuration: RunConfiguration
    /// The encoder the method trains.
    public let encoder: Encoder
    /// The ranks (nil: one process).
    public let communicator: Communicator?
    /// Where the method reports each step's two views (`ProjectionDiagnostics.observe`).
    public let diagnostics: ProjectionDiagnostics
}

/// One method of the registry: its configuration name, a one-line summary and the label reports
/// use, its paper, family defaults, settings fields, checkpoint entries and factory.
public struct MethodEntry {
    /// The configuration name ("dcl", "moco-dcl").
    public let name: String
    /// The family ("simclr", "moco", "nnclr"): methods of a family share their settings.
    public let family: String
    /// A label for reports and plots ("DCL", "MoCo-DCL").
    public let label: String
    /// One line: what the method does.
    public let summary: String
    /// The paper, as "Authors Year".
    public let paper: String
    /// The family's defaults.
    public let defaults: MethodDefaults
    /// The method's own fields.
    public let settingsFields: [ConfigurationField]
    /// The names (or name prefixes, ending in ".") of the tensors the method adds to a checkpoint.
    public let checkpointEntries: [String]
    let readSettings: (inout ConfigurationFields, Int) throws -> any MethodSettings
    let makeMethod: (MethodContext, any MethodSettings) throws -> TrainingMethod

    /// An entry whose settings are `Settings`, built by `build`; `check` adds this method's own
    /// rules between its settings (run when a configuration is resolved; throws a `ConfigurationError`).
    public init<Settings: MethodSettings>(
        name: String, family: String, label: String, summary: String, paper: String, defaults: MethodDefaults,
        settings: Settings.Type, checkpointEntries: [String], check: @escaping (Settings) throws -> Void = { _ in },
        build: @escaping (MethodContext, Settings) throws -> TrainingMethod
    ) {
        self.name = name
        self.family = family
        self.label = label
        self.summary = summary
        self.paper = paper
        self.defaults = defaults
        self.settingsFields = Settings.fields
        self.checkpointEntries = checkpointEntries
        readSettings = { fields, batchSize in
            let settings = try Settings(reading: &fields, batchSize: batchSize)
            try check(settings)
            return settings
        }
        makeMethod = { context, settings in
            guard let own = settings as? Settings else {
                preconditionFailure("MethodEntry \(name): settings of another method")
            }
            return try build(context, own)
        }
    }

    /// The method of `configuration` (whose method must be this entry) for `encoder`.
    func build(configuration: RunConfiguration, encoder: Encoder, communicator: Communicator?,
               diagnostics: ProjectionDiagnostics) throws -> TrainingMethod {
        try makeMethod(MethodContext(configuration: configuration, encoder: encoder, communicator: communicator,
                                     diagnostics: diagnostics), configuration.settings)
    }

    /// The entry as a JSON object for the schema.
    var schema: JSON {
        .object([
            ("name", .string(name)), ("family", .string(family)), ("label", .string(label)), ("summary", .string(summary)),
            ("paper", .string(paper)),
            ("defaults", .object([
                ("head", .string(defaults.head.rawValue)), ("head_dims", .string(defaults.headDimensions?.rule ?? "[F, 128]")),
                ("augment", .string(defaults.augment)),
                ("base_lr", .object(RunConfiguration.OptimizerKind.allCases.map { ($0.rawValue, .number(defaults.baseLearningRate[$0] ?? 0)) })),
            ])),
            ("settings", .array(settingsFields.map { .string($0.name) })),
            ("checkpoint", .array(checkpointEntries.map { .string($0) })),
        ])
    }
}

extension ConfigurationField {
    /// τ of a contrastive loss, with the family's default.
    static func temperature(default value: Double) -> ConfigurationField {
        ConfigurationField("temperature", .number(.temperature), default: .value(.number(value)),
                           doc: "τ of the loss's similarities")
    }
}
