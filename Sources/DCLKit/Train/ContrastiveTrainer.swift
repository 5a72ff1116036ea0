/// Contrastive pretraining, one step at a time: augmentation of a uint8 batch into two views,
/// the method's forward, loss and backward, then the optimiser at the schedule's learning rate.
///
/// Input of `step(images:...)`: `count` uint8 images (count, height, width, channels) NHWC, with
/// their dataset indices (augmentation is keyed by (seed, epoch, index, view), so a sample's
/// views do not depend on its batch or on the thread count). Views are
/// (2·count, size, size, 3), view 0 of every image first.
///
/// The schedule is per step: `setSchedule(stepsPerEpoch:)` fixes warm-up and total steps from
/// the configuration's epochs. Buffers live across steps: after the first step of a given size
/// the loop does not allocate.
public final class ContrastiveTrainer {
    /// The run's settings.
    public let configuration: TrainerConfiguration
    /// The model being trained.
    public let encoder: Encoder
    /// The two-view augmentation.
    public let pipeline: AugmentPipeline
    /// The method (SimCLR family or MoCo family).
    public let method: TrainingMethod
    /// The optimiser over `encoder.parameters`.
    public let optimizer: Optimizer
    /// The learning-rate schedule.
    public private(set) var schedule: WarmupCosineSchedule
    /// Steps taken so far.
    public private(set) var stepCount = 0
    /// Where the time went so far.
    public var timings = StepTimings()

    private let views = Tensor(shape: [0])
    private let evaluationInput = Tensor(shape: [0])
    private let evaluation: EvaluationTransform

    /// A trainer for `encoder` (it needs a projection head) with `pipeline`'s augmentation.
    public init(configuration: TrainerConfiguration, encoder: Encoder, pipeline: AugmentPipeline) throws {
        self.configuration = configuration
        self.encoder = encoder
        self.pipeline = pipeline
        switch configuration.method {
        case .pair(let objective):
            method = PairMethod(encoder: encoder, objective: objective, temperature: configuration.temperature)
        case .momentum:
            method = try MomentumMethod(encoder: encoder, configuration: configuration)
        }
        switch configuration.optimizer {
        case .sgd:
            optimizer = SGD(parameters: encoder.parameters, momentum: configuration.momentum,
                            weightDecay: configuration.weightDecay)
        case .lars:
            optimizer = LARS(parameters: encoder.parameters, momentum: configuration.momentum,
                             weightDecay: configuration.weightDecay)
        }
        schedule = ContrastiveTrainer.schedule(configuration, stepsPerEpoch: 1)
        evaluation = EvaluationTransform(size: pipeline.size, normalization: pipeline.configuration.normalization)
    }

    /// Fixes the schedule for epochs of `stepsPerEpoch` steps (≥ 1).
    public func setSchedule(stepsPerEpoch: Int) {
        schedule = ContrastiveTrainer.schedule(configuration, stepsPerEpoch: stepsPerEpoch)
    }

    /// The learning rate of the next step.
    public var learningRate: Double { schedule.learningRate(atStep: stepCount) }

    /// One step on a uint8 batch; returns the loss (before the update).
    public func step(images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
                     indices: UnsafePointer<Int>, epoch: Int) -> Double {
        let size = pipeline.size
        timings.measure(\.augment) {
            views.resize([2 * count, size, size, 3])
            pipeline.views(of: images, count: count, height: height, width: width, channels: channels,
                           seed: configuration.seed, epoch: UInt64(epoch), indices: indices,
                           into: views.data, views.data + count * size * size * 3)
        }
        return train(count: count, epoch: epoch)
    }

    /// One step on already-augmented float views, each (count, size, size, 3); returns the loss.
    /// `epoch` only matters to MoCHi's start epoch.
    public func step(view0: UnsafePointer<Float>, view1: UnsafePointer<Float>, count: Int, size: Int, epoch: Int) -> Double {
        let stride = count * size * size * 3
        views.resize([2 * count, size, size, 3])
        views.data.update(from: view0, count: stride)
        (views.data + stride).update(from: view1, count: stride)
        return train(count: count, epoch: epoch)
    }

    private func train(count: Int, epoch: Int) -> Double {
        let loss = method.accumulateGradients(views: views, count: count, epoch: epoch, step: stepCount, timings: &timings)
        timings.measure(\.optimizer) {
            optimizer.step(learningRate: learningRate)
            method.finishStep()
        }
        stepCount += 1
        return loss
    }

    /// The encoder's pooled features (count, F) of uint8 images, in eval mode: each image is
    /// resized whole to the training view size and normalised as the views are (no augmentation).
    public func embed(images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
                      into features: UnsafeMutablePointer<Float>) {
        let size = pipeline.size
        evaluationInput.resize([count, size, size, 3])
        evaluation.apply(images, count: count, height: height, width: width, channels: channels, into: evaluationInput.data)
        let h = encoder.forward(evaluationInput, training: false).features
        features.update(from: h.data, count: h.count)
    }

    /// Everything a checkpoint needs besides the configuration and the step count: the encoder's
    /// state dict under "encoder.", the optimiser's state under "optimizer.", and the method's
    /// own state (MoCo: "key_encoder.", "queue", "queue_ptr").
    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        encoder.stateDict().map { ("encoder." + $0.name, $0.tensor) }
            + optimizer.stateTensors.map { ("optimizer." + $0.0, $0.1) }
            + method.stateTensors()
    }

    /// Restores `stateTensors()` and the step count; throws on a missing or misshapen entry.
    public func loadState(_ tensors: [String: Tensor], stepCount: Int) throws {
        var model: [String: Tensor] = [:]
        var optimizerState: [(String, Tensor)] = []
        for (name, tensor) in tensors {
            if name.hasPrefix("encoder.") { model[String(name.dropFirst(8))] = tensor }
            if name.hasPrefix("optimizer.") { optimizerState.append((String(name.dropFirst(10)), tensor)) }
        }
        try encoder.loadStateDict(model)
        try optimizer.loadState(optimizerState)
        try method.loadState(tensors)
        self.stepCount = stepCount
    }

    private static func schedule(_ c: TrainerConfiguration, stepsPerEpoch: Int) -> WarmupCosineSchedule {
        let total = max(1, c.epochs * stepsPerEpoch)
        return WarmupCosineSchedule(peakLearningRate: c.learningRate,
                                    warmupSteps: min(c.warmupEpochs * stepsPerEpoch, total), totalSteps: total)
    }
}
