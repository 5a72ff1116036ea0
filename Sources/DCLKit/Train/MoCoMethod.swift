/// The MoCo family (MoCo v2, MoCo with DCL on the queue, MoCHi): a query encoder trained by
/// gradient, a key encoder that follows it as θ_k ← m·θ_k + (1 − m)·θ_q after every step (BN
/// running statistics included; it never receives gradients), and a FIFO queue of past keys as
/// negatives.
///
/// Queries are view 0 (and view 1 too when `symmetric`, with the views swapped for the keys, so
/// the loss is the mean of both directions). Keys carry no gradient.
///
/// Shuffle-BN, single-process: MoCo computes keys on shuffled sub-batches spread over GPUs so a
/// query never shares BatchNorm statistics with its own key. Here the key batch is put in a
/// seeded random order and split into `shuffleGroups` groups (fewer when the batch is small:
/// every group keeps at least 2 samples), and the key encoder runs once per group in training
/// mode, so each key is normalised with the statistics of a random subset of the batch rather
/// than of the batch its query saw. Keys are put back in order before the loss. `view_batchnorm`
/// concerns the queries only (symmetric: the two stacked views, per view or joint); one view of
/// queries and the key groups are one batch each either way. The key encoder
/// holds its state only: its forwards run in the query encoder's layers and buffers, before the
/// query forward (`Encoder.forward(_:stateOf:)`).
///
/// Queue warm-up (`MoCoSettings.queueWarmup`, on by default): MoCo starts its queue with random unit
/// vectors. On small data this start drives the encoder to collapse: random negatives exert no
/// net push (their mean is about zero), while the positive pulls every query towards keys that
/// all share the untrained network's common direction (mean pairwise cosine about 0.75 at
/// initialisation), so within the first K/B steps every projection turns to one direction; the
/// queue then fills with that direction and the loss sits at log(K + 1) (the experiments are in
/// docs/MOCO_TRAINING.md). With warm-up, the first K/B steps of a run only compute
/// keys and enqueue them (no loss, no update), so every loss sees real keys as negatives, which
/// repel the common direction from the first update. It costs K/B key-encoder forwards.
///
/// Data-parallel (a communicator of W > 1 ranks): shuffle-BN as MoCo does it across GPUs. The
/// key images of all ranks are shuffled over the global batch (`KeyShuffle`: a permutation rank 0
/// draws and broadcasts), each rank encodes its shuffled share as one BN group, and the keys go
/// back to their own rank and order; `shuffleGroups` then does not apply. The keys of all ranks
/// are gathered before they are enqueued, so every rank holds the same queue (and MoCHi mixes
/// from it); each rank's loss is the mean over its own queries.
///
/// MoCHi (when `MoCoSettings.mixing` is set and the epoch has reached its `startEpoch`): each
/// query gets s + s′ synthetic negatives from `HardNegativeMixing`, appended to the queue's
/// negatives for that query only.
public final class MoCoMethod: TrainingMethod {
    private let encoder: Encoder
    /// The momentum (key) encoder.
    public let keyEncoder: Encoder
    /// The queue of normalised past keys.
    public let queue: NegativeQueue
    private let loss: QueueContrastiveLoss
    private let mixing: HardNegativeMixing?
    private let settings: MoCoSettings
    private let seed: UInt64
    private let keyTargets: [Tensor]
    private let querySources: [Tensor]
    private let keyShuffle: KeyShuffle?
    private let gatheredKeys = Tensor(shape: [0])

    private let queries = Tensor(shape: [0])
    private let keyInput = Tensor(shape: [0])
    private let keys = Tensor(shape: [0])
    private let groupInput = Tensor(shape: [0])
    private let queryGradient = Tensor(shape: [0])
    private let extraNegatives = Tensor(shape: [0])
    private var order: [Int] = []
    private let diagnostics: ProjectionDiagnostics?

    /// Builds the key encoder as a copy of `encoder` (same configuration, same state) and a
    /// queue of K = `settings.queueSize` random unit keys; `seed` keys the queue's start, the
    /// shuffle-BN order and MoCHi's draws. With a `communicator` of W > 1 ranks the keys are
    /// shuffled across ranks and gathered before they are enqueued.
    /// Each step's queries, keys and queue go to `diagnostics` (queue form).
    public init(encoder: Encoder, objective: QueueObjective, temperature: Double, settings: MoCoSettings, seed: UInt64,
                communicator: Communicator? = nil, diagnostics: ProjectionDiagnostics? = nil) throws {
        self.diagnostics = diagnostics
        guard let dim = encoder.configuration.projectionDimension else {
            preconditionFailure("MoCoMethod: the encoder needs a projection head")
        }
        self.encoder = encoder
        self.settings = settings
        self.seed = seed
        keyEncoder = Encoder(configuration: encoder.configuration, seed: seed)
        try keyEncoder.copyState(from: encoder)
        queue = NegativeQueue(size: settings.queueSize, dim: dim, seed: seed)
        loss = QueueContrastiveLoss(objective: objective, temperature: temperature)
        mixing = settings.mixing.map { HardNegativeMixing(hardest: $0.hardest, mixed: $0.pairs, queryMixed: $0.withQuery) }
        keyTargets = KeyEncoderUpdate.tensors(of: keyEncoder)
        querySources = KeyEncoderUpdate.tensors(of: encoder)
        keyShuffle = communicator.flatMap { $0.size > 1 ? KeyShuffle(communicator: $0) : nil }
    }

    public func accumulateGradients(views: Tensor, count: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double? {
        let imageSize = views.count / (2 * count)
        let queryCount = settings.keysPerStep(count)
        let dim = queue.dim
        let warmingUp = settings.queueWarmup && !queue.isFull
        let value: Double? = try timings.measure(\.forward) {
            // Keys of the other view, in shuffled BN groups, without gradient.
            keyInput.resize([queryCount] + Array(views.shape.dropFirst()))
            copyRows(from: views, first: count, count: count, into: keyInput, at: 0, rowSize: imageSize)
            if settings.symmetric {
                copyRows(from: views, first: 0, count: count, into: keyInput, at: count, rowSize: imageSize)
            }
            try computeKeys(count: queryCount, imageSize: imageSize, dim: dim, step: step)
            if warmingUp { return nil }

            let input: Tensor
            if settings.symmetric {
                input = views
            } else {
                queries.resize([count] + Array(views.shape.dropFirst()))
                copyRows(from: views, first: 0, count: count, into: queries, at: 0, rowSize: imageSize)
                input = queries
            }
            let q = encoder.forward(input, training: true, statisticsGroups: settings.symmetric ? encoder.viewStatisticsGroups : 1).projection!
            queryGradient.resize(q.shape)
            var extra: UnsafePointer<Float>? = nil
            var extraCount = 0
            if let mixing, let start = settings.mixing?.startEpoch, epoch >= start {
                extraCount = mixing.negativesPerQuery
                extraNegatives.resize([queryCount, extraCount, dim])
                mixing.makeNegatives(queries: q.data, count: queryCount, dim: dim, queue: queue.keys.data,
                                     queueSize: queue.size, seed: seed, step: UInt64(step),
                                     into: extraNegatives.data)
                extra = UnsafePointer(extraNegatives.data)
            }
            diagnostics?.observe(view0: q.data, view1: keys.data, rows: queryCount, dim: dim, temperature: loss.temperature,
                                 queue: queue.keys.data, queueSize: queue.size)
            return loss.compute(queries: q.data, keys: keys.data, count: queryCount, dim: dim,
                                queue: queue.keys.data, queueSize: queue.size,
                                extraNegatives: extra, extraPerQuery: extraCount, gradient: queryGradient.data)
        }
        guard value != nil else { return nil }
        timings.measure(\.backward) {
            encoder.accumulateGradients(projectionGradient: queryGradient, featureGradient: nil)
        }
        return value
    }

    public var parameters: [Parameter] { [] }

    public var batchNorms: [BatchNorm] { [] }

    /// The key images (and their group or shuffled copies), the N × (K + s + s′) logits with their gradients, MoCHi's mixed negatives
    /// (N, s + s′, D), the (N, D) copies around them (the key encoder's forward runs in the
    /// query encoder's buffers).
    public func bufferElements(views: Int, side: Int, dim: Int) -> Int {
        let mixed = settings.mixing.map { $0.pairs + $0.withQuery } ?? 0
        return [saturatingProduct(3, views, side, side, 3),
                saturatingProduct(3, views, saturatingSum(settings.queueSize, mixed)), saturatingProduct(2, views, mixed, dim),
                saturatingProduct(8, views, dim)].reduce(0, saturatingSum)
    }

    /// A step enqueues its keys: they must fit the queue.
    public func requireStep(count: Int) throws {
        guard settings.keysPerStep(count) <= settings.queueSize else {
            throw TrainingError.value("a step of \(count) images enqueues \(settings.keysPerStep(count)) keys, more than queue_size (\(settings.queueSize))")
        }
    }

    /// The key encoder's running means and variances.
    public var runningStatistics: [Tensor] { keyEncoder.runningStatistics }

    /// The key encoder follows the query encoder (`KeyEncoderUpdate`), then the step's keys join the queue.
    public func finishStep() {
        KeyEncoderUpdate.apply(to: keyTargets, from: querySources, momentum: settings.keyMomentum)
        let enqueued = keyShuffle == nil ? keys : gatheredKeys
        queue.enqueue(enqueued.data, count: enqueued.shape[0])
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        keyEncoder.checkpointTensors(prefix: "key_encoder.") + queue.stateTensors()
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        try keyEncoder.loadCheckpoint(tensors, prefix: "key_encoder.")
        try queue.loadState(tensors)
    }

    /// Keys of `keyInput`'s rows, L2-normalised later by the loss: the rows go through the key
    /// encoder in a seeded shuffled order, split into BN groups, and come back in order. The order
    /// is keyed by (step, keys enqueued so far), distinct for every warm-up and training step.
    /// Across ranks, `KeyShuffle` spreads the rows over the global batch instead and the keys of
    /// all ranks are gathered into `gatheredKeys` for the queue.
    private func computeKeys(count: Int, imageSize: Int, dim: Int, step: Int) throws {
        if let keyShuffle {
            let counter = UInt64(step) << 32 | UInt64(queue.filled)
            let shuffled = try keyShuffle.shuffle(keyInput, seed: seed, step: counter)
            keys.copy(from: try keyShuffle.unshuffle(encoder.forward(shuffled, stateOf: keyEncoder).projection!))
            let ranks = keyShuffle.communicator.size
            gatheredKeys.resize([ranks * count, dim])
            try keyShuffle.communicator.allgather(UnsafeBufferPointer(keys.buffer), into: gatheredKeys.buffer)
            return
        }
        var rng = CounterRNG(seed: seed, epoch: UInt64(step), index: UInt64(queue.filled), view: 7)
        if order.count != count { order = Array(0..<count) }
        for i in 0..<count { order[i] = i }
        rng.shuffle(&order)
        let groups = max(1, min(settings.shuffleGroups, count / 2))
        keys.resize([count, dim])
        for g in 0..<groups {
            let lo = count * g / groups, hi = count * (g + 1) / groups
            groupInput.resize([hi - lo] + Array(keyInput.shape.dropFirst()))
            for (row, i) in order[lo..<hi].enumerated() {
                copyRows(from: keyInput, first: i, count: 1, into: groupInput, at: row, rowSize: imageSize)
            }
            let k = encoder.forward(groupInput, stateOf: keyEncoder).projection!
            for (row, i) in order[lo..<hi].enumerated() {
                (keys.data + i * dim).update(from: k.data + row * dim, count: dim)
            }
        }
    }
}

extension MoCoMethod {
    /// The family's defaults: MoCo v2's head and augmentation ("aug+"), SGD 0.03 per 256 images
    /// (MoCo v2), LARS 0.3.
    static let defaults = MethodDefaults(head: .moco, augment: "mocov2", baseLearningRate: [.sgd: 0.03, .lars: 0.3])

    /// What every member adds to a checkpoint.
    static let checkpointEntries = ["key_encoder."] + UnitRowRing.checkpointNames(prefix: NegativeQueue.checkpointPrefix)

    /// MoCo v2, MoCo with DCL on the queue, MoCHi.
    static let entries = [
        MethodEntry(name: "moco", family: "moco", label: "MoCo", summary: "InfoNCE of each query against its key and a queue of K past keys from a momentum encoder",
                    paper: "Chen, Fan, Girshick, He 2020", defaults: defaults, settings: MoCoSettings.self,
                    checkpointEntries: checkpointEntries) { context, settings in
            try MoCoMethod(context, objective: .infonce, settings: settings)
        },
        MethodEntry(name: "moco-dcl", family: "moco", label: "MoCo-DCL", summary: "MoCo v2 with DCL's loss on the queue: the positive out of the denominator",
                    paper: "Yeh et al. 2022", defaults: defaults, settings: MoCoSettings.self,
                    checkpointEntries: checkpointEntries) { context, settings in
            try MoCoMethod(context, objective: .dcl, settings: settings)
        },
        MethodEntry(name: "mochi", family: "moco", label: "MoCHi", summary: "MoCo v2 plus synthetic hard negatives: s mixes of the N hardest queue keys and s′ mixes with the query",
                    paper: "Kalantidis et al. 2020", defaults: defaults, settings: MoCoSettings.self,
                    checkpointEntries: checkpointEntries, check: { try $0.checkMixing() }) { context, settings in
            var mixing = settings
            mixing.mixing = settings.mixingFields
            return try MoCoMethod(context, objective: .infonce, settings: mixing)
        },
    ]

    private convenience init(_ context: MethodContext, objective: QueueObjective, settings: MoCoSettings) throws {
        try self.init(encoder: context.encoder, objective: objective, temperature: settings.temperature, settings: settings,
                      seed: context.configuration.seed, communicator: context.communicator, diagnostics: context.diagnostics)
    }
}

/// Copies `count` rows of `rowSize` floats from `source` (starting at row `first`) into
/// `target` at row `at`.
@inline(__always)
func copyRows(from source: Tensor, first: Int, count: Int, into target: Tensor, at: Int, rowSize: Int) {
    (target.data + at * rowSize).update(from: source.data + first * rowSize, count: count * rowSize)
}
