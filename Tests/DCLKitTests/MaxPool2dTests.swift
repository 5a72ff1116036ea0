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

    /// 21 channels (whole vectors and a tail at every SIMD level) with NaNs, one window of them
    /// all NaN: the maximum and the routed gradient against a scalar reference in which a value
    /// wins only when strictly greater than the best so far (from −∞ at the window's first pixel).
    func test_many_channels_with_nans_match_a_scalar_reference() {
        let pool = MaxPool2d()
        let (h, w, c) = (5, 6, 21)
        let x = separated([2, h, w, c], seed: 44)
        for i in stride(from: 3, to: x.count, by: 7) { x[i] = .nan }
        for pixel in [0, 1, w, w + 1] { x[pixel * c + 2] = .nan }
        let y = pool.forward(x, training: true)
        let dy = GradientCheck.random(y.shape, seed: 45)
        let dx = pool.backward(dy)
        var expected = [Float](repeating: 0, count: x.count)
        for n in 0..<2 { for oy in 0..<3 { for ox in 0..<3 { for ch in 0..<c {
            var (best, winner) = (-Float.infinity, -1)
            for iy in max(0, 2 * oy - 1)...min(h - 1, 2 * oy + 1) {
                for ix in max(0, 2 * ox - 1)...min(w - 1, 2 * ox + 1) {
                    let i = ((n * h + iy) * w + ix) * c + ch
                    if winner < 0 { winner = i }
                    if x[i] > best { (best, winner) = (x[i], i) }
                }
            }
            let o = ((n * 3 + oy) * 3 + ox) * c + ch
            XCTAssertEqual(y[o], best, "y[\(o)]")
            expected[winner] += dy[o]
        } } } }
        XCTAssertEqual(y[2], -.infinity)
        XCTAssertEqual(dx.toArray(), expected)
    }

    func test_a_tie_sends_the_gradient_to_the_first_maximum_only() {
        let pool = MaxPool2d(kernel: 2, stride: 2, padding: 0)
        let x = Tensor(shape: [1, 2, 2, 1], values: [1, 1, 1, 0])
        pool.forward(x, training: true)
        XCTAssertEqual(pool.backward(Tensor(shape: [1, 1, 1, 1], values: [5])).toArray(), [5, 0, 0, 0])
    }
}
