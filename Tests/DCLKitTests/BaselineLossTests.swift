import XCTest
@testable import DCLKit

/// The non-contrastive baselines' losses (BYOL / SimSiam's negative cosine, Barlow Twins, VICReg):
/// values against float64 references written here from the papers' formulas, finite-difference
/// gradients (`GradientCheck.layer`: float32 losses of magnitude ≤ 50 summed in float64 round to
/// ≈ 1e-5, ≈ 1e-3 on the quotient at h = 1e-2, within its 2e-3 + 2%), the stop-gradient, zero
/// vectors and zero variance, and the global-batch form over thread ranks.
final class BaselineLossTests: XCTestCase {
    // MARK: - Negative cosine (BYOL, SimSiam)

    private func cosine(_ p: Tensor, _ z: Tensor, row i: Int) -> Double {
        let d = p.shape[1]
        var (dot, pp, zz) = (0.0, 0.0, 0.0)
        for j in 0..<d {
            let (a, b) = (Double(p[i * d + j]), Double(z[i * d + j]))
            dot += a * b; pp += a * a; zz += b * b
        }
        return dot / (pp.squareRoot() * zz.squareRoot())
    }

    private func oneDirection(_ loss: CosinePredictionLoss, _ p: Tensor, _ z: Tensor, _ g: Tensor) -> Double {
        loss.compute(predictions: p.data, targets: z.data, rows: p.shape[0], dim: p.shape[1], predictionGradient: g.data)
    }

    private func symmetric(_ loss: CosinePredictionLoss, _ p1: Tensor, _ p2: Tensor, _ z1: Tensor, _ z2: Tensor,
                           _ g1: Tensor, _ g2: Tensor) -> Double {
        loss.computeSymmetric(predictions: p1.data, p2.data, targets: z1.data, z2.data, rows: p1.shape[0],
                              dim: p1.shape[1], gradients: g1.data, g2.data)
    }

    func testNegativeCosineValuesAreTheMeanOfThePapersPerPairLosses() {
        let (n, d) = (5, 7)
        let p = GradientCheck.random([n, d], seed: 1), z = GradientCheck.random([n, d], seed: 2)
        let g = Tensor(shape: [n, d])
        let meanCosine = (0..<n).map { cosine(p, z, row: $0) }.reduce(0, +) / Double(n)
        XCTAssertEqual(oneDirection(CosinePredictionLoss(form: .negativeCosine), p, z, g), -meanCosine, accuracy: 1e-6)
        XCTAssertEqual(oneDirection(CosinePredictionLoss(form: .byol), p, z, g), 2 - 2 * meanCosine, accuracy: 1e-6)
        // Aligned rows of any length: D = −1, BYOL's 0.
        let scaled = Tensor(shape: [n, d])
        for i in 0..<(n * d) { scaled[i] = 3 * z[i] }
        XCTAssertEqual(oneDirection(CosinePredictionLoss(form: .negativeCosine), scaled, z, g), -1, accuracy: 1e-6)
        XCTAssertEqual(oneDirection(CosinePredictionLoss(form: .byol), scaled, z, g), 0, accuracy: 1e-6)
    }

    func testPredictionGradientMatchesFiniteDifferencesWithTargetsHeldFixed() {
        let (n, d) = (4, 6)
        for form in [CosinePredictionForm.negativeCosine, .byol] {
            let loss = CosinePredictionLoss(form: form)
            let p = GradientCheck.random([n, d], seed: 3), z = GradientCheck.random([n, d], seed: 4)
            let g = Tensor(shape: [n, d]), scratch = Tensor(shape: [n, d])
            _ = oneDirection(loss, p, z, g)
            GradientCheck.check(p, gradient: g, "\(form) dL/dp") { oneDirection(loss, p, z, scratch) }
        }
    }

    func testSymmetricLossCrossesTheViewsAndItsGradientsMatchFiniteDifferences() {
        let (n, d) = (4, 5)
        for form in [CosinePredictionForm.negativeCosine, .byol] {
            let loss = CosinePredictionLoss(form: form)
            let (p1, p2) = (GradientCheck.random([n, d], seed: 5), GradientCheck.random([n, d], seed: 6))
            let (z1, z2) = (GradientCheck.random([n, d], seed: 7), GradientCheck.random([n, d], seed: 8))
            let (g1, g2, s1, s2) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]), Tensor(shape: [n, d]), Tensor(shape: [n, d]))
            let value = symmetric(loss, p1, p2, z1, z2, g1, g2)
            let half = 0.5 * (oneDirection(loss, p1, z2, s1) + oneDirection(loss, p2, z1, s1))
            XCTAssertEqual(value, half, accuracy: 1e-9, "\(form): ½[L(p1, z2) + L(p2, z1)]")
            GradientCheck.check(p1, gradient: g1, "\(form) dL/dp1") { symmetric(loss, p1, p2, z1, z2, s1, s2) }
            GradientCheck.check(p2, gradient: g2, "\(form) dL/dp2") { symmetric(loss, p1, p2, z1, z2, s1, s2) }
        }
    }

    /// The stopped branch: the targets are read, never written; moving a target moves the loss
    /// but not the prediction gradients; and with SimSiam's z = p tie (targets computed from the
    /// same rows) the returned gradient is the stop-gradient one, not the full derivative, which
    /// differs by O(1): an implementation that let gradient through the targets fails here.
    func testNoGradientReachesTheStoppedTargets() {
        let (n, d) = (3, 4)
        let loss = CosinePredictionLoss(form: .negativeCosine)
        let (p1, p2) = (GradientCheck.random([n, d], seed: 9), GradientCheck.random([n, d], seed: 10))
        let (z1, z2) = (GradientCheck.random([n, d], seed: 11), GradientCheck.random([n, d], seed: 12))
        let (g1, g2, h1, h2) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]), Tensor(shape: [n, d]), Tensor(shape: [n, d]))
        let (before1, before2) = (z1.toArray(), z2.toArray())
        let value = symmetric(loss, p1, p2, z1, z2, g1, g2)
        XCTAssertEqual(z1.toArray(), before1, "the targets are not written")
        XCTAssertEqual(z2.toArray(), before2, "the targets are not written")

        // Moving z1 changes the loss (through L(p2, z1)) but leaves dL/dp1 exactly as it was.
        for i in 0..<(n * d) { z1[i] += 0.3 * Float(i % 3) - 0.2 }
        let moved = symmetric(loss, p1, p2, z1, z2, h1, h2)
        XCTAssertGreaterThan(abs(moved - value), 1e-3, "the target enters the loss")
        XCTAssertEqual(h1.toArray(), g1.toArray(), "dL/dp1 does not depend on z1")
        XCTAssertNotEqual(h2.toArray(), g2.toArray(), "dL/dp2 does depend on z1")

        // Tie the targets to the predictions: differentiating through the tie (no stop-gradient)
        // gives a different gradient from the one returned, which still matches FD with the
        // targets frozen.
        let tie = { (p: Tensor, z: Tensor) in for i in 0..<(n * d) { z[i] = p[i] } }
        tie(p1, z1); tie(p2, z2)
        _ = symmetric(loss, p1, p2, z1, z2, g1, g2)
        let h: Float = 1e-2
        var largestGap = 0.0
        for i in 0..<(n * d) {
            let x = p1[i]
            p1[i] = x + h; tie(p1, z1)
            let plus = symmetric(loss, p1, p2, z1, z2, h1, h2)
            p1[i] = x - h; tie(p1, z1)
            let minus = symmetric(loss, p1, p2, z1, z2, h1, h2)
            p1[i] = x; tie(p1, z1)
            largestGap = max(largestGap, abs((plus - minus) / (2 * Double(h)) - Double(g1[i])))
        }
        XCTAssertGreaterThan(largestGap, 0.05, "the full derivative through the tie differs from the stopped one")
        let frozen = z1.clone()
        GradientCheck.check(p1, gradient: g1, "stop-gradient dL/dp1") { symmetric(loss, p1, p2, frozen, z2, h1, h2) }
    }

    func testZeroRowsGiveCosineZeroAndFiniteGradients() {
        let (n, d) = (3, 4)
        for form in [CosinePredictionForm.negativeCosine, .byol] {
            let loss = CosinePredictionLoss(form: form)
            let p = GradientCheck.random([n, d], seed: 13), z = GradientCheck.random([n, d], seed: 14)
            for j in 0..<d { z[0 * d + j] = 0; p[1 * d + j] = 0 }
            let g = Tensor(shape: [n, d])
            let value = oneDirection(loss, p, z, g)
            let c2 = cosine(p, z, row: 2)
            let expected = form == .byol ? (2 + 2 + (2 - 2 * c2)) / 3 : -c2 / 3
            XCTAssertEqual(value, expected, accuracy: 1e-6, "\(form): rows 0 and 1 have cosine 0")
            XCTAssertTrue(g.toArray().allSatisfy { $0.isFinite })
            XCTAssertEqual(Array(g.toArray()[0..<d]), [Float](repeating: 0, count: d), "a zero target gives no gradient")
        }
    }

    // MARK: - Barlow Twins

    /// Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij² of BatchNorm-standardised views (biased variance, ε), float64.
    private func barlowReference(_ a: [Double], _ b: [Double], n: Int, d: Int, lambda: Double) -> Double {
        func standardise(_ x: [Double]) -> [Double] {
            var y = x
            for j in 0..<d {
                let column = (0..<n).map { x[$0 * d + j] }
                let mean = column.reduce(0, +) / Double(n)
                let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
                for r in 0..<n { y[r * d + j] = (x[r * d + j] - mean) / (variance + 1e-5).squareRoot() }
            }
            return y
        }
        let (sa, sb) = (standardise(a), standardise(b))
        var loss = 0.0
        for i in 0..<d {
            for j in 0..<d {
                let c = (0..<n).map { sa[$0 * d + i] * sb[$0 * d + j] }.reduce(0, +) / Double(n)
                loss += i == j ? (1 - c) * (1 - c) : lambda * c * c
            }
        }
        return loss
    }

    private func doubles(_ t: Tensor) -> [Double] { t.toArray().map(Double.init) }

    /// z^B a noisy copy of z^A (so C has a strong diagonal), features on different scales.
    private func views(rows n: Int, dim d: Int, seed: UInt64) -> (Tensor, Tensor) {
        let a = GradientCheck.random([n, d], seed: seed), noise = GradientCheck.random([n, d], seed: seed + 100)
        let b = Tensor(shape: [n, d])
        for r in 0..<n {
            for j in 0..<d {
                let scale = Float(0.4 + 0.3 * Double(j % 5))
                a[r * d + j] = scale * a[r * d + j] + Float(j) * 0.5
                b[r * d + j] = a[r * d + j] + 0.6 * scale * noise[r * d + j]
            }
        }
        return (a, b)
    }

    private func barlow(_ loss: BarlowTwinsLoss, _ a: Tensor, _ b: Tensor, _ ga: Tensor, _ gb: Tensor) -> Double {
        try! loss.compute(a.data, b.data, rows: a.shape[0], dim: a.shape[1], gradientA: ga.data, gradientB: gb.data)
    }

    /// Finite differences of `loss(a, b, gradientA, gradientB)` against its gradients, at both views.
    private func checkBothViews(_ views: (Tensor, Tensor), _ what: String,
                                file: StaticString = #filePath, line: UInt = #line,
                                _ loss: (Tensor, Tensor, Tensor, Tensor) -> Double) {
        let (a, b) = views
        let (ga, gb) = (Tensor(shape: a.shape), Tensor(shape: b.shape))
        let (sa, sb) = (Tensor(shape: a.shape), Tensor(shape: b.shape))
        _ = loss(a, b, ga, gb)
        GradientCheck.check(a, gradient: ga, "\(what) dL/dA", file: file, line: line) { loss(a, b, sa, sb) }
        GradientCheck.check(b, gradient: gb, "\(what) dL/dB", file: file, line: line) { loss(a, b, sa, sb) }
    }

    func testBarlowTwinsValueMatchesTheFloat64Reference() {
        for (n, d, lambda) in [(8, 5, 5e-3), (6, 9, 0.1), (16, 16, 1.0 / 16)] {
            let (a, b) = views(rows: n, dim: d, seed: UInt64(n * d))
            let (ga, gb) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]))
            let value = barlow(BarlowTwinsLoss(lambda: lambda), a, b, ga, gb)
            let reference = barlowReference(doubles(a), doubles(b), n: n, d: d, lambda: lambda)
            XCTAssertEqual(value, reference, accuracy: 1e-5 * max(1, reference), "n \(n) d \(d) λ \(lambda)")
        }
    }

    /// 7 × 5 through C, 4 × 9 (4N < 3d) through the N × N Gram matrices.
    func testBarlowTwinsGradientsMatchFiniteDifferences() {
        for ((n, d), lambda) in [((7, 5), 5e-3), ((7, 5), 0.3), ((4, 9), 5e-3), ((4, 9), 0.3)] {
            let loss = BarlowTwinsLoss(lambda: lambda)
            checkBothViews(views(rows: n, dim: d, seed: 21), "Barlow Twins \(n)×\(d) λ \(lambda)") { barlow(loss, $0, $1, $2, $3) }
        }
    }

    func testBarlowTwinsConstantFeatureCountsOneOnTheDiagonalAndStaysFinite() {
        let (n, d) = (6, 4)
        let (a, b) = views(rows: n, dim: d, seed: 31)
        for r in 0..<n { a[r * d + 2] = 1.5 }  // feature 2 of view A has zero variance
        let (ga, gb) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]))
        let loss = BarlowTwinsLoss(lambda: 0.1)
        let value = barlow(loss, a, b, ga, gb)
        XCTAssertEqual(value, barlowReference(doubles(a), doubles(b), n: n, d: d, lambda: 0.1), accuracy: 1e-5)
        XCTAssertGreaterThanOrEqual(value, 1, "(1 − C_22)² = 1")
        XCTAssertTrue((ga.toArray() + gb.toArray()).allSatisfy { $0.isFinite })
        // The gradient only spreads the constant feature (column 2 of dL/dzA sums to zero) ...
        let column = (0..<n).map { Double(ga[$0 * d + 2]) }
        XCTAssertEqual(column.reduce(0, +), 0, accuracy: 1e-4)
        // ... and B's gradient, whose features all vary, still matches finite differences.
        let (sa, sb) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]))
        GradientCheck.check(b, gradient: gb, "dL/dzB with a collapsed A feature") { barlow(loss, a, b, sa, sb) }
    }

    // MARK: - VICReg

    /// λ·mean((z − z′)²) + μ·½[v(Z) + v(Z′)] + ν·[c(Z) + c(Z′)], unbiased (co)variances, float64.
    private func vicregReference(_ z: [Double], _ zp: [Double], n: Int, d: Int,
                                 weights: (Double, Double, Double) = (25, 25, 1)) -> Double {
        let mse = zip(z, zp).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(n * d)
        func varianceAndCovariance(_ x: [Double]) -> (Double, Double) {
            let mean = (0..<d).map { j in (0..<n).map { x[$0 * d + j] }.reduce(0, +) / Double(n) }
            var v = 0.0, c = 0.0
            for i in 0..<d {
                for j in 0..<d {
                    let cov = (0..<n).map { (x[$0 * d + i] - mean[i]) * (x[$0 * d + j] - mean[j]) }.reduce(0, +) / Double(n - 1)
                    if i == j { v += max(0, 1 - (cov + 1e-4).squareRoot()) } else { c += cov * cov }
                }
            }
            return (v / Double(d), c / Double(d))
        }
        let (v1, c1) = varianceAndCovariance(z), (v2, c2) = varianceAndCovariance(zp)
        return weights.0 * mse + weights.1 * 0.5 * (v1 + v2) + weights.2 * (c1 + c2)
    }

    private func vicreg(_ loss: VICRegLoss, _ z: Tensor, _ zp: Tensor, _ g: Tensor, _ gp: Tensor) -> Double {
        try! loss.compute(z.data, zp.data, rows: z.shape[0], dim: z.shape[1], gradient: g.data, gradientPrime: gp.data)
    }

    func testVICRegValueMatchesTheFloat64Reference() {
        for (n, d, seed) in [(8, 5, 41), (5, 12, 42), (16, 16, 43)] {
            let (z, zp) = views(rows: n, dim: d, seed: UInt64(seed))
            let (g, gp) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]))
            let value = vicreg(VICRegLoss(), z, zp, g, gp)
            let reference = vicregReference(doubles(z), doubles(zp), n: n, d: d)
            XCTAssertEqual(value, reference, accuracy: 1e-5 * max(1, reference), "n \(n) d \(d)")
        }
        let (z, zp) = views(rows: 6, dim: 4, seed: 44)
        let (g, gp) = (Tensor(shape: [6, 4]), Tensor(shape: [6, 4]))
        XCTAssertEqual(vicreg(VICRegLoss(invariance: 2, variance: 3, covariance: 0.5), z, zp, g, gp),
                       vicregReference(doubles(z), doubles(zp), n: 6, d: 4, weights: (2, 3, 0.5)), accuracy: 1e-5)
    }

    /// Features of standard deviation 0.4 to 1.6: some under the hinge, some above it (none
    /// within a step of the kink, checked by the FD's one-sided gap).
    /// 7 × 5 through the d × d covariances, 4 × 9 (4N < 3d) through the N × N Gram matrices.
    func testVICRegGradientsMatchFiniteDifferences() {
        for (n, d) in [(7, 5), (4, 9)] {
            let loss = VICRegLoss()
            checkBothViews(views(rows: n, dim: d, seed: 51), "VICReg \(n)×\(d)") { vicreg(loss, $0, $1, $2, $3) }
        }
    }

    func testVICRegConstantFeatureHitsTheHingeButGetsNoVarianceGradient() {
        let (n, d) = (6, 4)
        let (z, zp) = views(rows: n, dim: d, seed: 61)
        for r in 0..<n { z[r * d + 1] = -0.7; zp[r * d + 1] = -0.7 }  // feature 1 collapsed in both views
        let (g, gp) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]))
        let value = vicreg(VICRegLoss(), z, zp, g, gp)
        XCTAssertEqual(value, vicregReference(doubles(z), doubles(zp), n: n, d: d), accuracy: 1e-5)
        XCTAssertGreaterThanOrEqual(value, 25 * 0.5 * 2 * (1 - 0.01) / Double(d) - 1e-6, "both hinges at 1 − √ε")
        for r in 0..<n {
            XCTAssertEqual(g[r * d + 1], 0, "no gradient moves an exactly collapsed feature")
            XCTAssertEqual(gp[r * d + 1], 0)
        }
    }

    // MARK: - The global batch over ranks

    /// Rank r holds rows `split[r]` of the global batch; its gradient must be W times the
    /// single-process gradient of those rows, and its loss the single-process loss.
    private func checkGlobalBatch(_ name: String, rows: [Range<Int>], dim d: Int,
                                  make: @escaping (Communicator?) -> (UnsafePointer<Float>, UnsafePointer<Float>, Int,
                                                                      UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> Double) {
        let n = rows.last!.upperBound
        let (a, b) = views(rows: n, dim: d, seed: 71)
        let (ga, gb) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]))
        let single = try! make(nil)(a.data, b.data, n, ga.data, gb.data)
        let ranks = rows.count
        let results = UnsafeMutablePointer<(Double, [Float], [Float])>.allocate(capacity: ranks)
        defer { results.deallocate() }
        let errors = ThreadGroup(size: ranks).run { comm in
            let mine = rows[comm.rank], m = mine.count
            let (la, lb, da, db) = (Tensor(shape: [m, d]), Tensor(shape: [m, d]), Tensor(shape: [m, d]), Tensor(shape: [m, d]))
            la.data.update(from: a.data + mine.lowerBound * d, count: m * d)
            lb.data.update(from: b.data + mine.lowerBound * d, count: m * d)
            let compute = make(comm)
            var value = 0.0
            for _ in 0..<2 { value = try compute(la.data, lb.data, m, da.data, db.data) }  // buffers reused
            (results + comm.rank).initialize(to: (value, da.toArray(), db.toArray()))
        }
        XCTAssertEqual(errors.compactMap { $0 }, [], name)
        guard errors.allSatisfy({ $0 == nil }) else { return }
        for (r, mine) in rows.enumerated() {
            let (value, da, db) = results[r]
            XCTAssertEqual(value, single, accuracy: 1e-5 * max(1, abs(single)), "\(name): rank \(r)'s loss is the global one")
            for (k, flat) in (mine.lowerBound * d..<mine.upperBound * d).enumerated() {
                let scale = Float(ranks)
                XCTAssertEqual(da[k], scale * ga[flat], accuracy: 1e-4 + 1e-3 * abs(scale * ga[flat]), "\(name) A[\(flat)]")
                XCTAssertEqual(db[k], scale * gb[flat], accuracy: 1e-4 + 1e-3 * abs(scale * gb[flat]), "\(name) B[\(flat)]")
            }
            (results + r).deinitialize(count: 1)
        }
    }

    /// At dim 6 both sides go through C; at dim 24 the single process takes the Gram path
    /// (4 · 12 < 3 · 24) and the ranks C, so the two paths are checked against each other.
    func testBarlowTwinsOverRanksEqualsTheSingleProcessLossOnTheGlobalBatch() {
        for d in [6, 24] {
            checkGlobalBatch("Barlow Twins d \(d)", rows: [0..<3, 3..<8, 8..<12], dim: d) { comm in
                let loss = BarlowTwinsLoss(lambda: 0.2, communicator: comm)
                return { try loss.compute($0, $1, rows: $2, dim: d, gradientA: $3, gradientB: $4) }
            }
        }
    }

    /// As Barlow Twins': dim 7 through the covariances everywhere, dim 20 on the Gram path in one process.
    func testVICRegOverRanksEqualsTheSingleProcessLossOnTheGlobalBatch() {
        for d in [7, 20] {
            checkGlobalBatch("VICReg d \(d)", rows: [0..<5, 5..<11], dim: d) { comm in
                let loss = VICRegLoss(communicator: comm)
                return { try loss.compute($0, $1, rows: $2, dim: d, gradient: $3, gradientPrime: $4) }
            }
        }
    }

    /// One object through shapes that grow, shrink and change dim gives, every time, what a fresh
    /// object gives (the kept buffers never leak a previous call's values); the one-process
    /// communicator is W = 1, the same as none.
    func testKeptBuffersAcrossShapesGiveWhatFreshObjectsGive() {
        let (barlowKept, vicregKept) = (BarlowTwinsLoss(lambda: 0.1), VICRegLoss())
        let cosineKept = CosinePredictionLoss(form: .byol)
        for (n, d) in [(8, 5), (12, 9), (3, 2), (8, 5)] {
            let (a, b) = views(rows: n, dim: d, seed: UInt64(n + 10 * d))
            let (g1, g2, h1, h2) = (Tensor(shape: [n, d]), Tensor(shape: [n, d]), Tensor(shape: [n, d]), Tensor(shape: [n, d]))
            let one = SingleProcessCommunicator()
            XCTAssertEqual(barlow(barlowKept, a, b, g1, g2), barlow(BarlowTwinsLoss(lambda: 0.1, communicator: one), a, b, h1, h2))
            XCTAssertEqual(g1.toArray() + g2.toArray(), h1.toArray() + h2.toArray(), "Barlow Twins \(n)×\(d)")
            XCTAssertEqual(vicreg(vicregKept, a, b, g1, g2), vicreg(VICRegLoss(communicator: one), a, b, h1, h2))
            XCTAssertEqual(g1.toArray() + g2.toArray(), h1.toArray() + h2.toArray(), "VICReg \(n)×\(d)")
            XCTAssertEqual(oneDirection(cosineKept, a, b, g1), oneDirection(CosinePredictionLoss(form: .byol), a, b, h1))
            XCTAssertEqual(g1.toArray(), h1.toArray(), "prediction loss \(n)×\(d)")
        }
    }

    func testABatchOfOneRowIsRefused() {
        let (x, g) = (Tensor(shape: [1, 3]), Tensor(shape: [1, 3]))
        XCTAssertThrowsError(try VICRegLoss().compute(x.data, x.data, rows: 1, dim: 3, gradient: g.data, gradientPrime: g.data))
        XCTAssertThrowsError(try BarlowTwinsLoss().compute(x.data, x.data, rows: 1, dim: 3, gradientA: g.data, gradientB: g.data))
    }
}
