/// SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning"): one encoder f
/// (trunk and the `simsiam` projector, BN after every Linear) and a prediction MLP h; with
/// z = f(x) and p = h(z) for both views,
///
///     L = ½ D(p₁, sg(z₂)) + ½ D(p₂, sg(z₁)),   D(p, z) = −mean_i cos(p_i, z_i)
///
/// (`CosinePredictionLoss(form: .negativeCosine)`). The stop-gradient sg is what keeps the
/// collapsed solution away: the targets z are read, never differentiated, so the encoder's
/// gradient reaches it through the predictions only.
///
/// The predictor h is Linear (D → D/4, no bias) → BatchNorm1d → ReLU → Linear (D/4 → D), the
/// paper's 2048 → 512 → 2048 bottleneck (a `simclr`-kind `ProjectionHead`), initialised from the
/// run's seed and checkpointed as "predictor.head.*". Its parameters are
/// `constantRateParameters`: the trainer optimises them at the schedule's peak rate on every
/// step, the paper's "fix lr for predictor" (no warm-up, no cosine decay for h), while the
/// encoder's rate follows the schedule.
///
/// Both views pass through the encoder as one batch of 2N (BatchNorm statistics over both views,
/// as `PairMethod`; the paper's code runs the views one at a time, which `view_batchnorm`
/// "per_view" reproduces), and so through the predictor.
///
/// Data-parallel (W > 1 ranks, b = B/W images each): the loss is per row, so each rank's term is
/// the mean over its own rows and the trainer's gradient average makes it the global batch's;
/// with `sync_bn` every BatchNorm (the predictor's too, `batchNorms`) normalises over the global
/// batch, so the ranks compute what one process computes on it.
public final class SimSiamMethod: TrainingMethod {
    private let encoder: Encoder
    /// The prediction MLP h, D → D/4 → D.
    public let predictor: ProjectionHead
    private let predictorParameters: [Parameter]
    private let loss = CosinePredictionLoss(form: .negativeCosine)
    private let predictionGradient = Tensor(shape: [0])
    private let projectionGradient = Tensor(shape: [0])
    private let diagnostics: ProjectionDiagnostics?

    /// The method for `encoder` (with a projection head of output D) and a predictor with
    /// max(1, D/4) hidden units initialised from `seed`; each step's projections go to
    /// `diagnostics`.
    public init(encoder: Encoder, seed: UInt64, diagnostics: ProjectionDiagnostics? = nil) {
        self.diagnostics = diagnostics
        guard let dim = encoder.configuration.projectionDimension else {
            preconditionFailure("SimSiamMethod: the encoder needs a projection head")
        }
        self.encoder = encoder
        predictor = ProjectionHead(kind: .simclr, inFeatures: dim, hidden: max(1, dim / 4), outFeatures: dim, workspace: Workspace())
        predictor.initialize(seed: seed ^ 0x5349_4D53)
        predictorParameters = predictor.stateEntries().compactMap(\.parameter)
    }

    public func accumulateGradients(views: Tensor, count n: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        let value: Double = timings.measure(\.forward) {
            let z = encoder.forward(views, training: true, statisticsGroups: encoder.viewStatisticsGroups).projection!
            let d = z.shape[1]
            diagnostics?.observe(view0: z.data, view1: z.data + n * d, rows: n, dim: d, temperature: nil)
            let p = predictor.forward(z, training: true, statisticsGroups: encoder.viewStatisticsGroups)
            predictionGradient.resize(p.shape)
            return loss.computeSymmetric(predictions: p.data, p.data + n * d, targets: z.data, z.data + n * d, rows: n, dim: d,
                                         gradients: predictionGradient.data, predictionGradient.data + n * d)
        }
        timings.measure(\.backward) {
            projectionGradient.resize(predictionGradient.shape)
            predictor.backward(predictionGradient, into: projectionGradient)
            encoder.accumulateGradients(projectionGradient: projectionGradient, featureGradient: nil)
        }
        return value
    }

    public var parameters: [Parameter] { [] }

    /// The predictor's parameters, held at the peak rate.
    public var constantRateParameters: [Parameter] { predictorParameters }

    /// The predictor's BatchNorm (SyncBN synchronises it with the encoder's).
    public var batchNorms: [BatchNorm] { predictor.batchNorms }

    public var runningStatistics: [Tensor] { [] }

    public func finishStep() {}

    /// The predictor's activations and gradients, the loss's buffers, the (2N, D) copies.
    public func bufferElements(views: Int, side: Int, dim: Int) -> Int {
        [saturatingProduct(6, views, max(1, dim / 4)), CosinePredictionLoss.bufferElements(rows: views, dim: dim),
         saturatingProduct(6, views, dim)].reduce(0, saturatingSum)
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] { predictor.checkpointTensors(prefix: "predictor.") }

    public func loadState(_ tensors: [String: Tensor]) throws { try predictor.loadCheckpoint(tensors, prefix: "predictor.") }
}

/// SimSiam has no settings of its own (no τ, no momentum): the predictor's bottleneck is D/4.
public struct SimSiamSettings: MethodSettings, Equatable {
    public static let fields: [ConfigurationField] = []

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {}

    /// The predictor D → D/4 → D.
    public func constructionElements(encoder: EncoderConfiguration) -> Int {
        let d = encoder.headOutput
        return ProjectionHead.constructionElements(kind: .simclr, inFeatures: d, hidden: max(1, d / 4), outFeatures: d)
    }
}

extension SimSiamMethod {
    /// SimSiam's defaults: the `simsiam` projector at [F, F] (the paper's 2048-2048 on ResNet-50's
    /// F = 2048), SimCLR's augmentation, SGD 0.06 per 256 images (lightly's CIFAR rate for every
    /// method; the paper's ImageNet base rate is 0.05), LARS 0.05 (the paper's base rate).
    static let defaults = MethodDefaults(head: .simsiam, augment: "simclr", baseLearningRate: [.sgd: 0.06, .lars: 0.05],
                                         headDimensions: HeadDimensions(hiddenPerFeature: 1, outputPerFeature: 1))

    /// SimSiam.
    static let entries = [
        MethodEntry(name: "simsiam", family: "simsiam", label: "SimSiam",
                    summary: "a predictor against the other view's stop-gradient projection: `½ D(p₁, sg(z₂)) + ½ D(p₂, sg(z₁))`, D = −cos; the predictor's rate held at the peak",
                    paper: "Chen & He 2021", defaults: defaults, settings: SimSiamSettings.self,
                    checkpointEntries: ["predictor."]) { context, _ in
            SimSiamMethod(encoder: context.encoder, seed: context.configuration.seed, diagnostics: context.diagnostics)
        },
    ]
}
