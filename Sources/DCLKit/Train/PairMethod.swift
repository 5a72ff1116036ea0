/// The SimCLR family (SimCLR's NT-Xent, DCL, DCLW): both views pass through the encoder as one
/// batch of 2N, so BatchNorm computes its statistics over both views together (as SimCLR's
/// single-device code does), and a two-view loss compares each view with every other.
public final class PairMethod: TrainingMethod {
    private let encoder: Encoder
    private let loss: PairContrastiveLoss
    private let projectionGradient = Tensor(shape: [0])

    /// The method for `encoder` (which must have a projection head) with the given loss.
    public init(encoder: Encoder, objective: PairObjective, temperature: Double) {
        precondition(encoder.head != nil, "PairMethod: the encoder needs a projection head")
        self.encoder = encoder
        self.loss = PairContrastiveLoss(objective: objective, temperature: temperature)
    }

    public func accumulateGradients(views: Tensor, count: Int, epoch: Int, step: Int, timings: inout StepTimings) -> Double? {
        let value: Double = timings.measure(\.forward) {
            let z = encoder.forward(views, training: true).projection!
            projectionGradient.resize(z.shape)
            return loss.compute(z.data, pairs: count, dim: z.shape[1], gradient: projectionGradient.data)
        }
        timings.measure(\.backward) {
            encoder.accumulateGradients(projectionGradient: projectionGradient, featureGradient: nil)
        }
        return value
    }

    public var parameters: [Parameter] { [] }

    public func finishStep() {}

    public func stateTensors() -> [(name: String, tensor: Tensor)] { [] }

    public func loadState(_ tensors: [String: Tensor]) throws {}
}
