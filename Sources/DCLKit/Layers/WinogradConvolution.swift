/// A stride-1 3×3 convolution computed with Winograd's F(m×m, 3×3): per chunk of samples, the
/// input tiles are transformed, multiplied by the transformed kernels as α² GEMMs
/// (T tiles × Cin)·(Cin × Cout) (`WinogradTiles.multiply`: DCLKitKernels' small GEMM or
/// OpenBLAS), and transformed back (see `WinogradTiles`).
///
/// Weights are (Cout, 3, 3, Cin) as in `Conv2d`. The transformed kernels (α², Cout, Cin), or
/// (α², Cin, Cout) for the small GEMM's forward, point stride `WinogradTiles.padded`, live in
/// `workspace.flippedWeight`, recomputed at every call (the weights change every step); each
/// worker's transform-point matrices live in its `workspace.columns` buffer, whose chunks are
/// bounded by `workspace.chunkElements` (at least one sample; for the forward and input-gradient
/// passes of layers whose products run on OpenBLAS, by the transformed kernels' size if that is
/// larger: `productChunkSize`), so the hot loop allocates nothing once the buffers have grown.
///
/// The weight-gradient pass may run another tiling than the other two (`weightTiles`: F(4×4)
/// under F(2×2), see `ConvolutionAlgorithm.winogradF2WeightF4`).
///
/// Backward, in two passes over the samples: dL/dW from dU_q = (A dY Aᵀ)_qᵀ · (Bᵀ d B)_q summed
/// over tiles (α² GEMMs with the tiles as the inner dimension, into a per-worker (α², Cout, Cin)
/// sum), then Gᵀ dU G; then dL/dx as the forward algorithm applied to dy with the flipped,
/// transposed kernel and padding 2 − p. The passes take turns in `workspace.flippedWeight`:
/// worker 0's sum lives there in the first, the input-gradient kernels in the second (so the
/// largest layer's α²·Cout·Cin floats are held twice, not three times, with two workers).
///
/// Under `MatmulPrecision.bfloat16`, a wide layer's forward and input-gradient point products
/// run on bfloat16 operands with float32 sums (`WinogradBFloat16Products.swift`; the weight
/// gradient's stay float32), decided once per instance (`Conv2d` makes one per pass).
struct WinogradConvolution {
    /// The algorithm F(m×m, 3×3) of the forward and input-gradient passes.
    let tiling: WinogradTiling
    /// The forward tiles (x → y).
    let tiles: WinogradTiles
    /// The input-gradient tiles (dy → dx).
    let gradientTiles: WinogradTiles
    /// The weight-gradient tiles (x, dy → dL/dW), of `weightGradientTiling`.
    let weightTiles: WinogradTiles
    /// The scratch owner.
    let workspace: Workspace
    /// Whether the forward and input-gradient point products run in bfloat16 (`MatmulPrecision`).
    let bfloat16: Bool

    /// The convolution of an input (N, height, width, inChannels) with zero padding `padding` ≤ 2,
    /// its weight gradient on `weightGradientTiling` (`tiling` when nil).
    init(tiling: WinogradTiling, weightGradientTiling: WinogradTiling? = nil, height: Int, width: Int, inChannels: Int, outChannels: Int,
         padding: Int, workspace: Workspace) {
        precondition(padding <= 2, "WinogradConvolution: padding \(padding) for a 3×3 kernel")
        self.tiling = tiling
        tiles = WinogradTiles(tiling: tiling, height: height, width: width, inChannels: inChannels, outChannels: outChannels,
                              padding: padding)
        gradientTiles = WinogradTiles(tiling: tiling, height: tiles.outputHeight, width: tiles.outputWidth,
                                      inChannels: outChannels, outChannels: inChannels, padding: 2 - padding)
        weightTiles = WinogradTiles(tiling: weightGradientTiling ?? tiling, height: height, width: width, inChannels: inChannels,
                                    outChannels: outChannels, padding: padding)
        self.workspace = workspace
        bfloat16 = MatmulPrecision.coversWinograd(inChannels: inChannels, outChannels: outChannels)
    }

    /// Writes the convolution of `x` (n, H, W, Cin) with `weight` into `y` (n, OH, OW, Cout).
    func forward(_ x: UnsafePointer<Float>, samples n: Int, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let (points, cin, cout) = (tiling.points, tiles.inChannels, tiles.outChannels)
        let kernels = productKernels(weight, flipped: false, for: tiles)
        let perSample = points * tiles.tilesPerSample * (cin + cout)
        let kernelStride = padded(cout * cin)
        workspace.convolutionChunks(n, chunk: productChunkSize(perSample), copyKind: .convolutionTransform) { worker, part, phase in
            let columns = workspace.columns(worker)
            let own = part.count * perSample + 2 * points * padded(0)
            // A chunk past the workspace's bound (`productChunkSize`) takes the weight-gradient
            // pass's size at once on workers ≥ 1: grown again there, this large buffer would be
            // held while its successor is zeroed.
            let ahead = own > workspace.columnElements ? weightGradientScratch(worker: worker, samples: workspace.share(of: n)) : 0
            columns.resize([max(own, ahead)])
            let t = part.count * tiles.tilesPerSample
            let (vStride, mStride) = (padded(t * cin), padded(t * cout))
            let (v, m) = (columns.data, columns.data + points * vStride)
            phase.copy { tiles.transformInput(x, samples: part, into: v) }
            phase.gemm {
                if bfloat16 {
                    tiles.multiplyBFloat16(v, vStride: vStride, kernels: kernels, kernelStride: kernelStride, tiles: t, into: m,
                                           mStride: mStride)
                } else {
                    tiles.multiply(v, vStride: vStride, kernels: kernels, kernelStride: kernelStride,
                                   kernelsTransposed: tiles.wantsTransposedKernels, tiles: t, into: m, mStride: mStride)
                }
            }
            phase.copy { tiles.transformOutput(m, samples: part, into: y, accumulate: false) }
        }
    }

    /// The input-gradient kernels, to be computed once before `inputGradient`'s parallel region
    /// (after the weight-gradient pass, whose worker 0 sums in the same buffer).
    func prepareInputGradient(weight: UnsafePointer<Float>) -> UnsafePointer<Float> {
        productKernels(weight, flipped: true, for: gradientTiles)
    }

    /// One worker's share of the weight-gradient pass for `samples` of `x` (N, H, W, Cin) and `dy`
    /// (N, OH, OW, Cout): adds dL/dW to `weightGradient` (Cout, 3, 3, Cin). Worker 0 sums in
    /// `workspace.flippedWeight`, the others before their chunks in their columns buffer.
    func accumulateWeightGradient(worker: Int, samples: Range<Int>, phase: Phase, x: UnsafePointer<Float>,
                                  dy: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>) {
        let (tiles, tiling) = (weightTiles, weightTiles.tiling)  // this pass's
        let (points, cin, cout) = (tiling.points, tiles.inChannels, tiles.outChannels)
        let perSample = points * tiles.tilesPerSample * (cin + cout)
        let chunk = chunkSize(perSample)
        let columns = workspace.columns(worker)
        let kernelStride = padded(cout * cin)
        let sums = points * kernelStride
        let ownSums = worker == 0 ? 0 : sums
        columns.resize([weightGradientScratch(worker: worker, samples: samples.count)])
        if worker == 0 { workspace.flippedWeight.resize([sums]) }
        let du = worker == 0 ? workspace.flippedWeight.data : columns.data
        du.update(repeating: 0, count: sums)
        let scratch = columns.data + ownSums
        for part in SampleChunks(samples: samples, size: chunk) {
            let t = part.count * tiles.tilesPerSample
            let (vStride, mStride) = (padded(t * cin), padded(t * cout))
            let (v, dm) = (scratch, scratch + points * vStride)
            phase.copy {
                tiles.transformInput(x, samples: part, into: v)
                tiles.transformOutputGradient(dy, samples: part, into: dm)
            }
            phase.gemm {
                tiles.accumulateKernelProducts(dm, mStride: mStride, v, vStride: vStride, tiles: t, into: du, kernelStride: kernelStride)
            }
        }
        phase.copy { WinogradTiles.addKernelGradient(tiling, du, outChannels: cout, inChannels: cin, into: weightGradient) }
    }

    /// One part (`inputGradientChunk` samples at most) of the input-gradient pass over `dy` (N, OH,
    /// OW, Cout) with the kernels from `prepareInputGradient`, on worker `worker`'s scratch: writes
    /// dL/dx (N, H, W, Cin) of the part's samples into `dx`, or adds it there when `accumulate`.
    func inputGradient(worker: Int, part: Range<Int>, phase: Phase, dy: UnsafePointer<Float>, kernels: UnsafePointer<Float>,
                       into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (points, cin, cout) = (tiling.points, tiles.inChannels, tiles.outChannels)
        let perSample = points * gradientTiles.tilesPerSample * (cin + cout)
        let columns = workspace.columns(worker)
        let kernelStride = padded(cout * cin)
        columns.resize([part.count * perSample + 2 * points * padded(0)])
        let scratch = columns.data
        let tg = part.count * gradientTiles.tilesPerSample
        let (vgStride, mgStride) = (padded(tg * cout), padded(tg * cin))
        let (vg, mg) = (scratch, scratch + points * vgStride)
        phase.copy { gradientTiles.transformInput(dy, samples: part, into: vg) }
        phase.gemm {
            if bfloat16 {
                gradientTiles.multiplyBFloat16(vg, vStride: vgStride, kernels: kernels, kernelStride: kernelStride, tiles: tg,
                                               into: mg, mStride: mgStride)
            } else {
                gradientTiles.multiply(vg, vStride: vgStride, kernels: kernels, kernelStride: kernelStride, kernelsTransposed: true,
                                       tiles: tg, into: mg, mStride: mgStride)
            }
        }
        phase.copy { gradientTiles.transformOutput(mg, samples: part, into: dx, accumulate: accumulate) }
    }

    /// Samples per part of the input-gradient pass.
    var inputGradientChunk: Int { productChunkSize(tiling.points * gradientTiles.tilesPerSample * (tiles.inChannels + tiles.outChannels)) }

    private func padded(_ elements: Int) -> Int { WinogradTiles.padded(elements) }

    /// Samples per chunk for `perSample` floats of transform-point matrices per sample.
    private func chunkSize(_ perSample: Int) -> Int {
        max(1, workspace.chunkElements(smallProducts: tiles.smallProducts) / perSample)
    }

    /// Worker `worker`'s columns floats in the weight-gradient pass over `count` samples: its own
    /// dU sum (workers ≥ 1; worker 0 sums in `workspace.flippedWeight`) and one chunk.
    private func weightGradientScratch(worker: Int, samples count: Int) -> Int {
        let (tiles, tiling) = (weightTiles, weightTiles.tiling)  // this pass's
        let points = tiling.points
        let perSample = points * tiles.tilesPerSample * (tiles.inChannels + tiles.outChannels)
        let ownSums = worker == 0 ? 0 : points * padded(tiles.outChannels * tiles.inChannels)
        return ownSums + min(chunkSize(perSample), count) * perSample + 2 * points * padded(0)
    }

    /// Samples per chunk of the forward and input-gradient passes: as `chunkSize`, except that
    /// a layer whose products run on OpenBLAS may fill as many floats as its transformed kernels
    /// (α²·Cout·Cin). OpenBLAS packs a point's whole kernel matrix at every call, and the α²
    /// matrices, 36 MB at 512 channels, come from memory once per chunk: with 1 Mi floats a
    /// 512-channel layer on 4×4 images had 28 tiles per chunk, and packing took 11 % of a width-1
    /// batch-64 training step. The kernels are as large as the chunk at most, so their traffic
    /// is at most the chunk's own. Worker 0's buffer grows to at most the transformed kernels
    /// (the others already hold a weight-gradient sum of that size).
    private func productChunkSize(_ perSample: Int) -> Int {
        guard !tiles.smallProducts else { return chunkSize(perSample) }
        return max(1, max(workspace.columnElements, tiling.points * padded(tiles.inChannels * tiles.outChannels)) / perSample)
    }

    /// The kernels of `products`' point products (the forward tiles: (α², Cout, Cin), or (α², Cin,
    /// Cout) for the small GEMM or bfloat16; the input-gradient tiles: flipped, (α², Cout, Cin)),
    /// packed to bfloat16 pairs in place when `bfloat16`.
    private func productKernels(_ weight: UnsafePointer<Float>, flipped: Bool, for products: WinogradTiles) -> UnsafePointer<Float> {
        let transposed = !flipped && (products.wantsTransposedKernels || bfloat16)
        let kernels = transformedKernels(weight, flipped: flipped, transposed: transposed)
        if bfloat16 {
            workspace.timed(.convolutionTransform) {
                products.packKernels(UnsafeMutablePointer(mutating: kernels), kernelStride: padded(tiles.outChannels * tiles.inChannels))
            }
        }
        return kernels
    }

    /// The kernels transformed into `workspace.flippedWeight`, (α², Cout, Cin), or (α², Cin, Cout)
    /// when `transposed`.
    private func transformedKernels(_ weight: UnsafePointer<Float>, flipped: Bool, transposed: Bool) -> UnsafePointer<Float> {
        let (cin, cout) = (tiles.inChannels, tiles.outChannels)
        let kernels = workspace.flippedWeight
        kernels.resize([tiling.points * padded(cout * cin)])
        workspace.timed(.convolutionTransform) {
            WinogradTiles.transformKernel(tiling, weight, outChannels: cout, inChannels: cin, flipped: flipped, transposed: transposed,
                                          into: kernels.data)
        }
        return UnsafePointer(kernels.data)
    }
}
