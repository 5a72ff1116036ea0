/// The projection MLP g mapping features h (N, F) to projections z (N, D), named as a
/// `torch.nn.Sequential` under `head.`:
///
/// - `simclr` (SimCLR): `head.0` Linear(F, hidden, no bias) → `head.1` BatchNorm1d(hidden) →
///   `head.2` ReLU → `head.3` Linear(hidden, D). The first Linear has no bias because the
///   BatchNorm's β replaces it (as in SimCLR's own code).
/// - `moco` (MoCo v2): `head.0` Linear(F, hidden) → `head.1` ReLU → `head.2` Linear(hidden, D).
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

    /// The layer between the two Linear layers.
    public let middle: Middle
    /// The last Linear.
    public let last: Linear
    private let hiddenGradient = Tensor(shape: [0])

    /// A zero-initialised head (call `initialize(seed:)`).
    public init(kind: EncoderConfiguration.Head, inFeatures: Int, hidden: Int, outFeatures: Int, workspace: Workspace) {
        self.kind = kind
        first = Linear(inFeatures: inFeatures, outFeatures: hidden, bias: kind == .moco, workspace: workspace)
        switch kind {
        case .simclr: middle = .batchNormReLU(BatchNorm(channels: hidden, relu: true, workspace: workspace))
        case .moco: middle = .relu(ReLU(workspace: workspace))
        }
        last = Linear(inFeatures: hidden, outFeatures: outFeatures, workspace: workspace)
    }

    /// PyTorch's default Linear initialisation, seeded: Linear k draws from
    /// `CounterRNG(seed: seed, index: k, view: 1)`.
    public func initialize(seed: UInt64) {
        for (k, linear) in [first, last].enumerated() {
            var rng = CounterRNG(seed: seed, index: UInt64(k), view: 1)
            let bound = 1 / Double(linear.inFeatures).squareRoot()
            for p in [linear.weight, linear.bias].compactMap({ $0 }) {
                for i in 0..<p.value.count { p.value[i] = Float(rng.uniform(-bound, bound)) }
            }
        }
    }

    /// Projections (N, D) of features `h` (N, F).
    public func forward(_ h: Tensor, training: Bool) -> Tensor {
        let a = first.forward(h, training: training)
        switch middle {
        case .batchNormReLU(let norm): return last.forward(norm.forward(a, training: training), training: training)
        case .relu(let relu): return last.forward(relu.forward(a, training: training), training: training)
        }
    }

    /// Backward of the last forward: accumulates the head's parameter gradients and writes
    /// dL/dh (N, F) into `featureGradient`.
    public func backward(_ projectionGradient: Tensor, into featureGradient: Tensor) {
        last.backward(projectionGradient, into: hiddenGradient)
        switch middle {
        case .batchNormReLU(let norm): norm.backward(hiddenGradient, into: hiddenGradient)
        case .relu(let relu): relu.backward(hiddenGradient, into: hiddenGradient)
        }
        first.backward(hiddenGradient, into: featureGradient)
    }

    /// The head's state entries under `head.` in Sequential numbering.
    public func stateEntries() -> [StateEntry] {
        switch middle {
        case .batchNormReLU(let norm):
            return first.stateEntries(prefix: "head.0.") + norm.stateEntries(prefix: "head.1.") + last.stateEntries(prefix: "head.3.")
        case .relu:
            return first.stateEntries(prefix: "head.0.") + last.stateEntries(prefix: "head.2.")
        }
    }
}
