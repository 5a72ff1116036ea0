import DCLKitKernels
import XCTest
@testable import DCLKit

/// Winograd convolutions (F(2×2, 3×3), F(4×4, 3×3), and F(2×2) with an F(4×4) weight gradient),
/// every direction, against float64 sums
/// written from the definition and against the im2col path, on odd sizes (partial tiles),
/// paddings 0–2 and channel counts 1, 3, 16 and 129 (the point products in `dclk_small_gemm`
/// up to 128 channels, in OpenBLAS above), with one and many chunks per worker, at every SIMD
/// level the CPU runs (the tile transforms are DCLKitKernels' `dclk_winograd_*`).
///
/// Tolerances are first-order rounding bounds, not fitted constants. A float32 evaluation of a
/// sum of products, through n sequential roundings, is off by at most n·ε times the same formula
/// evaluated on absolute values (ε = 2⁻²⁴). For im2col that formula is the direct sum of |terms|,
/// S, with n = its length (9·Cin, or the number of output pixels for dL/dW). For Winograd it is
/// the algorithm itself on absolute values, |Aᵀ|[(|G||g||G|ᵀ) ⊙ (|Bᵀ||d||B|)]|A| summed over
/// channels (and, for dL/dW, |Gᵀ|[(|A||dY||A|ᵀ) ⊙ (|Bᵀ||d||B|)]|G| summed over tiles), with n the
/// transforms' depth (2α for Bᵀ·B and for Aᵀ·A, 2·3 + 2 for G·Gᵀ including the rounding of ⅙ and
/// 1/24) plus the GEMM's inner length. The tests allow twice the first-order bound: a wrong
/// transform or a misplaced tile is off by O(S), orders of magnitude more.
final class WinogradConvolutionTests: XCTestCase {
    private static let epsilon = Double(Float.ulpOfOne) / 2

    /// (batch, height, width, Cin, Cout, padding)
    private let shapes: [(Int, Int, Int, Int, Int, Int)] = [
        (2, 5, 7, 1, 1, 1), (3, 7, 6, 3, 16, 1), (2, 9, 9, 16, 3, 1), (2, 6, 5, 16, 16, 0), (2, 4, 5, 3, 3, 2), (1, 8, 8, 16, 16, 1),
        (2, 5, 4, 129, 2, 1),
    ]

    private func conv(_ s: (Int, Int, Int, Int, Int, Int), _ algorithm: ConvolutionAlgorithm, workspace: Workspace) -> Conv2d {
        let c = Conv2d(inChannels: s.3, outChannels: s.4, kernel: 3, stride: 1, padding: s.5, workspace: workspace)
        c.weight.value.copy(from: GradientCheck.random(c.weight.value.shape, seed: 11, scale: 0.5))
        c.algorithm = algorithm
        return c
    }

    func test_forward_input_and_weight_gradients_match_float64_and_im2col_at_every_simd_level() {
        SIMDLevels.forEach(checkEveryDirection)
    }

    private func checkEveryDirection(_ level: dclk_simd_level_t) {
        for shape in shapes {
            let (n, h, w, cin, cout, p) = shape
            let x = GradientCheck.random([n, h, w, cin], seed: 12)
            let (oh, ow) = (h + 2 * p - 2, w + 2 * p - 2)
            let dy = GradientCheck.random([n, oh, ow, cout], seed: 13)
            let reference = Conv2d(inChannels: cin, outChannels: cout, kernel: 3, padding: p)
            reference.weight.value.copy(from: GradientCheck.random(reference.weight.value.shape, seed: 11, scale: 0.5))
            let direct = DirectSums(x: x, weight: reference.weight.value, dy: dy, padding: p)

            let im2col = conv(shape, .im2col, workspace: Workspace())
            let y0 = im2col.forward(x, training: true).clone()
            let dx0 = im2col.backward(dy).clone()
            let dW0 = im2col.weight.gradient.clone()
            let (k, pixels) = (9 * cin, n * oh * ow)
            assertWithin(y0, direct.y, bound: direct.yMagnitude, depth: k, "im2col y \(shape)")
            assertWithin(dx0, direct.dx, bound: direct.dxMagnitude, depth: 9 * cout, "im2col dx \(shape)")
            assertWithin(dW0, direct.dW, bound: direct.dWMagnitude, depth: pixels, "im2col dW \(shape)")

            for algorithm in [ConvolutionAlgorithm.winogradF2, .winogradF4, .winogradF2WeightF4] {
                let tiling = algorithm.tiling!
                let depth = 4 * tiling.inputTile + 8
                let bounds = WinogradBounds(tiling: tiling, x: x, weight: reference.weight.value, dy: dy, padding: p)
                let weightTiling = algorithm.weightGradientTiling!
                let weightDepth = 4 * weightTiling.inputTile + 8
                let weightBounds = weightTiling === tiling
                    ? bounds : WinogradBounds(tiling: weightTiling, x: x, weight: reference.weight.value, dy: dy, padding: p)
                // 64 floats per worker: every sample is its own chunk; the default: one chunk.
                for workspace in [Workspace(), Workspace(columnElements: 64)] {
                    let c = conv(shape, algorithm, workspace: workspace)
                    let label = "\(algorithm) at \(SIMDLevels.name(level))"
                    let y = c.forward(x, training: true)
                    XCTAssertEqual(c.lastAlgorithm, algorithm)
                    XCTAssertEqual(y.shape, [n, oh, ow, cout])
                    assertWithin(y, direct.y, bound: bounds.y, depth: depth + cin, "\(label) y \(shape)")
                    assertAgree(y, y0, bounds.y, depth + cin, direct.yMagnitude, k, "\(label) y vs im2col \(shape)")
                    let dx = c.backward(dy)
                    XCTAssertEqual(dx.shape, x.shape)
                    assertWithin(dx, direct.dx, bound: bounds.dx, depth: depth + cout, "\(label) dx \(shape)")
                    assertAgree(dx, dx0, bounds.dx, depth + cout, direct.dxMagnitude, 9 * cout, "\(label) dx vs im2col \(shape)")
                    let tiles = n * weightBounds.tilesPerSample
                    assertWithin(c.weight.gradient, direct.dW, bound: weightBounds.dW, depth: weightDepth + tiles, "\(label) dW \(shape)")
                    assertAgree(c.weight.gradient, dW0, weightBounds.dW, weightDepth + tiles, direct.dWMagnitude, pixels,
                                "\(label) dW vs im2col \(shape)")
                }
            }
        }
    }

    /// Each `dclk_winograd_*` kernel, at every SIMD level, on one tile of random channel vectors,
    /// equals its two-sided matrix product written here from `WinogradTiling`'s matrices in
    /// double: Bᵀ d B, Aᵀ M A, A dY Aᵀ, G g Gᵀ (flipped or not, in either layout), Gᵀ dU G. Channel counts 1, 5, 16
    /// and 21 cover whole 8- and 16-lane vectors and partial ones; the point stride c + 3 is not
    /// a multiple of anything, and the adding kernels start from 1. Tolerance: each output is a
    /// sum of at most 36 products through at most 2α = 12 roundings, so float32 is within
    /// 12·ε = 7.2e-7 of Σ|terms|; 2e-6 of it is allowed, a wrong coefficient is off by O(1).
    func test_tile_transform_kernels_equal_the_transform_matrices_at_every_simd_level() {
        for tiling in [WinogradTiling.f2, .f4] {
            let (a, m) = (tiling.inputTile, tiling.outputTile)
            let (bt, g, at) = tiling.matrices.self
            let bT = { (r: Int, i: Int) in Double(bt[r * a + i]) }
            let gM = { (r: Int, i: Int) in Double(g[r * 3 + i]) }
            let aT = { (r: Int, i: Int) in Double(at[r * a + i]) }
            // out[r, s] = Σ_ij L(r, i) x[i, j] L(s, j), with |terms| summed alongside.
            func twoSided(_ l: (Int, Int) -> Double, _ rows: Int, _ inner: Int, _ x: (Int, Int) -> Double) -> [(Double, Double)] {
                (0..<(rows * rows)).map { rs in
                    var (sum, magnitude) = (0.0, 0.0)
                    for i in 0..<inner {
                        for j in 0..<inner {
                            let term = l(rs / rows, i) * x(i, j) * l(rs % rows, j)
                            sum += term
                            magnitude += abs(term)
                        }
                    }
                    return (sum, magnitude)
                }
            }
            SIMDLevels.forEach { level in
                for c in [1, 5, 16, 21] {
                    let what = "F(\(m)) \(SIMDLevels.name(level)) c \(c)"
                    let stride = c + 3
                    let points = GradientCheck.random([a * a * stride], seed: 21)
                    let pointValue = { (q: Int, k: Int) in Double(points[q * stride + k]) }
                    let check = { (actual: Tensor, offset: (Int) -> Int, expected: (Int) -> [(Double, Double)], start: Double, name: String) in
                        for k in 0..<c {
                            for (e, (value, magnitude)) in expected(k).enumerated() {
                                XCTAssertEqual(Double(actual[offset(e) + k]), start + value, accuracy: 2e-6 * magnitude + 1e-12,
                                               "\(what) \(name)[\(e)] channel \(k)")
                            }
                        }
                    }

                    let x = GradientCheck.random([a, a, c], seed: 22)
                    let v = Tensor(shape: [a * a * stride])
                    dclk_winograd_input(Int32(m), x.data, 1, a, a, c, 0, v.data, stride)
                    check(v, { $0 * stride }, { k in twoSided(bT, a, a) { Double(x[($0 * a + $1) * c + k]) } }, 0, "Bᵀ d B")

                    let y = Tensor(shape: [m, m, c])
                    y.fill(1)
                    dclk_winograd_output(Int32(m), points.data, stride, 1, m, m, c, y.data, 1)
                    check(y, { $0 * c }, { k in twoSided(aT, m, a) { pointValue($0 * a + $1, k) } }, 1, "Aᵀ M A")

                    let dy = GradientCheck.random([m, m, c], seed: 23)
                    dclk_winograd_output_gradient(Int32(m), dy.data, 1, m, m, c, v.data, stride)
                    check(v, { $0 * stride }, { k in twoSided({ aT($1, $0) }, a, m) { Double(dy[($0 * m + $1) * c + k]) } }, 0, "A dY Aᵀ")

                    // Two output channels, so that the transposed layout (α², Cin, Cout) differs.
                    let weight = GradientCheck.random([2, 3, 3, c], seed: 24)
                    let kernelStride = 2 * c + 3
                    let u = Tensor(shape: [a * a * kernelStride])
                    for (flipped, transposed) in [(false, false), (true, false), (false, true), (true, true)] {
                        dclk_winograd_kernel(Int32(m), weight.data, 0, 2, 2, c, flipped ? 1 : 0, transposed ? 1 : 0, u.data, kernelStride)
                        for o in 0..<2 {
                            let expected = { (k: Int) in
                                twoSided(gM, a, 3) { i, j in Double(weight[(o * 9 + (flipped ? (2 - i) * 3 + 2 - j : i * 3 + j)) * c + k]) }
                            }
                            for k in 0..<c {
                                for (q, (value, magnitude)) in expected(k).enumerated() {
                                    let index = q * kernelStride + (transposed ? k * 2 + o : o * c + k)
                                    XCTAssertEqual(Double(u[index]), value, accuracy: 2e-6 * magnitude + 1e-12,
                                                   "\(what) G g Gᵀ flipped \(flipped) transposed \(transposed) [\(q)] o \(o) channel \(k)")
                                }
                            }
                        }
                    }

                    let dW = Tensor(shape: [1, 3, 3, c])
                    dW.fill(1)
                    dclk_winograd_kernel_gradient(Int32(m), points.data, stride, 0, 1, c, dW.data)
                    check(dW, { $0 * c }, { k in twoSided({ gM($1, $0) }, 3, a) { pointValue($0 * a + $1, k) } }, 1, "Gᵀ dU G")
                }
            }
        }
    }

    /// `dclk_winograd_kernel` writes kernels whose α² matrices exceed 16 MiB with non-temporal
    /// stores (whole, aligned vectors; ordinary stores for the rest): at every SIMD level, with the
    /// output channels in two calls as the parallel loop splits them, a point stride of 2¹⁸ + 16
    /// floats (past the size for F(2×2) and F(4×4)) gives bit for bit the values of a small stride
    /// (ordinary stores), from an aligned start and from one a float off, for 16 input channels
    /// (whole vectors) and 21 (a part vector too); the floats between the matrices stay untouched.
    func test_kernels_beyond_the_streaming_size_equal_the_cached_ones_at_every_simd_level() {
        let (cout, bigStride) = (3, (1 << 18) + 16)
        let big = Tensor(shape: [36 * bigStride + 1])
        SIMDLevels.forEach { level in
            for tiling in [WinogradTiling.f2, .f4] {
                for cin in [16, 21] {
                    for (flipped, offset) in [(0, 0), (1, 0), (0, 1)] {
                        let what = "F(\(tiling.outputTile)) \(SIMDLevels.name(level)) cin \(cin) flipped \(flipped) offset \(offset)"
                        let (m, points, small) = (Int32(tiling.outputTile), tiling.points, cout * cin + 3)
                        let weight = GradientCheck.random([cout, 3, 3, cin], seed: 25)
                        let cached = Tensor(shape: [points * small])
                        dclk_winograd_kernel(m, weight.data, 0, cout, cout, cin, Int32(flipped), 0, cached.data, small)
                        for q in 0..<points { (big.data + q * bigStride).update(repeating: .nan, count: cout * cin + 2) }
                        for (first, last) in [(0, 1), (1, cout)] {
                            dclk_winograd_kernel(m, weight.data, first, last, cout, cin, Int32(flipped), 0, big.data + offset, bigStride)
                        }
                        for q in 0..<points {
                            let (streamed, expected) = (big.data + offset + q * bigStride, cached.data + q * small)
                            for i in 0..<(cout * cin) where streamed[i].bitPattern != expected[i].bitPattern {
                                XCTFail("\(what) point \(q) element \(i): \(streamed[i]) against \(expected[i])")
                                return
                            }
                            XCTAssertTrue(streamed[cout * cin].isNaN && (offset == 0 || streamed[-1].isNaN),
                                          "\(what) point \(q): a write outside its matrix")
                        }
                    }
                }
            }
        }
    }

    /// The activation-side kernels (Bᵀ d B, Aᵀ M A added or not, A dY Aᵀ) on every tile of two
    /// samples, at every SIMD level, against float64 two-sided products from `WinogradTiling`'s
    /// matrices: images 1…9 × 1…9 with paddings 0–2 put tiles at every position (inside, on each
    /// edge and corner, windows past both sides at once, partial output tiles), and channel counts
    /// 3 (a part vector only) and 17 (whole 8- and 16-lane vectors and a part). The point stride
    /// T·c + 5 leaves gaps after each point's matrix, and every buffer ends in a guard; gaps and
    /// guards hold NaN that must stay (no write outside the output). Tolerance as in the one-tile
    /// test: each value is a sum of at most 36 products through at most 2α roundings, within
    /// 12·ε = 7.2e-7 of Σ|terms|; 2e-6 of it is allowed, a misread element is off by O(1).
    func test_activation_transforms_match_float64_at_every_tile_position_and_simd_level() {
        for tiling in [WinogradTiling.f2, .f4] {
            let (a, m) = (tiling.inputTile, tiling.outputTile)
            let (bt, _, at) = tiling.matrices
            for h in 1...9 {
                for w in 1...9 {
                    for p in 0...2 where h + 2 * p >= 3 && w + 2 * p >= 3 {
                        for c in [3, 17] { checkActivationTransforms(a, m, bt, at, (2, h, w, c, p)) }
                    }
                }
            }
        }
    }

    /// `test_activation_transforms_match_float64_at_every_tile_position_and_simd_level` for one
    /// shape (samples, h, w, c, padding) of F(m×m) with Bᵀ `bt` (α×α) and Aᵀ `at` (m×α).
    private func checkActivationTransforms(_ a: Int, _ m: Int, _ bt: [Float], _ at: [Float], _ shape: (Int, Int, Int, Int, Int)) {
        let (n, h, w, c, p) = shape
        let (oh, ow) = (h + 2 * p - 2, w + 2 * p - 2)
        let (rows, columns) = ((oh + m - 1) / m, (ow + m - 1) / m)
        let tiles = n * rows * columns
        let stride = tiles * c + 5
        let guardCount = 7
        let x = GradientCheck.random([n, h, w, c], seed: 31)
        let dy = GradientCheck.random([n, oh, ow, c], seed: 32)
        let products = GradientCheck.random([a * a * stride], seed: 33)
        // The window or output block of tile t at (i, j), channel k; zero outside the image.
        let location = { (t: Int) in (t / (rows * columns), t % (rows * columns) / columns * m, t % columns * m) }
        let window = { (t: Int, k: Int) -> [Double] in
            let (s, y0, x0) = location(t)
            return (0..<(a * a)).map { ij in
                let (y, xx) = (y0 - p + ij / a, x0 - p + ij % a)
                return y >= 0 && y < h && xx >= 0 && xx < w ? Double(x[((s * h + y) * w + xx) * c + k]) : 0
            }
        }
        let block = { (t: Int, k: Int) -> [Double] in
            let (s, y0, x0) = location(t)
            return (0..<(m * m)).map { ij in
                let (y, xx) = (y0 + ij / m, x0 + ij % m)
                return y < oh && xx < ow ? Double(dy[((s * oh + y) * ow + xx) * c + k]) : 0
            }
        }
        // L X Lᵀ (L rows×inner, row-major) of the inner×inner X, with Σ|terms| alongside, in two passes.
        func twoSided(_ l: [Double], _ rows: Int, _ inner: Int, _ x: [Double]) -> [(Double, Double)] {
            var half = [(Double, Double)](repeating: (0, 0), count: rows * inner)
            for r in 0..<rows {
                for j in 0..<inner {
                    for i in 0..<inner {
                        half[r * inner + j].0 += l[r * inner + i] * x[i * inner + j]
                        half[r * inner + j].1 += abs(l[r * inner + i] * x[i * inner + j])
                    }
                }
            }
            return (0..<(rows * rows)).map { rs in
                let (r, s) = (rs / rows, rs % rows)
                var (sum, magnitude) = (0.0, 0.0)
                for j in 0..<inner {
                    sum += half[r * inner + j].0 * l[s * inner + j]
                    magnitude += half[r * inner + j].1 * abs(l[s * inner + j])
                }
                return (sum, magnitude)
            }
        }
        let b = bt.map(Double.init), aT = at.map(Double.init)
        let a2 = (0..<(a * m)).map { ri in aT[(ri % m) * a + ri / m] } // A (α×m) as rows of Aᵀ's columns
        // Expected points [q][t][k] and output pixels, computed once for every level.
        var inputPoints = [(Double, Double)](repeating: (0, 0), count: a * a * tiles * c)
        var gradientPoints = inputPoints
        var outputs = [(Double, Double)](repeating: (0, 0), count: n * oh * ow * c)
        for t in 0..<tiles {
            let (s, y0, x0) = location(t)
            for k in 0..<c {
                for (q, value) in twoSided(b, a, a, window(t, k)).enumerated() { inputPoints[(q * tiles + t) * c + k] = value }
                for (q, value) in twoSided(a2, a, m, block(t, k)).enumerated() { gradientPoints[(q * tiles + t) * c + k] = value }
                let tile = twoSided(aT, m, a, (0..<(a * a)).map { Double(products[$0 * stride + t * c + k]) })
                for ij in 0..<(m * m) where y0 + ij / m < oh && x0 + ij % m < ow {
                    outputs[((s * oh + y0 + ij / m) * ow + x0 + ij % m) * c + k] = tile[ij]
                }
            }
        }
        let what = "F(\(m)) n \(n) h \(h) w \(w) c \(c) p \(p)"
        // Points q·stride + t·c + k hold `expected` (plus `start`), gaps and guard NaN.
        func check(_ actual: Tensor, _ expected: [(Double, Double)], count: Int, at index: (Int) -> Int?, start: Double, _ name: String) {
            var failures = 0
            for e in 0..<count {
                let value = Double(actual[e])
                let ok: Bool
                if let i = index(e) {
                    ok = abs(value - start - expected[i].0) <= 2e-6 * expected[i].1 + 1e-12
                } else {
                    ok = value.isNaN
                }
                if !ok {
                    failures += 1
                    if failures <= 3 { XCTFail("\(what) \(name) [\(e)]: \(value)") }
                }
            }
        }
        let pointIndex = { (e: Int) -> Int? in e % stride < tiles * c && e < a * a * stride ? e / stride * tiles * c + e % stride : nil }
        SIMDLevels.forEach { level in
            let name = SIMDLevels.name(level)
            let v = Tensor(shape: [a * a * stride + guardCount])
            v.fill(.nan)
            dclk_winograd_input(Int32(m), x.data, n, h, w, c, p, v.data, stride)
            check(v, inputPoints, count: v.count, at: pointIndex, start: 0, "\(name) Bᵀ d B")
            v.fill(.nan)
            dclk_winograd_output_gradient(Int32(m), dy.data, n, oh, ow, c, v.data, stride)
            check(v, gradientPoints, count: v.count, at: pointIndex, start: 0, "\(name) A dY Aᵀ")
            for accumulate in [0, 1] {
                let y = Tensor(shape: [n * oh * ow * c + guardCount])
                y.fill(1)
                for g in 0..<guardCount { y[n * oh * ow * c + g] = .nan }
                dclk_winograd_output(Int32(m), products.data, stride, n, oh, ow, c, y.data, Int32(accumulate))
                check(y, outputs, count: y.count, at: { $0 < n * oh * ow * c ? $0 : nil }, start: Double(accumulate),
                      "\(name) Aᵀ M A accumulate \(accumulate)")
            }
        }
    }

    func test_winograd_applies_only_to_stride_one_three_by_three_and_falls_back_to_im2col() {
        let c = Conv2d(inChannels: 3, outChannels: 4, kernel: 3, stride: 2, padding: 1)
        c.algorithm = .winogradF4
        c.forward(GradientCheck.random([1, 6, 6, 3], seed: 17), training: true)
        XCTAssertEqual(c.lastAlgorithm, .im2col)
        let pointwise = Conv2d(inChannels: 3, outChannels: 4, kernel: 1)
        pointwise.algorithm = .winogradF2
        pointwise.forward(GradientCheck.random([1, 6, 6, 3], seed: 17), training: true)
        XCTAssertEqual(pointwise.lastAlgorithm, .im2col)
    }

    /// `actual` within 2·(depth·ε)·bound of `expected`, elementwise.
    private func assertWithin(_ actual: Tensor, _ expected: [Double], bound: [Double], depth: Int, _ what: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        var failures = 0
        for i in 0..<min(actual.count, expected.count) {
            let tolerance = 2 * Double(depth) * Self.epsilon * bound[i] + 1e-30
            if abs(Double(actual[i]) - expected[i]) > tolerance {
                failures += 1
                if failures <= 3 {
                    XCTFail("\(what) [\(i)]: \(actual[i]) vs \(expected[i]), tolerance \(tolerance)", file: file, line: line)
                }
            }
        }
    }

    /// Two float32 results each within its own bound of the exact value agree within the sum.
    private func assertAgree(_ a: Tensor, _ b: Tensor, _ boundA: [Double], _ depthA: Int, _ boundB: [Double], _ depthB: Int,
                             _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        var failures = 0
        for i in 0..<a.count {
            let tolerance = 2 * Self.epsilon * (Double(depthA) * boundA[i] + Double(depthB) * boundB[i]) + 1e-30
            if abs(Double(a[i]) - Double(b[i])) > tolerance {
                failures += 1
                if failures <= 3 { XCTFail("\(what) [\(i)]: \(a[i]) vs \(b[i]), tolerance \(tolerance)", file: file, line: line) }
            }
        }
    }
}

/// The three sums of a stride-1 3×3 convolution in float64, from the definition, with the sums
/// of their terms' absolute values:
/// y[n,oy,ox,o] = Σ W[o,ky,kx,i] x[n, oy−p+ky, ox−p+kx, i];
/// dx[n,iy,ix,i] = Σ dy[n, iy+p−ky, ix+p−kx, o] W[o,ky,kx,i];
/// dW[o,ky,kx,i] = Σ dy[n,oy,ox,o] x[n, oy−p+ky, ox−p+kx, i] (zero outside the arrays).
struct DirectSums {
    var y: [Double], yMagnitude: [Double]
    var dx: [Double], dxMagnitude: [Double]
    var dW: [Double], dWMagnitude: [Double]

    init(x: Tensor, weight: Tensor, dy: Tensor, padding p: Int) {
        let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow, cout) = (dy.shape[1], dy.shape[2], dy.shape[3])
        y = .init(repeating: 0, count: n * oh * ow * cout)
        yMagnitude = y
        dx = .init(repeating: 0, count: x.count)
        dxMagnitude = dx
        dW = .init(repeating: 0, count: weight.count)
        dWMagnitude = dW
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ky in 0..<3 { for kx in 0..<3 {
            let (iy, ix) = (oy - p + ky, ox - p + kx)
            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
            for o in 0..<cout {
                let yi = ((b * oh + oy) * ow + ox) * cout + o
                let g = Double(dy[yi])
                for i in 0..<cin {
                    let (wi, xi) = (((o * 3 + ky) * 3 + kx) * cin + i, ((b * h + iy) * w + ix) * cin + i)
                    let (wv, xv) = (Double(weight[wi]), Double(x[xi]))
                    y[yi] += wv * xv
                    yMagnitude[yi] += abs(wv * xv)
                    dx[xi] += g * wv
                    dxMagnitude[xi] += abs(g * wv)
                    dW[wi] += g * xv
                    dWMagnitude[wi] += abs(g * xv)
                }
            }
        } } } } }
    }
}

/// The Winograd algorithm evaluated in float64 on absolute values (matrices and data): per
/// element, the magnitude its rounding errors scale with (see the test class's comment).
struct WinogradBounds {
    var y: [Double], dx: [Double], dW: [Double]
    let tilesPerSample: Int

    init(tiling: WinogradTiling, x: Tensor, weight: Tensor, dy: Tensor, padding p: Int) {
        let (a, m) = (tiling.inputTile, tiling.outputTile)
        let bt = tiling.matrices.inputTransform.map { abs(Double($0)) }
        let g = tiling.matrices.kernelTransform.map { abs(Double($0)) }
        let at = tiling.matrices.outputTransform.map { abs(Double($0)) }
        let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow, cout) = (dy.shape[1], dy.shape[2], dy.shape[3])
        let absX = x.toArray().map { abs(Double($0)) }, absDy = dy.toArray().map { abs(Double($0)) }
        let absW = weight.toArray().map { abs(Double($0)) }
        let tiles = { (rows: Int, columns: Int) in ((rows + m - 1) / m, (columns + m - 1) / m) }
        tilesPerSample = tiles(oh, ow).0 * tiles(oh, ow).1

        /// |L| X |L|ᵀ for L (s×r), X (r×r).
        func sandwich(_ l: [Double], _ s: Int, _ r: Int, _ x: [Double]) -> [Double] {
            var t = [Double](repeating: 0, count: s * r), out = [Double](repeating: 0, count: s * s)
            for i in 0..<s { for k in 0..<r { for j in 0..<r { t[i * r + j] += l[i * r + k] * x[k * r + j] } } }
            for i in 0..<s { for j in 0..<s { for k in 0..<r { out[i * s + j] += t[i * r + k] * l[j * r + k] } } }
            return out
        }
        /// The a×a patch of channel c of `data` (rows × columns × channels) at (y0, x0), zero outside.
        func patch(_ data: [Double], _ rows: Int, _ columns: Int, _ channels: Int, _ sample: Int, _ y0: Int, _ x0: Int,
                   _ side: Int, _ c: Int) -> [Double] {
            var out = [Double](repeating: 0, count: side * side)
            for i in 0..<side { for j in 0..<side {
                let (yi, xj) = (y0 + i, x0 + j)
                if yi >= 0, yi < rows, xj >= 0, xj < columns { out[i * side + j] = data[((sample * rows + yi) * columns + xj) * channels + c] }
            } }
            return out
        }
        /// Forward bound of a convolution of `input` (n, rows, columns, cIn) with kernels
        /// kernel(o, i) (3×3 each), padding `pad`, output channels cOut.
        func forwardBound(_ input: [Double], _ rows: Int, _ columns: Int, _ cIn: Int, _ cOut: Int, _ pad: Int,
                          _ kernel: (Int, Int) -> [Double]) -> [Double] {
            let (outRows, outColumns) = (rows + 2 * pad - 2, columns + 2 * pad - 2)
            let (tr, tc) = tiles(outRows, outColumns)
            let u = (0..<cOut).map { o in (0..<cIn).map { i in sandwich(g, a, 3, kernel(o, i)) } }
            var out = [Double](repeating: 0, count: n * outRows * outColumns * cOut)
            for s in 0..<n { for ty in 0..<tr { for tx in 0..<tc {
                let v = (0..<cIn).map { i in sandwich(bt, a, a, patch(input, rows, columns, cIn, s, ty * m - pad, tx * m - pad, a, i)) }
                for o in 0..<cOut {
                    var product = [Double](repeating: 0, count: a * a)
                    for i in 0..<cIn { for q in 0..<(a * a) { product[q] += u[o][i][q] * v[i][q] } }
                    let tile = sandwich(at, m, a, product)
                    for i in 0..<m { for j in 0..<m where ty * m + i < outRows && tx * m + j < outColumns {
                        out[((s * outRows + ty * m + i) * outColumns + tx * m + j) * cOut + o] = tile[i * m + j]
                    } }
                }
            } } }
            return out
        }
        let kernel = { (o: Int, i: Int, flipped: Bool) -> [Double] in
            (0..<9).map { q in
                let (ky, kx) = flipped ? (2 - q / 3, 2 - q % 3) : (q / 3, q % 3)
                return absW[((o * 3 + ky) * 3 + kx) * cin + i]
            }
        }
        y = forwardBound(absX, h, w, cin, cout, p) { o, i in kernel(o, i, false) }
        dx = forwardBound(absDy, oh, ow, cout, cin, 2 - p) { i, o in kernel(o, i, true) }

        let gt = (0..<(3 * a)).map { q in g[(q % a) * 3 + q / a] }
        let atT = (0..<(a * m)).map { q in at[(q % m) * a + q / m] }
        var du = [Double](repeating: 0, count: cout * cin * a * a)
        let (tr, tc) = tiles(oh, ow)
        for s in 0..<n { for ty in 0..<tr { for tx in 0..<tc {
            let v = (0..<cin).map { i in sandwich(bt, a, a, patch(absX, h, w, cin, s, ty * m - p, tx * m - p, a, i)) }
            for o in 0..<cout {
                let e = sandwich(atT, a, m, patch(absDy, oh, ow, cout, s, ty * m, tx * m, m, o))
                for i in 0..<cin { for q in 0..<(a * a) { du[(o * cin + i) * a * a + q] += e[q] * v[i][q] } }
            }
        } } }
        dW = [Double](repeating: 0, count: weight.count)
        for o in 0..<cout { for i in 0..<cin {
            let k = sandwich(gt, 3, a, Array(du[((o * cin + i) * a * a)..<((o * cin + i + 1) * a * a)]))
            for q in 0..<9 { dW[(o * 9 + q) * cin + i] = k[q] }
        } }
    }
}
