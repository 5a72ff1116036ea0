import DCLKitKernels

/// Global average pooling: (N, H, W, C) → (N, C), the mean over the H·W positions of each
/// channel (torchvision's `AdaptiveAvgPool2d((1, 1))` followed by `flatten`).
public final class GlobalAveragePool {
    /// The output of the last forward, (N, C).
    public let output = Tensor(shape: [0])
    private let workspace: Workspace
    private var inputShape: [Int] = []
    private let ownInputGradient = Tensor(shape: [0])

    /// A global average pool; `workspace` receives its timing when profiling.
    public init(workspace: Workspace = Workspace()) { self.workspace = workspace }

    /// Averages `x` (N, H, W, C) into `output` (N, C). `training` does not change pooling.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 4, "GlobalAveragePool: input \(x.shape)")
        inputShape = x.shape
        let (n, pixels, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        output.resize([n, c])
        workspace.timed(.pooling) {
            let (xs, y) = (x.data, output.data)
            let scale = 1 / Float(pixels)
            Threads.forEachChunk(n) { range in
                for s in range {
                    let out = y + s * c
                    out.update(repeating: 0, count: c)
                    dclk_column_sums(xs + s * pixels * c, pixels, c, out)
                    for j in 0..<c { out[j] *= scale }
                }
            }
        }
        return output
    }

    /// Writes dL/dx = dL/dy / (H·W) at every position into `inputGradient` (resized to (N, H, W, C)).
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor) {
        precondition(outputGradient.shape == output.shape, "GlobalAveragePool: gradient \(outputGradient.shape), output \(output.shape)")
        inputGradient.resize(inputShape)
        let (n, pixels, c) = (inputShape[0], inputShape[1] * inputShape[2], inputShape[3])
        workspace.timed(.pooling) {
            let (g, dx) = (outputGradient.data, inputGradient.data)
            let scale = 1 / Float(pixels)
            Threads.forEachChunk(n) { range in
                for s in range { dclk_broadcast_rows(g + s * c, scale, dx + s * pixels * c, pixels, c) }
            }
        }
    }

    /// Backward into a buffer owned by the layer; returns dL/dx.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, into: ownInputGradient)
        return ownInputGradient
    }
}
