#if canImport(Glibc)
import Glibc
#endif

/// BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network (the encoder: trunk
/// and projector) with a predictor q_θ, and a target network (trunk and projector) that follows
/// the online one after every step as ξ ← τ_k ξ + (1 − τ_k) θ, with
///
///     τ_k = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2
///
/// k the optimiser step just taken (0-based) and K the run's total optimiser steps (the
/// schedule's length, epochs × steps per epoch): τ rises from τ_base at k = 0 to 1 at k = K. The
/// trainer passes k and K to `finishStep(step:totalSteps:)` (the steps per epoch are fixed by the
/// first step on a dataset, so the configuration alone does not know K). With online projections
/// z, predictions q = q_θ(z) and target projections z′ of both views,
///
///     L = ½ [ℓ(q₁, z′₂) + ℓ(q₂, z′₁)],   ℓ = mean_i (2 − 2·cos(q_i, z′_i))
///
/// (`CosinePredictionLoss(form: .byol)`; the paper sums the two terms, twice this). The target
/// network gets no gradient: its outputs are read-only targets and its parameters are not
/// optimised; they move only by the update above.
///
/// Projector and predictor are Linear → BatchNorm1d → ReLU → Linear (a `simclr`-kind head, the
/// first Linear without bias since the BatchNorm's β replaces it): the paper's 4096 → 256 on
/// ResNet-50's F = 2048 becomes `head_dims` [2F, 256] by default (1024 → 256 on ResNet-18, lightly's
/// CIFAR sizes); the predictor maps D → hidden → D with the projector's hidden size. The target
/// network starts as a copy of the online one and, like MoCo's key encoder (`KeyEncoderUpdate`),
/// runs its BatchNorms on batch statistics and follows the online BatchNorm running statistics
/// by the same update. The target's forward runs in the online encoder's layers and buffers with
/// the target's state (`Encoder.forward(_:stateOf:)`), before the online forward overwrites them:
/// the target network holds its state only, no activation, as PyTorch's `torch.no_grad()`
/// target keeps none. Checkpoint: "target_encoder." (its state dict) and "predictor.head.*"; the
/// schedule's position k is the trainer's step count.
///
/// Both views pass through each network as one batch of 2N (BatchNorm statistics over both views,
/// as `PairMethod`; with `view_batchnorm` "per_view" over each view on its own in every network,
/// online, predictor and target, as the paper's code and lightly's call each network per view). Data-parallel (W > 1 ranks): the loss is per row, each rank's term is the mean
/// over its own rows and the trainer's gradient average completes it; `batchNorms` lists the
/// predictor's and the target network's BatchNorms, so with `sync_bn` they normalise over the
/// global batch (and without it their running statistics are averaged over the ranks), and every
/// rank holds the same target network.
public final class BYOLMethod: TrainingMethod {
    private let encoder: Encoder
    /// The target network ξ (trunk and projector), never optimised.
    public let targetEncoder: Encoder
    /// The predictor q_θ, D → hidden → D.
    public let predictor: ProjectionHead
    /// τ_base of the target's schedule.
    public let baseMomentum: Double
    /// τ of the last target update (nil before the first).
    public private(set) var lastMomentum: Double?
    private let predictorParameters: [Parameter]
    private let targetTensors: [Tensor]
    private let onlineTensors: [Tensor]
    private let loss = CosinePredictionLoss(form: .byol)
    private let predictionGradient = Tensor(shape: [0])
    /// The last step's target projections z′ (2N, D).
    let targetProjections = Tensor(shape: [0])
    private let projectionGradient = Tensor(shape: [0])
    private let diagnostics: ProjectionDiagnostics?

    /// The method for `encoder` (with a projection head of output D): the target network as a
    /// copy of it, a predictor with `hidden` units initialised from `seed`, τ_base = `baseMomentum`
    /// in [0, 1); each step's online projections go to `diagnostics`.
    public init(encoder: Encoder, hidden: Int, baseMomentum: Double, seed: UInt64, diagnostics: ProjectionDiagnostics? = nil) throws {
        self.diagnostics = diagnostics
        guard let dim = encoder.configuration.projectionDimension else {
            preconditionFailure("BYOLMethod: the encoder needs a projection head")
        }
        self.encoder = encoder
        self.baseMomentum = baseMomentum
        targetEncoder = Encoder(configuration: encoder.configuration, seed: seed)
        try targetEncoder.copyState(from: encoder)
        predictor = ProjectionHead(kind: .simclr, inFeatures: dim, hidden: hidden, outFeatures: dim, workspace: Workspace())
        predictor.initialize(seed: seed ^ 0x4259_4F4C)
        predictorParameters = predictor.stateEntries().compactMap(\.parameter)
        targetTensors = KeyEncoderUpdate.tensors(of: targetEncoder)
        onlineTensors = KeyEncoderUpdate.tensors(of: encoder)
    }

    /// τ_k = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2 for step k of K (k clamped to [0, K], K ≥ 1).
    public static func targetMomentum(step: Int, totalSteps: Int, base: Double) -> Double {
        let total = max(totalSteps, 1), k = min(max(step, 0), total)
        return 1 - (1 - base) * (cos(Double.pi * Double(k) / Double(total)) + 1) / 2
    }

    public func accumulateGradients(views: Tensor, count n: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        let value: Double = timings.measure(\.forward) {
            let groups = encoder.viewStatisticsGroups
            targetProjections.copy(from: encoder.forward(views, stateOf: targetEncoder, statisticsGroups: groups).projection!)
            let z = encoder.forward(views, training: true, statisticsGroups: groups).projection!
            let d = z.shape[1]
            diagnostics?.observe(view0: z.data, view1: z.data + n * d, rows: n, dim: d, temperature: nil)
            let q = predictor.forward(z, training: true, statisticsGroups: groups)
            predictionGradient.resize(q.shape)
            let targets = targetProjections.data
            return loss.computeSymmetric(predictions: q.data, q.data + n * d, targets: targets, targets + n * d,
                                         rows: n, dim: d, gradients: predictionGradient.data, predictionGradient.data + n * d)
        }
        timings.measure(\.backward) {
            projectionGradient.resize(predictionGradient.shape)
            predictor.backward(predictionGradient, into: projectionGradient)
            encoder.accumulateGradients(projectionGradient: projectionGradient, featureGradient: nil)
        }
        return value
    }

    /// The predictor's parameters (the trainer optimises them with the encoder's).
    public var parameters: [Parameter] { predictorParameters }

    /// The predictor's BatchNorm and the target network's (batch statistics in its forward).
    public var batchNorms: [BatchNorm] { predictor.batchNorms + targetEncoder.batchNorms }

    public var runningStatistics: [Tensor] { [] }

    /// The target update at τ_base (k = 0); the trainer calls `finishStep(step:totalSteps:)`.
    public func finishStep() { finishStep(step: 0, totalSteps: 1) }

    /// The target network follows the online one with τ_k.
    public func finishStep(step: Int, totalSteps: Int) {
        let momentum = BYOLMethod.targetMomentum(step: step, totalSteps: totalSteps, base: baseMomentum)
        KeyEncoderUpdate.apply(to: targetTensors, from: onlineTensors, momentum: momentum)
        lastMomentum = momentum
    }

    /// The predictor's buffers, the loss's, the (2N, D) copies (the target network's forward
    /// runs in the online encoder's buffers).
    public func bufferElements(views: Int, side: Int, dim: Int) -> Int {
        [saturatingProduct(6, views, predictor.first.outFeatures), CosinePredictionLoss.bufferElements(rows: views, dim: dim),
         saturatingProduct(6, views, dim)].reduce(0, saturatingSum)
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        targetEncoder.checkpointTensors(prefix: "target_encoder.") + predictor.checkpointTensors(prefix: "predictor.")
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        try predictor.loadCheckpoint(tensors, prefix: "predictor.")
        try targetEncoder.loadCheckpoint(tensors, prefix: "target_encoder.")
    }
}

/// BYOL's settings: τ_base of the target network's schedule.
public struct BYOLSettings: MethodSettings, Equatable {
    /// τ_base in [0, 1).
    public var baseMomentum: Double

    static let baseMomentumField = ConfigurationField(
        "target_momentum", .number(.unitOpen), default: .value(.number(0.996)),
        doc: "τ_base of the target network's update ξ ← τ ξ + (1 − τ) θ, τ rising to 1 on a cosine over the run")

    public static let fields = [baseMomentumField]

    public init(reading fields: inout ConfigurationFields, batchSize: Int) throws {
        baseMomentum = try fields.number(Self.baseMomentumField)
    }

    /// The target network and the predictor D → hidden → D.
    public func constructionElements(encoder: EncoderConfiguration) -> Int {
        let d = encoder.headOutput
        return saturatingSum(Encoder.constructionElements(encoder),
                             ProjectionHead.constructionElements(kind: .simclr, inFeatures: d, hidden: encoder.headHidden, outFeatures: d))
    }
}

extension BYOLMethod {
    /// BYOL's defaults: projector Linear → BN → ReLU → Linear at [2F, 256] (the paper's 4096 → 256
    /// at F = 2048), SimCLR's augmentation, SGD 0.06 per 256 images (lightly's CIFAR rate), LARS 0.2
    /// (the paper's base rate).
    static let defaults = MethodDefaults(head: .simclr, augment: "simclr", baseLearningRate: [.sgd: 0.06, .lars: 0.2],
                                         headDimensions: HeadDimensions(hiddenPerFeature: 2, output: 256))

    /// BYOL.
    static let entries = [
        MethodEntry(name: "byol", family: "byol", label: "BYOL",
                    summary: "an online predictor against a momentum target network's projection of the other view: `½[ℓ(q₁, z′₂) + ℓ(q₂, z′₁)]`, ℓ = 2 − 2·cos; τ from τ_base to 1 on a cosine",
                    paper: "Grill et al. 2020", defaults: defaults, settings: BYOLSettings.self,
                    checkpointEntries: ["target_encoder.", "predictor."]) { context, settings in
            try BYOLMethod(encoder: context.encoder, hidden: context.configuration.encoder.headHidden,
                           baseMomentum: settings.baseMomentum, seed: context.configuration.seed, diagnostics: context.diagnostics)
        },
    ]
}
