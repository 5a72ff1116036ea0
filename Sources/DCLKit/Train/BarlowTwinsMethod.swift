/// Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' batch-standardised
/// projections pushed towards the identity, `Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²`
/// (`BarlowTwinsLoss`), trained by `TwoEmbeddingMethod` (no predictor, no target network).
///
/// The projector is the `barlowtwins` head: three Linear layers, BatchNorm and ReLU after the
/// first two. The paper's is 8192-8192-8192 on ResNet-50's F = 2048 features; the default
/// `head_dims` keeps its ratio, [4F, 4F] (2048 at ResNet-18 width 1, as lightly's and
/// solo-learn's CIFAR recipes; 128 at width 0.0625).
extension BarlowTwinsLoss: TwoEmbeddingLoss {
    public func compute(views a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, dim: Int,
                        gradients gradientA: UnsafeMutablePointer<Float>, _ gradientB: UnsafeMutablePointer<Float>) throws -> Double {
        try compute(a, b, rows: rows, dim: dim, gradientA: gradientA, gradientB: gradientB)
    }
}

/// Barlow Twins' settings: λ, the weight of the off-diagonal terms.
public struct BarlowTwinsSettings: MethodSettings, Equatable {
    /// λ ≥ 0 of `Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²`.
    public var lambda: Double

    static let lambdaField = ConfigurationField(
        "barlow_lambda", .number(.lossWeight), default: .value(.number(BarlowTwinsLoss.paperLambda)),
        doc: "λ, the weight of the cross-correlation's off-diagonal terms (the paper's 5e-3 at D = 8192; about 1/D for small projectors)")

    public static let fields = [lambdaField]

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {
        lambda = try fields.number(Self.lambdaField)
    }
}

extension TwoEmbeddingMethod {
    /// Barlow Twins' defaults: the three-layer projector at [4F, 4F], SimCLR's augmentation, SGD
    /// 0.06 per 256 images (the SimCLR family's CIFAR rate, as lightly's CIFAR benchmark trains
    /// every method), LARS 0.2 (the paper's rate for the weights).
    static let barlowTwinsDefaults = MethodDefaults(
        head: .barlowtwins, augment: "simclr", baseLearningRate: [.sgd: 0.06, .lars: 0.2],
        headDimensions: HeadDimensions(hiddenPerFeature: 4, outputPerFeature: 4))

    /// Barlow Twins.
    static let barlowTwinsEntries = [
        MethodEntry(name: "barlow-twins", family: "barlowtwins", label: "Barlow Twins",
                    summary: "the cross-correlation C of the views' batch-standardised projections towards the identity: `Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²`",
                    paper: "Zbontar et al. 2021", defaults: barlowTwinsDefaults, settings: BarlowTwinsSettings.self,
                    checkpointEntries: []) { context, settings in
            TwoEmbeddingMethod(encoder: context.encoder,
                               loss: BarlowTwinsLoss(lambda: settings.lambda, communicator: context.ranks),
                               diagnostics: context.diagnostics)
        },
    ]
}
