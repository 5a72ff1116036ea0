/// Contrastive pretraining built from one `RunConfiguration`: the trainer owns the encoder (with
/// its head), the augmentation pipeline, the method, the optimiser, the schedule and the run's
/// progress (`RunProgress`), and writes and reads the whole checkpoint (`save(to:)`,
/// `resume(from:)`).
///
/// `step(dataset:...)` is the run's next batch: on the first call the epoch length is fixed to
/// N // B steps (the last incomplete batch of an epoch is dropped); each epoch visits the images
/// in a permutation keyed by (seed, epoch). The batch's views come from the augmentation keyed by
/// (seed, epoch, dataset index, view), so a sample's views do not depend on its batch or the
/// thread count. One step: zero the gradients, the method's forward, loss and backward
/// (gradients accumulate), the optimiser at the schedule's rate, the method's after-step work.
///
/// Input images are uint8 (count, height, width, channels) NHWC; views are (2·B, size, size, 3),
/// view 0 of every image first. Buffers live across steps: after the first step of a given size
/// the loop does not allocate.
///
/// Data-parallel: with a communicator of W ranks, B is the global batch; every rank holds the
/// whole dataset and the same weights, and computes the b = B/W slots `share.offset ..<` of
/// every global batch (`BatchShare`). At creation the ranks check that they resolved the same
/// configuration (`ConfigurationAgreement`). In a step the method gathers what its loss needs
/// (projections, keys), BatchNorm uses global statistics with `sync_bn`, the gradients are
/// averaged over the ranks in fused buckets (`BucketedAverage`, the same bytes on every
/// rank, so the weights stay bitwise identical), BatchNorm running statistics a rank computed
/// from its own rows are averaged, and the loss reported is the mean of the ranks' terms: the
/// whole state is the same on every rank. Only rank 0 writes the checkpoint. A failed
/// collective throws from the step (`DistributedError.collectiveFailed`).
public final class ContrastiveTrainer {
    /// The run's settings.
    public let configuration: RunConfiguration
    /// The model being trained.
    public let encoder: Encoder
    /// The two-view augmentation.
    public let pipeline: AugmentPipeline
    /// The method (`configuration.method`'s, built by its registry entry).
    public let method: TrainingMethod
    /// The optimiser over `encoder.parameters` and the method's own (`method.parameters`).
    public let optimizer: Optimizer
    /// Optimiser steps taken so far (MoCo queue warm-up steps do not count).
    public private(set) var stepCount = 0
    /// Epochs, position, history.
    public internal(set) var progress = RunProgress()
    /// Where the time went so far.
    public var timings = StepTimings()
    /// The current epoch's diagnostics of the methods' projections, closed into each epoch's record.
    public let diagnostics = ProjectionDiagnostics()
    /// The kNN monitor run when an epoch closes (nil: none).
    public var monitor: EpochEvaluation?
    /// The ranks this run is spread over (one process without a communicator); its `seconds`
    /// are the time spent in collectives.
    public let communicator: TrainingCommunicator
    /// This rank's share of every global batch.
    public let share: BatchShare
    private let gradientAverage: BucketedAverage?
    /// The index in the optimiser's parameters of the method's first constant-rate parameter.
    private let constantRateFrom: Int
    private let runningStatisticsAverage: BucketedAverage?

    /// The step and embedding shapes whose memory `requireMemory(forStepOf:...)` /
    /// `requireMemory(forEmbeddingOf:...)` have granted.
    var checkedShapes = GrantedShapes()
    private let views = Tensor(shape: [0])
    private let evaluationInput = Tensor(shape: [0])
    private let evaluation: EvaluationTransform
    private var order: [Int] = []
    private var orderEpoch = -1
    private var batchPixels: [UInt8] = []
    private var batchRows: [Int] = []
    private var datasetAgreed = false

    /// The outcome of one step.
    public struct StepOutcome: Equatable {
        /// The loss before the update; NaN for a MoCo queue warm-up step.
        public var loss: Double
        /// Whether the optimiser updated the weights (false for a MoCo queue warm-up step).
        public var updated: Bool
        /// Optimiser steps taken after this one.
        public var step: Int
        /// The learning rate this step used.
        public var learningRate: Double
        /// Epochs finished after this step.
        public var epoch: Int
        /// The record of the epoch this step closed (nil when it closed none).
        public var closedEpoch: EpochRecord? = nil
    }

    /// A fresh run: encoder and head initialised from the seed, the pipeline, method and optimiser
    /// of `configuration`, over the ranks of `communicator` (nil: this process alone). Throws
    /// `DistributedError` when the ranks resolved different configurations (on every rank) or
    /// the batch is not divisible by W, `EncoderError` when the views are too small for the
    /// encoder and `TensorError` when the encoder would not fit the machine's memory (checked
    /// before building) or a step of views of the image size would not (`requireMemory(forStepOf:...)`).
    public init(configuration: RunConfiguration, communicator base: Communicator? = nil) throws {
        self.configuration = configuration
        communicator = TrainingCommunicator(base ?? SingleProcessCommunicator())
        let ranks = communicator.size
        // Every rank takes part in the check before any rank can fail alone.
        if ranks > 1 { try ConfigurationAgreement.check(configuration.json.text, communicator: communicator) }
        share = try BatchShare(global: configuration.batchSize, communicator: communicator)
        try ContrastiveTrainer.requireMemory(for: configuration)
        encoder = Encoder(configuration: configuration.encoder, seed: configuration.seed)
        pipeline = AugmentPipeline(configuration.augment.configuration)
        let side = configuration.imageSize
        try encoder.validate(inputShape: [share.local, side, side, 3], training: true)
        // Per view, a rank's BatchNorm sees one view of its images: the method's own BatchNorms
        // (a predictor's) need 2 of them, unless SyncBN spreads each view over every rank.
        if configuration.viewBatchNorm == .perView && share.local < 2 && !(configuration.syncBatchNorm && ranks > 1) {
            throw DistributedError.invalid("view_batchnorm \"per_view\" needs at least 2 images per rank (or sync_bn), got \(share.local)")
        }
        encoder.viewStatisticsGroups = configuration.viewBatchNorm.statisticsGroups
        method = try configuration.method.build(configuration: configuration, encoder: encoder, communicator: communicator,
                                                diagnostics: diagnostics)
        let trained = encoder.parameters + method.parameters + method.constantRateParameters
        constantRateFrom = trained.count - method.constantRateParameters.count
        // Backward finishes the last layers first: their gradients go in the first buckets.
        gradientAverage = ranks > 1 ? try BucketedAverage(parameters: trained.reversed()) : nil
        let trainedNorms = encoder.batchNorms + method.batchNorms
        if configuration.syncBatchNorm && ranks > 1 {
            for norm in trainedNorms {
                norm.synchronization = try SyncBatchStatistics(channels: norm.channels, communicator: communicator)
            }
        }
        // BatchNorm running statistics computed from a rank's own rows (all of them without
        // SyncBN, the key encoder's always) are averaged after every step, so that the whole
        // state, and therefore the checkpoint, is the same on every rank.
        let ownStatistics = (configuration.syncBatchNorm ? [] : trainedNorms.flatMap { [$0.runningMean, $0.runningVariance] })
            + method.runningStatistics
        runningStatisticsAverage = ranks > 1 && !ownStatistics.isEmpty ? try BucketedAverage(tensors: ownStatistics) : nil
        switch configuration.optimizer {
        case .sgd:
            optimizer = SGD(parameters: trained, momentum: configuration.momentum, weightDecay: configuration.weightDecay)
        case .lars:
            optimizer = LARS(parameters: trained, momentum: configuration.momentum, weightDecay: configuration.weightDecay)
        }
        evaluation = EvaluationTransform(size: pipeline.size, normalization: pipeline.configuration.normalization)
        try requireMemory(forStepOf: configuration.batchSize, height: side, width: side, channels: 3)
    }

    /// The schedule: warm-up and total steps from the configuration's epochs and the epoch length
    /// (one step per epoch until the first step on a dataset fixes it).
    public var schedule: WarmupCosineSchedule {
        let perEpoch = progress.stepsPerEpoch ?? 1
        let total = max(1, configuration.epochs * perEpoch)
        return WarmupCosineSchedule(peakLearningRate: configuration.learningRate,
                                    warmupSteps: min(configuration.warmupEpochs * perEpoch, total), totalSteps: total)
    }

    /// Fixes the epoch length before any step on a dataset (for callers that feed their own
    /// batches, such as the benchmark); `steps` ≥ 1.
    public func fixEpochLength(_ steps: Int) {
        precondition(steps >= 1, "ContrastiveTrainer: \(steps) steps per epoch")
        progress.stepsPerEpoch = steps
    }

    /// Steps from the run's position until `epochs` epochs are finished, on a dataset of `count`
    /// images (count // B steps per epoch, the rule of `step(dataset:...)`); 0 when the run is
    /// there already. Throws a `TrainingError` for fewer images than the batch or a dataset of
    /// another epoch length than the run's.
    public func steps(until epochs: Int, datasetCount count: Int) throws -> Int {
        let perEpoch = try epochLength(datasetCount: count)
        guard epochs > progress.epoch else { return 0 }
        let (whole, overflow) = (epochs - progress.epoch).multipliedReportingOverflow(by: perEpoch)
        return overflow ? Int.max : whole - progress.batch
    }

    /// The learning rate of the next step.
    public var learningRate: Double { schedule.learningRate(atStep: stepCount) }

    /// The run's next batch of `dataset` (count images; the same dataset on every call of a run,
    /// on every rank): picks the global batch from the epoch's permutation and this rank's share
    /// of it, steps, and advances the progress (closing the epoch after its last batch). Throws a
    /// `TrainingError` for fewer images than the batch size, a dataset of another epoch length
    /// than the run's, or a non-finite loss, and `DistributedError` when a collective fails or,
    /// at the first step, when the ranks' datasets differ (shape, or a sample of 64 images), and a
    /// `TensorError` when the step's buffers cannot be allocated.
    public func step(dataset: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int) throws -> StepOutcome {
        let b = configuration.batchSize
        progress.stepsPerEpoch = try epochLength(datasetCount: count)
        if communicator.size > 1 && !datasetAgreed {
            // Every rank must hold the same images in the same order (each picks its share by index).
            try ConfigurationAgreement.check(Self.datasetSummary(dataset, count: count, height: height, width: width, channels: channels),
                                             what: "training data (its shape and a sample of its images)",
                                             communicator: communicator)
            datasetAgreed = true
        }
        if orderEpoch != progress.epoch || order.count != count {
            order = ContrastiveTrainer.permutation(count, seed: configuration.seed, epoch: progress.epoch)
            orderEpoch = progress.epoch
        }
        try requireMemory(forStepOf: b, height: height, width: width, channels: channels)
        let first = progress.batch * b + share.offset, local = share.local
        let imageBytes = height * width * channels
        if batchPixels.count != local * imageBytes { batchPixels = [UInt8](repeating: 0, count: local * imageBytes) }
        if batchRows.count != local { batchRows = [Int](repeating: 0, count: local) }
        for slot in 0..<local { batchRows[slot] = order[first + slot] }
        let start = StepTimings.now()
        let rows = batchRows
        let outcome = try batchPixels.withUnsafeMutableBufferPointer { pixels -> StepOutcome in
            for (slot, row) in rows.enumerated() {
                (pixels.baseAddress! + slot * imageBytes).update(from: dataset + row * imageBytes, count: imageBytes)
            }
            return try rows.withUnsafeBufferPointer {
                try step(images: pixels.baseAddress!, count: local, height: height, width: width, channels: channels,
                         indices: $0.baseAddress!, epoch: progress.epoch)
            }
        }
        if outcome.updated, !outcome.loss.isFinite {
            throw TrainingError.state("the loss became \(outcome.loss) at epoch \(progress.epoch), step \(progress.batch); lower the learning rate")
        }
        let closed = progress.record(loss: outcome.loss, updated: outcome.updated, seconds: StepTimings.now() - start,
                                     batchSize: b, learningRate: learningRate)
        if closed { try closeEpoch() }
        return StepOutcome(loss: outcome.loss, updated: outcome.updated, step: outcome.step,
                           learningRate: outcome.learningRate, epoch: progress.epoch,
                           closedEpoch: closed ? progress.history.last : nil)
    }

    /// Adds the closed epoch's diagnostics (the mean over the ranks of each rank's values) and,
    /// when the monitor is due, its kNN top-1 to its record.
    private func closeEpoch() throws {
        var values = diagnostics.closeEpoch()
        if communicator.size > 1 {
            for index in values.indices { values[index].value = try communicator.sum(values[index].value) / Double(communicator.size) }
        }
        if let monitor, monitor.isDue(afterEpoch: progress.epoch) {
            values.append(("knn_top1", try knnTopOne(monitor)))
        }
        progress.appendToLastEpoch(values)
    }

    /// The steps of an epoch on a dataset of `count` images (count // B); throws a `TrainingError`
    /// for fewer images than the batch or another epoch length than the run's.
    private func epochLength(datasetCount count: Int) throws -> Int {
        let b = configuration.batchSize
        guard count >= b else { throw TrainingError.value("images has \(count) samples, fewer than batch_size (\(b))") }
        let steps = count / b
        if let fixed = progress.stepsPerEpoch, fixed != steps {
            throw TrainingError.value("images has \(count) samples, \(steps) batches of \(b), but this run's epochs have \(fixed) steps")
        }
        return steps
    }

    /// The shape of a dataset and a hash of 64 of its images, evenly spaced: what the ranks of a
    /// data-parallel run compare before their first step.
    static func datasetSummary(_ dataset: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int) -> String {
        let imageBytes = height * width * channels, samples = min(count, 64)
        var h = FNVHash()
        for k in 0..<samples {
            let image = (k * (count - 1)) / max(samples - 1, 1)
            h.mix(UnsafeBufferPointer(start: dataset + image * imageBytes, count: imageBytes))
        }
        return "\(count) images of \(height)x\(width)x\(channels), sample hash \(h.value)"
    }

    /// A permutation of 0..<count keyed by (seed, epoch): Fisher–Yates on `CounterRNG(seed, epoch,
    /// view: 5)` (views 0 and 1 are the augmentation's, 7 MoCo's shuffle).
    public static func permutation(_ count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = CounterRNG(seed: seed, epoch: UInt64(epoch), index: 0, view: 5)
        var order = Array(0..<count)
        rng.shuffle(&order)
        return order
    }

    /// One step on a uint8 batch with its dataset indices, outside the run's epoch bookkeeping
    /// (the progress does not move; `epoch` keys the augmentation and MoCHi's start). In a
    /// data-parallel run `count` is this rank's share. Throws when a collective fails.
    public func step(images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
                     indices: UnsafePointer<Int>, epoch: Int) throws -> StepOutcome {
        let size = pipeline.size
        timings.measure(\.augment) {
            views.resize([2 * count, size, size, 3])
            pipeline.views(of: images, count: count, height: height, width: width, channels: channels,
                           seed: configuration.seed, epoch: UInt64(epoch), indices: indices,
                           into: views.data, views.data + count * size * size * 3)
        }
        return try train(count: count, epoch: epoch)
    }

    /// One step on already-augmented float views, each (count, size, size, 3), outside the run's
    /// epoch bookkeeping; `epoch` only matters to MoCHi's start epoch. In a data-parallel run
    /// `count` is this rank's share. Throws when a collective fails.
    public func step(view0: UnsafePointer<Float>, view1: UnsafePointer<Float>, count: Int, size: Int, epoch: Int) throws -> StepOutcome {
        let stride = count * size * size * 3
        views.resize([2 * count, size, size, 3])
        views.data.update(from: view0, count: stride)
        (views.data + stride).update(from: view1, count: stride)
        return try train(count: count, epoch: epoch)
    }

    private func train(count: Int, epoch: Int) throws -> StepOutcome {
        let rate = learningRate
        timings.measure(\.backward) {
            encoder.zeroGradients()
            for p in method.parameters { p.zeroGradient() }
            for p in method.constantRateParameters { p.zeroGradient() }
        }
        let term = try method.accumulateGradients(views: views, count: count, epoch: epoch, step: stepCount, timings: &timings)
        try communicator.throwIfFailed()  // a SyncBN reduction that failed inside a layer
        guard let term else {
            timings.measure(\.optimizer) { method.finishStep(step: stepCount, totalSteps: schedule.totalSteps) }
            try runningStatisticsAverage?.average(over: communicator)
            return StepOutcome(loss: .nan, updated: false, step: stepCount, learningRate: rate, epoch: progress.epoch)
        }
        var loss = term
        if let gradientAverage {
            try timings.measure(\.backward) { try gradientAverage.average(over: communicator) }
            loss = try communicator.sum(term) / Double(communicator.size)
        }
        timings.measure(\.optimizer) {
            optimizer.step(learningRate: rate, constantRate: configuration.learningRate, constantFrom: constantRateFrom)
            method.finishStep(step: stepCount, totalSteps: schedule.totalSteps)
        }
        try runningStatisticsAverage?.average(over: communicator)
        stepCount += 1
        return StepOutcome(loss: loss, updated: true, step: stepCount, learningRate: rate, epoch: progress.epoch)
    }

    /// The encoder's pooled features (count, F) of uint8 images, in eval mode: each image is
    /// resized whole to the training view size and normalised as the views are (no augmentation).
    /// Throws `TensorError` when its buffers cannot be allocated.
    public func embed(images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
                      into features: UnsafeMutablePointer<Float>) throws {
        try requireMemory(forEmbeddingOf: count, height: height, width: width, channels: channels)
        let size = pipeline.size
        evaluationInput.resize([count, size, size, 3])
        evaluation.apply(images, count: count, height: height, width: width, channels: channels, into: evaluationInput.data)
        let h = encoder.forward(evaluationInput, training: false).features
        features.update(from: h.data, count: h.count)
    }

    /// Every tensor of a checkpoint: the encoder's state dict under "encoder.", the optimiser's
    /// state under "optimizer.", and the method's own state (MoCo: "key_encoder.", "queue",
    /// "queue_ptr", "queue_filled").
    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        encoder.stateDict().map { ("encoder." + $0.name, $0.tensor) }
            + optimizer.stateTensors.map { ("optimizer." + $0.0, $0.1) }
            + method.stateTensors() + diagnostics.stateTensors
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
}
