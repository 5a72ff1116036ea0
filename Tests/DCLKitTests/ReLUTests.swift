import XCTest
@testable import DCLKit

/// ReLU: max(0, x) and its gradient, zero at the kink as in PyTorch.
final class ReLUTests: XCTestCase {
    func test_forward_and_backward_match_the_definition() {
        let relu = ReLU()
        let x = Tensor(shape: [2, 3], values: [-1, 0, 2, 0.5, -0.25, 3])
        XCTAssertEqual(relu.forward(x, training: true).toArray(), [0, 0, 2, 0.5, 0, 3])
        let g = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(relu.backward(g).toArray(), [0, 0, 3, 4, 0, 6])
    }

    func test_gradient_matches_finite_differences_away_from_the_kink() {
        let relu = ReLU()
        let x = GradientCheck.random([4, 5], seed: 31)
        for i in 0..<x.count where abs(x[i]) < 0.1 { x[i] += x[i] < 0 ? -0.1 : 0.1 }
        let r = GradientCheck.random(x.shape, seed: 32)
        relu.forward(x, training: true)
        let dx = relu.backward(r)
        GradientCheck.check(x, gradient: dx, "dx") { GradientCheck.weightedSum(relu.forward(x, training: true), r) }
    }
}
