/// LARS, layer-wise adaptive rate scaling (You, Gitman and Ginsburg 2017), as SimCLR uses it
/// (Chen et al. 2020; the reference `LARSOptimizer` of google-research/simclr with its
/// defaults: classic momentum, no Nesterov, η = 0.001).
///
/// For each parameter tensor w with gradient ∇ and momentum buffer b (zero at the start):
///
///     g = ∇ + wd·w
///     trust = η·‖w‖ / ‖g‖   when ‖w‖ > 0 and ‖g‖ > 0, else 1
///     b = μ·b + lr·trust·g
///     w = w − b
///
/// Norms are L2 norms over the whole tensor (accumulated in float64). Parameters with
/// `decays == false` (BatchNorm weights and biases, every bias) are excluded from both weight
/// decay and the trust ratio, as the reference does by name: for them g = ∇ and trust = 1,
/// so they follow plain momentum SGD with the buffer holding lr-scaled steps.
///
/// Unlike `SGD`, the buffer holds learning-rate-scaled updates (the reference's "classic
/// momentum", its default), so a change of learning rate affects new gradients only. The
/// reference's other mode (momentum first, then the trust ratio taken on the momentum update)
/// is not implemented; SimCLR's runs use the classic one.
///
/// ```swift
/// let lars = LARS(parameters: model.parameters, momentum: 0.9, weightDecay: 1e-6)
/// lars.step(learningRate: schedule.learningRate(atStep: s))
/// ```
public final class LARS: Optimizer {
    /// The parameters updated by `step`, in the order their state is named.
    public let parameters: [Parameter]
    /// Momentum μ ∈ [0, 1).
    public let momentum: Double
    /// L2 weight decay wd ≥ 0 (decaying parameters only).
    public let weightDecay: Double
    /// Trust coefficient η > 0.
    public let trustCoefficient: Double
    private let state: MomentumBuffers

    /// An optimiser over `parameters` with SimCLR's defaults; the hyperparameters are checked by
    /// callers (0 ≤ μ < 1, wd ≥ 0, η > 0).
    public init(parameters: [Parameter], momentum: Double = 0.9, weightDecay: Double = 1e-6, trustCoefficient: Double = 0.001) {
        precondition(momentum >= 0 && momentum < 1, "LARS: momentum \(momentum)")
        precondition(weightDecay >= 0 && weightDecay.isFinite, "LARS: weight decay \(weightDecay)")
        precondition(trustCoefficient > 0 && trustCoefficient.isFinite, "LARS: trust coefficient \(trustCoefficient)")
        self.parameters = parameters
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.trustCoefficient = trustCoefficient
        self.state = MomentumBuffers(for: parameters)
    }

    /// Applies one update to every parameter (in parallel over parameters).
    public func step(learningRate: Double) {
        step(learningRate: learningRate, constantRate: learningRate, constantFrom: parameters.count)
    }

    /// Applies one update, at `constantRate` for the parameters from index `first` on.
    public func step(learningRate: Double, constantRate: Double, constantFrom first: Int) {
        let mu = Float(momentum)
        Threads.forEachChunk(parameters.count) { range in
            for index in range {
                let parameter = parameters[index]
                let n = parameter.value.count
                let w = parameter.value.data
                let grad = parameter.gradient.data
                let b = state.buffers[index].data
                let wd: Float = parameter.decays ? Float(weightDecay) : 0
                var scaledRate = index < first ? learningRate : constantRate
                if parameter.decays {
                    var wSquared: Double = 0, gSquared: Double = 0
                    for i in 0..<n {
                        let g = Double(grad[i] + wd * w[i])
                        wSquared += Double(w[i]) * Double(w[i])
                        gSquared += g * g
                    }
                    if wSquared > 0 && gSquared > 0 {
                        scaledRate *= trustCoefficient * (wSquared / gSquared).squareRoot()
                    }
                }
                let rate = Float(scaledRate)
                for i in 0..<n {
                    b[i] = mu * b[i] + rate * (grad[i] + wd * w[i])
                    w[i] -= b[i]
                }
            }
        }
    }

    /// The momentum buffers, named `state.<i>.momentum_buffer` (see `MomentumBuffers`).
    public var stateTensors: [(String, Tensor)] { state.named }

    /// Restores the momentum buffers from `stateTensors` of an optimiser over the same parameters.
    public func loadState(_ tensors: [(String, Tensor)]) throws { try state.load(tensors) }
}
