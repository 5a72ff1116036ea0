import DCLKitKernels

/// Batch normalisation over the last axis, as PyTorch's BatchNorm2d on NHWC activations
/// (N, H, W, C) and BatchNorm1d on (N, C) alike; ε = 1e-5, momentum 0.1.
///
/// Training: `y = γ·(x − μ)/√(σ² + ε) + β`, μ and σ² the mean and biased variance of each channel
/// over its m = N·H·W values; the running statistics move as
/// `running_mean ← 0.9·running_mean + 0.1·μ`, `running_var ← 0.9·running_var + 0.1·σ²·m/(m − 1)`
/// (the unbiased variance), and `num_batches_tracked` counts the batches. Training needs m ≥ 2.
/// Evaluation: μ and σ² are the running statistics. Output shape = input shape.
///
/// Fusions: with `relu` the output is `max(0, ·)` of the normalised value, after adding an
/// optional `residual` of the output's shape (a residual block's `relu(bn(x) + shortcut)`), in
/// the same pass. Passes over the activations: forward in training reads x twice (the batch
/// statistics as shifted moments in one pass, then the normalisation), backward reads it twice
/// (the two gradient sums with the ReLU mask applied, then dL/dx). Without a residual the ReLU's
/// mask is recomputed from x in both backward passes (x·scale + shift > 0, rounded as the forward
/// rounded it), so backward reads neither the output nor writes the masked gradient back: its
/// reductions read two streams instead of four. The loops are the SIMD kernels of
/// `DCLKitKernels` (AVX2 + FMA or AVX-512 when the CPU has them).
///
/// Reductions run over fixed blocks of rows, so results do not depend on the thread count.
///
/// SyncBN: with `synchronization` set, training uses the mean and variance of the global batch
/// (this process's rows and those of the other processes of a data-parallel run), and backward
/// the global Σg and Σg·(x − μ) for dL/dx; dL/dγ and dL/dβ stay this process's own sums, which
/// the gradient average over processes completes.
///
/// Statistics groups: with `statisticsGroups` G > 1, a training forward splits the batch (its
/// first axis, a multiple of G) into G equal consecutive groups (two stacked views: view 0's rows,
/// then view 1's) and normalises each with its own mean and variance; backward's reductions are
/// per group too, and the running statistics move once per group, in group order: exactly G
/// separate calls of PyTorch's BatchNorm, one per group (`num_batches_tracked` counts G). With
/// SyncBN each group's statistics are those of that group over all processes (one collective
/// for all groups). Evaluation ignores the groups.
public final class BatchNorm {
    /// ε added to the variance.
    public static let epsilon: Float = 1e-5
    /// Weight of the new batch in the running statistics.
    public static let momentum: Float = 0.1

    /// Channels C (the last axis).
    public let channels: Int
    /// Whether ReLU follows the normalisation (and the residual add).
    public let appliesReLU: Bool
    /// γ, (C), initially 1.
    public let weight: Parameter
    /// β, (C), initially 0.
    public let bias: Parameter
    /// Running mean, (C), initially 0.
    public let runningMean: Tensor
    /// Running (unbiased) variance, (C), initially 1.
    public let runningVariance: Tensor
    /// Batches seen in training, a scalar (shape []) holding an exact integer.
    public let batchesTracked = Tensor(shape: [])
    /// The output of the last forward (shape of the input); the shared buffer's tensor when the
    /// layer writes into one.
    public let output: Tensor
    /// The reductions over the global batch of SyncBN; nil (the default) normalises over this
    /// process's batch.
    public var synchronization: BatchNormSynchronization?
    /// The number of equal consecutive groups of the batch that a training forward normalises
    /// separately (1: the whole batch; 2: two stacked views, each on its own). At least 1.
    public var statisticsGroups = 1 {
        didSet { precondition(statisticsGroups >= 1, "BatchNorm: \(statisticsGroups) statistics groups") }
    }
    /// The global number of values per channel of each group in the last training forward (this
    /// batch's own count without synchronisation).
    private var batchValues = 0
    /// The groups of the last forward (1 in evaluation).
    private var groups = 1

    private let shared: SharedActivation?
    private let workspace: Workspace
    private var input: Tensor?
    /// μ and 1/√(σ² + ε) of the last forward, (G, C).
    private let mean: Tensor
    private let inverseDeviation: Tensor
    private var usedBatchStatistics = false
    /// Whether the last forward added a residual (backward then masks by the kept output).
    private var addedResidual = false
    private let ownInputGradient = Tensor(shape: [0])
    /// Per-channel coefficients of the elementwise passes, five rows of C per group (group g's
    /// from row 5g): the normalisation's scale and shift (rows 0 and 1; row 0 first holds the
    /// statistics' shift), and backward's k1, k2, k0 (rows 2–4).
    private let coefficients: Tensor
    /// The per-channel totals of the last reduction (2·C per group, group g's from 2·C·g), in
    /// double precision.
    private var totals: UnsafeMutablePointer<Double>
    /// The doubles `totals` holds.
    private var totalsCapacity: Int
    private static let blockRows = 512

    /// A BatchNorm with γ = 1, β = 0, writing its output into a buffer of its own or, with
    /// `shared`, into that buffer (taking it over at every forward; backward then needs
    /// `recomputeOutput()` first if another layer took it meanwhile).
    public init(channels: Int, relu: Bool = false, shared: SharedActivation? = nil, workspace: Workspace = Workspace()) {
        precondition(channels >= 1, "BatchNorm: channels \(channels)")
        self.channels = channels
        self.appliesReLU = relu
        self.shared = shared
        self.output = shared?.tensor ?? Tensor(shape: [0])
        self.workspace = workspace
        weight = Parameter(name: "weight", shape: [channels], decays: false)
        weight.value.fill(1)
        bias = Parameter(name: "bias", shape: [channels], decays: false)
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        mean = Tensor(shape: [channels])
        inverseDeviation = Tensor(shape: [channels])
        coefficients = Tensor(shape: [5, channels])
        totals = .allocate(capacity: 2 * channels)
        totalsCapacity = 2 * channels
    }

    deinit { totals.deallocate() }

    /// Whether `output` holds this layer's last output: always for an own buffer; for a shared
    /// one, until another layer takes the buffer over.
    public var holdsOutput: Bool { shared?.isHeld(by: self) ?? true }

    /// Normalises `x` (…, C) into `output`, adding `residual` (the output's shape) before the
    /// ReLU when given. In training, uses and records the batch statistics.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool, residual: Tensor? = nil) -> Tensor {
        precondition(x.shape.last == channels, "BatchNorm: input \(x.shape), channels \(channels)")
        if let residual { precondition(residual.shape == x.shape, "BatchNorm: residual \(residual.shape), input \(x.shape)") }
        input = x
        usedBatchStatistics = training
        addedResidual = residual != nil
        setGroups(training ? statisticsGroups : 1)
        if groups > 1 {
            precondition(x.shape.first.map { $0 % groups == 0 } ?? false,
                         "BatchNorm: a batch of shape \(x.shape) does not split into \(groups) statistics groups")
        }
        workspace.timed(.batchNorm) {
            if training {
                computeBatchStatistics(x)
            } else {
                for c in 0..<channels {
                    mean[c] = runningMean[c]
                    inverseDeviation[c] = 1 / (runningVariance[c] + BatchNorm.epsilon).squareRoot()
                }
            }
            normalize(x, residual: residual)
        }
        return output
    }

    /// Writes the last forward's output again into `output` from the kept input and statistics
    /// (no residual) and takes the shared buffer back, for layers whose output lives in one.
    /// Returns `output`.
    @discardableResult
    public func recomputeOutput() -> Tensor {
        guard let x = input else { preconditionFailure("BatchNorm.recomputeOutput before forward") }
        workspace.timed(.batchNorm) { normalize(x, residual: nil) }
        return output
    }

    /// Backward of the last forward: adds dL/dγ, dL/dβ to the gradients and writes dL/dx into
    /// `inputGradient` (resized to the input's shape; it may be `outputGradient` itself, or the
    /// input x, which backward then overwrites). With ReLU after a residual add, `outputGradient`
    /// is first masked in place where the output is not positive: on return it holds
    /// dL/d(pre-activation), which is also the residual's gradient; the output must then be the
    /// last forward's (`holdsOutput`; see `recomputeOutput()`). With ReLU and no residual, the
    /// mask is recomputed from x and `outputGradient` is left as it is (unless it is `inputGradient`).
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor) {
        guard let x = input else { preconditionFailure("BatchNorm.backward before forward") }
        precondition(outputGradient.shape == x.shape, "BatchNorm: gradient \(outputGradient.shape), input \(x.shape)")
        precondition(!appliesReLU || !addedResidual || holdsOutput,
                     "BatchNorm.backward: the shared output was overwritten; recomputeOutput() first")
        workspace.timed(.batchNorm) {
            let c = channels
            let rows = x.count / c, groupRows = rows / groups
            let gated = appliesReLU && !addedResidual
            if gated { setScaleAndShift() }
            accumulateGradientSums(outputGradient, x, gated: gated)
            for j in 0..<c {
                var (dWeight, dBias) = (0.0, 0.0)
                for k in 0..<groups {
                    dWeight += totals[2 * c * k + c + j] * Double(inverseDeviation[k * c + j])
                    dBias += totals[2 * c * k + j]
                }
                weight.gradient[j] += Float(dWeight)
                bias.gradient[j] += Float(dBias)
            }
            var invM = 1 / Double(groupRows)
            if usedBatchStatistics, let synchronization {
                synchronization.sumOverGlobalBatch(totals, count: 2 * c * groups)
                invM = 1 / Double(batchValues)
            }
            // dx = k1·g + k2·x + k0 per channel and group (the batch statistics' own gradient folded in).
            for k in 0..<groups {
                let (sumG, sumGX) = (totals + 2 * c * k, totals + 2 * c * k + c)
                let row = coefficients.data + 5 * c * k
                let (k1, k2, k0) = (row + 2 * c, row + 3 * c, row + 4 * c)
                for j in 0..<c {
                    let inv = Double(inverseDeviation[k * c + j])
                    let a = Double(weight.value[j]) * inv
                    if usedBatchStatistics {
                        let slope = -a * inv * inv * sumGX[j] * invM
                        k1[j] = Float(a)
                        k2[j] = Float(slope)
                        k0[j] = Float(-a * sumG[j] * invM - slope * Double(mean[k * c + j]))
                    } else {
                        (k1[j], k2[j], k0[j]) = (Float(a), 0, 0)
                    }
                }
            }
            let shape = x.shape
            let (g, xs, coefficients) = (outputGradient.data, x.data, coefficients.data)
            inputGradient.resize(shape)
            let dx = inputGradient.data
            Threads.forEachChunk(rows) { range in
                BatchNorm.forEachGroupPart(of: range, groupRows: groupRows) { k, part in
                    let (o, row) = (part.lowerBound * c, coefficients + 5 * c * k)
                    dclk_affine2_rows(g + o, xs + o, dx + o, part.count, c, row + 2 * c, row + 3 * c, row + 4 * c,
                                      gated ? UnsafePointer(row) : nil)
                }
            }
        }
    }

    /// Backward into a buffer owned by the layer; returns dL/dx.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, into: ownInputGradient)
        return ownInputGradient
    }

    /// weight, bias, running_mean, running_var, num_batches_tracked, under `prefix`.
    public func stateEntries(prefix: String) -> [StateEntry] {
        [
            StateEntry(name: prefix + "weight", parameter: weight),
            StateEntry(name: prefix + "bias", parameter: bias),
            StateEntry(name: prefix + "running_mean", buffer: runningMean),
            StateEntry(name: prefix + "running_var", buffer: runningVariance),
            StateEntry(name: prefix + "num_batches_tracked", buffer: batchesTracked),
        ]
    }

    /// Mean and inverse deviation of each group of the batch (over the global batch with
    /// `synchronization`) in one pass over x, and the running-statistics update, once per group
    /// in order. The moments are taken about the group's first row's values s (Σ(x − s),
    /// Σ(x − s)²): the shift keeps the float32 block sums free of the cancellation a raw Σx²
    /// suffers when |μ| ≫ σ.
    private func computeBatchStatistics(_ x: Tensor) {
        let c = channels
        let rows = x.count / c, groupRows = rows / groups
        precondition(rows >= 1, "BatchNorm: training on an empty batch")
        let xs = x.data
        for k in 0..<groups {
            let shift = coefficients.data + 5 * c * k, first = k * groupRows
            shift.update(from: xs + first * c, count: c)
            blockSums(rows: first..<(first + groupRows), width: 2, into: totals + 2 * c * k) { range, acc in
                dclk_moment_sums(xs + range.lowerBound * c, range.count, c, shift, acc)
            }
        }
        var values = groupRows
        if let synchronization {
            // Raw Σx and Σx² in float64 (the same on every process, unlike the shift), summed
            // over the global batch; then the shift is 0 and the totals are global.
            for k in 0..<groups {
                let (shift, sums) = (coefficients.data + 5 * c * k, totals + 2 * c * k)
                for j in 0..<c {
                    let s = Double(shift[j]), t = sums[j]
                    sums[c + j] += 2 * s * t + Double(groupRows) * s * s
                    sums[j] = t + Double(groupRows) * s
                    shift[j] = 0
                }
            }
            values = synchronization.sumOverGlobalBatch(totals, count: 2 * c * groups, values: groupRows)
        }
        batchValues = values
        precondition(values >= 2, "BatchNorm: training needs at least 2 values per channel, got \(values)")
        let momentum = Double(BatchNorm.momentum)
        for k in 0..<groups {
            let (shift, sums) = (coefficients.data + 5 * c * k, totals + 2 * c * k)
            for j in 0..<c {
                let offset = sums[j] / Double(values)
                let batchMean = Double(shift[j]) + offset
                let variance = max(0, sums[c + j] / Double(values) - offset * offset)
                mean[k * c + j] = Float(batchMean)
                inverseDeviation[k * c + j] = Float(1 / (variance + Double(BatchNorm.epsilon)).squareRoot())
                runningMean[j] = Float((1 - momentum) * Double(runningMean[j]) + momentum * batchMean)
                let unbiased = variance * Double(values) / Double(values - 1)
                runningVariance[j] = Float((1 - momentum) * Double(runningVariance[j]) + momentum * unbiased)
            }
            batchesTracked[0] += 1
        }
    }

    /// `totals` = Σ g and Σ g·(x − μ) per channel and group, g = dL/dy masked by the ReLU:
    /// recomputed from x when `gated` (by the normalisation's scale and shift, which
    /// `setScaleAndShift()` wrote), else from the output (and then written back into `dy`) when
    /// the layer has a ReLU.
    private func accumulateGradientSums(_ dy: Tensor, _ x: Tensor, gated: Bool) {
        let c = channels
        let groupRows = x.count / c / groups
        let (g, xs) = (dy.data, x.data)
        let y: UnsafePointer<Float>? = appliesReLU && !gated ? UnsafePointer(output.data) : nil
        for k in 0..<groups {
            let m = mean.data + k * c
            let gate: UnsafePointer<Float>? = gated ? UnsafePointer(coefficients.data + 5 * c * k) : nil
            let first = k * groupRows
            blockSums(rows: first..<(first + groupRows), width: 2, into: totals + 2 * c * k) { range, acc in
                let o = range.lowerBound * c
                dclk_gradient_sums(g + o, xs + o, y.map { $0 + o }, gate, range.count, c, m, acc)
            }
        }
    }

    /// Sums `width`·C per-row contributions over `rows` into `sums`: `add(rows, accumulator)`
    /// adds those of a fixed block of rows (from the range's start) into a zeroed float
    /// accumulator (in parallel over blocks); the block totals are then added in order, in
    /// double precision.
    private func blockSums(rows: Range<Int>, width: Int, into sums: UnsafeMutablePointer<Double>,
                           _ add: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let size = width * channels
        let (start, end) = (rows.lowerBound, rows.upperBound)
        let blocks = (rows.count + BatchNorm.blockRows - 1) / BatchNorm.blockRows
        let partials = workspace.partials
        partials.resize([blocks, size])
        partials.zero()
        let p = partials.data
        Threads.forEachChunk(blocks) { range in
            for b in range {
                add((start + b * BatchNorm.blockRows)..<min(end, start + (b + 1) * BatchNorm.blockRows), p + b * size)
            }
        }
        sums.update(repeating: 0, count: size)
        for b in 0..<blocks {
            let acc = p + b * size
            for j in 0..<size { sums[j] += Double(acc[j]) }
        }
    }

    /// Sets the groups of this forward: sizes the per-group statistics, coefficients and totals
    /// (growing them only when the count grows).
    private func setGroups(_ count: Int) {
        groups = count
        guard mean.count != count * channels else { return }
        mean.resize([count, channels])
        inverseDeviation.resize([count, channels])
        coefficients.resize([5 * count, channels])
        let needed = 2 * channels * count
        if needed > totalsCapacity {
            totals.deallocate()
            totals = .allocate(capacity: needed)
            totalsCapacity = needed
        }
    }

    /// Calls `body(group, rows)` for the part of `range` (rows of the batch) in each group of
    /// `groupRows` rows, in order.
    private static func forEachGroupPart(of range: Range<Int>, groupRows: Int, _ body: (Int, Range<Int>) -> Void) {
        var low = range.lowerBound
        while low < range.upperBound {
            let group = low / groupRows
            let high = min(range.upperBound, (group + 1) * groupRows)
            body(group, low..<high)
            low = high
        }
    }

    /// The normalisation's per-channel scale γ·invσ and shift β − μ·scale of every group from
    /// the kept statistics, written into the first two rows of the group's `coefficients` (the
    /// same values whenever the statistics and γ, β are the same).
    private func setScaleAndShift() {
        let c = channels
        for k in 0..<groups {
            let (scale, shift) = (coefficients.data + 5 * c * k, coefficients.data + 5 * c * k + c)
            for j in 0..<c {
                scale[j] = weight.value[j] * inverseDeviation[k * c + j]
                shift[j] = bias.value[j] - mean[k * c + j] * scale[j]
            }
        }
    }

    /// output = [relu](γ·(x − μ)·invσ + β [+ residual]) with the kept statistics (each group's
    /// own), taking the shared buffer over.
    private func normalize(_ x: Tensor, residual: Tensor?) {
        let c = channels
        let rows = x.count / c, groupRows = rows / groups
        shared?.claim(by: self)
        output.resize(x.shape)
        setScaleAndShift()
        let (xs, y, skip, coefficients) = (x.data, output.data, residual?.data, coefficients.data)
        let relu: Int32 = appliesReLU ? 1 : 0
        Threads.forEachChunk(rows) { range in
            BatchNorm.forEachGroupPart(of: range, groupRows: groupRows) { k, part in
                let (o, scale) = (part.lowerBound * c, coefficients + 5 * c * k)
                dclk_scale_shift_rows(xs + o, skip.map { $0 + o }, y + o, part.count, c, scale, scale + c, relu)
            }
        }
    }
}

/// The collective behind SyncBN (`SyncBatchStatistics` in Distributed implements it): sums of
/// BatchNorm's per-channel totals over every process of a data-parallel run. It does not throw:
/// a failed collective is recorded by the communicator (the training step throws it after the
/// forward or backward), and the totals are then left as this process's own.
public protocol BatchNormSynchronization: AnyObject {
    /// Replaces the `count` float64 totals at `totals` by their sums over the global batch and
    /// returns the global number of values per channel, `values` summed over the processes.
    @discardableResult
    func sumOverGlobalBatch(_ totals: UnsafeMutablePointer<Double>, count: Int, values: Int) -> Int
}

extension BatchNormSynchronization {
    /// `sumOverGlobalBatch(totals, count:, values: 0)` for sums that need no count (backward's).
    func sumOverGlobalBatch(_ totals: UnsafeMutablePointer<Double>, count: Int) {
        sumOverGlobalBatch(totals, count: count, values: 0)
    }
}
