/// A first-order optimiser over a fixed list of parameters.
///
/// The optimiser owns its state (momentum buffers); the parameters own value and gradient.
/// `step(learningRate:)` reads every `gradient` and updates every `value` in place; it neither
/// zeroes the gradients nor allocates. The learning rate comes from the caller each step (see
/// `WarmupCosineSchedule`), so the optimiser itself holds no notion of time.
///
/// For checkpoints, `stateTensors` names every state tensor and `loadState` puts them back;
/// exporting and loading into an optimiser built over the same parameters restores the exact state.
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step`, in a fixed order (state tensors are named by position).
    var parameters: [Parameter] { get }

    /// Applies one update with the given learning rate to every parameter.
    func step(learningRate: Double)

    /// Applies one update: `learningRate` to the parameters before index `first`, `constantRate`
    /// to those from `first` on (a second parameter group held at a constant rate, SimSiam's
    /// predictor). `first` = `parameters.count` is `step(learningRate:)`.
    func step(learningRate: Double, constantRate: Double, constantFrom first: Int)

    /// The state as named tensors, for checkpoints. The tensors are the live buffers, not copies.
    var stateTensors: [(String, Tensor)] { get }

    /// Copies saved state back in. The names and shapes must be exactly those of `stateTensors`
    /// and every value finite; otherwise nothing is changed and `OptimizerStateError` is thrown.
    func loadState(_ tensors: [(String, Tensor)]) throws
}

/// Saved optimiser state that does not fit the optimiser: a missing, extra or duplicate name,
/// a shape mismatch or a non-finite value.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What is wrong, naming the tensor.
    public let description: String

    /// An error with the given message.
    public init(_ description: String) { self.description = description }
}
