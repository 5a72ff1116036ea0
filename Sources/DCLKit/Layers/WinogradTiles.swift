/// The Winograd tiles of a stride-1 3×3 convolution over NHWC data, and the transforms between
/// activations and transform-point matrices.
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
        switch tiling.outputTile {
        case 2: transformInput(F2Codelets.self, x, samples, v)
        default: transformInput(F4Codelets.self, x, samples, v)
        }
    }

    /// Writes Aᵀ M A of every tile of `samples` from `products`, the transform-point matrices
    /// (α², T, Cout), into `y` (N, OH, OW, Cout), or adds it there when `accumulate`.
    func transformOutput(_ products: UnsafePointer<Float>, samples: Range<Int>, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        switch tiling.outputTile {
        case 2: transformOutput(F2Codelets.self, products, samples, y, accumulate)
        default: transformOutput(F4Codelets.self, products, samples, y, accumulate)
        }
    }

    /// The adjoint of `transformOutput`: writes A dY Aᵀ of every output tile of `samples` of `dy`
    /// (N, OH, OW, Cout) into `v`, transform-point matrices (α², T, Cout); the parts of partial
    /// tiles outside the output count as zero.
    func transformOutputGradient(_ dy: UnsafePointer<Float>, samples: Range<Int>, into v: UnsafeMutablePointer<Float>) {
        switch tiling.outputTile {
        case 2: transformOutputGradient(F2Codelets.self, dy, samples, v)
        default: transformOutputGradient(F4Codelets.self, dy, samples, v)
        }
    }

    /// Writes G g Gᵀ of every kernel of `weight` (Cout, 3, 3, Cin) into `u`, (α², Cout, Cin):
    /// g[a][b] = weight[o, a, b, i], or weight[o, 2 − a, 2 − b, i] when `flipped` (the kernel of
    /// the input gradient as a convolution of dy). Parallel over output channels.
    static func transformKernel(_ tiling: WinogradTiling, _ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        Threads.forEachChunk(outChannels) { range in
            switch tiling.outputTile {
            case 2: transformKernel(F2Codelets.self, weight, range, outChannels, inChannels, flipped, u)
            default: transformKernel(F4Codelets.self, weight, range, outChannels, inChannels, flipped, u)
            }
        }
    }

    /// The adjoint of `transformKernel` (unflipped): adds Gᵀ dU G of `du` (α², Cout, Cin) to
    /// `weightGradient` (Cout, 3, 3, Cin).
    static func addKernelGradient(_ tiling: WinogradTiling, _ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                  into weightGradient: UnsafeMutablePointer<Float>) {
        switch tiling.outputTile {
        case 2: addKernelGradient(F2Codelets.self, du, outChannels, inChannels, weightGradient)
        default: addKernelGradient(F4Codelets.self, du, outChannels, inChannels, weightGradient)
        }
    }

    private func transformInput<T: WinogradCodelets>(_: T.Type, _ x: UnsafePointer<Float>, _ samples: Range<Int>,
                                                     _ v: UnsafeMutablePointer<Float>) {
        let (a, m, h, w, c) = (T.inputTile, T.outputTile, height, width, inChannels)
        let pointStride = WinogradTiles.padded(samples.count * tilesPerSample * c)
        withTileScratch(points: a * a) { tile, scratch, points in
            forEachTile(samples) { s, t, ty, tx in
                let (sample, y0, x0) = (x + s * h * w * c, ty * m - padding, tx * m - padding)
                let inside = y0 >= 0 && y0 + a <= h && x0 >= 0 && x0 + a <= w
                for c0 in stride(from: 0, to: c, by: 8) {
                    let lanes = min(8, c - c0)
                    for i in 0..<a {
                        let yi = y0 + i
                        for j in 0..<a {
                            let xj = x0 + j
                            tile[i * a + j] = inside || (yi >= 0 && yi < h && xj >= 0 && xj < w)
                                ? loadLanes(sample + (yi * w + xj) * c + c0, lanes) : Lanes()
                        }
                    }
                    T.twoSided(T.input, from: a, to: a, tile, scratch: scratch, into: points)
                    let row = v + t * c + c0
                    for q in 0..<(a * a) { storeLanes(points[q], row + q * pointStride, lanes, add: false) }
                }
            }
        }
    }

    private func transformOutput<T: WinogradCodelets>(_: T.Type, _ products: UnsafePointer<Float>, _ samples: Range<Int>,
                                                      _ y: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        let (a, m, c) = (T.inputTile, T.outputTile, outChannels)
        let (oh, ow) = (outputHeight, outputWidth)
        let pointStride = WinogradTiles.padded(samples.count * tilesPerSample * c)
        withTileScratch(points: a * a) { points, scratch, tile in
            forEachTile(samples) { s, t, ty, tx in
                let (rows, columns) = (min(m, oh - ty * m), min(m, ow - tx * m))
                let corner = y + ((s * oh + ty * m) * ow + tx * m) * c
                for c0 in stride(from: 0, to: c, by: 8) {
                    let lanes = min(8, c - c0)
                    let row = products + t * c + c0
                    for q in 0..<(a * a) { points[q] = loadLanes(row + q * pointStride, lanes) }
                    T.twoSided(T.output, from: a, to: m, points, scratch: scratch, into: tile)
                    for i in 0..<rows {
                        for j in 0..<columns { storeLanes(tile[i * m + j], corner + (i * ow + j) * c + c0, lanes, add: accumulate) }
                    }
                }
            }
        }
    }

    private func transformOutputGradient<T: WinogradCodelets>(_: T.Type, _ dy: UnsafePointer<Float>, _ samples: Range<Int>,
                                                              _ v: UnsafeMutablePointer<Float>) {
        let (a, m, c) = (T.inputTile, T.outputTile, outChannels)
        let (oh, ow) = (outputHeight, outputWidth)
        let pointStride = WinogradTiles.padded(samples.count * tilesPerSample * c)
        withTileScratch(points: a * a) { tile, scratch, points in
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
                    T.twoSided(T.outputGradient, from: m, to: a, tile, scratch: scratch, into: points)
                    let row = v + t * c + c0
                    for q in 0..<(a * a) { storeLanes(points[q], row + q * pointStride, lanes, add: false) }
                }
            }
        }
    }

    private static func transformKernel<T: WinogradCodelets>(_: T.Type, _ weight: UnsafePointer<Float>, _ outputs: Range<Int>,
                                                             _ outChannels: Int, _ cin: Int, _ flipped: Bool,
                                                             _ u: UnsafeMutablePointer<Float>) {
        let a = T.inputTile
        let pointStride = padded(outChannels * cin)
        withTileScratch(points: a * a) { kernel, scratch, points in
            for o in outputs {
                for c0 in stride(from: 0, to: cin, by: 8) {
                    let lanes = min(8, cin - c0)
                    for q in 0..<9 {
                        let tap = flipped ? 8 - q : q
                        kernel[q] = loadLanes(weight + (o * 9 + tap) * cin + c0, lanes)
                    }
                    T.twoSided(T.kernel, from: 3, to: a, kernel, scratch: scratch, into: points)
                    let row = u + o * cin + c0
                    for q in 0..<(a * a) { storeLanes(points[q], row + q * pointStride, lanes, add: false) }
                }
            }
        }
    }

    private static func addKernelGradient<T: WinogradCodelets>(_: T.Type, _ du: UnsafePointer<Float>, _ outChannels: Int, _ cin: Int,
                                                               _ weightGradient: UnsafeMutablePointer<Float>) {
        let a = T.inputTile
        let pointStride = padded(outChannels * cin)
        withTileScratch(points: a * a) { points, scratch, kernel in
            for o in 0..<outChannels {
                for c0 in stride(from: 0, to: cin, by: 8) {
                    let lanes = min(8, cin - c0)
                    let row = du + o * cin + c0
                    for q in 0..<(a * a) { points[q] = loadLanes(row + q * pointStride, lanes) }
                    T.twoSided(T.kernelGradient, from: a, to: 3, points, scratch: scratch, into: kernel)
                    for q in 0..<9 { storeLanes(kernel[q], weightGradient + (o * 9 + q) * cin + c0, lanes, add: true) }
                }
            }
        }
    }

    /// The distance between consecutive transform-point matrices of `elements` floats each: 16
    /// floats more, so that the α² matrices a tile's transform writes at once never start a
    /// multiple of 4 KiB apart (that would put all of them in the same L1 cache sets).
    static func padded(_ elements: Int) -> Int { elements + 16 }

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

    /// Runs `body` with three stack buffers of `points` `Lanes` each (a tile, the half-transformed
    /// tile, the transformed tile).
    @inline(__always)
    private static func withTileScratch(points: Int,
                                        _ body: (UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>) -> Void) {
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 3 * points) { buffer in
            let base = buffer.baseAddress!
            body(base, base + points, base + 2 * points)
        }
    }

    @inline(__always)
    private func withTileScratch(points: Int,
                                 _ body: (UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>, UnsafeMutablePointer<Lanes>) -> Void) {
        WinogradTiles.withTileScratch(points: points, body)
    }
}
