import DCLKitKernels
import XCTest
@testable import DCLKit

/// Winograd convolutions under `MatmulPrecision.bfloat16` (issue 24's experiment): forward, input
/// and weight gradients against float64 sums from the definition (`DirectSums`), at every SIMD
/// level (VDPBF16PS at AVX-512 where the CPU has AVX512_BF16, the portable loop elsewhere), on a
/// 33 → 40-channel layer (an odd Cin pads a pair; 40 columns end in a part vector) with partial
/// tiles.
///
/// Tolerance from bfloat16's rounding: each point product's factors are rounded to 8 significant
/// bits, relative error at most u = 2⁻⁹ each, so a product of rounded factors is off by at most
/// (2u + u²) times the exact one's magnitude and the point sums by 2u·Σ|v||u| to first order; the
/// transforms carry that to the output as the Winograd algorithm on absolute values
/// (`WinogradBounds`), so |y − y₆₄| ≤ (2u + n·ε)·bound, n the float32 depth of
/// `WinogradConvolutionTests`. The tests allow twice that. A wrong product is off by O(bound).
/// The weight gradient stays float32 and keeps float32's bound.
final class WinogradBFloat16Tests: XCTestCase {
    private static let epsilon = Double(Float.ulpOfOne) / 2
    private static let bfloat16Rounding = 0x1p-9
    /// (batch, height, width, Cin, Cout, padding)
    private let shape = (2, 7, 6, 33, 40, 1)

    private func conv(_ algorithm: ConvolutionAlgorithm, inChannels: Int, outChannels: Int, workspace: Workspace) -> Conv2d {
        let c = Conv2d(inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: 1, padding: shape.5, workspace: workspace)
        c.weight.value.copy(from: GradientCheck.random(c.weight.value.shape, seed: 11, scale: 0.5))
        c.algorithm = algorithm
        return c
    }

    /// y, dx and dW of one forward and backward under `precision`.
    private func pass(_ algorithm: ConvolutionAlgorithm, _ precision: MatmulPrecision, inChannels: Int, outChannels: Int,
                      workspace: Workspace = Workspace()) -> (y: [Float], dx: [Float], dW: [Float]) {
        let saved = MatmulPrecision.current
        MatmulPrecision.current = precision
        defer { MatmulPrecision.current = saved }
        let (n, h, w, _, _, p) = shape
        let c = conv(algorithm, inChannels: inChannels, outChannels: outChannels, workspace: workspace)
        let x = GradientCheck.random([n, h, w, inChannels], seed: 12)
        let y = c.forward(x, training: true).toArray()
        let dy = GradientCheck.random([n, h + 2 * p - 2, w + 2 * p - 2, outChannels], seed: 13)
        let dx = c.backward(dy).toArray()
        XCTAssertEqual(c.lastAlgorithm, algorithm)
        return (y, dx, c.weight.gradient.toArray())
    }

    /// The largest |actual − expected| / (rounding · bound) over the elements.
    private func worst(_ actual: [Float], _ expected: [Double], _ bound: [Double], rounding: Double) -> Double {
        zip(actual.indices, actual).map { i, a in abs(Double(a) - expected[i]) / (rounding * bound[i] + 1e-30) }.max() ?? 0
    }

    func test_bfloat16_layers_match_float64_within_bfloat16_rounding_at_every_simd_level() {
        let (n, h, w, cin, cout, p) = shape
        let x = GradientCheck.random([n, h, w, cin], seed: 12)
        let dy = GradientCheck.random([n, h + 2 * p - 2, w + 2 * p - 2, cout], seed: 13)
        let weight = conv(.im2col, inChannels: cin, outChannels: cout, workspace: Workspace()).weight.value
        let direct = DirectSums(x: x, weight: weight, dy: dy, padding: p)
        SIMDLevels.forEach { level in
            for algorithm in [ConvolutionAlgorithm.winogradF2, .winogradF4] {
                let tiling = algorithm.tiling!
                let bounds = WinogradBounds(tiling: tiling, x: x, weight: weight, dy: dy, padding: p)
                let depth = Double(4 * tiling.inputTile + 8)
                let (yDepth, dxDepth) = ((depth + Double(cin)) * Self.epsilon, (depth + Double(cout)) * Self.epsilon)
                let dWDepth = (depth + Double(n * bounds.tilesPerSample)) * Self.epsilon
                let label = "\(algorithm) at \(SIMDLevels.name(level))"
                let half = pass(algorithm, .bfloat16, inChannels: cin, outChannels: cout)
                XCTAssertLessThanOrEqual(worst(half.y, direct.y, bounds.y, rounding: 2 * Self.bfloat16Rounding + yDepth), 2, "\(label) y")
                XCTAssertLessThanOrEqual(worst(half.dx, direct.dx, bounds.dx, rounding: 2 * Self.bfloat16Rounding + dxDepth), 2,
                                         "\(label) dx")
                XCTAssertLessThanOrEqual(worst(half.dW, direct.dW, bounds.dW, rounding: dWDepth), 2, "\(label) dW")
                // The products did run in bfloat16: beyond what float32 would allow.
                XCTAssertGreaterThan(worst(half.y, direct.y, bounds.y, rounding: yDepth), 2, "\(label) y in float32's bound")
                XCTAssertGreaterThan(worst(half.dx, direct.dx, bounds.dx, rounding: dxDepth), 2, "\(label) dx in float32's bound")
                let single = pass(algorithm, .float32, inChannels: cin, outChannels: cout)
                XCTAssertLessThanOrEqual(worst(single.y, direct.y, bounds.y, rounding: yDepth), 2, "\(label) float32 y")
                XCTAssertLessThanOrEqual(worst(single.dx, direct.dx, bounds.dx, rounding: dxDepth), 2, "\(label) float32 dx")
                XCTAssertEqual(single.dW, half.dW, "\(label): the weight gradient stays float32")
            }
        }
    }

    /// Each bfloat16 output is a sum over the channels in a fixed order: one chunk or a sample per
    /// chunk, one worker or three, give the same bits.
    func test_bfloat16_results_do_not_depend_on_chunks_or_threads() {
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        var results: [(y: [Float], dx: [Float], dW: [Float])] = []
        for count in [1, 3] {
            Threads.setCount(count)
            for workspace in [Workspace(), Workspace(columnElements: 64)] {
                results.append(pass(.winogradF4, .bfloat16, inChannels: shape.3, outChannels: shape.4, workspace: workspace))
            }
        }
        for result in results.dropFirst() {
            XCTAssertEqual(result.y, results[0].y)
            XCTAssertEqual(result.dx, results[0].dx)
        }
    }

    /// Layers narrower than `MatmulPrecision.minimumChannels` keep float32 products under the
    /// switch: the same bits as without it.
    func test_narrow_layers_keep_float32_products() {
        let narrow = MatmulPrecision.minimumChannels - 1
        XCTAssertFalse(MatmulPrecision.coversWinograd(inChannels: narrow, outChannels: 64))
        let single = pass(.winogradF4, .float32, inChannels: narrow, outChannels: 64)
        let half = pass(.winogradF4, .bfloat16, inChannels: narrow, outChannels: 64)
        XCTAssertEqual(single.y, half.y)
        XCTAssertEqual(single.dx, half.dx)
        XCTAssertEqual(single.dW, half.dW)
    }
}
