/// A residual block of a ResNet stage (BasicBlock or Bottleneck): input (N, H, W, Cin) →
/// output (N, OH, OW, Cout) with OH = ⌈H / stride⌉, `relu(main(x) + shortcut(x))`; the shortcut is
/// the identity or, when the shape changes, a projection (1×1 convolution with the stride + BN).
public protocol ResidualBlock: AnyObject {
    /// Output channels Cout.
    var outChannels: Int { get }
    /// The BatchNorm closing the main branch (zero-initialised for torchvision's `zero_init_residual`).
    var lastNorm: BatchNorm { get }
    /// The projection shortcut, or nil when the shortcut is the identity.
    var downsample: Downsample? { get }
    /// Every convolution of the block, main branch first.
    var convolutions: [Conv2d] { get }
    /// The block output for `x`, (N, OH, OW, Cout); kept by the block until its next forward.
    func forward(_ x: Tensor, training: Bool) -> Tensor
    /// Backward of the last forward: accumulates parameter gradients and returns dL/dx
    /// (N, H, W, Cin). Works in the workspace's gradient buffers; `outputGradient` (usually one
    /// of them) is overwritten and may be the tensor returned.
    func backward(_ outputGradient: Tensor) -> Tensor
    /// The block's state entries in torchvision's order and names, under `prefix` (for example "layer1.0.").
    func stateEntries(prefix: String) -> [StateEntry]
}

/// The residual bookkeeping shared by the blocks: the shortcut, the fused `relu(lastNorm(·) + shortcut)`
/// and the shortcut's share of the input gradient.
extension ResidualBlock {
    /// The block output (N, OH, OW, Cout): `relu(lastNorm(main) + shortcut)`, where `main` is the
    /// main branch's last convolution output and the shortcut is `downsample(x)` or `x` itself.
    func residualOutput(main: Tensor, input x: Tensor, training: Bool) -> Tensor {
        let shortcut = downsample?.forward(x, training: training) ?? x
        return lastNorm.forward(main, training: training, residual: shortcut)
    }

    /// The last step of backward, dL/dx (N, H, W, Cin): `firstConvolution`'s backward of `gradient`
    /// plus the shortcut's backward of `sumGradient` (dL/d(residual sum), overwritten). With the
    /// identity shortcut the sum is accumulated into `sumGradient`, else written into `spare`;
    /// returns the tensor holding it.
    func inputGradient(firstConvolution: Conv2d, gradient: Tensor, sumGradient: Tensor, spare: Tensor) -> Tensor {
        guard let downsample else {
            firstConvolution.backward(gradient, into: sumGradient, accumulate: true)
            return sumGradient
        }
        firstConvolution.backward(gradient, into: spare)
        downsample.backward(sumGradient, addingTo: spare)
        return spare
    }
}

/// A residual block's projection shortcut: 1×1 convolution with the block's stride, then BatchNorm
/// (torchvision's `downsample.0`, `downsample.1`).
public final class Downsample {
    /// The 1×1 convolution.
    public let conv: Conv2d
    /// Its BatchNorm.
    public let norm: BatchNorm

    /// A projection from `inChannels` to `outChannels` with `stride`. Its output is transient
    /// (only the residual add reads it), so it lives in `workspace.activation`.
    public init(inChannels: Int, outChannels: Int, stride: Int, workspace: Workspace) {
        conv = Conv2d(inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride, workspace: workspace)
        norm = BatchNorm(channels: outChannels, shared: workspace.activation, workspace: workspace)
    }

    /// The shortcut a block from `inChannels` to `outChannels` with `stride` needs: a projection
    /// when the stride or the channel count changes, else nil (the identity).
    static func ifNeeded(inChannels: Int, outChannels: Int, stride: Int, workspace: Workspace) -> Downsample? {
        stride != 1 || inChannels != outChannels
            ? Downsample(inChannels: inChannels, outChannels: outChannels, stride: stride, workspace: workspace) : nil
    }

    /// The projected shortcut of `x`.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        norm.forward(conv.forward(x, training: training), training: training)
    }

    /// Given dL/d(shortcut) in `gradient` (overwritten), adds dL/dx to `inputGradient`.
    public func backward(_ gradient: Tensor, addingTo inputGradient: Tensor) {
        norm.backward(gradient, into: gradient)
        conv.backward(gradient, into: inputGradient, accumulate: true)
    }

    /// `downsample.0.weight` and the `downsample.1.` BatchNorm entries under `prefix`.
    public func stateEntries(prefix: String) -> [StateEntry] {
        conv.stateEntries(prefix: prefix + "downsample.0.") + norm.stateEntries(prefix: prefix + "downsample.1.")
    }
}
