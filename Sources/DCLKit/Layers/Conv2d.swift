/// 2-D convolution of NHWC activations: im2col + GEMM, or Winograd for stride-1 3×3 kernels.
///
/// Input (N, H, W, Cin) → output (N, OH, OW, Cout), OH = (H + 2·padding − kernel) / stride + 1
/// (likewise OW). The weight is stored (Cout, KH, KW, Cin): a weight row matches an im2col row
/// laid out (kh, kw, cin) (see `Im2col`). State dicts export it in PyTorch's OIHW layout
/// (`StateEntry.Layout.convolutionWeight`).
///
/// Work is split over the workspace's workers by samples (`Workspace.forEachWorker`); each worker
/// takes its samples in chunks whose columns fit `Workspace.chunkElements`, and per chunk
/// `out = columns · Wᵀ` is one single-threaded GEMM, on the panel GEMM with Wᵀ packed once per
/// pass where `SmallProducts.coverPanels` allows (the input gradient likewise with W), else
/// OpenBLAS. A 1×1 stride-1 unpadded convolution uses the input as its columns: one GEMM per
/// worker, or one per block of `SmallProducts.pointwiseRows` rows when its weight gradient runs
/// on the small GEMM (`SmallProducts.coverPointwise`). Backward recomputes the columns for
/// dL/dW = dyᵀ · columns. For stride 1 the input gradient is itself a convolution of dy with
/// the flipped, transposed kernel (padding K − 1 − padding): im2col of dy and one GEMM writing
/// dL/dx, with no scatter; other strides use dL/dcolumns = dy · W and col2im.
///
/// Stride-1 3×3 layers may instead run `WinogradConvolution` (F(2×2) or F(4×4) tiles, or F(2×2)
/// with an F(4×4) weight gradient), or, with few input channels (the image stem),
/// `DirectConvolution` for the forward and dL/dW (dL/dx, when asked for, on im2col as above):
/// each forward asks `ConvolutionPlanner` for the algorithm of its shape (or uses `algorithm` when
/// set), and the backward that follows uses the same one.
///
/// Memory: the output may be a tensor shared with other layers whose outputs are never live at
/// the same time (`init(…, output:)`); backward never reads it, and `recomputeOutput()` writes
/// it again from the kept input. Backward may write dL/dx over dL/dy (see `backward`).
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
    /// The output of the last forward, (N, OH, OW, Cout); a shared tensor when given at init.
    public let output: Tensor
    /// Multiply-adds of the last forward (N·OH·OW·KH·KW·Cin·Cout); backward costs twice as many
    /// with the input gradient, as many without.
    public private(set) var multiplyAdds = 0
    /// When set, the algorithm every pass uses where it applies (im2col elsewhere) instead of
    /// the planner's choice (for tests and benchmarks).
    public var algorithm: ConvolutionAlgorithm?
    /// The algorithm of the last forward (and of the backward that follows it).
    public private(set) var lastAlgorithm = ConvolutionAlgorithm.im2col
    /// The shape of the last forward, as the planner keys it.
    public private(set) var lastShape: ConvolutionShape?

    private let workspace: Workspace
    private var input: Tensor?
    private var outputShape: [Int] = []
    private let ownInputGradient = Tensor(shape: [0])

    /// A zero-initialised convolution; `workspace` supplies the im2col buffers (one per model).
    /// With `output`, forward writes into that tensor instead of one of its own (a buffer the
    /// caller shares between layers whose outputs are never needed at the same time).
    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
        bias: Bool = false, output: Tensor? = nil, workspace: Workspace = Workspace()
    ) {
        precondition(inChannels >= 1 && outChannels >= 1 && kernel >= 1 && stride >= 1 && padding >= 0 && padding < kernel,
                     "Conv2d: \(inChannels)→\(outChannels), kernel \(kernel), stride \(stride), padding \(padding)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.weight = .weight(shape: [outChannels, kernel, kernel, inChannels])
        self.bias = .bias(count: outChannels, present: bias)
        self.output = output ?? Tensor(shape: [0])
        self.workspace = workspace
    }

    /// The output side for an input side (at least 1 whenever side + 2·padding ≥ kernel).
    public func outputSide(_ side: Int) -> Int { (side + 2 * padding - kernel) / stride + 1 }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    private func geometry(of x: Tensor) -> Im2col {
        Im2col(height: x.shape[1], width: x.shape[2], channels: inChannels, kernel: kernel, stride: stride, padding: padding)
    }

    /// Convolves `x` (N, H, W, Cin) into `output` (N, OH, OW, Cout) and keeps `x` for backward.
    /// `training` does not change a convolution.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[3] == inChannels, "Conv2d: input \(x.shape), Cin \(inChannels)")
        precondition(x.shape[1] + 2 * padding >= kernel && x.shape[2] + 2 * padding >= kernel,
                     "Conv2d: input \(x.shape) smaller than the kernel")
        let n = x.shape[0]
        let g = geometry(of: x)
        input = x
        outputShape = [n, g.outputHeight, g.outputWidth, outChannels]
        output.resize(outputShape)
        multiplyAdds = n * g.rowsPerSample * g.columns * outChannels
        let shape = ConvolutionShape(batch: n, height: x.shape[1], width: x.shape[2], inChannels: inChannels, outChannels: outChannels,
                                     kernel: kernel, stride: stride, padding: padding, threads: Threads.count)
        lastShape = shape
        if let algorithm {
            lastAlgorithm = shape.candidates.contains(algorithm) ? algorithm : .im2col
        } else {
            lastAlgorithm = ConvolutionPlanner.algorithm(for: shape) { candidate in
                let profile = workspace.profile
                workspace.profile = nil
                defer { workspace.profile = profile }
                let start = LayerProfile.now()
                convolve(x, g, with: candidate)
                return LayerProfile.now() - start
            }
        }
        convolve(x, g, with: lastAlgorithm)
        addBias(samples: n, pixels: g.rowsPerSample)
        return output
    }

    /// Writes the last forward's output again into `output` from the kept input, with the same
    /// algorithm (so the same values), for a layer whose output lives in a shared buffer that
    /// another layer wrote meanwhile. Returns `output`.
    @discardableResult
    public func recomputeOutput() -> Tensor {
        guard let x = input else { preconditionFailure("Conv2d.recomputeOutput before forward") }
        let g = geometry(of: x)
        output.resize(outputShape)
        convolve(x, g, with: lastAlgorithm)
        addBias(samples: x.shape[0], pixels: g.rowsPerSample)
        return output
    }

    private func addBias(samples n: Int, pixels: Int) {
        if let bias { RowVectors.add(bias.value.data, toRowsOf: output.data, rows: n * pixels, columns: outChannels) }
    }

    /// The Winograd form of this layer for `x`'s geometry, nil for im2col.
    private func winograd(_ algorithm: ConvolutionAlgorithm, _ g: Im2col) -> WinogradConvolution? {
        algorithm.tiling.map {
            WinogradConvolution(tiling: $0, weightGradientTiling: algorithm.weightGradientTiling, height: g.height, width: g.width,
                                inChannels: inChannels, outChannels: outChannels, padding: padding, workspace: workspace)
        }
    }

    /// The direct form of this layer for `x`'s geometry, nil for the other algorithms.
    private func direct(_ algorithm: ConvolutionAlgorithm, _ g: Im2col) -> DirectConvolution? {
        guard algorithm == .direct else { return nil }
        return DirectConvolution(height: g.height, width: g.width, inChannels: inChannels, outChannels: outChannels, padding: padding,
                                 workspace: workspace)
    }

    /// Writes the convolution of `x` (geometry `g`) without bias into `output` with `algorithm`.
    private func convolve(_ x: Tensor, _ g: Im2col, with algorithm: ConvolutionAlgorithm) {
        let n = x.shape[0]
        let (xs, w, y) = (x.data, weight.value.data, output.data)
        if let winograd = winograd(algorithm, g) {
            winograd.forward(xs, samples: n, weight: w, into: y)
            return
        }
        if let direct = direct(algorithm, g) {
            direct.forward(xs, samples: n, weight: w, into: y)
            return
        }
        let (pixels, k, cout) = (g.rowsPerSample, g.columns, outChannels)
        let products = columnProducts(g)
        workspace.timed(.convolutionCopy) { products.pack(w, into: workspace.flippedWeight, transposed: true) }
        let packedWeight = UnsafePointer(workspace.flippedWeight.data)
        if isPointwise {
            workspace.convolutionRegion(n, copyKind: .convolutionCopy) { _, samples, phase in
                phase.gemm {
                    for rows in pointwiseBlocks(samples, pixels: pixels, for: products) {
                        products.forward(rows: rows.count, columns: xs + rows.lowerBound * k, weight: w, packedWeight: packedWeight,
                                         into: y + rows.lowerBound * cout)
                    }
                }
            }
            return
        }
        workspace.convolutionChunks(n, chunk: chunkSize(columnsPerSample: pixels * k, for: products), copyKind: .convolutionCopy) {
            worker, chunk, phase in
            let columns = workspace.columns(worker)
            columns.resize([chunk.count * pixels, k])
            phase.copy { g.gather(xs, samples: chunk, into: columns.data) }
            phase.gemm {
                products.forward(rows: chunk.count * pixels, columns: columns.data, weight: w, packedWeight: packedWeight,
                                 into: y + chunk.lowerBound * pixels * cout)
            }
        }
    }

    /// Backward of the last forward: adds dL/dW (and dL/db) to the parameters' gradients and,
    /// when `inputGradient` is given, writes dL/dx (N, H, W, Cin) into it, or adds dL/dx to its
    /// contents when `accumulate` is true (its shape must then already be the input's).
    /// `outputGradient` is dL/dy, (N, OH, OW, Cout).
    ///
    /// In place: `inputGradient` may be `outputGradient` itself (dL/dx written over dL/dy, without
    /// `accumulate`) when dx and dy have one shape and the kernel is larger than 1×1: every
    /// algorithm works through disjoint chunks of samples and writes a chunk's dL/dx only after
    /// its last read of that chunk's dL/dy (`Conv2dTests` checks it against a separate buffer).
    public func backward(_ outputGradient: Tensor, into inputGradient: Tensor?, accumulate: Bool = false) {
        guard let x = input else { preconditionFailure("Conv2d.backward before forward") }
        precondition(outputGradient.shape == outputShape, "Conv2d: gradient \(outputGradient.shape) for output \(outputShape)")
        precondition(inputGradient !== outputGradient || (!accumulate && kernel > 1 && x.shape == outputShape),
                     "Conv2d.backward in place needs dx and dy of one shape, a kernel above 1×1 and no accumulation")
        if let inputGradient {
            if accumulate {
                precondition(inputGradient.shape == x.shape, "Conv2d: accumulating into \(inputGradient.shape), input \(x.shape)")
            } else {
                inputGradient.resize(x.shape)
            }
        }
        let n = x.shape[0]
        let g = geometry(of: x)
        let (pixels, k, cin, cout) = (g.rowsPerSample, g.columns, inChannels, outChannels)
        // For stride 1, dL/dx is the convolution of dy with the flipped kernel, padding K − 1 − p.
        let transposed = stride == 1 && !isPointwise
        let flipped = Im2col(height: g.outputHeight, width: g.outputWidth, channels: cout, kernel: kernel, stride: 1,
                             padding: kernel - 1 - padding)
        let (xs, dy, w, dx) = (x.data, outputGradient.data, weight.value.data, inputGradient?.data)
        let (winograd, direct) = (winograd(lastAlgorithm, g), direct(lastAlgorithm, g))
        let products = columnProducts(g)
        if transposed && dx != nil && winograd == nil { flipWeight() }
        if !transposed && dx != nil {
            workspace.timed(.convolutionCopy) { products.pack(w, into: workspace.flippedWeight, transposed: false) }
        }
        let (flippedWeight, inputPixels) = (workspace.flippedWeight.data, x.shape[1] * x.shape[2])
        let beta: Float = accumulate ? 1 : 0
        if let bias { RowVectors.addColumnSums(of: dy, rows: n * pixels, columns: cout, into: bias.gradient.data) }
        workspace.convolutionRegion(n, copyKind: winograd == nil ? .convolutionCopy : .convolutionTransform) { worker, samples, phase in
            let dW = worker == 0 ? weight.gradient : workspace.weightGradient(worker)
            if worker > 0 {
                dW.resize(weight.value.shape)
                dW.zero()
            }
            if let winograd {
                winograd.accumulateWeightGradient(worker: worker, samples: samples, phase: phase, x: xs, dy: dy, weightGradient: dW.data)
                return
            }
            if isPointwise {
                phase.gemm {
                    for rows in pointwiseBlocks(samples, pixels: pixels, for: products) {
                        let dyRows = dy + rows.lowerBound * cout
                        products.accumulateWeightGradient(rows: rows.count, dy: dyRows, columns: xs + rows.lowerBound * k, into: dW.data)
                        if let dx {
                            products.inputGradient(rows: rows.count, dy: dyRows, weight: w, packedWeight: flippedWeight,
                                                   into: dx + rows.lowerBound * k, accumulate: accumulate)
                        }
                    }
                }
                return
            }
            // The direct dL/dW reads all of this worker's dy before its dL/dx (on im2col) writes any.
            if let direct {
                direct.accumulateWeightGradient(worker: worker, samples: samples, phase: phase, x: xs, dy: dy, weightGradient: dW.data)
                if dx == nil { return }
            }
            let columns = workspace.columns(worker)
            let perSample = transposed && dx != nil ? max(pixels * k, inputPixels * flipped.columns) : pixels * k
            for chunk in chunks(of: samples, columnsPerSample: perSample, for: products) {
                let rows = chunk.count * pixels
                let dyRows = dy + chunk.lowerBound * pixels * cout
                if direct == nil {
                    columns.resize([rows, k])
                    phase.copy { g.gather(xs, samples: chunk, into: columns.data) }
                    phase.gemm { products.accumulateWeightGradient(rows: rows, dy: dyRows, columns: columns.data, into: dW.data) }
                }
                guard let dx else { continue }
                if transposed {
                    let inputRows = chunk.count * inputPixels
                    columns.resize([inputRows, flipped.columns])
                    phase.copy { flipped.gather(dy, samples: chunk, into: columns.data) }
                    phase.gemm {
                        BLAS.gemm(transB: true, m: inputRows, n: cin, k: flipped.columns, a: columns.data, lda: flipped.columns,
                                  b: flippedWeight, ldb: flipped.columns, beta: beta, c: dx + chunk.lowerBound * inputPixels * cin, ldc: cin)
                    }
                } else {
                    phase.gemm {
                        products.inputGradient(rows: rows, dy: dyRows, weight: w, packedWeight: flippedWeight, into: columns.data,
                                               accumulate: false)
                    }
                    phase.copy { g.scatter(columns.data, samples: chunk, into: dx, accumulate: accumulate) }
                }
            }
        }
        // The workers' partial weight gradients, added in worker order (each element's sum does
        // not depend on the split of the elements over threads).
        let (workers, total) = (workspace.workers(for: n), weight.gradient.data)
        if workers > 1 {
            Threads.forEachChunk(weight.gradient.count) { range in
                for worker in 1..<workers {
                    let part = workspace.weightGradient(worker).data
                    for i in range { total[i] += part[i] }
                }
            }
        }
        guard let winograd, let dx else { return }
        // Winograd's input gradient is a second pass: its kernels take the buffer worker 0's
        // weight-gradient sums used.
        let kernels = winograd.prepareInputGradient(weight: w)
        workspace.convolutionChunks(n, chunk: winograd.inputGradientChunk, copyKind: .convolutionTransform) { worker, part, phase in
            winograd.inputGradient(worker: worker, part: part, phase: phase, dy: dy, kernels: kernels, into: dx, accumulate: accumulate)
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

    /// `workspace.flippedWeight` = the kernel of dL/dx as a convolution of dy:
    /// W̃[i, a, b, o] = W[o, K − 1 − a, K − 1 − b, i], a (Cin, KH·KW·Cout) matrix.
    private func flipWeight() {
        let (k, cin, cout) = (kernel, inChannels, outChannels)
        workspace.flippedWeight.resize([cin, k, k, cout])
        let (w, f) = (weight.value.data, workspace.flippedWeight.data)
        Threads.forEachChunk(cin) { range in
            for i in range {
                for a in 0..<k {
                    for b in 0..<k {
                        let row = f + ((i * k + a) * k + b) * cout
                        let source = w + ((k - 1 - a) * k + (k - 1 - b)) * cin + i
                        for o in 0..<cout { row[o] = source[o * k * k * cin] }
                    }
                }
            }
        }
    }

    /// The im2col products of this layer for geometry `g` (on the small and panel GEMMs by `SmallProducts`' rules).
    private func columnProducts(_ g: Im2col) -> ColumnProducts {
        let small = isPointwise ? SmallProducts.coverPointwise(inChannels: inChannels, outChannels: outChannels)
            : SmallProducts.coverColumns(inChannels: inChannels, outChannels: outChannels)
        let panels = SmallProducts.coverPanels(inChannels: inChannels, outChannels: outChannels, kernel: kernel)
        return ColumnProducts(small: small, panels: panels, k: g.columns, outChannels: outChannels)
    }

    /// The rows of a pointwise layer's `samples` (`pixels` rows each) in the blocks its products
    /// run on: `SmallProducts.pointwiseRows` when its weight gradient is on the small GEMM, else
    /// all at once (OpenBLAS and the panel GEMM block them themselves).
    private func pointwiseBlocks(_ samples: Range<Int>, pixels: Int, for products: ColumnProducts) -> SampleChunks {
        let rows = (samples.lowerBound * pixels)..<(samples.upperBound * pixels)
        return SampleChunks(samples: rows, size: products.small ? SmallProducts.pointwiseRows : max(1, rows.count))
    }

    /// Consecutive sub-ranges of `samples` whose im2col columns fit the workspace's chunks for `products`.
    private func chunks(of samples: Range<Int>, columnsPerSample: Int, for products: ColumnProducts) -> SampleChunks {
        SampleChunks(samples: samples, size: chunkSize(columnsPerSample: columnsPerSample, for: products))
    }

    /// Samples per chunk whose im2col columns fit the workspace's chunks for `products`.
    private func chunkSize(columnsPerSample: Int, for products: ColumnProducts) -> Int {
        max(1, workspace.chunkElements(smallProducts: products.small) / columnsPerSample)
    }
}
