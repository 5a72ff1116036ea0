/// ResNet's bottleneck block (ResNet-50), as torchvision's `Bottleneck` (v1.5: the stride on the
/// 3×3 convolution): `relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + shortcut(x))`,
/// conv1 1×1 to `planes`, conv2 3×3 with the stride, conv3 1×1 to 4·planes, no biases.
/// Input (N, H, W, Cin) → output (N, OH, OW, 4·planes).
///
/// Memory: the block keeps its three convolution outputs and its own output; `relu(bn1(·))` and
/// `relu(bn2(·))` live in `workspace.activation` and are recomputed in backward, which works in
/// the workspace's other two gradient buffers. The projection shortcut lives in the block's
/// output buffer, as in `BasicBlock`: bn3 adds it elementwise and writes the output over it, and
/// backward recomputes it there once bn3's backward (the last reader of the output) is done.
/// In `workspace.activation` it made that buffer as large as the widest activation (at 224 px,
/// the first block's 256-channel shortcut at 56×56, twice any bn1 or bn2 output).
public final class Bottleneck: ResidualBlock {
    /// Output channels per plane.
    public static let expansion = 4

    /// 1×1 reduction.
    public let conv1: Conv2d
    /// BatchNorm + ReLU after conv1.
    public let bn1: BatchNorm
    /// 3×3 convolution with the stride.
    public let conv2: Conv2d
    /// BatchNorm + ReLU after conv2.
    public let bn2: BatchNorm
    /// 1×1 expansion to 4·planes.
    public let conv3: Conv2d
    /// BatchNorm after conv3, fused with the residual add and the final ReLU.
    public let bn3: BatchNorm
    /// The projection shortcut, when the stride or the channel count changes.
    public let downsample: Downsample?
    /// The block output's buffer (bn3's).
    public let outputBuffer = SharedActivation()
    private let workspace: Workspace

    /// A block from `inChannels` to 4·`planes` channels with `stride` (1 or 2).
    public init(inChannels: Int, planes: Int, stride: Int, workspace: Workspace) {
        self.workspace = workspace
        let out = planes * Bottleneck.expansion
        conv1 = Conv2d(inChannels: inChannels, outChannels: planes, kernel: 1, workspace: workspace)
        bn1 = BatchNorm(channels: planes, relu: true, shared: workspace.activation, workspace: workspace)
        conv2 = Conv2d(inChannels: planes, outChannels: planes, kernel: 3, stride: stride, padding: 1, workspace: workspace)
        bn2 = BatchNorm(channels: planes, relu: true, shared: workspace.activation, workspace: workspace)
        conv3 = Conv2d(inChannels: planes, outChannels: out, kernel: 1, workspace: workspace)
        bn3 = BatchNorm(channels: out, relu: true, shared: outputBuffer, workspace: workspace)
        downsample = Downsample.ifNeeded(inChannels: inChannels, outChannels: out, stride: stride, shared: outputBuffer,
                                         workspace: workspace)
    }

    /// Output channels.
    public var outChannels: Int { bn3.channels }
    /// The BatchNorm closing the main branch.
    public var lastNorm: BatchNorm { bn3 }
    /// The convolutions, main branch first, then the shortcut's.
    public var convolutions: [Conv2d] { [conv1, conv2, conv3] + (downsample.map { [$0.conv] } ?? []) }

    /// The block output for `x` (N, H, W, Cin), (N, OH, OW, Cout).
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        conv1.forward(x, training: training)
        bn1.forward(conv1.output, training: training)
        conv2.forward(bn1.output, training: training)
        bn2.forward(conv2.output, training: training)
        conv3.forward(bn2.output, training: training)
        return residualOutput(main: conv3.output, input: x, training: training)
    }

    /// dL/dx (N, H, W, Cin) from dL/dy (N, OH, OW, Cout); see `ResidualBlock.backward(_:)`.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        let (a, b) = workspace.gradientBuffers(besides: outputGradient)
        // After bn3's backward, outputGradient holds the gradient of the residual sum.
        bn3.backward(outputGradient, into: a)
        // conv3's and conv2's kept inputs are bn2's and bn1's outputs in the shared buffer: each
        // is written back before the convolution's backward reads it.
        bn2.recomputeOutput()
        conv3.backward(a, into: b)
        bn2.backward(b, into: b)
        bn1.recomputeOutput()
        conv2.backward(b, into: a)
        bn1.backward(a, into: a)
        return inputGradient(firstConvolution: conv1, gradient: a, sumGradient: outputGradient)
    }

    /// State entries in torchvision's order under `prefix`.
    public func stateEntries(prefix: String) -> [StateEntry] {
        conv1.stateEntries(prefix: prefix + "conv1.") + bn1.stateEntries(prefix: prefix + "bn1.")
            + conv2.stateEntries(prefix: prefix + "conv2.") + bn2.stateEntries(prefix: prefix + "bn2.")
            + conv3.stateEntries(prefix: prefix + "conv3.") + bn3.stateEntries(prefix: prefix + "bn3.")
            + (downsample?.stateEntries(prefix: prefix) ?? [])
    }
}
