import DCLKitKernels

/// Rectified linear unit, `y = max(0, x)`, elementwise on any shape (output shape = input shape).
/// Backward passes the gradient where the output is positive (PyTorch's convention at 0).
public final class ReLU {
    /// The output of the last forward.
    public let output = Tensor(shape: [0])
    private let workspace: Workspace
    private let ownInputGradient = Tensor(shape: [0])

    /// A ReLU; `workspace` receives its timing when profiling.
    public init(workspace: Workspace = Workspace()) { self.workspace = workspace }

    /// `output = max(0, x)`. `training` does not change a ReLU.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        output.resize(x.shape)
        workspace.timed(.head) {
            let (xs, y) = (x.data, output.data)
            Threads.forEachChunk(x.count) { range in dclk_relu(xs + range.lowerBound, y + range.lowerBound, range.count) }
        }
        return output
    }

    /// Writes dL/dx = dL/dy where the last output is positive, else 0, into `inputGradient`
    /// (resized; it may be `outputGradient` itself).
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor) {
        precondition(outputGradient.shape == output.shape, "ReLU: gradient \(outputGradient.shape), output \(output.shape)")
        inputGradient.resize(output.shape)
        workspace.timed(.head) {
            let (g, y, dx) = (outputGradient.data, output.data, inputGradient.data)
            Threads.forEachChunk(output.count) { range in
                let i = range.lowerBound
                dclk_relu_backward(g + i, y + i, dx + i, range.count)
            }
        }
    }

    /// Backward into a buffer owned by the layer; returns dL/dx.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, into: ownInputGradient)
        return ownInputGradient
    }
}
