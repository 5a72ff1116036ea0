/// A residual block of a ResNet stage (BasicBlock or Bottleneck): input (N, H, W, Cin) →
/// output (N, OH, OW, Cout) with OH = ⌈H / stride⌉, `relu(main(x) + shortcut(x))`; the shortcut is
/// the identity or, when the shape changes, a projection (1×1 convolution with the stride + BN).
public protocol ResidualBlock: AnyObject {
    /// Output channels Cout.
    var outChannels: Int { get }
    /// The buffer of the block output (written by the block's last BatchNorm); dead before the
    /// block's forward and after its backward, so the stem may keep its outputs there.
    var outputBuffer: SharedActivation { get }
    /// The BatchNorm closing the main branch (zero-initialised for torchvision's `zero_init_residual`).
    var lastNorm: BatchNorm { get }
    /// The projection shortcut, or nil when the shortcut is the identity.
    var downsample: Downsample? { get }
    /// Every convolution of the block, main branch first.
    var convolutions: [Conv2d] { get }
    /// The block output for `x`, (N, OH, OW, Cout); kept by the block until its next forward.
    func forward(_ x: Tensor, training: Bool) -> Tensor
    /// Backward of the last forward: accumulates parameter gradients and returns dL/dx
    /// (N, H, W, Cin) in `outputGradient`'s tensor (resized). It may consume the forward's kept
    /// activations (overwrite them with gradients), so a second backward needs a new forward
    /// (`Encoder` replays it); it may also work in the workspace's other gradient buffers.
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

    /// The last step of backward, dL/dx (N, H, W, Cin) written over `sumGradient` (dL/d(residual
    /// sum), which is also the shortcut's gradient): the shortcut's backward of `sumGradient`
    /// (the identity, or the projection's) plus `firstConvolution`'s backward of `gradient`.
    /// Returns `sumGradient`.
    func inputGradient(firstConvolution: Conv2d, gradient: Tensor, sumGradient: Tensor) -> Tensor {
        downsample?.backward(sumGradient, into: sumGradient)
        firstConvolution.backward(gradient, into: sumGradient, accumulate: true)
        return sumGradient
    }
}

/// A residual block's projection shortcut: 1×1 convolution with the block's stride, then BatchNorm
/// (torchvision's `downsample.0`, `downsample.1`).
///
/// Memory: both outputs are transient (only the residual add reads the shortcut), so the
/// convolution writes into `shared` and the BatchNorm normalises there in place; backward
/// recomputes the convolution output (a 1×1 convolution, a small share of the block's work)
/// instead of keeping it.
public final class Downsample {
    /// The 1×1 convolution.
    public let conv: Conv2d
    /// Its BatchNorm.
    public let norm: BatchNorm
    private let shared: SharedActivation

    /// A projection from `inChannels` to `outChannels` with `stride` whose outputs live in `shared`.
    public init(inChannels: Int, outChannels: Int, stride: Int, shared: SharedActivation, workspace: Workspace) {
        self.shared = shared
        conv = Conv2d(inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride, output: shared.tensor,
                      workspace: workspace)
        norm = BatchNorm(channels: outChannels, shared: shared, workspace: workspace)
    }

    /// The shortcut a block from `inChannels` to `outChannels` with `stride` needs: a projection
    /// when the stride or the channel count changes, else nil (the identity).
    static func ifNeeded(inChannels: Int, outChannels: Int, stride: Int, shared: SharedActivation,
                         workspace: Workspace) -> Downsample? {
        stride != 1 || inChannels != outChannels
            ? Downsample(inChannels: inChannels, outChannels: outChannels, stride: stride, shared: shared, workspace: workspace)
            : nil
    }

    /// The projected shortcut of `x`, in `shared`'s tensor.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        shared.claim(by: self)
        return norm.forward(conv.forward(x, training: training), training: training)
    }

    /// Given dL/d(shortcut) in `gradient`, writes dL/dx into `inputGradient` (resized; it may be
    /// `gradient` itself). Takes `shared` over: the convolution output is recomputed there and
    /// the BatchNorm's input gradient written over it.
    public func backward(_ gradient: Tensor, into inputGradient: Tensor) {
        shared.claim(by: self)
        conv.recomputeOutput()
        norm.backward(gradient, into: conv.output)
        conv.backward(conv.output, into: inputGradient)
    }

    /// `downsample.0.weight` and the `downsample.1.` BatchNorm entries under `prefix`.
    public func stateEntries(prefix: String) -> [StateEntry] {
        conv.stateEntries(prefix: prefix + "downsample.0.") + norm.stateEntries(prefix: prefix + "downsample.1.")
    }
}
