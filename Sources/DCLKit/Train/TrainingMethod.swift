/// One family of contrastive method: from a batch of augmented views to the encoder's
/// accumulated gradients, plus whatever it keeps between steps (MoCo's key encoder and queue).
///
/// `views` holds both views of `count` images stacked: rows 0..<count are view 0 and rows
/// count..<2·count view 1, each (size, size, 3) NHWC float32.
public protocol TrainingMethod: AnyObject {
    /// Runs forward, the loss and backward; the encoder's gradients hold dLoss/dθ afterwards.
    /// Returns the loss.
    func accumulateGradients(views: Tensor, count: Int, epoch: Int, step: Int, timings: inout StepTimings) -> Double

    /// Work after the optimiser updated the encoder (MoCo: momentum update and enqueue).
    func finishStep()

    /// Tensors to save in a checkpoint beside the encoder and the optimiser.
    func stateTensors() -> [(name: String, tensor: Tensor)]

    /// Restores `stateTensors()` from a checkpoint; throws when names or shapes do not match.
    func loadState(_ tensors: [String: Tensor]) throws
}
