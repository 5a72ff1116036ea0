/// Fully connected layer, `y = x·Wᵀ + b`: input (N, in) → output (N, out), weight (out, in) as
/// in PyTorch.
public final class Linear {
    /// Input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    /// The weight, (out, in).
    public let weight: Parameter
    /// The bias, (out), if any.
    public let bias: Parameter?
    /// The output of the last forward, (N, out).
    public let output = Tensor(shape: [0])
    /// Multiply-adds of the last forward (N·in·out).
    public private(set) var multiplyAdds = 0
    private let workspace: Workspace
    private var input: Tensor?
    private let ownInputGradient = Tensor(shape: [0])

    /// A zero-initialised linear layer.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, workspace: Workspace = Workspace()) {
        precondition(inFeatures >= 1 && outFeatures >= 1, "Linear: \(inFeatures)→\(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = .weight(shape: [outFeatures, inFeatures])
        self.bias = .bias(count: outFeatures, present: bias)
        self.workspace = workspace
    }

    /// `output = x·Wᵀ + b` for `x` (N, in); keeps `x` for backward. `training` does not change it.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 2 && x.shape[1] == inFeatures, "Linear: input \(x.shape), in \(inFeatures)")
        let n = x.shape[0]
        input = x
        output.resize([n, outFeatures])
        multiplyAdds = n * inFeatures * outFeatures
        workspace.timed(.head) {
            BLAS.gemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: x.data, lda: inFeatures,
                      b: weight.value.data, ldb: inFeatures, c: output.data, ldc: outFeatures)
            if let bias { RowVectors.add(bias.value.data, toRowsOf: output.data, rows: n, columns: outFeatures) }
        }
        return output
    }

    /// Adds dL/dW = dyᵀ·x (and dL/db) to the gradients and writes dL/dx = dy·W (N, in) into
    /// `inputGradient` (resized) when given.
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor?) {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        precondition(outputGradient.shape == output.shape, "Linear: gradient \(outputGradient.shape), output \(output.shape)")
        let n = x.shape[0]
        let dy = outputGradient.data
        workspace.timed(.head) {
            BLAS.gemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dy, lda: outFeatures, b: x.data, ldb: inFeatures,
                      beta: 1, c: weight.gradient.data, ldc: inFeatures)
            if let bias { RowVectors.addColumnSums(of: dy, rows: n, columns: outFeatures, into: bias.gradient.data) }
            if let dx = inputGradient {
                dx.resize(x.shape)
                BLAS.gemm(m: n, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures, b: weight.value.data, ldb: inFeatures,
                          c: dx.data, ldc: inFeatures)
            }
        }
    }

    /// Backward into a buffer owned by the layer; returns dL/dx.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, into: ownInputGradient)
        return ownInputGradient
    }

    /// weight and bias under `prefix`.
    public func stateEntries(prefix: String) -> [StateEntry] {
        var entries = [StateEntry(name: prefix + "weight", parameter: weight)]
        if let bias { entries.append(StateEntry(name: prefix + "bias", parameter: bias)) }
        return entries
    }
}
