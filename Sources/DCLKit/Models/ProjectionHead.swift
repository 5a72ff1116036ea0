/// The projection MLP g mapping features h (N, F) to projections z (N, D), named as a
/// `torch.nn.Sequential` under `head.`:
///
/// - `simclr` (SimCLR; also BYOL's projector and predictor): `head.0` Linear(F, hidden, no bias)
///   → `head.1` BatchNorm1d(hidden) → `head.2` ReLU → `head.3` Linear(hidden, D). The first
///   Linear has no bias because the BatchNorm's β replaces it (as in SimCLR's own code).
/// - `moco` (MoCo v2): `head.0` Linear(F, hidden) → `head.1` ReLU → `head.2` Linear(hidden, D).
/// - `barlowtwins` (Barlow Twins' projector, VICReg's expander): `head.0` Linear(F, hidden, no
///   bias) → `head.1` BatchNorm1d → `head.2` ReLU → `head.3` Linear(hidden, hidden, no bias) →
///   `head.4` BatchNorm1d → `head.5` ReLU → `head.6` Linear(hidden, D, no bias). The last Linear
///   has no bias: both losses are unchanged by a shift of z shared by the two views.
/// - `simsiam` (SimSiam's projector): as `barlowtwins`, then `head.7` BatchNorm1d(D) on the
///   output (BN after every Linear, no ReLU after the last; the paper does not say whether the
///   output BN is affine: here it is, with γ and β trained).
///
/// BatchNorm1d uses batch statistics in training, like every BatchNorm here. Linear layers start
/// as PyTorch's: weight and bias uniform in ±1/√fan_in.
public final class ProjectionHead {
    /// Which head.
    public let kind: EncoderConfiguration.Head
    /// The first Linear.
    public let first: Linear
    /// What sits between the Linear layers.
    public enum Middle {
        /// SimCLR's BatchNorm1d with the ReLU fused.
        case batchNormReLU(BatchNorm)
        /// MoCo's ReLU.
        case relu(ReLU)
    }

    /// The layer after the first Linear.
    public let middle: Middle
    /// The second hidden layer of the three-layer heads (`barlowtwins`, `simsiam`): Linear
    /// (hidden → hidden, no bias) → BatchNorm1d with the ReLU fused; nil for the others.
    public let second: (linear: Linear, norm: BatchNorm)?
    /// The last Linear.
    public let last: Linear
    /// SimSiam's BatchNorm1d on the output (no ReLU); nil for the others.
    public let outputNorm: BatchNorm?
    private let hiddenGradient = Tensor(shape: [0])
    private let secondGradient = Tensor(shape: [0])
    private let outputGradient = Tensor(shape: [0])
    /// `batchNorms`, kept.
    private var norms: [BatchNorm] = []

    /// A zero-initialised head (call `initialize(seed:)`).
    public init(kind: EncoderConfiguration.Head, inFeatures: Int, hidden: Int, outFeatures: Int, workspace: Workspace) {
        self.kind = kind
        first = Linear(inFeatures: inFeatures, outFeatures: hidden, bias: kind == .moco, workspace: workspace)
        switch kind {
        case .moco: middle = .relu(ReLU(workspace: workspace))
        case .simclr, .barlowtwins, .simsiam: middle = .batchNormReLU(BatchNorm(channels: hidden, relu: true, workspace: workspace))
        }
        let threeLayers = kind == .barlowtwins || kind == .simsiam
        second = threeLayers
            ? (Linear(inFeatures: hidden, outFeatures: hidden, bias: false, workspace: workspace),
               BatchNorm(channels: hidden, relu: true, workspace: workspace))
            : nil
        last = Linear(inFeatures: hidden, outFeatures: outFeatures, bias: !threeLayers, workspace: workspace)
        outputNorm = kind == .simsiam ? BatchNorm(channels: outFeatures, workspace: workspace) : nil
        norms = batchNorms
    }

    /// The Linear layers in initialisation order: first, last, then the second hidden one.
    public var linears: [Linear] { [first, last] + (second.map { [$0.linear] } ?? []) }

    /// The BatchNorm layers in state-dict order.
    public var batchNorms: [BatchNorm] {
        var norms: [BatchNorm] = []
        if case .batchNormReLU(let norm) = middle { norms.append(norm) }
        if let second { norms.append(second.norm) }
        if let outputNorm { norms.append(outputNorm) }
        return norms
    }

    /// PyTorch's default Linear initialisation, seeded: Linear k of `linears` draws from
    /// `CounterRNG(seed: seed, index: k, view: 1)`.
    public func initialize(seed: UInt64) {
        for (k, linear) in linears.enumerated() {
            var rng = CounterRNG(seed: seed, index: UInt64(k), view: 1)
            let bound = 1 / Double(linear.inFeatures).squareRoot()
            for p in [linear.weight, linear.bias].compactMap({ $0 }) {
                for i in 0..<p.value.count { p.value[i] = Float(rng.uniform(-bound, bound)) }
            }
        }
    }

    /// Projections (N, D) of features `h` (N, F); in training each BatchNorm normalises each of
    /// `statisticsGroups` equal consecutive groups of rows on its own (`BatchNorm.statisticsGroups`).
    public func forward(_ h: Tensor, training: Bool, statisticsGroups: Int = 1) -> Tensor {
        for norm in norms { norm.statisticsGroups = statisticsGroups }
        var a = first.forward(h, training: training)
        switch middle {
        case .batchNormReLU(let norm): a = norm.forward(a, training: training)
        case .relu(let relu): a = relu.forward(a, training: training)
        }
        if let second { a = second.norm.forward(second.linear.forward(a, training: training), training: training) }
        let z = last.forward(a, training: training)
        return outputNorm?.forward(z, training: training) ?? z
    }

    /// Backward of the last forward: accumulates the head's parameter gradients and writes
    /// dL/dh (N, F) into `featureGradient`.
    public func backward(_ projectionGradient: Tensor, into featureGradient: Tensor) {
        var g = projectionGradient
        if let outputNorm {
            outputNorm.backward(g, into: outputGradient)
            g = outputGradient
        }
        last.backward(g, into: hiddenGradient)
        var hidden = hiddenGradient
        if let second {
            second.norm.backward(hiddenGradient, into: hiddenGradient)
            second.linear.backward(hiddenGradient, into: secondGradient)
            hidden = secondGradient
        }
        switch middle {
        case .batchNormReLU(let norm): norm.backward(hidden, into: hidden)
        case .relu(let relu): relu.backward(hidden, into: hidden)
        }
        first.backward(hidden, into: featureGradient)
    }

    /// The head's state entries under `head.` in Sequential numbering.
    public func stateEntries() -> [StateEntry] {
        switch middle {
        case .batchNormReLU(let norm):
            var entries = first.stateEntries(prefix: "head.0.") + norm.stateEntries(prefix: "head.1.")
            guard let second else { return entries + last.stateEntries(prefix: "head.3.") }
            entries += second.linear.stateEntries(prefix: "head.3.") + second.norm.stateEntries(prefix: "head.4.")
                + last.stateEntries(prefix: "head.6.")
            return entries + (outputNorm?.stateEntries(prefix: "head.7.") ?? [])
        case .relu:
            return first.stateEntries(prefix: "head.0.") + last.stateEntries(prefix: "head.2.")
        }
    }
}
