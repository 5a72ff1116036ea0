/// One family of contrastive method: from a batch of augmented views to the encoder's
/// accumulated gradients, plus whatever it keeps between steps (MoCo's key encoder and queue).
///
/// `views` holds both views of `count` images stacked: rows 0..<count are view 0 and rows
/// count..<2·count view 1, each (size, size, 3) NHWC float32.
public protocol TrainingMethod: AnyObject {
    /// Runs forward, the loss and backward, adding dLoss/dθ to the encoder's gradients (the
    /// trainer zeroes them before the call; a method never does).
    /// Returns the loss (in a data-parallel run, this rank's term: the mean over its own
    /// anchors), or nil for a warm-up step that only updated the method's own state (MoCo
    /// filling its queue): the trainer then skips the optimiser. Throws when a collective fails.
    func accumulateGradients(views: Tensor, count: Int, epoch: Int, step: Int, timings: inout StepTimings) throws -> Double?

    /// Parameters of the method's own besides the encoder's (NNCLR's prediction head): the
    /// trainer optimises and zeroes them with the encoder's.
    var parameters: [Parameter] { get }

    /// BatchNorm layers of the method's own trained layers (NNCLR's prediction head): SyncBN
    /// synchronises them with the encoder's.
    var batchNorms: [BatchNorm] { get }

    /// BatchNorm running statistics of layers SyncBN never synchronises (MoCo's key encoder,
    /// whose BatchNorm is shuffle-BN's), which a data-parallel trainer averages over the ranks
    /// after every step.
    var runningStatistics: [Tensor] { get }

    /// Work after the optimiser updated the encoder (MoCo: momentum update and enqueue).
    func finishStep()

    /// Parameters of the method's own (disjoint from `parameters`) that the optimiser updates at
    /// the schedule's peak rate on every step, outside the warm-up and the cosine decay
    /// (SimSiam's predictor, the paper's "fix lr for predictor"); the trainer zeroes and averages
    /// them with the others. Default: none.
    var constantRateParameters: [Parameter] { get }

    /// Work after the optimiser's update of step `step` (0-based) of a run of `totalSteps`
    /// optimiser steps (the schedule's length, epochs × steps per epoch): what the trainer calls.
    /// Default: `finishStep()`. BYOL's target momentum τ_k follows k = `step`, K = `totalSteps`.
    func finishStep(step: Int, totalSteps: Int)

    /// Tensors to save in a checkpoint beside the encoder and the optimiser.
    func stateTensors() -> [(name: String, tensor: Tensor)]

    /// Restores `stateTensors()` from a checkpoint; throws when names or shapes do not match.
    func loadState(_ tensors: [String: Tensor]) throws

    /// A bound on the floats a step of `views` views of side × side adds beyond the encoder's own
    /// buffers (the loss's matrices, a second encoder), for rows of at most `dim` features;
    /// saturating at `Int.max`.
    func bufferElements(views: Int, side: Int, dim: Int) -> Int

    /// Throws `TrainingError.value` when a step of `count` images (outside the run's batches,
    /// `ContrastiveTrainer.step(view0:...)`) does not fit the method's state.
    func requireStep(count: Int) throws
}

/// A method's saved state that does not fit the method it is restored into (a queue, a support
/// set, a prediction head), naming the tensor.
public struct MethodStateError: Error, CustomStringConvertible {
    /// What does not fit, naming the tensor.
    public let description: String

    /// The error with its message.
    public init(description: String) { self.description = description }
}

extension TrainingMethod {
    /// Any count fits.
    public func requireStep(count: Int) throws {}

    /// None.
    public var constantRateParameters: [Parameter] { [] }

    /// `finishStep()`.
    public func finishStep(step: Int, totalSteps: Int) { finishStep() }
}

/// A method that keeps nothing of its own between steps (no parameters, BatchNorms, statistics or
/// checkpoint entries, nothing to do after the optimiser): it declares this conformance instead of
/// writing the empty members.
public protocol StatelessTrainingMethod: TrainingMethod {}

extension StatelessTrainingMethod {
    /// None.
    public var parameters: [Parameter] { [] }
    /// None.
    public var batchNorms: [BatchNorm] { [] }
    /// None.
    public var runningStatistics: [Tensor] { [] }
    /// Nothing.
    public func finishStep() {}
    /// None.
    public func stateTensors() -> [(name: String, tensor: Tensor)] { [] }
    /// Nothing to restore.
    public func loadState(_ tensors: [String: Tensor]) throws {}
}
