import DCLKitKernels

/// The Winograd tiles of a stride-1 3×3 convolution over NHWC data, and the transforms between
/// activations and transform-point matrices (the SIMD kernels `dclk_winograd_*` of DCLKitKernels,
/// at the level `dclk_simd_level` chose).
///
/// Input (N, H, W, Cin) with zero padding p gives output (N, OH, OW, Cout), OH = H + 2p − 2.
/// The output is cut into ⌈OH/m⌉·⌈OW/m⌉ tiles of m×m per sample (partial tiles at the bottom
/// and right edges are computed whole and clipped; the input they read beyond the image is zero).
/// For a chunk of samples with T tiles in all, a transform-point matrix holds, for each of the α²
/// points, a (T, C) matrix: point q's matrix starts at q·padded(T·C), tile t's row at t·C (tiles
/// numbered sample by sample, row-major within a sample); transformed kernels likewise
/// (α², Cout, Cin) with point stride padded(Cout·Cin).
struct WinogradTiles {
    /// The algorithm F(m×m, 3×3).
    let tiling: WinogradTiling
    /// Input height and width.
    let height, width: Int
    /// Input and output channels.
    let inChannels, outChannels: Int
    /// Zero padding on every side.
    let padding: Int

    /// Output height and width.
    var outputHeight: Int { height + 2 * padding - 2 }
    var outputWidth: Int { width + 2 * padding - 2 }
    /// Tile rows and columns per sample.
    var tileRows: Int { (outputHeight + tiling.outputTile - 1) / tiling.outputTile }
    var tileColumns: Int { (outputWidth + tiling.outputTile - 1) / tiling.outputTile }
    /// Tiles per sample.
    var tilesPerSample: Int { tileRows * tileColumns }

    /// Writes Bᵀ d B of every input tile of `samples` of `x` (N, H, W, Cin) into `v`, the
    /// transform-point matrices (α², T, Cin).
    func transformInput(_ x: UnsafePointer<Float>, samples: Range<Int>, into v: UnsafeMutablePointer<Float>) {
        dclk_winograd_input(tileSide, x + samples.lowerBound * height * width * inChannels, samples.count, height, width, inChannels,
                            padding, v, pointStride(samples, inChannels))
    }

    /// Writes Aᵀ M A of every tile of `samples` from `products`, the transform-point matrices
    /// (α², T, Cout), into `y` (N, OH, OW, Cout), or adds it there when `accumulate`.
    func transformOutput(_ products: UnsafePointer<Float>, samples: Range<Int>, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        dclk_winograd_output(tileSide, products, pointStride(samples, outChannels), samples.count, outputHeight, outputWidth, outChannels,
                             y + samples.lowerBound * outputHeight * outputWidth * outChannels, accumulate ? 1 : 0)
    }

    /// The adjoint of `transformOutput`: writes A dY Aᵀ of every output tile of `samples` of `dy`
    /// (N, OH, OW, Cout) into `v`, transform-point matrices (α², T, Cout); the parts of partial
    /// tiles outside the output count as zero.
    func transformOutputGradient(_ dy: UnsafePointer<Float>, samples: Range<Int>, into v: UnsafeMutablePointer<Float>) {
        dclk_winograd_output_gradient(tileSide, dy + samples.lowerBound * outputHeight * outputWidth * outChannels, samples.count,
                                      outputHeight, outputWidth, outChannels, v, pointStride(samples, outChannels))
    }

    /// Writes G g Gᵀ of every kernel of `weight` (Cout, 3, 3, Cin) into `u`, (α², Cout, Cin), or
    /// (α², Cin, Cout) when `transposed`: g[a][b] = weight[o, a, b, i], or weight[o, 2 − a, 2 − b, i]
    /// when `flipped` (the kernel of the input gradient as a convolution of dy). Parallel over
    /// output channels.
    static func transformKernel(_ tiling: WinogradTiling, _ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                flipped: Bool, transposed: Bool, into u: UnsafeMutablePointer<Float>) {
        let stride = padded(outChannels * inChannels)
        Threads.forEachChunk(outChannels) { range in
            dclk_winograd_kernel(Int32(tiling.outputTile), weight, range.lowerBound, range.upperBound, outChannels, inChannels,
                                 flipped ? 1 : 0, transposed ? 1 : 0, u, stride)
        }
    }

    /// Whether the α² point products run DCLKitKernels' register-blocked `dclk_small_gemm` rather
    /// than OpenBLAS (`SmallProducts.cover`).
    var smallProducts: Bool { SmallProducts.cover(inChannels: inChannels, outChannels: outChannels) }

    /// Whether `multiply` wants this layer's forward kernels transposed, (α², Cin, Cout).
    var wantsTransposedKernels: Bool { smallProducts }

    /// The point products of a chunk of t tiles: m_q = v_q · u_q for every point q, with v_q
    /// (t, Cin) at q·vStride, m_q (t, Cout) at q·mStride, and the kernels u_q at q·kernelStride,
    /// (Cin, Cout) when `kernelsTransposed`, else (Cout, Cin) (then `smallProducts` is false).
    func multiply(_ v: UnsafePointer<Float>, vStride: Int, kernels: UnsafePointer<Float>, kernelStride: Int, kernelsTransposed: Bool,
                  tiles t: Int, into m: UnsafeMutablePointer<Float>, mStride: Int) {
        let (cin, cout) = (inChannels, outChannels)
        for q in 0..<tiling.points {
            let (a, b, c) = (v + q * vStride, kernels + q * kernelStride, m + q * mStride)
            if !kernelsTransposed {
                precondition(!smallProducts, "WinogradTiles: the small products take transposed kernels")
                BLAS.gemm(transB: true, m: t, n: cout, k: cin, a: a, lda: cin, b: b, ldb: cin, c: c, ldc: cout)
            } else if smallProducts {
                dclk_small_gemm(t, cout, cin, a, cin, 1, b, cout, c, cout, 0)
            } else {
                BLAS.gemm(m: t, n: cout, k: cin, a: a, lda: cin, b: b, ldb: cout, c: c, ldc: cout)
            }
        }
    }

    /// The weight-gradient products of a chunk of t tiles: du_q += dm_qᵀ · v_q for every point q,
    /// with dm_q (t, Cout) at q·mStride, v_q (t, Cin) at q·vStride and du_q (Cout, Cin) at
    /// q·kernelStride.
    func accumulateKernelProducts(_ dm: UnsafePointer<Float>, mStride: Int, _ v: UnsafePointer<Float>, vStride: Int, tiles t: Int,
                                  into du: UnsafeMutablePointer<Float>, kernelStride: Int) {
        let (cin, cout) = (inChannels, outChannels)
        for q in 0..<tiling.points {
            let (a, b, c) = (dm + q * mStride, v + q * vStride, du + q * kernelStride)
            if smallProducts {
                dclk_small_gemm(cout, cin, t, a, 1, cout, b, cin, c, cin, 1)
            } else {
                BLAS.gemm(transA: true, m: cout, n: cin, k: t, a: a, lda: cout, b: b, ldb: cin, beta: 1, c: c, ldc: cin)
            }
        }
    }

    /// The adjoint of `transformKernel` (unflipped): adds Gᵀ dU G of `du` (α², Cout, Cin) to
    /// `weightGradient` (Cout, 3, 3, Cin).
    static func addKernelGradient(_ tiling: WinogradTiling, _ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                  into weightGradient: UnsafeMutablePointer<Float>) {
        dclk_winograd_kernel_gradient(Int32(tiling.outputTile), du, padded(outChannels * inChannels), 0, outChannels, inChannels,
                                      weightGradient)
    }

    /// m as the kernels take it.
    private var tileSide: Int32 { Int32(tiling.outputTile) }

    /// The point stride of the transform-point matrices of `samples` with `channels` columns.
    private func pointStride(_ samples: Range<Int>, _ channels: Int) -> Int {
        WinogradTiles.padded(samples.count * tilesPerSample * channels)
    }

    /// The distance between consecutive transform-point matrices of `elements` floats each: 16
    /// floats more, so that the α² matrices a tile's transform writes at once never start a
    /// multiple of 4 KiB apart (that would put all of them in the same L1 cache sets).
    static func padded(_ elements: Int) -> Int { elements + 16 }
}
