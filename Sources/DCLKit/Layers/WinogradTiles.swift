/// The Winograd tiles of a stride-1 3×3 convolution over NHWC data, and the transforms between
/// activations and transform-point matrices.
///
/// Input (N, H, W, Cin) with zero padding p gives output (N, OH, OW, Cout), OH = H + 2p − 2.
/// The output is cut into ⌈OH/m⌉·⌈OW/m⌉ tiles of m×m per sample (partial tiles at the bottom
/// and right edges are computed whole and clipped; the input they read beyond the image is zero).
/// For a chunk of samples with T tiles in all, a transform-point matrix holds, for each of the α²
/// points, a (T, C) matrix: point q's matrix starts at q·T·C, tile t's row at t·C (tiles numbered
/// sample by sample, row-major within a sample).
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
        let (a, m, h, w, c) = (tiling.inputTile, tiling.outputTile, height, width, inChannels)
        let pointStride = samples.count * tilesPerSample * c
        withTileScratch { tile, scratch, points in
            forEachTile(samples) { s, t, ty, tx in
                let (sample, y0, x0) = (x + s * h * w * c, ty * m - padding, tx * m - padding)
                for c0 in stride(from: 0, to: c, by: 8) {
                    let lanes = min(8, c - c0)
                    for i in 0..<a {
                        let yi = y0 + i
                        for j in 0..<a {
                            let xj = x0 + j
                            tile[i * a + j] = yi >= 0 && yi < h && xj >= 0 && xj < w
                                ? loadLanes(sample + (yi * w + xj) * c + c0, lanes) : Lanes()
                        }
                    }
                    tiling.input.apply(tile, scratch: scratch, into: points)
                    let row = v + t * c + c0
                    for q in 0..<(a * a) { storeLanes(points[q], row + q * pointStride, lanes, add: false) }
                }
            }
        }
    }

    /// Writes Aᵀ M A of every tile of `samples` from `products`, the transform-point matrices
    /// (α², T, Cout), into `y` (N, OH, OW, Cout), or adds it there when `accumulate`.
    func transformOutput(_ products: UnsafePointer<Float>, samples: Range<Int>, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (a, m, c) = (tiling.inputTile, tiling.outputTile, outChannels)
        let (oh, ow) = (outputHeight, outputWidth)
        let pointStride = samples.count * tilesPerSample * c
        withTileScratch { points, scratch, tile in
            forEachTile(samples) { s, t, ty, tx in
                let (rows, columns) = (min(m, oh - ty * m), min(m, ow - tx * m))
                let corner = y + ((s * oh + ty * m) * ow + tx * m) * c
                for c0 in stride(from: 0, to: c, by: 8) {
                    let lanes = min(8, c - c0)
                    let row = products + t * c + c0
                    for q in 0..<(a * a) { points[q] = loadLanes(row + q * pointStride, lanes) }
                    tiling.output.apply(points, scratch: scratch, into: tile)
                    for i in 0..<rows {
                        for j in 0..<columns { storeLanes(tile[i * m + j], corner + (i * ow + j) * c + c0, lanes, add: accumulate) }
                    }
                }
            }
        }
    }

    /// The adjoint of `transformOutput`: writes A dY Aᵀ of every output tile of `samples` of `dy`
    /// (N, OH, OW, Cout) into `v`, transform-point matrices (α², T, Cout); the parts of partial
    /// tiles outside the output count as zero.
    func transformOutputGradient(_ dy: UnsafePointer<Float>, samples: Range<Int>, into v: UnsafeMutablePointer<Float>) {
        let (a, m, c) = (tiling.inputTile, tiling.outputTile, outChannels)
        let (oh, ow) = (outputHeight, outputWidth)
        let pointStride = samples.count * tilesPerSample * c
        withTileScratch { tile, scratch, points in
            forEachTile(samples) { s, t, ty, tx in
                let (rows, columns) = (min(m, oh - ty * m), min(m, ow - tx * m))
                let corner = dy + ((s * oh + ty * m) * ow + tx * m) * c
                for c0 in stride(from: 0, to: c, by: 8) {
                    let lanes = min(8, c - c0)
                    for i in 0..<m {
                        for j in 0..<m {
                            tile[i * m + j] = i < rows && j < columns ? loadLanes(corner + (i * ow + j) * c + c0, lanes) : Lanes()
                        }
                    }
                    tiling.outputGradient.apply(tile, scratch: scratch, into: points)
                    let row = v + t * c + c0
                    for q in 0..<(a * a) { storeLanes(points[q], row + q * pointStride, lanes, add: false) }
                }
            }
        }
    }

    /// Writes G g Gᵀ of every kernel of `weight` (Cout, 3, 3, Cin) into `u`, (α², Cout, Cin):
    /// g[a][b] = weight[o, a, b, i], or weight[o, 2 − a, 2 − b, i] when `flipped` (the kernel of
    /// the input gradient as a convolution of dy). Parallel over output channels.
    static func transformKernel(_ tiling: WinogradTiling, _ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        let (a, cin) = (tiling.inputTile, inChannels)
        let pointStride = outChannels * cin
        Threads.forEachChunk(outChannels) { range in
            withTileScratch(tiling) { kernel, scratch, points in
                for o in range {
                    for c0 in stride(from: 0, to: cin, by: 8) {
                        let lanes = min(8, cin - c0)
                        for i in 0..<3 {
                            for j in 0..<3 {
                                let (ky, kx) = flipped ? (2 - i, 2 - j) : (i, j)
                                kernel[i * 3 + j] = loadLanes(weight + ((o * 3 + ky) * 3 + kx) * cin + c0, lanes)
                            }
                        }
                        tiling.kernel.apply(kernel, scratch: scratch, into: points)
                        let row = u + o * cin + c0
                        for q in 0..<(a * a) { storeLanes(points[q], row + q * pointStride, lanes, add: false) }
                    }
                }
            }
        }
    }

    /// The adjoint of `transformKernel` (unflipped): adds Gᵀ dU G of `du` (α², Cout, Cin) to
    /// `weightGradient` (Cout, 3, 3, Cin).
    static func addKernelGradient(_ tiling: WinogradTiling, _ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                  into weightGradient: UnsafeMutablePointer<Float>) {
        let (a, cin) = (tiling.inputTile, inChannels)
        let pointStride = outChannels * cin
        withTileScratch(tiling) { points, scratch, kernel in
            for o in 0..<outChannels {
                for c0 in stride(from: 0, to: cin, by: 8) {
                    let lanes = min(8, cin - c0)
                    let row = du + o * cin + c0
                    for q in 0..<(a * a) { points[q] = loadLanes(row + q * pointStride, lanes) }
                    tiling.kernelGradient.apply(points, scratch: scratch, into: kernel)
                    for q in 0..<9 { storeLanes(kernel[q], weightGradient + (o * 9 + q) * cin + c0, lanes, add: true) }
                }
            }
        }
    }

    /// Calls `body(sample, tile, tileRow, tileColumn)` for every tile of `samples`, tile numbered
    /// from 0 at the chunk's first sample.
    @inline(__always)
    private func forEachTile(_ samples: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        var t = 0
        for s in samples {
            for ty in 0..<tileRows {
                for tx in 0..<tileColumns {
                    body(s, t, ty, tx)
                    t += 1
                }
            }
        }
    }

    @inline(__always)
    private func withTileScratch(_ body: (UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>) -> Void) {
        WinogradTiles.withTileScratch(tiling, body)
    }

    /// Runs `body` with three stack buffers of α² `Lanes` each (a tile, the half-transformed
    /// tile, the transformed tile).
    @inline(__always)
    private static func withTileScratch(_ tiling: WinogradTiling,
                                        _ body: (UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>) -> Void) {
        let size = tiling.points
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 3 * size) { buffer in
            let base = buffer.baseAddress!
            body(base, base + size, base + 2 * size)
        }
    }
}
