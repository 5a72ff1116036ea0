/// A loss of the two views' embeddings with a gradient for both (Barlow Twins, VICReg): the
/// statistics it takes over the batch come from the global batch when the loss has a
/// communicator, and each rank's gradient is W · ∂L/∂(its rows) (see `BarlowTwinsLoss`).
public protocol TwoEmbeddingLoss: AnyObject {
    /// The loss of `a` and `b` (rows × dim each, view 0's and view 1's embeddings of this rank's
    /// images); writes the gradients into `gradientA` and `gradientB` (rows × dim each). Throws
    /// `DistributedError` when a collective fails.
    func compute(views a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, dim: Int,
                 gradients gradientA: UnsafeMutablePointer<Float>, _ gradientB: UnsafeMutablePointer<Float>) throws -> Double

    /// An upper bound on the floats a call allocates for `rows` rows of `dim`.
    static func bufferElements(rows: Int, dim: Int) -> Int
}

/// The non-contrastive methods that compare the two views' projections through one loss of
/// both embeddings, with no predictor and no second network (Barlow Twins, VICReg).
///
/// Both views pass through the encoder (trunk and projector, the `barlowtwins` head by default)
/// as one batch of 2N, so BatchNorm computes its statistics over both views together, as
/// `PairMethod` does (the papers' code runs the views one at a time; one batch keeps one forward
/// and one backward per step; `view_batchnorm` "per_view" gives each view its own statistics). Rows 0..<N of the projections z (2N, D) are view 0's, N..<2N view
/// 1's; the loss gives both gradients, which the encoder's backward takes at once.
///
/// Data-parallel (W > 1 ranks, b = B/W images each): the loss's batch statistics are the global
/// batch's (its communicator), each rank gets W · ∂L/∂(its rows), and the trainer's ÷W gradient
/// average gives ∂L/∂θ of the global batch; the loss returned is the global one on every rank.
public final class TwoEmbeddingMethod: StatelessTrainingMethod {
    private let encoder: Encoder
    /// The loss of the two views' embeddings.
    public let loss: TwoEmbeddingLoss
    private let projectionGradient = Tensor(shape: [0])
    private let diagnostics: ProjectionDiagnostics?

    /// The method for `encoder` (which must have a projection head) with `loss`, reporting each
    /// step's embeddings to `diagnostics`.
    public init(encoder: Encoder, loss: TwoEmbeddingLoss, diagnostics: ProjectionDiagnostics? = nil) {
        precondition(encoder.head != nil, "TwoEmbeddingMethod: the encoder needs a projection head")
        self.diagnostics = diagnostics
        self.encoder = encoder
        self.loss = loss
    }

    public func accumulateGradients(views: Tensor, count n: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        let value: Double = try timings.measure(\.forward) {
            let z = encoder.forward(views, training: true, statisticsGroups: encoder.viewStatisticsGroups).projection!
            let d = z.shape[1]
            diagnostics?.observe(view0: z.data, view1: z.data + n * d, rows: n, dim: d, temperature: nil)
            projectionGradient.resize(z.shape)
            return try loss.compute(views: z.data, z.data + n * d, rows: n, dim: d,
                                    gradients: projectionGradient.data, projectionGradient.data + n * d)
        }
        timings.measure(\.backward) {
            encoder.accumulateGradients(projectionGradient: projectionGradient, featureGradient: nil)
        }
        return value
    }

    /// The loss's buffers for rows of `dim`, and the (2N, D) gradient.
    public func bufferElements(views: Int, side: Int, dim: Int) -> Int {
        saturatingSum(type(of: loss).bufferElements(rows: views, dim: dim), saturatingProduct(2, views, dim))
    }
}

extension MethodContext {
    /// The communicator when the run spans more than one rank, else nil.
    var ranks: Communicator? { communicator.flatMap { $0.size > 1 ? $0 : nil } }
}
