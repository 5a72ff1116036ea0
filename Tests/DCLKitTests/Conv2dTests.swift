import XCTest
@testable import DCLKit

/// Conv2d: forward against the convolution sum in double, gradients against finite differences,
/// for the kernel/stride/padding cases ResNets use, with one and many im2col chunks.
final class Conv2dTests: XCTestCase {
    /// (kernel, stride, padding, bias)
    private let cases: [(Int, Int, Int, Bool)] = [(3, 1, 1, false), (3, 2, 1, true), (1, 1, 0, true), (1, 2, 0, false), (7, 2, 3, false)]

    private func makeConv(_ c: (Int, Int, Int, Bool), inC: Int, outC: Int, workspace: Workspace) -> Conv2d {
        let conv = Conv2d(inChannels: inC, outChannels: outC, kernel: c.0, stride: c.1, padding: c.2, bias: c.3, workspace: workspace)
        conv.weight.value.copy(from: GradientCheck.random(conv.weight.value.shape, seed: 1, scale: 0.5))
        conv.bias?.value.copy(from: GradientCheck.random([outC], seed: 2))
        return conv
    }

    /// y[n, oy, ox, o] = b[o] + Σ W[o, ky, kx, i] · x[n, oy·s − p + ky, ox·s − p + kx, i], zero outside.
    private func reference(_ conv: Conv2d, _ x: Tensor) -> [Double] {
        let (n, h, w, inC) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, s, p, outC) = (conv.kernel, conv.stride, conv.padding, conv.outChannels)
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1)
        var y = [Double](repeating: 0, count: n * oh * ow * outC)
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for o in 0..<outC {
            var sum = Double(conv.bias?.value[o] ?? 0)
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for i in 0..<inC {
                    sum += Double(conv.weight.value[((o * k + ky) * k + kx) * inC + i]) * Double(x[((b * h + iy) * w + ix) * inC + i])
                }
            } }
            y[((b * oh + oy) * ow + ox) * outC + o] = sum
        } } } }
        return y
    }

    func test_forward_matches_direct_convolution_with_one_and_many_chunks() {
        for c in cases {
            // 64 floats of columns hold less than one sample's: every sample is its own chunk.
            for workspace in [Workspace(), Workspace(columnElements: 64)] {
                let conv = makeConv(c, inC: 3, outC: 4, workspace: workspace)
                let x = GradientCheck.random([3, 7, 6, 3], seed: 3)
                let y = conv.forward(x, training: true)
                let expected = reference(conv, x)
                XCTAssertEqual(y.shape, [3, (7 + 2 * c.2 - c.0) / c.1 + 1, (6 + 2 * c.2 - c.0) / c.1 + 1, 4])
                for i in 0..<y.count { XCTAssertEqual(Double(y[i]), expected[i], accuracy: 1e-4, "case \(c) element \(i)") }
            }
        }
    }

    func test_gradients_match_finite_differences() {
        for c in cases {
            let conv = makeConv(c, inC: 2, outC: 3, workspace: Workspace(columnElements: 64))
            let x = GradientCheck.random([2, 5, 4, 2], seed: 4)
            let r = GradientCheck.random(conv.forward(x, training: true).shape, seed: 5)
            let loss = { GradientCheck.weightedSum(conv.forward(x, training: true), r) }
            conv.forward(x, training: true)
            let dx = conv.backward(r)
            GradientCheck.check(x, gradient: dx, "dx \(c)", loss)
            GradientCheck.check(conv.weight.value, gradient: conv.weight.gradient, "dW \(c)", loss)
            if let bias = conv.bias { GradientCheck.check(bias.value, gradient: bias.gradient, "db \(c)", loss) }
        }
    }

    /// With every algorithm (Winograd where it applies, im2col elsewhere).
    func test_backward_accumulates_parameter_gradients_and_optionally_the_input_gradient() {
        for (c, algorithm) in cases.flatMap({ c in ConvolutionAlgorithm.allCases.map { (c, $0) } }) {
            let conv = makeConv(c, inC: 2, outC: 3, workspace: Workspace())
            conv.algorithm = algorithm
            let x = GradientCheck.random([2, 5, 5, 2], seed: 6)
            let r = GradientCheck.random(conv.forward(x, training: true).shape, seed: 7)
            let once = conv.backward(r).clone()
            let dW = conv.weight.gradient.clone()
            let existing = GradientCheck.random(x.shape, seed: 8)
            let sum = existing.clone()
            conv.backward(r, into: sum, accumulate: true)
            conv.backward(r, into: nil)
            for i in 0..<sum.count { XCTAssertEqual(sum[i], existing[i] + once[i], accuracy: 1e-5) }
            for i in 0..<dW.count { XCTAssertEqual(conv.weight.gradient[i], 3 * dW[i], accuracy: 1e-4 * (1 + abs(dW[i]))) }
        }
    }

    /// dL/dW and dL/dx of `conv` for input x and output gradient dy, as float64 sums over the
    /// same index map as `reference`.
    private func referenceGradients(_ conv: Conv2d, _ x: Tensor, _ dy: Tensor) -> (dW: [Double], dx: [Double]) {
        let (n, h, w, inC) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, s, p, outC) = (conv.kernel, conv.stride, conv.padding, conv.outChannels)
        let (oh, ow) = (dy.shape[1], dy.shape[2])
        var dW = [Double](repeating: 0, count: conv.weight.value.count)
        var dx = [Double](repeating: 0, count: x.count)
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for o in 0..<outC {
            let g = Double(dy[((b * oh + oy) * ow + ox) * outC + o])
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for i in 0..<inC {
                    let (wi, xi) = (((o * k + ky) * k + kx) * inC + i, ((b * h + iy) * w + ix) * inC + i)
                    dW[wi] += g * Double(x[xi])
                    dx[xi] += g * Double(conv.weight.value[wi])
                }
            } }
        } } } }
        return (dW, dx)
    }

    /// Checks `conv`'s forward of `x`, and its dL/dW and dL/dx (added to a random buffer) for a
    /// random dL/dy drawn with `seed`, against float64 references, to 1e-4 relative; returns dL/dy.
    @discardableResult
    private func checkAgainstReferences(_ conv: Conv2d, _ x: Tensor, seed: UInt64, _ what: String) -> Tensor {
        let y = conv.forward(x, training: true)
        let expected = reference(conv, x)
        for i in 0..<y.count { XCTAssertEqual(Double(y[i]), expected[i], accuracy: 1e-4 * (1 + abs(expected[i])), "\(what) y[\(i)]") }
        let dy = GradientCheck.random(y.shape, seed: seed)
        let existing = GradientCheck.random(x.shape, seed: seed + 1)
        let sum = existing.clone()
        conv.backward(dy, into: sum, accumulate: true)
        let (dW, dx) = referenceGradients(conv, x, dy)
        for i in 0..<dW.count {
            XCTAssertEqual(Double(conv.weight.gradient[i]), dW[i], accuracy: 1e-4 * (1 + abs(dW[i])), "\(what) dW[\(i)]")
        }
        for i in 0..<dx.count {
            let want = Double(existing[i]) + dx[i]
            XCTAssertEqual(Double(sum[i]), want, accuracy: 1e-4 * (1 + abs(want)), "\(what) dx[\(i)]")
        }
        return dy
    }

    /// Layers of 16 → 32 channels run their im2col products on `dclk_small_gemm`
    /// (`SmallProducts.coverColumns`; a stride-1 3×3 layer's dL/dx stays on OpenBLAS's flipped
    /// kernel): forward, dL/dW and dL/dx (written, and added to a buffer
    /// with `accumulate`) against float64 references, with one and many chunks. Tolerance 1e-4
    /// relative: float32 sums of at most 784 products of values of order 1 (weights of scale 0.5).
    func test_sixteen_channel_layers_on_the_small_gemm_match_float64_references() {
        XCTAssertTrue(SmallProducts.coverColumns(inChannels: 16, outChannels: 32))
        XCTAssertFalse(SmallProducts.coverColumns(inChannels: 3, outChannels: 32))
        for c in cases {
            for workspace in [Workspace(), Workspace(columnElements: 64)] {
                let conv = makeConv(c, inC: 16, outC: 32, workspace: workspace)
                conv.algorithm = .im2col
                checkAgainstReferences(conv, GradientCheck.random([2, 6, 5, 16], seed: 11), seed: 12, "\(c)")
            }
        }
    }

    /// A pointwise layer of 16 → 144 channels (wider than `SmallProducts.cover`, narrow enough
    /// for `coverPointwise`) runs its products on the small GEMM in blocks of
    /// `SmallProducts.pointwiseRows` rows: 2 × 11 × 10 = 220 rows make a whole block and a part,
    /// on one and two workers. Forward, dL/dW and dL/dx (added to a buffer) against float64
    /// references (tolerance 1e-4 relative: sums of 16 or 144 products per output, 220 per
    /// weight-gradient entry), then dL/dx and dL/dW at spread entries against finite differences.
    func test_pointwise_layers_on_the_small_gemm_match_references_and_finite_differences() {
        XCTAssertTrue(SmallProducts.coverPointwise(inChannels: 16, outChannels: 144))
        XCTAssertFalse(SmallProducts.coverPointwise(inChannels: 256, outChannels: 1024))
        XCTAssertFalse(SmallProducts.coverColumns(inChannels: 16, outChannels: 144))
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        for count in [1, 2] {
            Threads.setCount(count)
            let conv = makeConv((1, 1, 0, false), inC: 16, outC: 144, workspace: Workspace())
            let x = GradientCheck.random([2, 11, 10, 16], seed: 14)
            let dy = checkAgainstReferences(conv, x, seed: 15, "\(count) threads")
            conv.weight.zeroGradient()
            let loss = { GradientCheck.weightedSum(conv.forward(x, training: true), dy) }
            conv.forward(x, training: true)
            let gradient = conv.backward(dy)
            GradientCheck.check(x, gradient: gradient, samples: 40, "dx, \(count) threads", loss)
            GradientCheck.check(conv.weight.value, gradient: conv.weight.gradient, samples: 40, "dW, \(count) threads", loss)
        }
    }

    /// Layers of 144 → 160 channels, too wide for the small GEMM's weight gradient, run their
    /// forward and input gradient on the panel GEMM (`SmallProducts.coverPanels`; 160 columns
    /// make two whole panels and a part) and their weight gradient on OpenBLAS: pointwise (2 × 11 ×
    /// 10 = 220 rows, a whole `DCLK_PANEL_ROWS` block and a part) and 1×1 stride 2 (im2col),
    /// on one and two workers, against float64 references (tolerance 1e-4 relative: sums of 144
    /// or 160 products per output, 220 or 60 per weight-gradient entry) and finite differences;
    /// the pointwise y and dL/dx have the same bits on one and two workers.
    func test_wide_layers_on_the_panel_gemm_match_references_and_finite_differences() {
        XCTAssertTrue(SmallProducts.coverPanels(inChannels: 144, outChannels: 160, kernel: 1))
        XCTAssertTrue(SmallProducts.coverPanels(inChannels: 1024, outChannels: 2048, kernel: 1))
        XCTAssertFalse(SmallProducts.coverPanels(inChannels: 3, outChannels: 64, kernel: 7))
        XCTAssertFalse(SmallProducts.coverPanels(inChannels: 512, outChannels: 512, kernel: 3))
        XCTAssertFalse(SmallProducts.coverPointwise(inChannels: 144, outChannels: 160))
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        var pointwiseBits: [[Float]] = []
        for (count, stride) in [(1, 1), (2, 1), (2, 2)] {
            Threads.setCount(count)
            let conv = makeConv((1, stride, 0, false), inC: 144, outC: 160, workspace: Workspace())
            let x = GradientCheck.random([2, 11, 10, 144], seed: 16)
            let dy = checkAgainstReferences(conv, x, seed: 17, "\(count) threads, stride \(stride)")
            conv.weight.zeroGradient()
            let loss = { GradientCheck.weightedSum(conv.forward(x, training: true), dy) }
            let y = conv.forward(x, training: true).toArray()
            let gradient = conv.backward(dy)
            if stride == 1 { pointwiseBits.append(y + gradient.toArray()) }
            GradientCheck.check(x, gradient: gradient, samples: 30, "dx, \(count) threads, stride \(stride)", loss)
            GradientCheck.check(conv.weight.value, gradient: conv.weight.gradient, samples: 30, "dW, \(count) threads, stride \(stride)", loss)
        }
        XCTAssertEqual(pointwiseBits[1], pointwiseBits[0], "pointwise y and dL/dx, 2 threads against 1")
    }

    /// The forward and input-gradient passes split their samples into chunks the workers claim
    /// (`Workspace.forEachChunk`): with every algorithm and with many chunks, y and dL/dx have
    /// the same bits at 1, 2 and 3 threads.
    func test_forward_and_input_gradient_have_the_same_bits_at_any_thread_count() {
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        for algorithm in ConvolutionAlgorithm.allCases {
            for workspace in [Workspace(), Workspace(columnElements: 300)] {
                var results: [[Float]] = []
                for count in [1, 2, 3] {
                    Threads.setCount(count)
                    let conv = makeConv((3, 1, 1, false), inC: 4, outC: 4, workspace: workspace)
                    conv.algorithm = algorithm
                    let x = GradientCheck.random([7, 6, 6, 4], seed: 21)
                    let y = conv.forward(x, training: true)
                    let forward = y.toArray()
                    let dx = conv.backward(GradientCheck.random(y.shape, seed: 22)).toArray()
                    results.append(forward + dx)
                }
                XCTAssertEqual(results[1], results[0], "\(algorithm), \(workspace.columnElements) floats, 2 threads")
                XCTAssertEqual(results[2], results[0], "\(algorithm), \(workspace.columnElements) floats, 3 threads")
            }
        }
    }

    /// Writing dL/dx over dL/dy (what a basic block's backward does with conv2) gives the same
    /// bits as a separate buffer, with every algorithm, many chunks and two workers.
    func test_backward_in_place_over_the_output_gradient_matches_a_separate_buffer() {
        let threads = Threads.count
        Threads.setCount(2)
        defer { Threads.setCount(threads) }
        for algorithm in ConvolutionAlgorithm.allCases {
            for workspace in [Workspace(), Workspace(columnElements: 300)] {
                let conv = makeConv((3, 1, 1, false), inC: 4, outC: 4, workspace: workspace)
                conv.algorithm = algorithm
                let x = GradientCheck.random([5, 6, 6, 4], seed: 9)
                let r = GradientCheck.random(conv.forward(x, training: true).shape, seed: 10)
                let separate = conv.backward(r).clone()
                let dW = conv.weight.gradient.clone()
                conv.weight.zeroGradient()
                let inPlace = r.clone()
                conv.backward(inPlace, into: inPlace)
                XCTAssertEqual(inPlace.toArray(), separate.toArray(), "\(algorithm), \(workspace.columnElements) floats of columns")
                XCTAssertEqual(conv.weight.gradient.toArray(), dW.toArray(), "\(algorithm) dW")
            }
        }
    }

    /// A convolution writing into a tensor it shares recomputes the same output after another
    /// layer overwrote it.
    func test_recompute_output_restores_a_shared_output() {
        for c in cases {
            let shared = Tensor(shape: [0])
            let conv = Conv2d(inChannels: 3, outChannels: 2, kernel: c.0, stride: c.1, padding: c.2, bias: c.3, output: shared)
            conv.weight.value.copy(from: GradientCheck.random(conv.weight.value.shape, seed: 11))
            let x = GradientCheck.random([2, 7, 6, 3], seed: 12)
            let y = conv.forward(x, training: true).clone()
            XCTAssertTrue(conv.output === shared)
            shared.resize([3])
            shared.fill(7)
            XCTAssertEqual(conv.recomputeOutput().toArray(), y.toArray(), "case \(c)")
            XCTAssertEqual(shared.shape, y.shape)
        }
    }

    func test_state_entry_exports_and_imports_the_weight_as_oihw() {
        let conv = makeConv((3, 1, 1, false), inC: 2, outC: 4, workspace: Workspace())
        let entry = conv.stateEntries(prefix: "conv1.")[0]
        XCTAssertEqual(entry.name, "conv1.weight")
        XCTAssertEqual(entry.exportedShape, [4, 2, 3, 3])
        let oihw = entry.exportedValue()
        // OIHW element (o, i, ky, kx) is stored element (o, ky, kx, i).
        XCTAssertEqual(oihw[((3 * 2 + 1) * 3 + 2) * 3 + 0], conv.weight.value[((3 * 3 + 2) * 3 + 0) * 2 + 1])
        let before = conv.weight.value.clone()
        conv.weight.value.zero()
        entry.assign(from: oihw.data)
        XCTAssertEqual(conv.weight.value.toArray(), before.toArray())
    }
}
