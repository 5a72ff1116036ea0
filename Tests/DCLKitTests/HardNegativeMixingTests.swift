import XCTest
@testable import DCLKit

/// MoCHi's synthetic negatives: unit vectors, drawn from the hardest queue rows, query mixes
/// bounded by β < ½, and independent of the thread count.
final class HardNegativeMixingTests: XCTestCase {
    private let (n, d, size) = (6, 8, 256)

    private func unitRows(_ rows: Int, _ d: Int, seed: UInt64) -> [Float] {
        var rng = CounterRNG(seed: seed)
        var x = (0..<rows * d).map { _ in Float(rng.normal()) }
        for r in 0..<rows {
            let norm = (0..<d).map { x[r * d + $0] * x[r * d + $0] }.reduce(0, +).squareRoot()
            for c in 0..<d { x[r * d + c] /= norm }
        }
        return x
    }

    private func mix(_ mixing: HardNegativeMixing, _ q: [Float], _ queue: [Float], n: Int, d: Int,
                     seed: UInt64 = 0, step: UInt64 = 0) -> [Float] {
        var out = [Float](repeating: .nan, count: n * mixing.negativesPerQuery * d)
        q.withUnsafeBufferPointer { q in
            queue.withUnsafeBufferPointer { queue in
                out.withUnsafeMutableBufferPointer { o in
                    mixing.makeNegatives(queries: q.baseAddress!, count: n, dim: d, queue: queue.baseAddress!,
                                         queueSize: queue.count / d, seed: seed, step: step, into: o.baseAddress!)
                }
            }
        }
        return out
    }

    private func dot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        zip(a, b).map { Double($0) * Double($1) }.reduce(0, +)
    }

    private func row(_ x: [Float], _ r: Int, _ d: Int) -> ArraySlice<Float> { x[r * d ..< (r + 1) * d] }

    /// Query i's similarities to every queue row, from the unit query, in float64.
    private func similarities(_ q: [Float], _ queue: [Float], query i: Int) -> [Double] {
        let qi = row(q, i, d)
        let norm = dot(qi, qi).squareRoot()
        return (0..<size).map { dot(qi, row(queue, $0, d)) / norm }
    }

    func test_negatives_are_unit_vectors() {
        let q = unitRows(n, d, seed: 1).map { 3 * $0 }  // raw, not unit: normalised inside
        let queue = unitRows(size, d, seed: 2)
        let out = mix(HardNegativeMixing(hardest: 16, mixed: 5, queryMixed: 7), q, queue, n: n, d: d)
        for r in 0..<n * 12 {
            XCTAssertEqual(dot(row(out, r, d), row(out, r, d)), 1, accuracy: 1e-5, "row \(r)")
        }
    }

    /// With one hardest row, every pair mix is α n + (1 − α) n = n: the selection itself, checked
    /// against the argmax.
    func test_single_hardest_row_is_the_most_similar_queue_row() {
        let q = unitRows(n, d, seed: 3)
        let queue = unitRows(size, d, seed: 4)
        let out = mix(HardNegativeMixing(hardest: 1, mixed: 3, queryMixed: 0), q, queue, n: n, d: d)
        for i in 0..<n {
            let sims = similarities(q, queue, query: i)
            let best = sims.indices.max { sims[$0] < sims[$1] }!
            for j in 0..<3 {
                for c in 0..<d { XCTAssertEqual(out[(i * 3 + j) * d + c], queue[best * d + c], accuracy: 1e-6) }
            }
        }
    }

    /// q = e1 has similarity 0.6 (exactly, in float32) with both (0.6, ±0.8): the lower row wins.
    func test_ties_go_to_the_lower_queue_index() {
        let mixing = HardNegativeMixing(hardest: 1, mixed: 1, queryMixed: 0)
        let upFirst: [Float] = [-1, 0, 0.6, 0.8, 0.6, -0.8, 0, 1]
        for (a, b) in zip(mix(mixing, [1, 0], upFirst, n: 1, d: 2), [Float(0.6), 0.8]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let downFirst: [Float] = [0.6, -0.8, -1, 0, 0.6, 0.8]
        for (a, b) in zip(mix(mixing, [1, 0], downFirst, n: 1, d: 2), [Float(0.6), -0.8]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    /// Mixes of two hard negatives are harder on average than the queue, and with a positive
    /// N-th similarity t_i each mix has q·h ≥ t_i: h = (α n_a + (1 − α) n_b)/‖·‖ with q·n_a, q·n_b ≥ t_i
    /// and ‖·‖ ≤ 1, so q·h ≥ (α q·n_a + (1 − α) q·n_b) ≥ t_i when that numerator is positive.
    func test_pair_mixes_are_harder_than_the_queue() {
        let (hardest, s) = (16, 20)
        let q = unitRows(n, d, seed: 5)
        let queue = unitRows(size, d, seed: 6)
        let out = mix(HardNegativeMixing(hardest: hardest, mixed: s, queryMixed: 0), q, queue, n: n, d: d)
        var mixMean = 0.0, queueMean = 0.0
        for i in 0..<n {
            let sims = similarities(q, queue, query: i)
            let threshold = sims.sorted(by: >)[hardest - 1]
            XCTAssertGreaterThan(threshold, 0, "the bound below needs a positive N-th similarity")
            queueMean += sims.reduce(0, +) / Double(size * n)
            for j in 0..<s {
                let sim = dot(row(q, i, d), row(out, i * s + j, d))
                XCTAssertGreaterThanOrEqual(sim, threshold - 1e-5)
                mixMean += sim / Double(s * n)
            }
        }
        XCTAssertGreaterThan(mixMean, queueMean + 0.3)
    }

    /// Query mixes h′ = (βq + (1 − β)n)/‖βq + (1 − β)n‖ with unit q, n and c = q·n. As β goes from
    /// 0 to 1, h′ moves along the arc from n to q, so q·h′ rises monotonically from c. At β = ½,
    /// h′ = (q + n)/‖q + n‖ and q·h′ = (1 + c)/√(2(1 + c)) = √((1 + c)/2), the cosine of half the
    /// angle. So β ∈ [0, ½) gives c ≤ q·h′ < √((1 + c)/2), and h′·n ≥ h′·q since
    /// (h′·q − h′·n)·‖·‖ = (2β − 1)(1 − c) ≤ 0: the mix stays nearer its negative than the query.
    /// With c between the N-th similarity t_i and the largest c_max this gives
    /// t_i ≤ q·h′ ≤ √((1 + c_max)/2).
    func test_query_mixes_stay_below_the_half_angle_bound() {
        let (hardest, sPrime) = (16, 30)
        let q = unitRows(n, d, seed: 7)
        let queue = unitRows(size, d, seed: 8)
        let out = mix(HardNegativeMixing(hardest: hardest, mixed: 0, queryMixed: sPrime), q, queue, n: n, d: d)
        for i in 0..<n {
            let sims = similarities(q, queue, query: i)
            let ranked = sims.indices.sorted { sims[$0] > sims[$1] }
            let cMax = sims[ranked[0]], threshold = sims[ranked[hardest - 1]]
            for j in 0..<sPrime {
                let h = row(out, i * sPrime + j, d)
                let sim = dot(row(q, i, d), h)
                XCTAssertLessThanOrEqual(sim, ((1 + cMax) / 2).squareRoot() + 1e-5)
                XCTAssertGreaterThanOrEqual(sim, threshold - 1e-5)
                let nearestHard = ranked.prefix(hardest).map { dot(row(queue, $0, d), h) }.max()!
                XCTAssertGreaterThanOrEqual(nearestHard, sim - 1e-5)
            }
        }
    }

    func test_output_is_the_same_for_any_thread_count() {
        let q = unitRows(n, d, seed: 9)
        let queue = unitRows(size, d, seed: 10)
        let saved = Threads.count
        defer { Threads.setCount(saved) }
        var outputs: [[Float]] = []
        for threads in [1, 2, 3] {
            Threads.setCount(threads)
            outputs.append(mix(HardNegativeMixing(hardest: 8, mixed: 4, queryMixed: 4), q, queue, n: n, d: d, seed: 5, step: 2))
        }
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
    }

    func test_seed_and_step_change_the_draws() {
        let q = unitRows(n, d, seed: 11)
        let queue = unitRows(size, d, seed: 12)
        let mixing = HardNegativeMixing(hardest: 8, mixed: 4, queryMixed: 4)
        let base = mix(mixing, q, queue, n: n, d: d, seed: 1, step: 1)
        XCTAssertEqual(base, mix(mixing, q, queue, n: n, d: d, seed: 1, step: 1))
        XCTAssertNotEqual(base, mix(mixing, q, queue, n: n, d: d, seed: 2, step: 1))
        XCTAssertNotEqual(base, mix(mixing, q, queue, n: n, d: d, seed: 1, step: 2))
    }
}
