import XCTest
@testable import DCLKit

/// SGD and LARS against updates worked by hand, the exclusion of non-decaying parameters,
/// and the state round trip used by checkpoints.
final class OptimizerTests: XCTestCase {
    private func parameter(_ values: [Float], decays: Bool = true) -> Parameter {
        let p = Parameter(name: decays ? "weight" : "bias", shape: [values.count], decays: decays)
        for (i, v) in values.enumerated() { p.value[i] = v }
        return p
    }

    /// Runs `steps` updates, setting the same gradient before each.
    private func run(_ optimizer: Optimizer, gradients: [[Float]], steps: Int, learningRate: Double) {
        for _ in 0..<steps {
            for (p, g) in zip(optimizer.parameters, gradients) {
                for (i, v) in g.enumerated() { p.gradient[i] = v }
            }
            optimizer.step(learningRate: learningRate)
        }
    }

    private func assertValues(_ p: Parameter, _ expected: [Float], _ message: String = "", line: UInt = #line) {
        for (i, e) in expected.enumerated() {
            XCTAssertEqual(p.value[i], e, accuracy: 1e-5, "\(message) element \(i)", line: line)
        }
    }

    func test_plain_sgd_subtracts_learning_rate_times_gradient() {
        let w = parameter([1, -2])
        run(SGD(parameters: [w]), gradients: [[0.5, 1]], steps: 2, learningRate: 0.5)
        // w − 2·0.5·g = [1 − 0.5, −2 − 1].
        assertValues(w, [0.5, -3])
    }

    /// μ = 0.9, wd = 0.1, lr = 0.5, ∇ = [0.5, 1] both steps, w₀ = [1, −2].
    /// Step 1: g = [0.6, 0.8], b = g, w = [0.7, −2.4].
    /// Step 2: g = [0.57, 0.76], b = 0.9·[0.6, 0.8] + g = [1.11, 1.48], w = [0.145, −3.14].
    func test_momentum_sgd_with_weight_decay_matches_hand_computed_steps() {
        let w = parameter([1, -2])
        let sgd = SGD(parameters: [w], momentum: 0.9, weightDecay: 0.1)
        run(sgd, gradients: [[0.5, 1]], steps: 1, learningRate: 0.5)
        assertValues(w, [0.7, -2.4], "step 1")
        run(sgd, gradients: [[0.5, 1]], steps: 1, learningRate: 0.5)
        assertValues(w, [0.145, -3.14], "step 2")
        let buffer = sgd.stateTensors[0].1
        XCTAssertEqual(buffer[0], 1.11, accuracy: 1e-6)
        XCTAssertEqual(buffer[1], 1.48, accuracy: 1e-6)
    }

    /// As above with Nesterov: step = g + 0.9·b.
    /// Step 1: g = [0.6, 0.8], b = g, step = [1.14, 1.52], w = [0.43, −2.76].
    /// Step 2: g = [0.543, 0.724], b = [1.083, 1.444], step = [1.5177, 2.0236], w = [−0.32885, −3.7718].
    func test_nesterov_sgd_matches_hand_computed_steps() {
        let w = parameter([1, -2])
        let sgd = SGD(parameters: [w], momentum: 0.9, nesterov: true, weightDecay: 0.1)
        run(sgd, gradients: [[0.5, 1]], steps: 1, learningRate: 0.5)
        assertValues(w, [0.43, -2.76], "step 1")
        run(sgd, gradients: [[0.5, 1]], steps: 1, learningRate: 0.5)
        assertValues(w, [-0.32885, -3.7718], "step 2")
    }

    /// A bias with wd = 0.1 decays nothing: b = [0.5, 0.95], w = 1 − 0.25 − 0.475 = 0.275.
    func test_sgd_leaves_non_decaying_parameters_out_of_weight_decay() {
        let bias = parameter([1], decays: false)
        run(SGD(parameters: [bias], momentum: 0.9, weightDecay: 0.1), gradients: [[0.5]], steps: 2, learningRate: 0.5)
        assertValues(bias, [0.275])
    }

    /// w₀ = [3, 4], ∇ = [0.3, 0.4], wd = 0.1, lr = 2, μ = 0.9, η = 0.001.
    /// Step 1: g = [0.6, 0.8] (‖g‖ = 1, ‖w‖ = 5), trust = 0.005, b = 0.01·g = [0.006, 0.008],
    ///         w = [2.994, 3.992] = 0.998·[3, 4].
    /// Step 2: g = [0.3, 0.4] + 0.0998·[3, 4] = 0.999·[0.6, 0.8], ‖w‖ = 4.99, ‖g‖ = 0.999,
    ///         lr·trust·g = 2·0.001·4.99·[0.6, 0.8] = [0.005988, 0.007984],
    ///         b = [0.0054 + 0.005988, 0.0072 + 0.007984] = [0.011388, 0.015184],
    ///         w = [2.982612, 3.976816].
    func test_lars_matches_hand_computed_steps() {
        let w = parameter([3, 4])
        let lars = LARS(parameters: [w], momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.001)
        run(lars, gradients: [[0.3, 0.4]], steps: 1, learningRate: 2)
        assertValues(w, [2.994, 3.992], "step 1")
        run(lars, gradients: [[0.3, 0.4]], steps: 1, learningRate: 2)
        assertValues(w, [2.982612, 3.976816], "step 2")
    }

    /// A bias under LARS gets neither weight decay nor the trust ratio: plain momentum with
    /// lr-scaled buffer. lr = 2, ∇ = 0.5: b = 1.0 then 1.9; w = 1 − 1 − 1.9 = −1.9.
    /// (With the trust ratio the first step would have been 2·0.001·1/0.5·0.5 = 0.002.)
    func test_lars_leaves_non_decaying_parameters_out_of_decay_and_trust_ratio() {
        let weight = parameter([3, 4])
        let bias = parameter([1], decays: false)
        let lars = LARS(parameters: [weight, bias], momentum: 0.9, weightDecay: 0.1)
        run(lars, gradients: [[0.3, 0.4], [0.5]], steps: 2, learningRate: 2)
        assertValues(bias, [-1.9])
        assertValues(weight, [2.982612, 3.976816])
    }

    /// ‖w‖ = 0 gives trust 1: w = −lr·g = −0.1·[1, 2] (wd·w = 0).
    func test_lars_uses_unit_trust_for_zero_weights() {
        let w = parameter([0, 0])
        run(LARS(parameters: [w], momentum: 0.9, weightDecay: 0.1), gradients: [[1, 2]], steps: 1, learningRate: 0.1)
        assertValues(w, [-0.1, -0.2])
    }

    /// ‖g‖ = 0 gives trust 1 and no division by zero: the weights stay put.
    func test_lars_keeps_weights_for_zero_gradient_without_decay() {
        let w = parameter([3, 4])
        run(LARS(parameters: [w], weightDecay: 0), gradients: [[0, 0]], steps: 2, learningRate: 1)
        assertValues(w, [3, 4])
    }

    /// Export after one step, load into a fresh optimiser over a copy of the parameters:
    /// the next steps agree exactly.
    func test_state_round_trip_continues_identically() {
        for make in [
            { SGD(parameters: $0, momentum: 0.9, nesterov: true, weightDecay: 0.01) as Optimizer },
            { LARS(parameters: $0, momentum: 0.9, weightDecay: 0.01) as Optimizer },
        ] as [([Parameter]) -> Optimizer] {
            let a = [parameter([1, -2, 3]), parameter([0.5], decays: false)]
            let first = make(a)
            let gradients: [[Float]] = [[0.3, -0.1, 0.2], [0.7]]
            run(first, gradients: gradients, steps: 1, learningRate: 0.1)
            let b = a.map { p in parameter(p.value.toArray(), decays: p.decays) }
            let second = make(b)
            XCTAssertEqual(second.stateTensors.map(\.0), ["state.0.momentum_buffer", "state.1.momentum_buffer"])
            let saved = first.stateTensors.map { ($0.0, $0.1.clone()) }
            XCTAssertNoThrow(try second.loadState(saved))
            run(first, gradients: gradients, steps: 2, learningRate: 0.05)
            run(second, gradients: gradients, steps: 2, learningRate: 0.05)
            for (p, q) in zip(a, b) { XCTAssertEqual(p.value.toArray(), q.value.toArray()) }
        }
    }

    /// SGD splits elements, not parameters, over the threads: with chunks that cut parameters
    /// (sizes 1, 0, 7 and 3 elements) and with one thread the same updates, bit for bit.
    func test_sgd_split_over_elements_matches_one_thread() {
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        let values: [[Float]] = [[0.5], [], [1, -2, 3, 0.25, -0.75, 2, 1.5], [0.1, -0.3, 0.2]]
        let gradients: [[Float]] = [[0.3], [], [0.1, 0.2, -0.1, 0.4, -0.5, 0.05, 0.7], [-0.2, 0.6, 0.9]]
        var results: [[[Float]]] = []
        for count in [1, 2, 3, 4] {
            Threads.setCount(count)
            let ps = values.enumerated().map { parameter($0.element, decays: $0.offset != 3) }
            let sgd = SGD(parameters: ps, momentum: 0.9, nesterov: count % 2 == 0, weightDecay: 0.01)
            for step in 0..<3 {
                for (p, g) in zip(ps, gradients) { for (i, v) in g.enumerated() { p.gradient[i] = v * Float(step + 1) } }
                sgd.step(learningRate: 0.1, constantRate: 0.02, constantFrom: 3)
            }
            results.append(ps.map { $0.value.toArray() })
        }
        // Classic momentum written out per element (PyTorch's formula, the class doc's order).
        var expected = values
        var buffers = expected.map { [Float](repeating: 0, count: $0.count) }
        for step in 0..<3 {
            for p in 0..<expected.count {
                let (lr, wd): (Float, Float) = p == 3 ? (0.02, 0) : (0.1, 0.01)
                for i in 0..<expected[p].count {
                    let g = gradients[p][i] * Float(step + 1) + wd * expected[p][i]
                    buffers[p][i] = 0.9 * buffers[p][i] + g
                    expected[p][i] -= lr * buffers[p][i]
                }
            }
        }
        XCTAssertEqual(results[0], expected, "one thread against the formula")
        XCTAssertEqual(results[2], results[0], "3 threads against 1 (both classic momentum)")
        XCTAssertEqual(results[3], results[1], "4 threads against 2 (both Nesterov)")
        XCTAssertNotEqual(results[0][2], values[2], "the weights moved")
    }

    func test_load_state_rejects_mismatched_tensors_and_changes_nothing() {
        let sgd = SGD(parameters: [parameter([1, 2]), parameter([3])], momentum: 0.9)
        let good = sgd.stateTensors.map { ($0.0, Tensor(shape: $0.1.shape, values: [Float](repeating: 7, count: $0.1.count))) }
        let cases: [([(String, Tensor)], String)] = [
            (Array(good.prefix(1)), "missing tensor state.1.momentum_buffer"),
            (good + [("state.2.momentum_buffer", Tensor(shape: [1]))], "unexpected tensor state.2"),
            ([good[0], ("state.1.momentum_buffer", Tensor(shape: [2]))], "shape [2], expected [1]"),
            ([good[0], ("state.1.momentum_buffer", Tensor(shape: [1], values: [.nan]))], "non-finite"),
            ([good[0], good[0], good[1]], "duplicate tensor state.0"),
        ]
        for (tensors, fragment) in cases {
            XCTAssertThrowsError(try sgd.loadState(tensors)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
            XCTAssertEqual(sgd.stateTensors[0].1.toArray(), [0, 0], "a failed load must leave the state alone")
        }
    }
}
