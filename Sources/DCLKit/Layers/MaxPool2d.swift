/// Max pooling over square windows of NHWC activations, per channel: input (N, H, W, C) →
/// output (N, OH, OW, C), OH = (H + 2·padding − kernel) / stride + 1. Padding never wins
/// (it acts as −∞). ResNet's ImageNet stem uses kernel 3, stride 2, padding 1.
///
/// Backward routes each output gradient to the first maximum of its window (row-major window
/// order), found again from the kept input, so no index buffer is stored.
public final class MaxPool2d {
    /// Window side.
    public let kernel: Int
    /// Stride in both directions.
    public let stride: Int
    /// Padding on every side.
    public let padding: Int
    /// The output of the last forward.
    public let output = Tensor(shape: [0])
    private let workspace: Workspace
    private var input: Tensor?
    private let ownInputGradient = Tensor(shape: [0])

    /// A max pool; `padding` must be below `kernel` so every window holds an input element.
    public init(kernel: Int = 3, stride: Int = 2, padding: Int = 1, workspace: Workspace = Workspace()) {
        precondition(kernel >= 1 && stride >= 1 && padding >= 0 && padding < kernel,
                     "MaxPool2d: kernel \(kernel), stride \(stride), padding \(padding)")
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.workspace = workspace
    }

    /// The output side for an input side.
    public func outputSide(_ side: Int) -> Int { (side + 2 * padding - kernel) / stride + 1 }

    /// Pools `x` (N, H, W, C) into `output` (N, OH, OW, C). `training` does not change pooling.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 4, "MaxPool2d: input \(x.shape)")
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel, "MaxPool2d: input \(x.shape) smaller than the window")
        input = x
        let (oh, ow) = (outputSide(h), outputSide(w))
        output.resize([n, oh, ow, c])
        workspace.timed(.pooling) {
            let (xs, y) = (x.data, output.data)
            Threads.forEachChunk(n * oh) { range in
                for job in range {
                    let (s, yo) = job.quotientAndRemainder(dividingBy: oh)
                    for xo in 0..<ow {
                        let out = y + ((s * oh + yo) * ow + xo) * c
                        out.update(repeating: -.infinity, count: c)
                        forEachWindowPixel(yo, xo, h, w) { yi, xi in
                            let src = xs + ((s * h + yi) * w + xi) * c
                            for j in 0..<c where src[j] > out[j] { out[j] = src[j] }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Writes dL/dx (N, H, W, C) into `inputGradient` (resized): each output gradient goes to the
    /// first maximum of its window; parallel over samples.
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor) {
        guard let x = input else { preconditionFailure("MaxPool2d.backward before forward") }
        precondition(outputGradient.shape == output.shape, "MaxPool2d: gradient \(outputGradient.shape), output \(output.shape)")
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (output.shape[1], output.shape[2])
        inputGradient.resize(x.shape)
        workspace.timed(.pooling) {
            let (xs, y, g, dx) = (x.data, output.data, outputGradient.data, inputGradient.data)
            Threads.forEachChunk(n) { range in
                // Whether each channel of the current output pixel has found its maximum yet.
                var routed = [Bool](repeating: false, count: c)
                for s in range {
                    (dx + s * h * w * c).update(repeating: 0, count: h * w * c)
                    for yo in 0..<oh {
                        for xo in 0..<ow {
                            let o = ((s * oh + yo) * ow + xo) * c
                            for j in 0..<c { routed[j] = false }
                            forEachWindowPixel(yo, xo, h, w) { yi, xi in
                                let i = ((s * h + yi) * w + xi) * c
                                for j in 0..<c where !routed[j] && xs[i + j] == y[o + j] {
                                    dx[i + j] += g[o + j]
                                    routed[j] = true
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Backward into a buffer owned by the layer; returns dL/dx.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, into: ownInputGradient)
        return ownInputGradient
    }

    /// Calls `body(yi, xi)` for the in-bounds input pixels of output pixel (yo, xo), row-major.
    @inline(__always)
    private func forEachWindowPixel(_ yo: Int, _ xo: Int, _ h: Int, _ w: Int, _ body: (Int, Int) -> Void) {
        let y0 = yo * stride - padding, x0 = xo * stride - padding
        for yi in max(0, y0)..<min(h, y0 + kernel) {
            for xi in max(0, x0)..<min(w, x0 + kernel) { body(yi, xi) }
        }
    }
}
