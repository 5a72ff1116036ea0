/// 2-D convolution of NHWC activations as im2col + GEMM.
///
/// Input (N, H, W, Cin) → output (N, OH, OW, Cout), OH = (H + 2·padding − kernel) / stride + 1
/// (likewise OW). The weight is stored (Cout, KH, KW, Cin): a weight row matches an im2col row
/// laid out (kh, kw, cin), whose KW·Cin entries for one kernel row are a contiguous run of the
/// NHWC input. The batch is processed in chunks of samples whose columns fit the workspace
/// (`Workspace.columnElements`): per chunk, `out = columns · Wᵀ` is one GEMM. A 1×1 stride-1
/// unpadded convolution uses the input as its columns: one GEMM over the whole batch.
/// State dicts export the weight in PyTorch's OIHW layout (`StateEntry.Layout.convolutionWeight`).
public final class Conv2d {
    /// Input channels Cin.
    public let inChannels: Int
    /// Output channels Cout.
    public let outChannels: Int
    /// Kernel side (square kernels).
    public let kernel: Int
    /// Stride in both directions.
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int
    /// The weight, (Cout, KH, KW, Cin).
    public let weight: Parameter
    /// The bias, (Cout), if any.
    public let bias: Parameter?
    /// The output of the last forward, (N, OH, OW, Cout).
    public let output = Tensor(shape: [0])
    /// Multiply-adds of the last forward (N·OH·OW·KH·KW·Cin·Cout); backward costs twice as many
    /// with the input gradient, as many without.
    public private(set) var multiplyAdds = 0

    private let workspace: Workspace
    private var input: Tensor?
    private let ownInputGradient = Tensor(shape: [0])

    /// A zero-initialised convolution; `workspace` supplies the im2col buffer (one per model).
    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
        bias: Bool = false, workspace: Workspace = Workspace()
    ) {
        precondition(inChannels >= 1 && outChannels >= 1 && kernel >= 1 && stride >= 1 && padding >= 0,
                     "Conv2d: \(inChannels)→\(outChannels), kernel \(kernel), stride \(stride), padding \(padding)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.weight = Parameter(name: "weight", shape: [outChannels, kernel, kernel, inChannels], decays: true)
        self.bias = bias ? Parameter(name: "bias", shape: [outChannels], decays: false) : nil
        self.workspace = workspace
    }

    /// Columns per output pixel, KH·KW·Cin.
    public var columnCount: Int { kernel * kernel * inChannels }

    /// The output side for an input side (at least 1 whenever side + 2·padding ≥ kernel).
    public func outputSide(_ side: Int) -> Int { (side + 2 * padding - kernel) / stride + 1 }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Convolves `x` (N, H, W, Cin) into `output` (N, OH, OW, Cout) and keeps `x` for backward.
    /// `training` does not change a convolution.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[3] == inChannels, "Conv2d: input \(x.shape), Cin \(inChannels)")
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (oh, ow) = (outputSide(h), outputSide(w))
        precondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel, "Conv2d: input \(x.shape) smaller than the kernel")
        input = x
        output.resize([n, oh, ow, outChannels])
        let k = columnCount
        multiplyAdds = n * oh * ow * k * outChannels
        if isPointwise {
            workspace.timed(.convolutionGEMM) {
                BLAS.gemm(transB: true, m: n * oh * ow, n: outChannels, k: k, a: x.data, lda: k,
                          b: weight.value.data, ldb: k, c: output.data, ldc: outChannels)
            }
        } else {
            forEachChunk(samples: n, pixels: oh * ow) { first, count in
                let rows = count * oh * ow
                workspace.timed(.convolutionCopy) { im2col(x, samples: first..<(first + count)) }
                workspace.timed(.convolutionGEMM) {
                    BLAS.gemm(transB: true, m: rows, n: outChannels, k: k, a: workspace.columns.data, lda: k,
                              b: weight.value.data, ldb: k, c: output.data + first * oh * ow * outChannels, ldc: outChannels)
                }
            }
        }
        if let bias { RowVectors.add(bias.value.data, toRowsOf: output.data, rows: n * oh * ow, columns: outChannels) }
        return output
    }

    /// Backward of the last forward: adds dL/dW (and dL/db) to the parameters' gradients and,
    /// when `inputGradient` is given, writes dL/dx (N, H, W, Cin) into it, or adds dL/dx to its
    /// contents when `accumulate` is true (its shape must then already be the input's).
    /// `outputGradient` is dL/dy, (N, OH, OW, Cout).
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor?, accumulate: Bool = false) {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        precondition(outputGradient.shape == output.shape, "Conv2d: gradient \(outputGradient.shape) for output \(output.shape)")
        let (n, oh, ow) = (output.shape[0], output.shape[1], output.shape[2])
        let k = columnCount
        let dy = outputGradient.data
        if let inputGradient {
            if accumulate {
                precondition(inputGradient.shape == x.shape, "Conv2d: accumulating into \(inputGradient.shape), input \(x.shape)")
            } else {
                inputGradient.resize(x.shape)
            }
        }
        if let bias { RowVectors.addColumnSums(of: dy, rows: n * oh * ow, columns: outChannels, into: bias.gradient.data) }
        if isPointwise {
            workspace.timed(.convolutionGEMM) {
                let rows = n * oh * ow
                BLAS.gemm(transA: true, m: outChannels, n: k, k: rows, a: dy, lda: outChannels, b: x.data, ldb: k,
                          beta: 1, c: weight.gradient.data, ldc: k)
                if let dx = inputGradient {
                    BLAS.gemm(m: rows, n: k, k: outChannels, a: dy, lda: outChannels, b: weight.value.data, ldb: k,
                              beta: accumulate ? 1 : 0, c: dx.data, ldc: k)
                }
            }
            return
        }
        forEachChunk(samples: n, pixels: oh * ow) { first, count in
            let rows = count * oh * ow
            let dyChunk = dy + first * oh * ow * outChannels
            let columns = workspace.columns
            workspace.timed(.convolutionCopy) { im2col(x, samples: first..<(first + count)) }
            workspace.timed(.convolutionGEMM) {
                BLAS.gemm(transA: true, m: outChannels, n: k, k: rows, a: dyChunk, lda: outChannels, b: columns.data, ldb: k,
                          beta: 1, c: weight.gradient.data, ldc: k)
            }
            guard let dx = inputGradient else { return }
            workspace.timed(.convolutionGEMM) {
                BLAS.gemm(m: rows, n: k, k: outChannels, a: dyChunk, lda: outChannels, b: weight.value.data, ldb: k,
                          c: columns.data, ldc: k)
            }
            workspace.timed(.convolutionCopy) { col2im(into: dx, samples: first..<(first + count), accumulate: accumulate) }
        }
    }

    /// Backward into a buffer owned by the layer; returns dL/dx (N, H, W, Cin).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, into: ownInputGradient)
        return ownInputGradient
    }

    /// The weight (as `prefix + "weight"`, exported OIHW) and the bias.
    public func stateEntries(prefix: String) -> [StateEntry] {
        var entries = [StateEntry(name: prefix + "weight", parameter: weight, layout: .convolutionWeight)]
        if let bias { entries.append(StateEntry(name: prefix + "bias", parameter: bias)) }
        return entries
    }

    /// Calls `body(first, count)` for consecutive chunks of samples whose im2col columns fit the
    /// workspace, after sizing `workspace.columns` for the chunk.
    private func forEachChunk(samples n: Int, pixels: Int, _ body: (Int, Int) -> Void) {
        let perChunk = max(1, workspace.columnElements / (pixels * columnCount))
        var first = 0
        while first < n {
            let count = min(perChunk, n - first)
            workspace.columns.resize([count * pixels, columnCount])
            body(first, count)
            first += count
        }
    }

    /// Writes the im2col rows of `samples` of `x` into `workspace.columns`, parallel over
    /// (sample, output row) pairs.
    private func im2col(_ x: Tensor, samples: Range<Int>) {
        let (h, w, c) = (x.shape[1], x.shape[2], inChannels)
        let (oh, ow) = (outputSide(h), outputSide(w))
        let (kernel, stride, padding) = (self.kernel, self.stride, self.padding)
        let k = columnCount
        let span = kernel * c
        let src = x.data
        let columns = workspace.columns.data
        let first = samples.lowerBound
        Threads.forEachChunk(samples.count * oh) { range in
            for job in range {
                let (local, y) = job.quotientAndRemainder(dividingBy: oh)
                let sample = src + (first + local) * h * w * c
                for xo in 0..<ow {
                    let row = columns + ((local * oh + y) * ow + xo) * k
                    let x0 = xo * stride - padding
                    let lo = max(0, -x0), hi = min(kernel, w - x0)
                    for ky in 0..<kernel {
                        let dst = row + ky * span
                        let yi = y * stride - padding + ky
                        guard yi >= 0, yi < h, lo < hi else {
                            dst.update(repeating: 0, count: span)
                            continue
                        }
                        if lo > 0 { dst.update(repeating: 0, count: lo * c) }
                        (dst + lo * c).update(from: sample + (yi * w + x0 + lo) * c, count: (hi - lo) * c)
                        if hi < kernel { (dst + hi * c).update(repeating: 0, count: (kernel - hi) * c) }
                    }
                }
            }
        }
    }

    /// Scatters the column gradient in `workspace.columns` back onto the input gradient of
    /// `samples`, parallel over (sample, input row) pairs: each input row gathers every column
    /// entry that read it, so no two threads write the same row.
    private func col2im(into dx: Tensor, samples: Range<Int>, accumulate: Bool) {
        let (h, w, c) = (dx.shape[1], dx.shape[2], inChannels)
        let (oh, ow) = (outputSide(h), outputSide(w))
        let (kernel, stride, padding) = (self.kernel, self.stride, self.padding)
        let k = columnCount
        let span = kernel * c
        let columns = workspace.columns.data
        let first = samples.lowerBound
        let out = dx.data
        Threads.forEachChunk(samples.count * h) { range in
            for job in range {
                let (local, yi) = job.quotientAndRemainder(dividingBy: h)
                let target = out + ((first + local) * h + yi) * w * c
                if !accumulate { target.update(repeating: 0, count: w * c) }
                for ky in 0..<kernel {
                    let t = yi + padding - ky
                    guard t >= 0, t % stride == 0, t / stride < oh else { continue }
                    let y = t / stride
                    for xo in 0..<ow {
                        let x0 = xo * stride - padding
                        let lo = max(0, -x0), hi = min(kernel, w - x0)
                        guard lo < hi else { continue }
                        let src = columns + ((local * oh + y) * ow + xo) * k + ky * span + lo * c
                        let dst = target + (x0 + lo) * c
                        for i in 0..<((hi - lo) * c) { dst[i] += src[i] }
                    }
                }
            }
        }
    }
}
