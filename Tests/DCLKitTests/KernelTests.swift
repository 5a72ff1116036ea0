import DCLKitKernels
import XCTest
@testable import DCLKit

/// The SIMD kernels of DCLKitKernels at every level this CPU runs (the baseline always, AVX2 +
/// FMA and AVX-512 when present), against plain loops written here from each kernel's formula in
/// double. Channel counts 1, 5, 8, 13, 24 and 37 cover whole 8- and 16-lane vectors, the partial
/// tail vector and both together.
///
/// Tolerance: each output is one multiply-add (or a sum of `rows` = 37 terms) of values of size
/// ≈ 1 in float32: the float rounding (and the FMA's different rounding) is below 1e-5 relative;
/// a wrong index or a missed tail is off by O(1).
final class KernelTests: XCTestCase {
    /// Whole and partial vectors; up to 32 channels the channel sums take all the channels in one
    /// strip of registers at 8 lanes (up to 64 at 16), 37 and more take several strips over tiles
    /// of 16 rows (70 and 150 at both widths, 150 with whole strips and a partial one).
    private let channelCounts = [1, 5, 8, 13, 24, 32, 37, 70, 150]
    private let rows = 37

    /// The levels to test (every one the CPU runs), with the level in force restored afterwards.
    private func forEachLevel(_ body: (dclk_simd_level_t) -> Void) { SIMDLevels.forEach(body) }

    private func assertClose(_ a: Tensor, _ b: [Double], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        for i in 0..<b.count { XCTAssertEqual(Double(a[i]), b[i], accuracy: 1e-5 * max(1, abs(b[i])), "\(what) at \(i)") }
    }

    func test_levels_follow_the_cpu_features() {
        let features = dclk_cpu_features()
        let original = dclk_simd_level()
        defer { dclk_set_simd_level(original) }
        let wide = features & DCLK_CPU_AVX2 != 0 && features & DCLK_CPU_FMA != 0
        let avx512Bits = DCLK_CPU_AVX512F | DCLK_CPU_AVX512VL | DCLK_CPU_AVX512BW | DCLK_CPU_AVX512DQ
        let avx512 = wide && features & avx512Bits == avx512Bits
        XCTAssertEqual(dclk_set_simd_level(DCLK_SIMD_AVX512), avx512 ? DCLK_SIMD_AVX512 : wide ? DCLK_SIMD_AVX2_FMA : DCLK_SIMD_BASELINE)
        XCTAssertEqual(dclk_set_simd_level(DCLK_SIMD_AVX2_FMA), wide ? DCLK_SIMD_AVX2_FMA : DCLK_SIMD_BASELINE)
        XCTAssertEqual(dclk_set_simd_level(DCLK_SIMD_BASELINE), DCLK_SIMD_BASELINE, "the baseline runs everywhere")
        XCTAssertEqual(SIMDLevels.supported.count, avx512 ? 3 : wide ? 2 : 1)
        XCTAssertEqual(SIMDLevels.name(DCLK_SIMD_AVX512), "avx512")
        XCTAssertEqual(SIMDLevels.name(DCLK_SIMD_AVX2_FMA), "avx2+fma")
        XCTAssertEqual(SIMDLevels.name(DCLK_SIMD_BASELINE), "baseline")
    }

    func test_scale_shift_with_residual_and_relu_matches_the_formula_in_place_too() {
        forEachLevel { level in
            for c in channelCounts {
                let x = GradientCheck.random([rows, c], seed: 1), skip = GradientCheck.random([rows, c], seed: 2)
                let scale = GradientCheck.random([c], seed: 3), shift = GradientCheck.random([c], seed: 4)
                for (withSkip, relu) in [(false, false), (true, false), (false, true), (true, true)] {
                    let expected = (0..<x.count).map { i -> Double in
                        let j = i % c
                        let v = Double(x[i]) * Double(scale[j]) + Double(shift[j]) + (withSkip ? Double(skip[i]) : 0)
                        return relu ? max(v, 0) : v
                    }
                    let y = Tensor(shape: [rows, c])
                    dclk_scale_shift_rows(x.data, withSkip ? skip.data : nil, y.data, rows, c, scale.data, shift.data, relu ? 1 : 0)
                    let what = "level \(level.rawValue) c \(c) skip \(withSkip) relu \(relu)"
                    assertClose(y, expected, what)
                    let inPlace = x.clone()
                    dclk_scale_shift_rows(inPlace.data, withSkip ? skip.data : nil, inPlace.data, rows, c, scale.data, shift.data, relu ? 1 : 0)
                    assertClose(inPlace, expected, what + " in place")
                }
            }
        }
    }

    /// The ReLU mask the gate of `dclk_affine2_rows` and `dclk_gradient_sums` must reproduce:
    /// where `dclk_scale_shift_rows` (at the level in force) leaves x·scale + shift positive.
    private func forwardMask(_ x: Tensor, gate: Tensor, channels c: Int) -> [Bool] {
        let y = Tensor(shape: x.shape)
        dclk_scale_shift_rows(x.data, nil, y.data, x.count / c, c, gate.data, gate.data + c, 1)
        return (0..<y.count).map { y[$0] > 0 }
    }

    func test_affine2_matches_the_formula_in_place_over_either_input_gated_or_not() {
        forEachLevel { level in
            for c in channelCounts {
                let g = GradientCheck.random([rows, c], seed: 5), x = GradientCheck.random([rows, c], seed: 6)
                let a = GradientCheck.random([c], seed: 7), b = GradientCheck.random([c], seed: 8), k = GradientCheck.random([c], seed: 9)
                let gate = GradientCheck.random([2 * c], seed: 25)
                let open = forwardMask(x, gate: gate, channels: c)
                XCTAssertTrue(open.contains(true) && open.contains(false), "the gate must both pass and block")
                for gated in [false, true] {
                    let expected = (0..<g.count).map { i -> Double in
                        let j = i % c
                        let gv = gated && !open[i] ? 0 : Double(g[i])
                        return Double(a[j]) * gv + Double(b[j]) * Double(x[i]) + Double(k[j])
                    }
                    let what = "level \(level.rawValue) c \(c) gated \(gated)"
                    let gatePointer = gated ? UnsafePointer(gate.data) : nil
                    let out = Tensor(shape: [rows, c])
                    dclk_affine2_rows(g.data, x.data, out.data, rows, c, a.data, b.data, k.data, gatePointer)
                    assertClose(out, expected, what)
                    let overG = g.clone(), overX = x.clone()
                    dclk_affine2_rows(overG.data, x.data, overG.data, rows, c, a.data, b.data, k.data, gatePointer)
                    dclk_affine2_rows(g.data, overX.data, overX.data, rows, c, a.data, b.data, k.data, gatePointer)
                    assertClose(overG, expected, what + " over g")
                    assertClose(overX, expected, what + " over x")
                }
            }
        }
    }

    func test_moment_and_gradient_sums_match_the_formulas_and_mask_or_gate_the_gradient() {
        forEachLevel { level in
            for c in channelCounts {
                let x = GradientCheck.random([rows, c], seed: 10), y = GradientCheck.random([rows, c], seed: 11)
                let g = GradientCheck.random([rows, c], seed: 12), center = GradientCheck.random([c], seed: 13)
                let gate = GradientCheck.random([2 * c], seed: 26)
                let open = forwardMask(x, gate: gate, channels: c)
                var moments = [Double](repeating: 0.5, count: 2 * c), plainSums = moments, maskedSums = moments, gatedSums = moments
                var masked = [Double](repeating: 0, count: g.count)
                for i in 0..<x.count {
                    let j = i % c
                    let d = Double(x[i]) - Double(center[j])
                    moments[j] += d
                    moments[c + j] += d * d
                    plainSums[j] += Double(g[i])
                    plainSums[c + j] += Double(g[i]) * d
                    masked[i] = y[i] > 0 ? Double(g[i]) : 0
                    maskedSums[j] += masked[i]
                    maskedSums[c + j] += masked[i] * d
                    let passed = open[i] ? Double(g[i]) : 0
                    gatedSums[j] += passed
                    gatedSums[c + j] += passed * d
                }
                let what = "level \(level.rawValue) c \(c)"
                let acc = Tensor(shape: [2 * c])
                acc.fill(0.5)
                dclk_moment_sums(x.data, rows, c, center.data, acc.data)
                assertClose(acc, moments, what + " moments")
                acc.fill(0.5)
                let untouched = g.clone()
                dclk_gradient_sums(untouched.data, x.data, nil, nil, rows, c, center.data, acc.data)
                assertClose(acc, plainSums, what + " gradient sums")
                XCTAssertEqual(untouched.toArray(), g.toArray(), what + ": without ReLU g is left as it is")
                acc.fill(0.5)
                dclk_gradient_sums(untouched.data, x.data, nil, gate.data, rows, c, center.data, acc.data)
                assertClose(acc, gatedSums, what + " gated gradient sums")
                XCTAssertEqual(untouched.toArray(), g.toArray(), what + ": the gate leaves g as it is")
                acc.fill(0.5)
                let gradient = g.clone()
                dclk_gradient_sums(gradient.data, x.data, y.data, nil, rows, c, center.data, acc.data)
                assertClose(acc, maskedSums, what + " masked gradient sums")
                assertClose(gradient, masked, what + " masked gradient")
            }
        }
    }

    func test_relu_column_sums_and_broadcast_match_the_formulas() {
        forEachLevel { level in
            for n in [1, 7, 8, 29] {
                let x = GradientCheck.random([n], seed: 14), g = GradientCheck.random([n], seed: 15)
                let y = Tensor(shape: [n]), dx = Tensor(shape: [n])
                dclk_relu(x.data, y.data, n)
                assertClose(y, (0..<n).map { max(Double(x[$0]), 0) }, "level \(level.rawValue) relu n \(n)")
                dclk_relu_backward(g.data, x.data, dx.data, n)
                assertClose(dx, (0..<n).map { x[$0] > 0 ? Double(g[$0]) : 0 }, "level \(level.rawValue) relu backward n \(n)")
            }
            for c in channelCounts {
                let x = GradientCheck.random([rows, c], seed: 16), v = GradientCheck.random([c], seed: 17)
                let acc = Tensor(shape: [c])
                acc.fill(1)
                dclk_column_sums(x.data, rows, c, acc.data)
                assertClose(acc, (0..<c).map { j in 1 + (0..<rows).reduce(0.0) { $0 + Double(x[$1 * c + j]) } },
                            "level \(level.rawValue) column sums c \(c)")
                let out = Tensor(shape: [rows, c])
                dclk_broadcast_rows(v.data, 0.25, out.data, rows, c)
                assertClose(out, (0..<out.count).map { 0.25 * Double(v[$0 % c]) }, "level \(level.rawValue) broadcast c \(c)")
            }
        }
    }

    func test_relu_keeps_nan() {
        forEachLevel { _ in
            let x = Tensor(shape: [9], values: [.nan, -1, 2, -0.5, .nan, 3, -2, 1, .nan])
            let y = Tensor(shape: [9])
            dclk_relu(x.data, y.data, 9)
            XCTAssertTrue(y[0].isNaN && y[4].isNaN && y[8].isNaN, "a diverged value must stay visible")
            XCTAssertEqual([y[1], y[2], y[3], y[5]], [0, 2, 0, 3])
        }
    }

    /// dclk_small_gemm against the triple loop in double, for A and Aᵀ, with and without
    /// accumulation, on sizes that cover whole register blocks (the taller ones of a single
    /// vector too), partial row and column blocks and the columns beyond the last whole vector;
    /// leading dimensions larger than the sizes.
    /// Tolerance: k ≤ 33 products of values ≈ 1, far below 1e-5 relative in float32.
    func test_small_gemm_matches_the_triple_loop() {
        forEachLevel { level in
            for (m, n, k) in [(1, 16, 1), (7, 5, 9), (13, 64, 33), (6, 80, 16), (25, 40, 7), (4, 19, 12), (29, 24, 5), (20, 8, 3), (9, 32, 10)] {
                let (lda, ldb, ldc) = (k + 3, n + 2, n + 5)
                let aStorage = GradientCheck.random([max(m, k) * (max(m, k) + 3)], seed: 31)
                let b = GradientCheck.random([k * ldb], seed: 32)
                let start = GradientCheck.random([m * ldc], seed: 33)
                for (transposedA, accumulate) in [(false, false), (false, true), (true, false), (true, true)] {
                    // A (m, k): element (r, p) at r·lda + p, or, as Aᵀ stored (k, m) with row stride m + 3, at p·(m + 3) + r.
                    let (aRow, aK) = transposedA ? (1, m + 3) : (lda, 1)
                    let c = start.clone()
                    dclk_small_gemm(m, n, k, aStorage.data, aRow, aK, b.data, ldb, c.data, ldc, accumulate ? 1 : 0)
                    for r in 0..<m {
                        for j in 0..<n {
                            var sum = accumulate ? Double(start[r * ldc + j]) : 0
                            for p in 0..<k { sum += Double(aStorage[r * aRow + p * aK]) * Double(b[p * ldb + j]) }
                            XCTAssertEqual(Double(c[r * ldc + j]), sum, accuracy: 1e-5 * max(1, abs(sum)),
                                           "level \(level.rawValue) \(m)×\(n)×\(k) Aᵀ \(transposedA) accumulate \(accumulate) [\(r), \(j)]")
                        }
                        for j in n..<ldc { XCTAssertEqual(c[r * ldc + j], start[r * ldc + j], "beyond n is untouched") }
                    }
                }
            }
        }
    }

    /// dclk_pack_panels + dclk_panel_gemm give dclk_small_gemm's bits on the unpacked operand
    /// (each element sums its products in the same order), for B packed from a row-major (k, n)
    /// matrix and from the transpose of a row-major (n, k) one, with and without accumulation:
    /// m across a DCLK_PANEL_ROWS block boundary and below it, n of whole panels, a narrower last
    /// panel and below one panel; the packed layout checked entry by entry; C beyond n untouched.
    func test_panel_gemm_matches_the_small_gemm_bits() {
        let panel = Int(DCLK_PANEL_COLUMNS)
        forEachLevel { level in
            for (m, n, k) in [(Int(DCLK_PANEL_ROWS) + 9, 150, 7), (13, 64, 33), (5, 16, 70), (31, 128 + 5, 3)] {
                let ldc = n + 3
                let a = GradientCheck.random([m * k], seed: 41)
                let b = GradientCheck.random([k * n], seed: 42)
                let start = GradientCheck.random([m * ldc], seed: 43)
                var bt = [Float](repeating: 0, count: k * n)
                for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
                for transposed in [false, true] {
                    let packed = Tensor(shape: [k * n])
                    if transposed { dclk_pack_panels(bt, k, n, 1, k, packed.data) } else { dclk_pack_panels(b.data, k, n, n, 1, packed.data) }
                    for j in 0..<n {
                        let (q, w) = (j / panel, min(panel, n - j / panel * panel))
                        for p in 0..<k { XCTAssertEqual(packed[q * panel * k + p * w + j % panel], b[p * n + j], "packed (\(p), \(j))") }
                    }
                    for accumulate in [false, true] {
                        let want = start.clone(), got = start.clone()
                        dclk_small_gemm(m, n, k, a.data, k, 1, b.data, n, want.data, ldc, accumulate ? 1 : 0)
                        dclk_panel_gemm(m, n, k, a.data, k, 1, packed.data, got.data, ldc, accumulate ? 1 : 0)
                        XCTAssertEqual(got.toArray(), want.toArray(),
                                       "level \(level.rawValue) \(m)×\(n)×\(k) transposed \(transposed) accumulate \(accumulate)")
                        for r in 0..<m { for j in n..<ldc { XCTAssertEqual(got[r * ldc + j], start[r * ldc + j], "beyond n is untouched") } }
                    }
                }
            }
        }
    }
}
