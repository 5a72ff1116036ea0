import XCTest
@testable import DCLKit

/// Linear: y = x·Wᵀ + b with PyTorch's (out, in) weight, and its gradients.
final class LinearTests: XCTestCase {
    func test_forward_matches_the_definition() {
        let linear = Linear(inFeatures: 3, outFeatures: 2)
        linear.weight.value.copy(from: Tensor(shape: [2, 3], values: [1, 2, 3, -1, 0, 0.5]))
        linear.bias!.value.copy(from: Tensor(shape: [2], values: [0.5, -1]))
        let y = linear.forward(Tensor(shape: [2, 3], values: [1, 1, 1, 2, 0, -2]), training: true)
        XCTAssertEqual(y.toArray(), [6.5, -1.5, -3.5, -4])
    }

    func test_gradients_match_finite_differences() {
        for bias in [true, false] {
            let linear = Linear(inFeatures: 4, outFeatures: 3, bias: bias)
            linear.weight.value.copy(from: GradientCheck.random([3, 4], seed: 61))
            linear.bias?.value.copy(from: GradientCheck.random([3], seed: 62))
            let x = GradientCheck.random([5, 4], seed: 63)
            let r = GradientCheck.random([5, 3], seed: 64)
            let loss = { GradientCheck.weightedSum(linear.forward(x, training: true), r) }
            linear.forward(x, training: true)
            let dx = linear.backward(r)
            GradientCheck.check(x, gradient: dx, "dx", loss)
            GradientCheck.check(linear.weight.value, gradient: linear.weight.gradient, "dW", loss)
            if let b = linear.bias { GradientCheck.check(b.value, gradient: b.gradient, "db", loss) }
        }
    }
}
