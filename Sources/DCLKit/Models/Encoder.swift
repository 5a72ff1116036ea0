/// A contrastive encoder: the ResNet trunk f giving features h = f(x) and, optionally, the
/// projection head g giving z = g(h).
///
/// Input x: (N, H, W, 3) float32 NHWC with H, W ≥ `configuration.totalStride`. Output: h (N, F)
/// and z (N, D) or nil without a head. Backward takes dL/dz and/or dL/dh for the last forward,
/// accumulates every parameter gradient and returns dL/dx.
///
/// **BatchNorm batch.** Every BatchNorm (trunk and head) treats the whole input of one forward
/// as one batch: feeding both views of N images as one batch of 2N normalises them with shared
/// statistics and moves the running statistics once. With `statisticsGroups` G > 1 a training
/// forward's batch splits into G equal consecutive groups instead (both views of N images with
/// G = 2: each view normalised over its own N images, the running statistics moved once per
/// view, as PyTorch's model called once per view; `BatchNorm.statisticsGroups`); the methods
/// pass `viewStatisticsGroups` for their batches of stacked views. Training needs at least 2
/// values per channel at every BatchNorm (`validate(inputShape:training:)` says so, for a batch
/// of one group).
///
/// State follows torchvision: `stateDict()` has torchvision's names and layouts (`conv1.weight`
/// OIHW, `layer1.0.bn1.running_mean`, …, no `fc`), the head under `head.`; `parameters` and
/// `namedBuffers` are in that same order, identical for two encoders of one configuration (what
/// MoCo's momentum update pairs up). Buffers (activations, gradients) are kept between calls, so
/// steps after the first do not allocate tensors. An encoder serves one thread at a time.
///
/// **Backward consumes the forward.** The trunk's backward writes gradients over the activations
/// it reads for the last time (see `BasicBlock`), so a second backward of one forward (gradient
/// accumulation) first replays that forward from the kept input, with the BatchNorm buffers put
/// back afterwards: the same activations again (bit for bit at an unchanged thread count), and
/// the running statistics moved once per forward, as without the replay.
public final class Encoder {
    /// What this encoder is.
    public let configuration: EncoderConfiguration
    /// The ResNet trunk f.
    public let trunk: ResNet
    /// The projection head g, if any.
    public let head: ProjectionHead?
    /// Scratch buffers shared by every layer (set `workspace.profile` to time layer kinds).
    public let workspace: Workspace
    /// Every parameter and buffer, in torchvision's order.
    public let stateEntries: [StateEntry]
    /// The trainable parameters with their full names, in state-dict order.
    public let namedParameters: [(name: String, parameter: Parameter)]
    /// The BatchNorm buffers (`running_mean`, `running_var`, `num_batches_tracked`) with their full names.
    public let namedBuffers: [(name: String, tensor: Tensor)]
    /// Whether a forward has run (backward needs one).
    public private(set) var hasForward = false
    /// The statistics groups of a training batch of stacked views (`RunConfiguration.viewBatchNorm`):
    /// 1 normalises the views together, 2 each view on its own. The methods pass it to
    /// `forward(_:training:statisticsGroups:)` for their batches of two views; the trainer sets it.
    public var viewStatisticsGroups = 1

    /// The shapes (and modes) `requireMemory(forInputShape:training:)` has granted.
    var checkedShapes = GrantedShapes()
    private let summedFeatureGradient = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    /// The last forward's input, mode and statistics groups, for a replay.
    private var lastForward: (input: Tensor, training: Bool, groups: Int)?
    /// Every BatchNorm of the trunk (the head's take theirs from `ProjectionHead.forward`).
    private let trunkNorms: [BatchNorm]
    /// Whether a backward has consumed the trunk's activations since the last forward.
    private var activationsConsumed = false

    /// An encoder initialised as torchvision's ResNet (see `ResNet.initialize`) and PyTorch's
    /// Linear, all draws keyed by `seed`; `zeroInitResidual` zeroes each block's last BatchNorm γ.
    public init(configuration: EncoderConfiguration, seed: UInt64 = 0, zeroInitResidual: Bool = false,
                workspace: Workspace = Workspace()) {
        self.configuration = configuration
        self.workspace = workspace
        trunk = ResNet(configuration: configuration, workspace: workspace)
        head = configuration.head.map {
            ProjectionHead(kind: $0, inFeatures: configuration.featureDimension, hidden: configuration.headHidden,
                           outFeatures: configuration.headOutput, workspace: workspace)
        }
        trunk.initialize(seed: seed, zeroInitResidual: zeroInitResidual)
        head?.initialize(seed: seed)
        stateEntries = trunk.stateEntries() + (head?.stateEntries() ?? [])
        namedParameters = stateEntries.compactMap { e in e.parameter.map { (e.name, $0) } }
        namedBuffers = stateEntries.filter { $0.parameter == nil }.map { ($0.name, $0.tensor) }
        trunkNorms = trunk.batchNorms
    }

    /// Every BatchNorm of the trunk and the head (SyncBN sets their `synchronization`).
    public var batchNorms: [BatchNorm] {
        trunk.batchNorms + (head?.batchNorms ?? [])
    }

    /// Every BatchNorm's running mean and variance (not the batch counts), in state-dict order.
    public var runningStatistics: [Tensor] {
        namedBuffers.filter { !$0.name.hasSuffix("num_batches_tracked") }.map(\.tensor)
    }

    /// The trainable parameters in state-dict order.
    public var parameters: [Parameter] { namedParameters.map { $0.parameter } }

    /// Multiply-adds of the last forward (convolutions and Linear layers).
    public var multiplyAdds: Int {
        trunk.convolutions.reduce(0) { $0 + $1.multiplyAdds } + (head?.linears.reduce(0) { $0 + $1.multiplyAdds } ?? 0)
    }

    /// Throws `EncoderError.invalidInput` unless `shape` is (N, H, W, 3) with N ≥ 1 and H, W at
    /// least the total stride, and, in training, every BatchNorm sees at least 2 values per channel;
    /// throws `TensorError.outOfMemory` when the buffers of that forward (and of the backward after
    /// it, in training) cannot be allocated (`requireMemory(forInputShape:training:)`).
    public func validate(inputShape shape: [Int], training: Bool) throws {
        guard shape.count == 4 else {
            throw EncoderError.invalidInput("x must have 4 dimensions (N, H, W, 3), got shape \(shape)")
        }
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        guard c == 3 else { throw EncoderError.invalidInput("x must have 3 channels last (N, H, W, 3), got shape \(shape)") }
        guard n >= 1 else { throw EncoderError.invalidInput("x must hold at least one image, got shape \(shape)") }
        let side = configuration.totalStride
        guard h >= side, w >= side else {
            throw EncoderError.invalidInput(
                "x is \(h)×\(w): H and W must be at least \(side) for the \(configuration.stem.rawValue) stem (its total stride)")
        }
        if training {
            let last = saturatingProduct(trunk.outputSide(min(h, 1 << 40)), trunk.outputSide(min(w, 1 << 40)))
            if saturatingProduct(n, last) < 2 || (configuration.head?.hasBatchNorm == true && n < 2) {
                throw EncoderError.invalidInput(
                    "training needs at least 2 values per BatchNorm channel; a batch of \(n) \(h)×\(w) images is too small")
            }
        }
        try requireMemory(forInputShape: shape, training: training)
    }

    /// Features h (N, F) and projections z (N, D) (nil without a head) of `x` (N, H, W, 3).
    /// In training every BatchNorm normalises each of `statisticsGroups` equal consecutive groups
    /// of the batch on its own (N a multiple of it; see `BatchNorm.statisticsGroups`).
    /// The returned tensors belong to the encoder and change at its next forward. `x` is kept
    /// (not copied) for backward and must stay unchanged until then.
    /// - Precondition: `validate(inputShape:training:)` of one group's shape does not throw.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool, statisticsGroups: Int = 1) -> (features: Tensor, projection: Tensor?) {
        let h = trunkForward(x, training: training, groups: statisticsGroups)
        let z = head?.forward(h, training: training, statisticsGroups: statisticsGroups)
        hasForward = true
        lastForward = (x, training, statisticsGroups)
        activationsConsumed = false
        return (h, z)
    }

    /// The trunk's forward with `groups` statistics groups at every BatchNorm.
    @discardableResult
    private func trunkForward(_ x: Tensor, training: Bool, groups: Int) -> Tensor {
        for norm in trunkNorms { norm.statisticsGroups = groups }
        return trunk.forward(x, training: training)
    }

    /// A training-mode forward of `x` by `other`, an encoder of the same configuration that
    /// never runs a forward of its own (a momentum copy: BYOL's target network, MoCo's key
    /// encoder), in this encoder's layers and buffers: `other`'s state (parameters, running
    /// statistics, batch counts) and BatchNorm synchronisation are exchanged into these layers
    /// for the call (pointers only, `Tensor.exchangeStorage`) and back after it. The outputs are
    /// bit for bit those of `other.forward(x, training: true)` and `other`'s running statistics
    /// move as they would, while `other` allocates no activation and nothing is kept for a
    /// backward: this encoder's own last forward is gone (its next backward needs a new
    /// forward). The returned tensors are this encoder's and change at its next forward.
    /// `statisticsGroups` as in `forward(_:training:statisticsGroups:)`.
    @discardableResult
    public func forward(_ x: Tensor, stateOf other: Encoder, statisticsGroups: Int = 1) -> (features: Tensor, projection: Tensor?) {
        precondition(other !== self && other.configuration == configuration, "Encoder.forward(stateOf:): a different configuration")
        exchangeState(with: other)
        defer { exchangeState(with: other) }
        hasForward = false
        lastForward = nil
        let h = trunkForward(x, training: true, groups: statisticsGroups)
        return (h, head?.forward(h, training: true, statisticsGroups: statisticsGroups))
    }

    /// Exchanges every state tensor's storage and every BatchNorm's synchronisation with `other`'s.
    private func exchangeState(with other: Encoder) {
        for (mine, theirs) in zip(stateEntries, other.stateEntries) { mine.tensor.exchangeStorage(with: theirs.tensor) }
        for (mine, theirs) in zip(batchNorms, other.batchNorms) { swap(&mine.synchronization, &theirs.synchronization) }
    }

    /// Backward of the last forward from dL/dz (N, D) and/or dL/dh (N, F): accumulates every
    /// parameter gradient and returns dL/dx (N, H, W, 3), a tensor owned by the encoder.
    @discardableResult
    public func backward(projectionGradient: Tensor?, featureGradient: Tensor?) -> Tensor {
        backward(projectionGradient, featureGradient, into: inputGradient)
        return inputGradient
    }

    /// As `backward(projectionGradient:featureGradient:)` without computing dL/dx (a training
    /// step needs only the parameter gradients; this skips the stem's input-gradient GEMM).
    public func accumulateGradients(projectionGradient: Tensor?, featureGradient: Tensor?) {
        backward(projectionGradient, featureGradient, into: nil)
    }

    /// Sets every parameter gradient to zero.
    public func zeroGradients() {
        for (_, p) in namedParameters { p.zeroGradient() }
    }

    /// Every parameter and buffer as (torchvision name, copy in PyTorch's layout), in order.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        stateEntries.map { ($0.name, $0.exportedValue()) }
    }

    /// Loads a state dict in torchvision's names and layouts. Every name of `stateDict()` must be
    /// present with its shape and no other name may appear (else `EncoderError.stateMismatch`
    /// naming the entries), and every value must be one a model can hold (else
    /// `EncoderError.invalidState`): finite, `running_var` ≥ 0, `num_batches_tracked` a whole
    /// number ≥ 0. This is the one check of every state that reaches an encoder (arrays through
    /// the ABI, `load(from:)`, a trainer's checkpoint); on error nothing is changed.
    public func loadStateDict(_ state: [String: Tensor]) throws {
        try checkShapes(state.mapValues { $0.shape })
        for e in stateEntries { try Encoder.checkValues(e.name, state[e.name]!) }
        for e in stateEntries { e.assign(from: state[e.name]!.data) }
    }

    /// Throws `EncoderError.stateMismatch` unless `shapes` has exactly this encoder's names,
    /// each with its exported shape.
    private func checkShapes(_ shapes: [String: [Int]]) throws {
        try Encoder.checkShapes(shapes, expected: stateEntries.map { ($0.name, $0.exportedShape) },
                                architecture: configuration.architecture)
    }

    /// Throws `EncoderError.invalidState` unless the values of entry `name` can be a model's.
    private static func checkValues(_ name: String, _ tensor: Tensor) throws {
        let variance = name.hasSuffix("running_var"), count = name.hasSuffix("num_batches_tracked")
        for i in 0..<tensor.count {
            let v = tensor[i]
            guard v.isFinite else { throw EncoderError.invalidState("\(name) has a non-finite value (\(v)) at flat index \(i)") }
            if variance && v < 0 { throw EncoderError.invalidState("\(name) has a negative variance (\(v)) at flat index \(i)") }
            if count && (v < 0 || v != v.rounded()) {
                throw EncoderError.invalidState("\(name) must be a whole number ≥ 0, got \(v)")
            }
        }
    }

    /// Copies every parameter and buffer from `other`, which must have the same configuration
    /// (for example a MoCo key encoder taking the query encoder's state).
    public func copyState(from other: Encoder) throws {
        guard other.configuration == configuration else {
            throw EncoderError.stateMismatch("cannot copy the state of a different encoder configuration")
        }
        for (mine, theirs) in zip(stateEntries, other.stateEntries) { mine.tensor.copy(from: theirs.tensor) }
    }

    /// Values in the state dict (`stateDict()` allocates a copy of this many floats).
    public var stateElements: Int { stateEntries.reduce(0) { $0 + $1.tensor.count } }

    /// Writes the state dict and the configuration (as metadata) to a safetensors file, atomically.
    /// Throws `IOFailure`, or `TensorError` (nothing written) when the state's copy in PyTorch's
    /// layout cannot be allocated.
    public func save(to path: FilePath) throws {
        try Tensor.requireAllocatable(floats: stateElements)
        try Safetensors.write(stateDict(), metadata: configuration.metadata, to: path)
    }

    /// An encoder rebuilt from a file written by `save(to:)`. Throws `IOFailure` (`.format` when the
    /// metadata or the tensors do not describe an encoder, or hold values no model has) or
    /// `TensorError` when the tensors cannot be held in memory.
    ///
    /// Nothing is built or read before it is checked: the header against the file's size
    /// (`Safetensors.File`), the configuration of the metadata against the number of values the
    /// file holds (`stateCount`) and the tensors' names and shapes (`stateShapes`), then the
    /// memory the model needs (`requireMemory(for:)`), and only then is the model built and the
    /// tensors' values read, one tensor at a time.
    public static func load(from path: FilePath) throws -> Encoder {
        let file = try Safetensors.File(path)
        do {
            let configuration = try EncoderConfiguration(metadata: file.metadata)
            let expected = stateCount(configuration)
            guard file.elementCount == expected else {
                throw EncoderError.stateMismatch("the metadata describes a \(configuration.architecture.rawValue) of "
                                                 + "\(expected) values, but the file holds \(file.elementCount)")
            }
            try checkShapes(Dictionary(file.entries.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a }),
                            expected: stateShapes(configuration), architecture: configuration.architecture)
            try requireMemory(for: configuration)
            let encoder = Encoder(configuration: configuration)
            try encoder.loadStateDict(try file.tensors())
            return encoder
        } catch let error as EncoderError {
            throw IOFailure.format("\(path): \(error.description)")
        }
    }

    /// The number of values in the state dict of an encoder of `configuration`, computed from
    /// the architecture without building it (a test checks it against built encoders), so
    /// sizes can be checked before anything is allocated.
    public static func stateCount(_ configuration: EncoderConfiguration) -> Int {
        stateShapes(configuration).reduce(0) { saturatingSum($0, Tensor.product($1.shape) ?? .max) }
    }

    /// Throws `TensorError.outOfMemory` unless building an encoder of `configuration` can allocate
    /// everything it holds (`constructionElements`: values, gradients, BatchNorm scratch) at this
    /// moment, by the machine's memory and the process's address-space limit
    /// (`Tensor.requireAllocatable`): the check before building one, whose layers allocate with
    /// the non-throwing `Tensor(shape:)`.
    public static func requireMemory(for configuration: EncoderConfiguration) throws {
        try Tensor.requireAllocatable(floats: constructionElements(configuration))
    }

    /// Runs the last forward's trunk again (its activations were consumed by a backward) and puts
    /// the BatchNorm buffers back as they were, so the running statistics move once per forward.
    private func replayForward() {
        guard let (x, training, groups) = lastForward else { preconditionFailure("Encoder replay before forward") }
        let saved = namedBuffers.map { $0.tensor.clone() }
        trunkForward(x, training: training, groups: groups)
        for (entry, value) in zip(namedBuffers, saved) { entry.tensor.copy(from: value) }
    }

    private func backward(_ projectionGradient: Tensor?, _ featureGradient: Tensor?, into dx: Tensor?) {
        precondition(hasForward, "Encoder.backward before forward")
        if activationsConsumed { replayForward() }
        precondition(projectionGradient != nil || featureGradient != nil, "Encoder.backward without a gradient")
        let g = summedFeatureGradient
        if let projectionGradient {
            guard let head else { preconditionFailure("Encoder.backward: projection gradient without a head") }
            head.backward(projectionGradient, into: g)
            if let featureGradient {
                precondition(featureGradient.shape == g.shape, "Encoder: feature gradient \(featureGradient.shape), features \(g.shape)")
                for i in 0..<g.count { g[i] += featureGradient[i] }
            }
        } else if let featureGradient {
            precondition(featureGradient.shape == trunk.pool.output.shape,
                         "Encoder: feature gradient \(featureGradient.shape), features \(trunk.pool.output.shape)")
            g.copy(from: featureGradient)
        }
        trunk.backward(g, into: dx)
        activationsConsumed = true
    }
}
