/// ResNet's basic block (ResNet-18/34), as torchvision's `BasicBlock`:
/// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, conv1 3×3 with the stride, conv2 3×3,
/// both padding 1 and without bias. Input (N, H, W, Cin) → output (N, OH, OW, planes).
///
/// Memory: the block keeps three activations, conv1's and conv2's outputs and its own output
/// `y`, and needs no other buffer of its size. `relu(bn1(·))` and the projection shortcut are
/// written into `y` before bn2 writes it (bn2 adds the shortcut there in place) and are
/// recomputed in backward, which consumes the three activations (see `backward(_:)`).
public final class BasicBlock: ResidualBlock {
    /// Output channels per input plane (1 for the basic block).
    public static let expansion = 1

    /// First 3×3 convolution (carries the stride).
    public let conv1: Conv2d
    /// BatchNorm + ReLU after conv1.
    public let bn1: BatchNorm
    /// Second 3×3 convolution.
    public let conv2: Conv2d
    /// BatchNorm after conv2, fused with the residual add and the final ReLU.
    public let bn2: BatchNorm
    /// The projection shortcut, when the stride or the channel count changes.
    public let downsample: Downsample?
    /// The block output's buffer, written in turn by bn1, the shortcut and bn2.
    public let outputBuffer = SharedActivation()

    /// A block from `inChannels` to `planes` channels with `stride` (1 or 2).
    public init(inChannels: Int, planes: Int, stride: Int, workspace: Workspace) {
        conv1 = Conv2d(inChannels: inChannels, outChannels: planes, kernel: 3, stride: stride, padding: 1, workspace: workspace)
        bn1 = BatchNorm(channels: planes, relu: true, shared: outputBuffer, workspace: workspace)
        conv2 = Conv2d(inChannels: planes, outChannels: planes, kernel: 3, stride: 1, padding: 1, workspace: workspace)
        bn2 = BatchNorm(channels: planes, relu: true, shared: outputBuffer, workspace: workspace)
        downsample = Downsample.ifNeeded(inChannels: inChannels, outChannels: planes, stride: stride, shared: outputBuffer,
                                         workspace: workspace)
    }

    /// Output channels.
    public var outChannels: Int { bn2.channels }
    /// The BatchNorm closing the main branch.
    public var lastNorm: BatchNorm { bn2 }
    /// The convolutions, main branch first, then the shortcut's.
    public var convolutions: [Conv2d] { [conv1, conv2] + (downsample.map { [$0.conv] } ?? []) }

    /// The block output for `x` (N, H, W, Cin), (N, OH, OW, Cout).
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        conv1.forward(x, training: training)
        bn1.forward(conv1.output, training: training)
        conv2.forward(bn1.output, training: training)
        return residualOutput(main: conv2.output, input: x, training: training)
    }

    /// dL/dx (N, H, W, Cin) from dL/dy (N, OH, OW, Cout); see `ResidualBlock.backward(_:)`.
    /// Consumes the block's activations: every gradient is written over an activation read for
    /// the last time, so the block needs no buffer but `outputGradient`.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        // bn2's backward reads the block output for the last time (its ReLU mask) and leaves
        // dL/d(residual sum) in outputGradient; dL/d(conv2 output) goes over conv2's output.
        bn2.backward(outputGradient, into: conv2.output)
        // conv2's kept input, bn1's output, is written back into the now dead block output,
        // dL/d(bn1 output) over dL/d(conv2 output).
        bn1.recomputeOutput()
        conv2.backward(conv2.output, into: conv2.output)
        bn1.backward(conv2.output, into: conv1.output)
        return inputGradient(firstConvolution: conv1, gradient: conv1.output, sumGradient: outputGradient)
    }

    /// State entries in torchvision's order under `prefix`.
    public func stateEntries(prefix: String) -> [StateEntry] {
        conv1.stateEntries(prefix: prefix + "conv1.") + bn1.stateEntries(prefix: prefix + "bn1.")
            + conv2.stateEntries(prefix: prefix + "conv2.") + bn2.stateEntries(prefix: prefix + "bn2.")
            + (downsample?.stateEntries(prefix: prefix) ?? [])
    }
}
