import XCTest
@testable import DCLKit

/// MaxPool2d (3×3, stride 2, padding 1): the window maximum with padding never winning, and the
/// gradient routed to the maximum.
final class MaxPool2dTests: XCTestCase {
    /// Distinct values 0.1 apart in a seeded order: no step of the check changes a window's maximum.
    private func separated(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = Tensor(shape: shape)
        var order = Array(0..<t.count)
        var rng = CounterRNG(seed: seed)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        for i in 0..<t.count { t[i] = Float(order[i]) * 0.1 - 3 }
        return t
    }

    func test_forward_takes_the_window_maximum_with_padding_as_minus_infinity() {
        let pool = MaxPool2d()
        let x = separated([2, 5, 4, 3], seed: 41)
        let y = pool.forward(x, training: true)
        XCTAssertEqual(y.shape, [2, 3, 2, 3])
        for n in 0..<2 { for oy in 0..<3 { for ox in 0..<2 { for c in 0..<3 {
            var best = -Float.infinity
            for iy in (2 * oy - 1)...(2 * oy + 1) where iy >= 0 && iy < 5 {
                for ix in (2 * ox - 1)...(2 * ox + 1) where ix >= 0 && ix < 4 { best = max(best, x[((n * 5 + iy) * 4 + ix) * 3 + c]) }
            }
            XCTAssertEqual(y[((n * 3 + oy) * 2 + ox) * 3 + c], best)
        } } } }
    }

    func test_gradient_matches_finite_differences() {
        let pool = MaxPool2d()
        let x = separated([2, 6, 5, 2], seed: 42)
        let r = GradientCheck.random(pool.forward(x, training: true).shape, seed: 43)
        let dx = pool.backward(r)
        GradientCheck.check(x, gradient: dx, "dx") { GradientCheck.weightedSum(pool.forward(x, training: true), r) }
    }

    func test_a_tie_sends_the_gradient_to_the_first_maximum_only() {
        let pool = MaxPool2d(kernel: 2, stride: 2, padding: 0)
        let x = Tensor(shape: [1, 2, 2, 1], values: [1, 1, 1, 0])
        pool.forward(x, training: true)
        XCTAssertEqual(pool.backward(Tensor(shape: [1, 1, 1, 1], values: [5])).toArray(), [5, 0, 0, 0])
    }
}
