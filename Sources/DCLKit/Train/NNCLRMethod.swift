#if canImport(Glibc)
import Glibc
#endif

/// NNCLR (Dwibedi et al. 2021, "With a Little Help from My Friends"), with InfoNCE (`nnclr`) or
/// DCL's decoupled denominator (`nnclr-dcl`, the DCL paper's best ImageNet result).
///
/// Both views pass through the encoder as one batch of 2N, giving projections z (2N, D). A
/// support set Q (a FIFO queue of K past normalised projections of view 0) gives each
/// normalised projection ẑ its nearest neighbour by cosine similarity, NN(ẑ) = argmax_{q ∈ Q} ẑ·q,
/// which serves as its positive and carries no gradient. A prediction head (Linear → BatchNorm1d
/// → ReLU → Linear, D → H → D) maps z to predictions p, with p̂ = p / ‖p‖. With
/// s_ik = NN(ẑ_i)·p̂⁺_k / τ, p⁺ the predictions of the other view:
///
///     ℓ_i = −s_ii + log Σ_{k ∈ D_i} exp(s_ik),   D_i = all k (InfoNCE) or k ≠ i (DCL)
///
/// and the loss is symmetric: ½ (mean_i ℓ_i(NN(ẑ⁰), p¹) + mean_i ℓ_i(NN(ẑ¹), p⁰)). Gradients
/// reach the encoder through the predictions only. After the step the view-0 projections join
/// the support set. The support set starts as random unit vectors (seeded) and is checkpointed
/// ("support_set", "support_set_ptr", "support_set_filled") with the prediction head
/// ("predictor.*").
///
/// Data-parallel (a communicator of W > 1 ranks, b = B/W images each): the predictions of all
/// ranks are gathered (view-major, as one process would hold them), each rank's b neighbours per
/// view are compared with the B predictions of the other view (its own anchors, B − 1 negatives
/// each), the gather's backward gives this rank's rows the gradient of the sum of all ranks'
/// terms, and the view-0 projections of all ranks join the support set, which thus stays the
/// same on every rank.
public final class NNCLRMethod: TrainingMethod {
    private let encoder: Encoder
    /// The prediction head g_p, D → hidden → D.
    public let predictor: ProjectionHead
    /// The support set Q, K unit rows.
    public let supportSet: SupportSet
    /// The loss of each direction.
    public let loss: NNCLRLoss
    private let predictorEntries: [StateEntry]

    private let normalized = Tensor(shape: [0])
    private let norms = Tensor(shape: [0])
    private let neighbours = Tensor(shape: [0])
    private let predictionGradient = Tensor(shape: [0])
    private let projectionGradient = Tensor(shape: [0])
    private let gatheredGradient = Tensor(shape: [0])
    private let gather: ProjectionGather?
    private let gatheredSupport = Tensor(shape: [0])
    private var count = 0
    private let diagnostics: ProjectionDiagnostics?

    /// The method for `encoder` (with a projection head of output D): a support set of `supportSize`
    /// random unit vectors keyed by `seed`, a prediction head with `hidden` units initialised from `seed`.
    /// Over the ranks of `communicator` (nil: one process).
    /// Each step's two views' projections go to `diagnostics` (pair form).
    public init(encoder: Encoder, objective: QueueObjective, temperature: Double, supportSize: Int, hidden: Int, seed: UInt64,
                communicator: Communicator? = nil, diagnostics: ProjectionDiagnostics? = nil) {
        self.diagnostics = diagnostics
        guard let dim = encoder.configuration.projectionDimension else {
            preconditionFailure("NNCLRMethod: the encoder needs a projection head")
        }
        self.encoder = encoder
        loss = NNCLRLoss(objective: objective, temperature: temperature)
        supportSet = SupportSet(size: supportSize, dim: dim, seed: seed ^ 0x4E4E_434C_52)
        predictor = ProjectionHead(kind: .simclr, inFeatures: dim, hidden: hidden, outFeatures: dim, workspace: Workspace())
        predictor.initialize(seed: seed ^ 0x5052_4544)
        predictorEntries = predictor.stateEntries()
        gather = communicator.flatMap { $0.size > 1 ? ProjectionGather(communicator: $0) : nil }
    }

    /// The prediction head's parameters (the trainer optimises and zeroes them with the encoder's).
    public var parameters: [Parameter] { predictorEntries.compactMap(\.parameter) }

    /// The prediction head's BatchNorm (SyncBN synchronises it with the encoder's).
    public var batchNorms: [BatchNorm] { predictor.batchNorms }

    public var runningStatistics: [Tensor] { [] }

    /// The 2N × K similarities to the support set, the loss's buffers, the (2N, D) copies around them.
    public func bufferElements(views: Int, side: Int, dim: Int) -> Int {
        [saturatingProduct(views, supportSet.size), NNCLRLoss.bufferElements(anchors: views, count: views, dim: dim),
         saturatingProduct(8, views, dim)].reduce(0, saturatingSum)
    }

    public func accumulateGradients(views: Tensor, count n: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        count = n
        let value: Double = try timings.measure(\.forward) {
            let z = encoder.forward(views, training: true, statisticsGroups: encoder.viewStatisticsGroups).projection!
            let d = z.shape[1]
            diagnostics?.observe(view0: z.data, view1: z.data + n * d, rows: n, dim: d, temperature: loss.temperature)
            normalized.resize(z.shape)
            norms.resize([2 * n])
            RowNormalization.forward(z.data, rows: 2 * n, dim: d, into: normalized.data, norms: norms.data)
            neighbours.resize([2 * n, d])
            supportSet.nearestNeighbours(of: normalized.data, rows: 2 * n, into: neighbours.data)
            let local = predictor.forward(z, training: true, statisticsGroups: encoder.viewStatisticsGroups)
            // Every rank's predictions (view-major); this rank's anchors are rows first ..< first + n of each view.
            let (p, all, first) = try gather.map { g -> (Tensor, Int, Int) in
                (try g.forward(local, views: 2), g.communicator.size * n, g.communicator.rank * n)
            } ?? (local, n, 0)
            let target = gather == nil ? predictionGradient : gatheredGradient
            target.resize(p.shape)
            // View 0's neighbours against view 1's predictions, and the other way round.
            let a = loss.compute(neighbours: neighbours.data, anchors: n, firstAnchor: first, predictions: p.data + all * d,
                                 count: all, dim: d, scale: 0.5, gradient: target.data + all * d)
            let b = loss.compute(neighbours: neighbours.data + n * d, anchors: n, firstAnchor: first, predictions: p.data,
                                 count: all, dim: d, scale: 0.5, gradient: target.data)
            if let gather {
                predictionGradient.copy(from: try gather.backward(gatheredGradient, views: 2))
                gatheredSupport.resize([all, d])
                try gather.communicator.allgather(UnsafeBufferPointer(start: normalized.data, count: n * d),
                                                  into: gatheredSupport.buffer)
            }
            return 0.5 * (a + b)
        }
        timings.measure(\.backward) {
            projectionGradient.resize(predictionGradient.shape)
            predictor.backward(predictionGradient, into: projectionGradient)
            encoder.accumulateGradients(projectionGradient: projectionGradient, featureGradient: nil)
        }
        return value
    }

    /// The view-0 projections of the step (of every rank's, in a data-parallel run) join the support set.
    public func finishStep() {
        if gather == nil {
            supportSet.enqueue(normalized.data, count: count)
        } else {
            supportSet.enqueue(gatheredSupport.data, count: gatheredSupport.shape[0])
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        predictor.checkpointTensors(prefix: "predictor.") + supportSet.stateTensors()
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        try predictor.loadCheckpoint(tensors, prefix: "predictor.")
        try supportSet.loadState(tensors)
    }
}

/// NNCLR's settings: τ and the support set's size.
public struct NNCLRSettings: MethodSettings, Equatable {
    /// τ of the similarities.
    public var temperature: Double
    /// K, the support set's size (at least one batch).
    public var supportSize: Int

    static let supportSizeField = ConfigurationField(
        "support_size", .integer(low: 1, high: RunConfiguration.maximumQueueSize), default: .rule("24 × batch_size"),
        doc: "K of the support set of past projections (the paper's 98304 at batch 4096)")

    public static let fields = [ConfigurationField.temperature(default: 0.1), supportSizeField]

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {
        temperature = try fields.number(Self.fields[0])
        supportSize = try fields.integer(Self.supportSizeField, default: 24 * batchSize)
        guard supportSize >= batchSize else {
            throw ConfigurationError.value("support_size (\(supportSize)) must hold at least one batch (batch_size \(batchSize))")
        }
    }

    /// The support set of K projections of D and the prediction head D → hidden → D.
    public func constructionElements(encoder: EncoderConfiguration) -> Int {
        let d = encoder.headOutput
        return saturatingSum(saturatingProduct(supportSize, d),
                             ProjectionHead.constructionElements(kind: .simclr, inFeatures: d, hidden: encoder.headHidden, outFeatures: d))
    }
}

extension NNCLRMethod {
    /// The family's defaults: the SimCLR family's head, augmentation and base rates.
    static let defaults = PairMethod.defaults

    /// NNCLR and NNCLR with DCL's denominator.
    static let entries = [
        entry("nnclr", objective: .infonce, label: "NNCLR", summary: "InfoNCE between the nearest support-set neighbour of one view (no gradient) and the other view's prediction, symmetric",
              paper: "Dwibedi et al. 2021"),
        entry("nnclr-dcl", objective: .dcl, label: "NNCLR-DCL", summary: "NNCLR with DCL's denominator, the positive out of it (the DCL paper's best ImageNet result)",
              paper: "Yeh et al. 2022"),
    ]

    private static func entry(_ name: String, objective: QueueObjective, label: String, summary: String, paper: String) -> MethodEntry {
        MethodEntry(name: name, family: "nnclr", label: label, summary: summary, paper: paper, defaults: defaults,
                    settings: NNCLRSettings.self,
                    checkpointEntries: ["predictor."] + UnitRowRing.checkpointNames(prefix: SupportSet.checkpointPrefix)) { context, settings in
            NNCLRMethod(encoder: context.encoder, objective: objective, temperature: settings.temperature,
                        supportSize: settings.supportSize, hidden: context.configuration.encoder.headHidden,
                        seed: context.configuration.seed, communicator: context.communicator, diagnostics: context.diagnostics)
        }
    }
}
