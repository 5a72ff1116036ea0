import XCTest
@testable import DCLKit

/// InfoNCE and DCL on a queue: hand-computed values, finite-difference gradients (with and
/// without extra negatives), numerics and buffer reuse.
final class QueueLossTests: XCTestCase {
    /// One problem: raw queries and keys (n × d), a unit queue (size × d), unit extras (n × s × d).
    private struct Problem {
        var q: [Float], k: [Float], queue: [Float], extra: [Float]
        var n: Int, d: Int, size: Int, s: Int
    }

    private func evaluate(_ objective: QueueObjective, _ p: Problem, tau: Double,
                          using loss: QueueContrastiveLoss? = nil) -> (Double, [Float]) {
        let loss = loss ?? QueueContrastiveLoss(objective: objective, temperature: tau)
        var grad = [Float](repeating: 0, count: p.q.count)
        let value = p.q.withUnsafeBufferPointer { q in
            p.k.withUnsafeBufferPointer { k in
                p.queue.withUnsafeBufferPointer { queue in
                    p.extra.withUnsafeBufferPointer { extra in
                        grad.withUnsafeMutableBufferPointer { g in
                            loss.compute(queries: q.baseAddress!, keys: k.baseAddress!, count: p.n, dim: p.d,
                                         queue: queue.baseAddress!, queueSize: p.size,
                                         extraNegatives: p.s > 0 ? extra.baseAddress! : nil, extraPerQuery: p.s,
                                         gradient: g.baseAddress!)
                        }
                    }
                }
            }
        }
        return (value, grad)
    }

    private func normals(_ count: Int, _ rng: inout CounterRNG) -> [Float] {
        (0..<count).map { _ in Float(rng.normal()) }
    }

    private func unitRows(_ rows: Int, _ d: Int, _ rng: inout CounterRNG) -> [Float] {
        var x = normals(rows * d, &rng)
        for r in 0..<rows {
            let norm = (0..<d).map { x[r * d + $0] * x[r * d + $0] }.reduce(0, +).squareRoot()
            for c in 0..<d { x[r * d + c] /= norm }
        }
        return x
    }

    private func randomProblem(n: Int, d: Int, size: Int, s: Int, seed: UInt64) -> Problem {
        var rng = CounterRNG(seed: seed)
        let q = normals(n * d, &rng)
        // Keys near their queries, so the positive term matters.
        let k = zip(q, normals(n * d, &rng)).map { $0 + 0.5 * $1 }
        return Problem(q: q, k: k, queue: unitRows(size, d, &rng), extra: unitRows(n * s, d, &rng),
                       n: n, d: d, size: size, s: s)
    }

    /// q = 2·e1 (unit e1), k⁺ = e1, queue {e2, −e1}: similarities 1 (positive), 0 and −1.
    func test_tiny_case_matches_hand_computed_values() {
        let tau = 0.5
        var p = Problem(q: [2, 0], k: [1, 0], queue: [0, 1, -1, 0], extra: [], n: 1, d: 2, size: 2, s: 0)
        XCTAssertEqual(evaluate(.infonce, p, tau: tau).0, -2 + log(exp(2.0) + 1 + exp(-2.0)), accuracy: 1e-6)
        XCTAssertEqual(evaluate(.dcl, p, tau: tau).0, -2 + log(1 + exp(-2.0)), accuracy: 1e-6)
        // One extra negative (0, −1), similarity 0: one more exp(0) in each denominator.
        p.extra = [0, -1]
        p.s = 1
        XCTAssertEqual(evaluate(.infonce, p, tau: tau).0, -2 + log(exp(2.0) + 2 + exp(-2.0)), accuracy: 1e-6)
        XCTAssertEqual(evaluate(.dcl, p, tau: tau).0, -2 + log(2 + exp(-2.0)), accuracy: 1e-6)
    }

    /// The loss is the mean over queries: two copies of one query give that query's loss.
    func test_loss_is_the_mean_over_queries() {
        let one = randomProblem(n: 1, d: 3, size: 4, s: 0, seed: 9)
        let two = Problem(q: one.q + [0.5, -1, 2], k: one.k + [1, 1, 1], queue: one.queue, extra: [],
                          n: 2, d: 3, size: 4, s: 0)
        let second = Problem(q: [0.5, -1, 2], k: [1, 1, 1], queue: one.queue, extra: [], n: 1, d: 3, size: 4, s: 0)
        for objective in [QueueObjective.infonce, .dcl] {
            let expected = (evaluate(objective, one, tau: 0.3).0 + evaluate(objective, second, tau: 0.3).0) / 2
            XCTAssertEqual(evaluate(objective, two, tau: 0.3).0, expected, accuracy: 1e-6)
        }
    }

    /// Central differences against the analytic gradient, with and without extra negatives.
    ///
    /// Tolerance: the loss runs in float32 (GEMM, exp) with float64 reductions, so each value
    /// carries about 1e-6 absolute error; with step h = 1e-2 the difference quotient carries about
    /// 1e-4, plus an O(h²) truncation term of the same size. 2e-3 absolute + 2% relative leaves margin.
    func test_gradients_match_finite_differences() {
        for objective in [QueueObjective.infonce, .dcl] {
            for (n, d, size, s, tau) in [(1, 2, 3, 0, 0.5), (3, 4, 6, 0, 0.2), (3, 4, 6, 2, 0.2), (2, 5, 8, 3, 1.0)] {
                let p = randomProblem(n: n, d: d, size: size, s: s, seed: UInt64(n * 100 + d * 10 + s))
                let (_, grad) = evaluate(objective, p, tau: tau)
                var probe = p
                let h: Float = 1e-2
                for i in 0..<p.q.count {
                    probe.q[i] = p.q[i] + h
                    let plus = evaluate(objective, probe, tau: tau).0
                    probe.q[i] = p.q[i] - h
                    let minus = evaluate(objective, probe, tau: tau).0
                    probe.q[i] = p.q[i]
                    let numeric = (plus - minus) / Double(2 * h)
                    XCTAssertEqual(Double(grad[i]), numeric, accuracy: 2e-3 + 0.02 * abs(numeric),
                                   "\(objective) n=\(n) d=\(d) K=\(size) S=\(s) element \(i)")
                }
            }
        }
    }

    /// DCL drops the positive term exp(q·k⁺/τ) > 0 from InfoNCE's denominator, so it is lower.
    func test_dcl_is_below_infonce_on_the_same_batch() {
        let p = randomProblem(n: 5, d: 6, size: 10, s: 2, seed: 4)
        XCTAssertLessThan(evaluate(.dcl, p, tau: 0.2).0, evaluate(.infonce, p, tau: 0.2).0)
    }

    /// A tiny temperature would overflow exp without the log-sum-exp shift.
    func test_small_temperature_stays_finite() {
        let p = randomProblem(n: 4, d: 5, size: 16, s: 2, seed: 3)
        for objective in [QueueObjective.infonce, .dcl] {
            let (value, grad) = evaluate(objective, p, tau: 1e-3)
            XCTAssertTrue(value.isFinite)
            XCTAssertTrue(grad.allSatisfy { $0.isFinite })
        }
    }

    /// A zero query has similarity 0 with everything: InfoNCE is log(K + 1), DCL log K.
    func test_zero_query_has_uniform_logits() {
        var p = randomProblem(n: 1, d: 4, size: 7, s: 0, seed: 5)
        p.q = [0, 0, 0, 0]
        XCTAssertEqual(evaluate(.infonce, p, tau: 0.2).0, log(8.0), accuracy: 1e-6)
        XCTAssertEqual(evaluate(.dcl, p, tau: 0.2).0, log(7.0), accuracy: 1e-6)
    }

    /// One loss object reused across sizes gives what a fresh one gives (buffers are resized).
    func test_reused_loss_matches_a_fresh_one_across_sizes() {
        let loss = QueueContrastiveLoss(objective: .infonce, temperature: 0.2)
        let big = randomProblem(n: 4, d: 5, size: 9, s: 2, seed: 1)
        let small = randomProblem(n: 2, d: 3, size: 4, s: 0, seed: 2)
        for p in [big, small, big] {
            let reused = evaluate(.infonce, p, tau: 0.2, using: loss)
            let fresh = evaluate(.infonce, p, tau: 0.2)
            XCTAssertEqual(reused.0, fresh.0)
            XCTAssertEqual(reused.1, fresh.1)
        }
    }
}
