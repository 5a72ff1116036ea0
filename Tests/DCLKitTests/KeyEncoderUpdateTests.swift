import XCTest
@testable import DCLKit

/// θ_k ← m·θ_k + (1 − m)·θ_q, tensor by tensor.
final class KeyEncoderUpdateTests: XCTestCase {
    func test_one_update_matches_the_formula() {
        let key = [Tensor(shape: [2], values: [1, 2]), Tensor(shape: [1, 3], values: [0, -1, 4])]
        let query = [Tensor(shape: [2], values: [3, 5]), Tensor(shape: [1, 3], values: [1, 1, 1])]
        KeyEncoderUpdate.apply(to: key, from: query, momentum: 0.9)
        let expected: [[Float]] = [[0.9 * 1 + 0.1 * 3, 0.9 * 2 + 0.1 * 5], [0.1, 0.9 * -1 + 0.1, 0.9 * 4 + 0.1]]
        for (tensor, values) in zip(key, expected) {
            for (a, b) in zip(tensor.toArray(), values) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
        XCTAssertEqual(query[0].toArray(), [3, 5], "the query encoder is only read")
    }

    /// After t updates towards a fixed query, θ_k − θ_q = m^t (θ_k⁰ − θ_q).
    func test_repeated_updates_decay_geometrically() {
        let key = [Tensor(shape: [3], values: [4, -2, 0])]
        let query = [Tensor(shape: [3], values: [1, 1, 1])]
        let m = 0.99
        for _ in 0..<50 { KeyEncoderUpdate.apply(to: key, from: query, momentum: m) }
        let factor = Float(pow(m, 50))
        for (a, start) in zip(key[0].toArray(), [Float(4), -2, 0]) {
            XCTAssertEqual(a - 1, factor * (start - 1), accuracy: 1e-5)
        }
    }

    func test_zero_momentum_copies_the_query() {
        let key = [Tensor(shape: [2], values: [9, 9])]
        KeyEncoderUpdate.apply(to: key, from: [Tensor(shape: [2], values: [1, 2])], momentum: 0)
        XCTAssertEqual(key[0].toArray(), [1, 2])
    }
}
