import XCTest
@testable import DCLKit

/// ConvolutionPlanner: one decision per shape, kept; `.measured` keeps the fastest candidate;
/// `.forced` applies only where the algorithm can run; the default rule is a function of the shape.
final class ConvolutionPlannerTests: XCTestCase {
    private func shape(_ cin: Int, _ cout: Int, side: Int = 32, stride: Int = 1, batch: Int = 64) -> ConvolutionShape {
        ConvolutionShape(batch: batch, height: side, width: side, inChannels: cin, outChannels: cout, kernel: 3, stride: stride,
                         padding: 1, threads: 2)
    }

    override func tearDown() {
        ConvolutionPlanner.policy = .rule
        super.tearDown()
    }

    func test_measured_policy_keeps_the_fastest_candidate_once_per_shape() {
        ConvolutionPlanner.policy = .measured
        let layer = shape(16, 16)
        var calls = 0
        let chosen = ConvolutionPlanner.algorithm(for: layer) { candidate in
            calls += 1
            return candidate == .winogradF2 ? 1 : 2
        }
        XCTAssertEqual(chosen, .winogradF2)
        XCTAssertEqual(calls, 2 * layer.candidates.count, "each candidate timed twice")
        XCTAssertEqual(ConvolutionPlanner.decisions[layer]?.timings.count, layer.candidates.count)
        // Decided: a later, different measurement is not taken.
        XCTAssertEqual(ConvolutionPlanner.algorithm(for: layer) { $0 == .im2col ? 0 : 5 }, .winogradF2)
        // A strided layer has one candidate.
        XCTAssertEqual(ConvolutionPlanner.algorithm(for: shape(16, 16, stride: 2)) { _ in 1 }, .im2col)
    }

    func test_forced_policy_applies_where_it_can_and_changing_policy_clears_decisions() {
        ConvolutionPlanner.policy = .forced(.winogradF4)
        XCTAssertEqual(ConvolutionPlanner.algorithm(for: shape(3, 16)) { _ in XCTFail("not measured"); return 0 }, .winogradF4)
        XCTAssertEqual(ConvolutionPlanner.algorithm(for: shape(3, 16, stride: 2)) { _ in 0 }, .im2col)
        ConvolutionPlanner.policy = .rule
        XCTAssertTrue(ConvolutionPlanner.decisions.isEmpty)
        XCTAssertEqual(ConvolutionPlanner.algorithm(for: shape(3, 16)) { _ in XCTFail("not measured"); return 0 }, .direct)
    }

    func test_rule_is_direct_for_the_stem_winograd_for_wide_stride_one_layers_and_im2col_elsewhere() {
        XCTAssertEqual(ConvolutionPlanner.rule(shape(64, 64)), .winogradF2WeightF4)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(16, 32, side: 4)), .winogradF2WeightF4)
        // The weight gradient runs F(4×4) from f4WeightGradientFrom samples on, F(2×2) below.
        XCTAssertEqual(ConvolutionPlanner.rule(shape(64, 64, batch: ConvolutionPlanner.f4WeightGradientFrom)), .winogradF2WeightF4)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(64, 64, batch: ConvolutionPlanner.f4WeightGradientFrom - 1)), .winogradF2)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(16, 32, side: 4, batch: 4)), .winogradF2)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(64, 64, side: 2, batch: 4)), .im2col)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(3, 64)), .direct)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(3, 16)), .direct)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(3, 64, stride: 2)), .im2col)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(8, 64)), .im2col)
        XCTAssertFalse(shape(8, 64).candidates.contains(.direct), "direct only up to DirectConvolution.maxInChannels")
        XCTAssertEqual(ConvolutionPlanner.rule(shape(64, 64, side: 2)), .im2col)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(64, 64, stride: 2)), .im2col)
        // Small maps: F(2×2) on 3×3 outputs, and everywhere on 5×5, 6×6 and 9×9, which 4×4 tiles
        // do not fit (nor 13×13); F(4×4)'s weight gradient on 4×4, 7×7, 8×8 and other sides.
        XCTAssertEqual(ConvolutionPlanner.rule(shape(512, 512, side: 3)), .winogradF2)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(256, 256, side: 6)), .winogradF2)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(256, 256, side: 5)), .winogradF2)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(256, 256, side: 7)), .winogradF2WeightF4)
        XCTAssertEqual(ConvolutionPlanner.rule(shape(256, 256, side: 12)), .winogradF2WeightF4)
        XCTAssertEqual((1...64).filter { !ConvolutionPlanner.f4TilesFit(side: $0) }, [1, 2, 3, 5, 6, 9, 13])
    }

    func test_a_convolution_follows_the_policy_and_agrees_with_im2col() {
        let x = GradientCheck.random([2, 8, 8, 16], seed: 21)
        let conv = Conv2d(inChannels: 16, outChannels: 16, kernel: 3, padding: 1)
        conv.weight.value.copy(from: GradientCheck.random(conv.weight.value.shape, seed: 22, scale: 0.1))
        ConvolutionPlanner.policy = .forced(.im2col)
        let reference = conv.forward(x, training: true).clone()
        XCTAssertEqual(conv.lastAlgorithm, .im2col)
        ConvolutionPlanner.policy = .measured
        let y = conv.forward(x, training: true)
        XCTAssertNotNil(ConvolutionPlanner.decisions[conv.lastShape!])
        // Every algorithm's output is within the F(4×4) bound of WinogradConvolutionTests; 1e-4
        // relative to the largest output covers it for this 144-term sum.
        let scale = (0..<reference.count).map { abs(reference[$0]) }.max()!
        for i in 0..<y.count { XCTAssertEqual(y[i], reference[i], accuracy: 1e-4 * scale) }
    }
}
