/// VICReg (Bardes, Ponce & LeCun 2022): the two views' expanded projections held together
/// (invariance), each feature's batch deviation above 1 (variance hinge) and the features
/// decorrelated (covariance), `λ·s + μ·½[v(Z) + v(Z′)] + ν·[c(Z) + c(Z′)]` (`VICRegLoss`), trained
/// by `TwoEmbeddingMethod` (no predictor, no target network).
///
/// The expander is Barlow Twins' projector, the `barlowtwins` head: the paper's 8192-8192-8192 on
/// ResNet-50's F = 2048, so the default `head_dims` are [4F, 4F] (2048 at ResNet-18 width 1, as
/// solo-learn's CIFAR recipe).
extension VICRegLoss: TwoEmbeddingLoss {
    public func compute(views a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, dim: Int,
                        gradients gradientA: UnsafeMutablePointer<Float>, _ gradientB: UnsafeMutablePointer<Float>) throws -> Double {
        try compute(a, b, rows: rows, dim: dim, gradient: gradientA, gradientPrime: gradientB)
    }
}

/// VICReg's settings: the weights λ, μ, ν of its three terms (the paper's 25, 25, 1).
public struct VICRegSettings: MethodSettings, Equatable {
    /// λ ≥ 0, the invariance weight.
    public var invariance: Double
    /// μ ≥ 0, the variance weight.
    public var variance: Double
    /// ν ≥ 0, the covariance weight.
    public var covariance: Double

    static let invarianceField = ConfigurationField(
        "invariance_weight", .number(.lossWeight), default: .value(.number(25)),
        doc: "λ, the weight of the invariance term mean((Z − Z′)²)")
    static let varianceField = ConfigurationField(
        "variance_weight", .number(.lossWeight), default: .value(.number(25)),
        doc: "μ, the weight of the variance hinge ½[v(Z) + v(Z′)]")
    static let covarianceField = ConfigurationField(
        "covariance_weight", .number(.lossWeight), default: .value(.number(1)),
        doc: "ν, the weight of the covariance term c(Z) + c(Z′)")

    public static let fields = [invarianceField, varianceField, covarianceField]

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {
        invariance = try fields.number(Self.invarianceField)
        variance = try fields.number(Self.varianceField)
        covariance = try fields.number(Self.covarianceField)
    }
}

extension TwoEmbeddingMethod {
    /// VICReg, with Barlow Twins' defaults: the same expander at [4F, 4F], SimCLR's augmentation,
    /// SGD 0.06 per 256 images, LARS 0.2 (VICReg's base rate too).
    static let vicregEntries = [
        MethodEntry(name: "vicreg", family: "vicreg", label: "VICReg",
                    summary: "variance-invariance-covariance: `λ·mean((Z − Z′)²) + μ·½[v(Z) + v(Z′)] + ν·[c(Z) + c(Z′)]`, v a hinge on each feature's deviation, c the squared off-diagonal covariances",
                    paper: "Bardes, Ponce & LeCun 2022", defaults: barlowTwinsDefaults, settings: VICRegSettings.self,
                    checkpointEntries: []) { context, settings in
            TwoEmbeddingMethod(encoder: context.encoder,
                               loss: VICRegLoss(invariance: settings.invariance, variance: settings.variance,
                                                covariance: settings.covariance, communicator: context.ranks),
                               diagnostics: context.diagnostics)
        },
    ]
}
