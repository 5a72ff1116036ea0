import XCTest
@testable import DCLKit

/// NT-Xent, DCL and DCLW: hand-computed values, finite-difference gradients, edges.
final class PairContrastiveLossTests: XCTestCase {
    private func evaluate(_ objective: PairObjective, _ z: [Float], pairs n: Int, dim d: Int, tau: Double) -> (Double, [Float]) {
        let loss = PairContrastiveLoss(objective: objective, temperature: tau)
        var grad = [Float](repeating: 0, count: z.count)
        let value = z.withUnsafeBufferPointer { zp in
            grad.withUnsafeMutableBufferPointer { loss.compute(zp.baseAddress!, pairs: n, dim: d, gradient: $0.baseAddress!) }
        }
        return (value, grad)
    }

    private func randomZ(_ count: Int, seed: UInt64) -> [Float] {
        var rng = CounterRNG(seed: seed)
        return (0..<count).map { _ in Float(rng.normal()) }
    }

    /// Two orthogonal images, each view identical: every positive similarity is 1, every negative 0.
    func test_two_by_two_matches_hand_computed_values() {
        // Rows: view 0 = e1, e2; view 1 = e1, e2 (scaled, to exercise the normalisation).
        let z: [Float] = [1, 0, 0, 1, 3, 0, 0, 2]
        let tau = 0.5
        let dcl = evaluate(.dcl, z, pairs: 2, dim: 2, tau: tau).0
        XCTAssertEqual(dcl, -1 / tau + log(2.0), accuracy: 1e-6)
        let ntxent = evaluate(.ntxent, z, pairs: 2, dim: 2, tau: tau).0
        XCTAssertEqual(ntxent, log(1 + 2 * exp(-1 / tau)), accuracy: 1e-6)
        // Equal positive similarities: softmax is uniform, w = 2 − 2·½ = 1, DCLW = DCL.
        let dclw = evaluate(.dclw(sigma: 0.5), z, pairs: 2, dim: 2, tau: tau).0
        XCTAssertEqual(dclw, dcl, accuracy: 1e-6)
    }

    /// A 2×2 case with unequal positives, worked by hand for DCLW's weights.
    func test_dclw_weights_match_hand_computed_values() {
        // View 0: e1, e2. View 1: e1, (e1+e2)/√2. Positives: s0 = 1, s1 = 1/√2.
        let r = Float(1 / 2.0.squareRoot())
        let z: [Float] = [1, 0, 0, 1, 1, 0, r, r]
        let tau = 1.0, sigma = 0.5
        let s1 = 1 / 2.0.squareRoot()
        let e0 = exp(1 / sigma), e1 = exp(s1 / sigma)
        let w0 = 2 - 2 * e0 / (e0 + e1), w1 = 2 - 2 * e1 / (e0 + e1)
        // Similarities: a0·a1 = 0, a0·b0 = 1, a0·b1 = r, a1·b0 = 0, a1·b1 = r, b0·b1 = r.
        // Anchor a0 (p = b0): negatives a1 (0), b1 (r). Anchor a1 (p = b1): negatives a0 (0), b0 (0).
        // Anchor b0 (p = a0): negatives a1 (0), b1 (r). Anchor b1 (p = a1): negatives a0 (r), b0 (r).
        let l0 = -w0 * 1 + log(1 + exp(s1))
        let l1 = -w1 * s1 + log(2.0)
        let l2 = -w0 * 1 + log(1 + exp(s1))
        let l3 = -w1 * s1 + log(2 * exp(s1))
        let expected = (l0 + l1 + l2 + l3) / 4
        XCTAssertEqual(evaluate(.dclw(sigma: sigma), z, pairs: 2, dim: 2, tau: tau).0, expected, accuracy: 1e-5)
    }

    /// Central differences against the analytic gradient for NT-Xent and DCL.
    ///
    /// Tolerance: the loss runs in float32 (GEMM) with float64 reductions, so each value carries
    /// about 1e-6 absolute error; with step h = 1e-2 the difference quotient carries about 1e-4,
    /// plus an O(h²) truncation term of the same size. 2e-3 absolute + 2% relative leaves margin.
    func test_gradients_match_finite_differences() {
        for objective in [PairObjective.ntxent, .dcl] {
            for (n, d, tau) in [(2, 1, 0.5), (3, 4, 0.5), (4, 3, 0.2)] {
                let z = randomZ(2 * n * d, seed: UInt64(n * 10 + d))
                let (_, grad) = evaluate(objective, z, pairs: n, dim: d, tau: tau)
                let numeric = finiteDifferences(z) { evaluate(objective, $0, pairs: n, dim: d, tau: tau).0 }
                for i in 0..<z.count {
                    XCTAssertEqual(Double(grad[i]), numeric[i], accuracy: 2e-3 + 0.02 * abs(numeric[i]),
                                   "\(objective) n=\(n) d=\(d) element \(i)")
                }
            }
        }
    }

    /// DCLW's weights carry no gradient: its gradient is that of DCL plus the positive term
    /// Σ_i (1 − w_i)·s_ip / (2Nτ) with w held at its value for the unperturbed batch.
    /// Finite differences of that frozen-weight loss (weights and positive similarities computed
    /// here in float64 from the formula) must match DCLW's gradient. Tolerance as above.
    func test_dclw_gradient_holds_weights_constant() {
        let (n, d, tau, sigma) = (3, 4, 0.5, 0.5)
        let z = randomZ(2 * n * d, seed: 21)
        let (_, grad) = evaluate(.dclw(sigma: sigma), z, pairs: n, dim: d, tau: tau)
        let positives = { (z: [Float]) -> [Double] in
            (0..<n).map { i in
                var dot = 0.0, a = 0.0, b = 0.0
                for j in 0..<d {
                    let x = Double(z[i * d + j]), y = Double(z[(i + n) * d + j])
                    dot += x * y; a += x * x; b += y * y
                }
                return dot / (a.squareRoot() * b.squareRoot())
            }
        }
        let e = positives(z).map { exp($0 / sigma) }
        let weights = e.map { 2 - Double(n) * $0 / e.reduce(0, +) }
        let frozen = { (z: [Float]) -> Double in
            let extra = zip(weights, positives(z)).map { (1 - $0) * $1 }.reduce(0, +) * 2 / (Double(2 * n) * tau)
            return self.evaluate(.dcl, z, pairs: n, dim: d, tau: tau).0 + extra
        }
        let numeric = finiteDifferences(z, frozen)
        for i in 0..<z.count {
            XCTAssertEqual(Double(grad[i]), numeric[i], accuracy: 2e-3 + 0.02 * abs(numeric[i]), "element \(i)")
        }
    }

    private func finiteDifferences(_ z0: [Float], _ f: ([Float]) -> Double) -> [Double] {
        var z = z0
        let h: Float = 1e-2
        return (0..<z.count).map { i in
            let x = z[i]
            z[i] = x + h
            let plus = f(z)
            z[i] = x - h
            let minus = f(z)
            z[i] = x
            return (plus - minus) / Double(2 * h)
        }
    }

    /// D = 1: every unit vector is ±1, so similarities are ±1 and the loss is finite.
    func test_one_dimensional_projections_give_finite_loss_and_gradient() {
        let z: [Float] = [2, -1, 0.5, -3]
        for objective in [PairObjective.ntxent, .dcl, .dclw(sigma: 0.5)] {
            let (value, grad) = evaluate(objective, z, pairs: 2, dim: 1, tau: 0.1)
            XCTAssertTrue(value.isFinite)
            // In one dimension the normalised vector cannot move: the gradient is zero.
            for g in grad { XCTAssertEqual(g, 0, accuracy: 1e-6) }
        }
    }

    /// A tiny temperature would overflow exp without the log-sum-exp shift.
    func test_small_temperature_stays_finite() {
        let z = randomZ(2 * 8 * 5, seed: 3)
        for objective in [PairObjective.ntxent, .dcl] {
            let (value, grad) = evaluate(objective, z, pairs: 8, dim: 5, tau: 1e-3)
            XCTAssertTrue(value.isFinite)
            XCTAssertTrue(grad.allSatisfy { $0.isFinite })
        }
    }

    /// A zero row has similarity 0 with every row; the loss stays finite.
    func test_zero_row_gives_finite_loss() {
        var z = randomZ(2 * 3 * 4, seed: 5)
        for j in 0..<4 { z[j] = 0 }
        let (value, _) = evaluate(.dcl, z, pairs: 3, dim: 4, tau: 0.5)
        XCTAssertTrue(value.isFinite)
    }

    /// DCL never exceeds NT-Xent: its denominator drops a positive term.
    func test_dcl_is_below_ntxent_on_the_same_batch() {
        let z = randomZ(2 * 6 * 8, seed: 11)
        let dcl = evaluate(.dcl, z, pairs: 6, dim: 8, tau: 0.2).0
        let ntxent = evaluate(.ntxent, z, pairs: 6, dim: 8, tau: 0.2).0
        XCTAssertLessThan(dcl, ntxent)
    }

    /// A data-parallel rank's term: the anchors of a range of pairs against all rows. Splitting
    /// the pairs into ranges and weighting each term by its share of the anchors gives back the
    /// loss and the gradient of all anchors, for every objective (DCLW's weights use all pairs).
    func test_anchor_ranges_weighted_by_their_share_sum_to_the_full_loss_and_gradient() {
        let n = 6, d = 5
        let z = randomZ(2 * n * d, seed: 41)
        for objective in [PairObjective.ntxent, .dcl, .dclw(sigma: 0.5)] {
            let (full, fullGradient) = evaluate(objective, z, pairs: n, dim: d, tau: 0.2)
            var total = 0.0, gradient = [Double](repeating: 0, count: z.count)
            let loss = PairContrastiveLoss(objective: objective, temperature: 0.2)
            for range in [0..<1, 1..<4, 4..<6] {
                var part = [Float](repeating: 0, count: z.count)
                let value = z.withUnsafeBufferPointer { zp in
                    part.withUnsafeMutableBufferPointer {
                        loss.compute(zp.baseAddress!, pairs: n, dim: d, anchorPairs: range, gradient: $0.baseAddress!)
                    }
                }
                let share = Double(range.count) / Double(n)
                total += share * value
                for i in part.indices { gradient[i] += share * Double(part[i]) }
            }
            XCTAssertEqual(total, full, accuracy: 1e-5 * abs(full), "\(objective)")
            let scale = fullGradient.map { abs(Double($0)) }.max()!
            for i in gradient.indices { XCTAssertEqual(gradient[i], Double(fullGradient[i]), accuracy: 1e-5 * scale, "\(objective) [\(i)]") }
        }
    }
}
