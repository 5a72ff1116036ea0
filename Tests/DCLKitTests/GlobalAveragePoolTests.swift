import XCTest
@testable import DCLKit

/// GlobalAveragePool: the mean over positions per channel, and its gradient.
final class GlobalAveragePoolTests: XCTestCase {
    func test_forward_is_the_mean_over_positions() {
        let pool = GlobalAveragePool()
        let x = GradientCheck.random([2, 3, 2, 4], seed: 51)
        let y = pool.forward(x, training: true)
        XCTAssertEqual(y.shape, [2, 4])
        for n in 0..<2 { for c in 0..<4 {
            var s = 0.0
            for p in 0..<6 { s += Double(x[(n * 6 + p) * 4 + c]) }
            XCTAssertEqual(Double(y[n * 4 + c]), s / 6, accuracy: 1e-6)
        } }
    }

    func test_gradient_matches_finite_differences() {
        let pool = GlobalAveragePool()
        let x = GradientCheck.random([2, 2, 3, 3], seed: 52)
        let r = GradientCheck.random([2, 3], seed: 53)
        pool.forward(x, training: true)
        let dx = pool.backward(r)
        GradientCheck.check(x, gradient: dx, "dx") { GradientCheck.weightedSum(pool.forward(x, training: true), r) }
    }
}
