/// The SimCLR family (SimCLR's NT-Xent, DCL, DCLW): both views pass through the encoder as one
/// batch of 2N, so BatchNorm computes its statistics over both views together (as SimCLR's
/// single-device code does; with `view_batchnorm` "per_view", over each view on its own,
/// `Encoder.viewStatisticsGroups`), and a two-view loss compares each view with every other.
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
    private let diagnostics: ProjectionDiagnostics?

    /// The method for `encoder` (which must have a projection head) with the given loss, over
    /// the ranks of `communicator` (nil: one process), reporting each step's projections (of all
    /// ranks) to `diagnostics`.
    public init(encoder: Encoder, objective: PairObjective, temperature: Double, communicator: Communicator? = nil,
                diagnostics: ProjectionDiagnostics? = nil) {
        self.diagnostics = diagnostics
        precondition(encoder.head != nil, "PairMethod: the encoder needs a projection head")
        self.encoder = encoder
        self.loss = PairContrastiveLoss(objective: objective, temperature: temperature)
        gather = communicator.flatMap { $0.size > 1 ? ProjectionGather(communicator: $0) : nil }
    }

    public func accumulateGradients(views: Tensor, count: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        let value: Double = try timings.measure(\.forward) {
            let z = encoder.forward(views, training: true, statisticsGroups: encoder.viewStatisticsGroups).projection!
            projectionGradient.resize(z.shape)
            let d = z.shape[1]
            guard let gather else {
                diagnostics?.observe(view0: z.data, view1: z.data + count * d, rows: count, dim: d, temperature: loss.temperature)
                return loss.compute(z.data, pairs: count, dim: d, gradient: projectionGradient.data)
            }
            let all = try gather.forward(z, views: 2)
            let ranks = gather.communicator.size, first = gather.communicator.rank * count
            diagnostics?.observe(view0: all.data, view1: all.data + ranks * count * d, rows: ranks * count, dim: d,
                                 temperature: loss.temperature)
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

    /// The 2N × 2N similarities with their gradient, the (2N, D) copies around them.
    public func bufferElements(views: Int, side: Int, dim: Int) -> Int {
        saturatingSum(saturatingProduct(4, views, views), saturatingProduct(8, views, dim))
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] { [] }

    public func loadState(_ tensors: [String: Tensor]) throws {}
}

/// The SimCLR family's settings: τ and DCLW's σ.
public struct PairSettings: MethodSettings, Equatable {
    /// τ of the similarities.
    public var temperature: Double
    /// σ of DCLW's positive weighting (read by every member of the family, used by dclw).
    public var sigma: Double

    static let sigmaField = ConfigurationField("sigma", .number(.temperature), default: .value(.number(0.5)),
                                               doc: "DCLW's sigma of the positive weighting (dclw only)")

    public static let fields = [ConfigurationField.temperature(default: 0.1), sigmaField]

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {
        temperature = try fields.number(Self.fields[0])
        sigma = try fields.number(Self.sigmaField)
    }
}

extension PairMethod {
    /// The family's defaults: SimCLR's head and augmentation; SGD 0.06 per 256 images (lightly's
    /// CIFAR benchmarks take 0.06 per 128; the DCL study found twice our rate no better at 32×32,
    /// README "Defaults for small images"), LARS 0.3 (SimCLR).
    static let defaults = MethodDefaults(head: .simclr, augment: "simclr", baseLearningRate: [.sgd: 0.06, .lars: 0.3])

    /// SimCLR, DCL and DCLW.
    static let entries = [
        entry("simclr", label: "NT-Xent", summary: "SimCLR's NT-Xent over the 2N views of a batch: `−s_ip/τ + log Σ_{k≠i} exp(s_ik/τ)`",
              paper: "Chen et al. 2020") { _ in .ntxent },
        entry("dcl", label: "DCL", summary: "decoupled contrastive loss, the positive out of the denominator: `−s_ip/τ + log Σ_{k∉{i,p}} exp(s_ik/τ)`",
              paper: "Yeh et al. 2022") { _ in .dcl },
        entry("dclw", label: "DCLW", summary: "DCL with the positive term weighted by `w_i = 2 − N·softmax_j(s_jj′/σ)_i` (no gradient through w)",
              paper: "Yeh et al. 2022") { .dclw(sigma: $0.sigma) },
    ]

    private static func entry(_ name: String, label: String, summary: String, paper: String,
                              objective: @escaping (PairSettings) -> PairObjective) -> MethodEntry {
        MethodEntry(name: name, family: "simclr", label: label, summary: summary, paper: paper, defaults: defaults,
                    settings: PairSettings.self, checkpointEntries: []) { context, settings in
            PairMethod(encoder: context.encoder, objective: objective(settings), temperature: settings.temperature,
                       communicator: context.communicator, diagnostics: context.diagnostics)
        }
    }
}
