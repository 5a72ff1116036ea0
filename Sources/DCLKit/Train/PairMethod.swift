/// The SimCLR family (SimCLR's NT-Xent, DCL, DCLW): both views pass through the encoder as one
/// batch of 2N, so BatchNorm computes its statistics over both views together (as SimCLR's
/// single-device code does), and a two-view loss compares each view with every other.
///
/// Data-parallel (a communicator of W > 1 ranks, each with b = B/W images): the projections of
/// all ranks are gathered (`ProjectionGather`, view-major, so the global matrix is the one a
/// single process would hold), each rank's 2b anchors are compared with all 2B views (2B − 2
/// negatives each), and the gather's backward gives this rank's rows the gradient of the sum of
/// all ranks' terms. Each term is the mean over its own anchors, so that sum is W times the
/// global mean loss; the trainer's gradient average (÷W) brings it back.
public final class PairMethod: TrainingMethod {
    private let encoder: Encoder
    private let loss: PairContrastiveLoss
    private let gather: ProjectionGather?
    private let projectionGradient = Tensor(shape: [0])
    private let gatheredGradient = Tensor(shape: [0])

    /// The method for `encoder` (which must have a projection head) with the given loss, over
    /// the ranks of `communicator` (nil: one process).
    public init(encoder: Encoder, objective: PairObjective, temperature: Double, communicator: Communicator? = nil) {
        precondition(encoder.head != nil, "PairMethod: the encoder needs a projection head")
        self.encoder = encoder
        self.loss = PairContrastiveLoss(objective: objective, temperature: temperature)
        gather = communicator.flatMap { $0.size > 1 ? ProjectionGather(communicator: $0) : nil }
    }

    public func accumulateGradients(views: Tensor, count: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        let value: Double = try timings.measure(\.forward) {
            let z = encoder.forward(views, training: true).projection!
            projectionGradient.resize(z.shape)
            guard let gather else {
                return loss.compute(z.data, pairs: count, dim: z.shape[1], gradient: projectionGradient.data)
            }
            let all = try gather.forward(z, views: 2)
            let ranks = gather.communicator.size, first = gather.communicator.rank * count
            gatheredGradient.resize(all.shape)
            let value = loss.compute(all.data, pairs: ranks * count, dim: all.shape[1], anchorPairs: first..<(first + count),
                                     gradient: gatheredGradient.data)
            projectionGradient.copy(from: try gather.backward(gatheredGradient, views: 2))
            return value
        }
        timings.measure(\.backward) {
            encoder.accumulateGradients(projectionGradient: projectionGradient, featureGradient: nil)
        }
        return value
    }

    public var parameters: [Parameter] { [] }

    public var batchNorms: [BatchNorm] { [] }

    public var runningStatistics: [Tensor] { [] }

    public func finishStep() {}

    public func stateTensors() -> [(name: String, tensor: Tensor)] { [] }

    public func loadState(_ tensors: [String: Tensor]) throws {}
}
