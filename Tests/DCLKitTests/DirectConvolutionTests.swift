import DCLKitKernels
import XCTest
@testable import DCLKit

/// The direct 3×3 convolution for few input channels (DCLKitKernels' `dclk_direct_conv3x3` and
/// `dclk_direct_conv3x3_weight_gradient`, and `DirectConvolution` through `Conv2d`): forward and
/// dL/dW against float64 sums from the definition (`DirectSums`), the kernels at every SIMD level
/// the CPU runs, on odd sizes: Cout 1, 5, 16, 21, 37, 48, 64 and 70 (whole 8- and 16-lane
/// vectors, masked tails, every column-group width of both builds), Cin 1 to 4 (3 has its own
/// build), non-square images, rows shorter than a pixel block and longer ones whose last block
/// is shifted, paddings 0 to 2, one sample and several; through the layer, with one and two
/// workers and one and many im2col chunks for dL/dx, and against finite differences.
///
/// Tolerance: the first-order rounding bound of a float32 sum of n products, n·ε·Σ|terms|
/// (ε = 2⁻²⁴), with n = 9·Cin for y, the output pixels summed (+ 1 for the value added to) for
/// dL/dW and 9·Cout for dL/dx, doubled as in `WinogradConvolutionTests`: a wrong tap, lane or
/// tail is off by O(Σ|terms|), orders of magnitude more.
final class DirectConvolutionTests: XCTestCase {
    private static let epsilon = Double(Float.ulpOfOne) / 2

    /// (batch, height, width, Cin, Cout, padding)
    private let shapes: [(Int, Int, Int, Int, Int, Int)] = [
        (1, 5, 7, 3, 16, 1), (2, 6, 4, 3, 21, 1), (1, 4, 9, 3, 64, 1), (2, 5, 6, 2, 37, 0), (1, 4, 3, 1, 70, 2), (3, 3, 3, 4, 5, 1),
        (1, 2, 40, 3, 48, 1), (1, 3, 35, 3, 1, 1), (2, 7, 5, 3, 64, 2),
    ]

    /// Floats past the end of each output that must stay untouched (beyond any vector).
    private let guardFloats = 16

    func test_kernels_match_float64_sums_at_every_simd_level() {
        SIMDLevels.forEach { level in
            for shape in shapes {
                let (n, h, w, cin, cout, p) = shape
                let (oh, ow) = (h + 2 * p - 2, w + 2 * p - 2)
                let x = GradientCheck.random([n, h, w, cin], seed: 31)
                let weight = GradientCheck.random([cout, 3, 3, cin], seed: 32, scale: 0.5)
                let dy = GradientCheck.random([n, oh, ow, cout], seed: 33)
                let sums = DirectSums(x: x, weight: weight, dy: dy, padding: p)
                let what = "level \(SIMDLevels.name(level)) shape \(shape)"
                let kernels = Tensor(shape: [dclk_direct_conv3x3_kernels_count(cin, cout)])
                dclk_direct_conv3x3_kernels(weight.data, cin, cout, kernels.data)
                let scratch = Tensor(shape: [(h + 2 * p) * (w + 2 * p) * cin])
                scratch.fill(.nan)

                // y starts as NaN: an element the kernel does not write fails.
                let y = Tensor(shape: [dy.count + guardFloats])
                y.fill(.nan)
                for i in dy.count..<y.count { y[i] = 7 }
                dclk_direct_conv3x3(x.data, n, h, w, cin, p, kernels.data, cout, y.data, scratch.data)
                assertWithin(y, sums.y, bound: sums.yMagnitude, depth: 9 * cin, what + " y")

                // dW is added to an existing gradient.
                let start = GradientCheck.random([weight.count], seed: 34)
                let dW = Tensor(shape: [weight.count + guardFloats])
                for i in 0..<dW.count { dW[i] = i < weight.count ? start[i] : 7 }
                scratch.fill(.nan)
                dclk_direct_conv3x3_weight_gradient(x.data, dy.data, n, h, w, cin, p, cout, dW.data, scratch.data)
                let expected = (0..<weight.count).map { Double(start[$0]) + sums.dW[$0] }
                let bound = (0..<weight.count).map { abs(Double(start[$0])) + sums.dWMagnitude[$0] }
                assertWithin(dW, expected, bound: bound, depth: n * oh * ow + 1, what + " dW")
            }
        }
    }

    /// Through `Conv2d` (algorithm `.direct`): y, dL/dW and dL/dx (on im2col) against float64,
    /// with one and two workers and one and many chunks; `recomputeOutput` gives the same bits.
    func test_layer_forward_and_gradients_match_float64_with_workers_and_chunks() {
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        for (workers, shape) in [(1, (1, 5, 7, 3, 16, 1)), (2, (1, 5, 7, 3, 16, 1)), (2, (5, 6, 4, 3, 21, 1)), (2, (3, 4, 5, 2, 40, 0))] {
            Threads.setCount(workers)
            let (n, h, w, cin, cout, p) = shape
            for workspace in [Workspace(), Workspace(columnElements: 64)] {
                let conv = Conv2d(inChannels: cin, outChannels: cout, kernel: 3, padding: p, workspace: workspace)
                conv.weight.value.copy(from: GradientCheck.random(conv.weight.value.shape, seed: 41, scale: 0.5))
                conv.algorithm = .direct
                let x = GradientCheck.random([n, h, w, cin], seed: 42)
                let y = conv.forward(x, training: true).clone()
                XCTAssertEqual(conv.lastAlgorithm, .direct)
                let dy = GradientCheck.random(y.shape, seed: 43)
                let sums = DirectSums(x: x, weight: conv.weight.value, dy: dy, padding: p)
                let what = "\(workers) workers, shape \(shape), \(workspace.columnElements) floats of columns"
                assertWithin(y, sums.y, bound: sums.yMagnitude, depth: 9 * cin, what + " y")
                let dx = conv.backward(dy)
                assertWithin(conv.weight.gradient, sums.dW, bound: sums.dWMagnitude, depth: n * y.shape[1] * y.shape[2], what + " dW")
                assertWithin(dx, sums.dx, bound: sums.dxMagnitude, depth: 9 * cout, what + " dx")
                conv.weight.zeroGradient()
                conv.backward(dy, into: nil)
                assertWithin(conv.weight.gradient, sums.dW, bound: sums.dWMagnitude, depth: n * y.shape[1] * y.shape[2],
                             what + " dW without dx")
                conv.output.fill(0)
                XCTAssertEqual(conv.recomputeOutput().toArray(), y.toArray(), what + " recomputed")
            }
        }
    }

    func test_layer_gradients_match_finite_differences() {
        let conv = Conv2d(inChannels: 3, outChannels: 5, kernel: 3, padding: 1, bias: true, workspace: Workspace(columnElements: 64))
        conv.weight.value.copy(from: GradientCheck.random(conv.weight.value.shape, seed: 1, scale: 0.5))
        conv.bias?.value.copy(from: GradientCheck.random([5], seed: 2))
        conv.algorithm = .direct
        let x = GradientCheck.random([2, 5, 4, 3], seed: 4)
        let r = GradientCheck.random(conv.forward(x, training: true).shape, seed: 5)
        let loss = { GradientCheck.weightedSum(conv.forward(x, training: true), r) }
        conv.forward(x, training: true)
        XCTAssertEqual(conv.lastAlgorithm, .direct)
        let dx = conv.backward(r)
        GradientCheck.check(x, gradient: dx, "dx", loss)
        GradientCheck.check(conv.weight.value, gradient: conv.weight.gradient, "dW", loss)
        GradientCheck.check(conv.bias!.value, gradient: conv.bias!.gradient, "db", loss)
    }

    /// The first `expected.count` elements of `actual` within 2·(depth·ε)·bound of `expected`, the
    /// rest (the guard) still 7.
    private func assertWithin(_ actual: Tensor, _ expected: [Double], bound: [Double], depth: Int, _ what: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        var failures = 0
        for i in 0..<actual.count {
            let (value, tolerance) = i < expected.count
                ? (expected[i], 2 * Double(depth) * Self.epsilon * bound[i] + 1e-30) : (7, 0)
            if !(abs(Double(actual[i]) - value) <= tolerance) {
                failures += 1
                if failures <= 3 { XCTFail("\(what) [\(i)]: \(actual[i]) vs \(value), tolerance \(tolerance)", file: file, line: line) }
            }
        }
    }
}
