import DCLKitKernels

/// Max pooling over square windows of NHWC activations, per channel: input (N, H, W, C) →
/// output (N, OH, OW, C), OH = (H + 2·padding − kernel) / stride + 1. Padding never wins
/// (it acts as −∞). ResNet's ImageNet stem uses kernel 3, stride 2, padding 1.
///
/// Forward records, per output element, the input pixel of the first maximum of its window
/// (row-major window order); backward routes the output gradient there.
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
    private var inputShape: [Int] = []
    /// Per output element, the winning pixel's index y·W + x within its sample (exact in float).
    private let winners = Tensor(shape: [0])
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
        precondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel && h * w < 1 << 24,
                     "MaxPool2d: input \(x.shape) smaller than the window or too large")
        inputShape = x.shape
        let (oh, ow) = (outputSide(h), outputSide(w))
        output.resize([n, oh, ow, c])
        winners.resize(output.shape)
        workspace.timed(.pooling) {
            let (xs, y, arg) = (x.data, output.data, winners.data)
            let (kernel, stride, padding) = (self.kernel, self.stride, self.padding)
            Threads.forEachChunk(n * oh) { range in
                for job in range {
                    let (s, yo) = job.quotientAndRemainder(dividingBy: oh)
                    let y0 = yo * stride - padding
                    let (yFirst, yEnd) = (max(0, y0), min(h, y0 + kernel))
                    for xo in 0..<ow {
                        let o = ((s * oh + yo) * ow + xo) * c
                        let x0 = xo * stride - padding
                        dclk_max_pool_window(xs + s * h * w * c, w, c, yFirst, yEnd, max(0, x0), min(w, x0 + kernel), y + o, arg + o)
                    }
                }
            }
        }
        return output
    }

    /// Writes dL/dx (N, H, W, C) into `inputGradient` (resized): each output gradient goes to the
    /// first maximum of its window; parallel over samples.
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor) {
        precondition(outputGradient.shape == output.shape, "MaxPool2d: gradient \(outputGradient.shape), output \(output.shape)")
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let perSample = output.shape[1] * output.shape[2] * c
        inputGradient.resize(inputShape)
        workspace.timed(.pooling) {
            let (arg, g, dx) = (winners.data, outputGradient.data, inputGradient.data)
            Threads.forEachChunk(n) { range in
                for s in range {
                    let sample = dx + s * h * w * c
                    sample.update(repeating: 0, count: h * w * c)
                    for o in Swift.stride(from: s * perSample, to: (s + 1) * perSample, by: c) {
                        for j in 0..<c { sample[Int(arg[o + j]) * c + j] += g[o + j] }
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
}
