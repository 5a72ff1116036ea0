import XCTest
@testable import DCLKit

/// Weighted kNN on hand-made sets, the standardisation, L-BFGS, and the linear probe.
final class EvalTests: XCTestCase {
    private func knn(_ train: [Float], _ labels: [Int], dim: Int, classes: Int, k: Int, tau: Double) -> KNNClassifier {
        train.withUnsafeBufferPointer {
            KNNClassifier(trainFeatures: $0.baseAddress!, labels: labels, dim: dim, classes: classes, neighbours: k, temperature: tau)
        }
    }

    private func predict(_ classifier: KNNClassifier, _ test: [Float]) -> [Int] {
        test.withUnsafeBufferPointer { classifier.predict($0.baseAddress!, count: test.count / classifier.dim) }
    }

    /// Train rows (not unit length, to exercise the normalisation): t0 = 3·(1, 0) class 0,
    /// t1 = 2·(0, 1) class 1, t2 = 5·(0.6, 0.8) class 1, t3 = (−1, 0) class 0. Query (2, 0):
    /// similarities 1, 0, 0.6, −1.
    /// k = 3, τ = 0.5: class 0 gets e² = 7.39, class 1 gets e^1.2 + e⁰ = 4.32 → 0.
    /// k = 3, τ = 2:   class 0 gets e^0.5 = 1.65, class 1 gets e^0.3 + e⁰ = 2.35 → 1.
    /// k = 1: the nearest row, class 0. k = 9 clamps to 4; τ = 2: class 0 gets e^0.5 + e^−0.5 = 2.26 < 2.35 → 1.
    func test_weighted_votes_match_hand_computed_scores() {
        let train: [Float] = [3, 0, 0, 2, 3, 4, -1, 0]
        let labels = [0, 1, 1, 0]
        let query: [Float] = [2, 0]
        XCTAssertEqual(predict(knn(train, labels, dim: 2, classes: 2, k: 3, tau: 0.5), query), [0])
        XCTAssertEqual(predict(knn(train, labels, dim: 2, classes: 2, k: 3, tau: 2), query), [1])
        XCTAssertEqual(predict(knn(train, labels, dim: 2, classes: 2, k: 1, tau: 2), query), [0])
        let clamped = knn(train, labels, dim: 2, classes: 2, k: 9, tau: 2)
        XCTAssertEqual(clamped.neighbours, 4)
        XCTAssertEqual(predict(clamped, query), [1])
    }

    /// Equal similarities keep the lower training index; equal class scores go to the lower class.
    func test_ties_go_to_the_lower_index_and_the_lower_class() {
        let duplicate = knn([1, 0, 1, 0], [1, 0], dim: 2, classes: 2, k: 1, tau: 0.1)
        XCTAssertEqual(predict(duplicate, [1, 0]), [1], "row 0 (class 1) is kept over its equal row 1")
        let balanced = knn([1, 0, 0, 1], [1, 0], dim: 2, classes: 2, k: 2, tau: 0.1)
        XCTAssertEqual(predict(balanced, [1, 1]), [0], "both classes score e⁰, the lower class wins")
    }

    /// A tiny temperature would overflow exp(s/τ) without the shift by the top similarity.
    func test_tiny_temperature_still_votes_for_the_nearest_class() {
        let classifier = knn([3, 0, 0, 2, 3, 4, -1, 0], [0, 1, 1, 0], dim: 2, classes: 2, k: 4, tau: 1e-4)
        XCTAssertEqual(predict(classifier, [2, 0.1, 0.1, 2]), [0, 1])
    }

    /// Random data: predictions equal a brute-force float64 reference (sort all similarities,
    /// take the top k, vote), and do not depend on the chunk size.
    private func uniform(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1) }
    }

    /// A cosine kNN depends only on the rows' directions: the same features times 1e-38 (whose
    /// squares underflow float32) or times 1e30 (whose squares overflow it) vote as the features,
    /// and a row's direction is unit length whatever its scale.
    func test_predictions_do_not_depend_on_the_features_scale() {
        let dim = 8, trainRows = 60
        let train = uniform(trainRows * dim), test = uniform(25 * dim)
        let labels = (0..<trainRows).map { $0 % 3 }
        let reference = predict(knn(train, labels, dim: dim, classes: 3, k: 5, tau: 0.1), test)
        for scale: Float in [1e-38, 1e-30, 1e30] {
            let scaled = knn(train.map { $0 * scale }, labels, dim: dim, classes: 3, k: 5, tau: 0.1)
            XCTAssertEqual(predict(scaled, test.map { $0 * scale }), reference, "scale \(scale)")
        }
        var unit = [Float](repeating: 0, count: dim)
        let tiny = train.prefix(dim).map { $0 * 1e-38 }
        tiny.withUnsafeBufferPointer { RowNormalization.direction($0.baseAddress!, rows: 1, dim: dim, into: &unit) }
        XCTAssertEqual(unit.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5)
    }

    /// τ = 5e-324 (1/τ is infinite) is the limit τ → 0: the most similar row decides, like k = 1,
    /// and no weight turns NaN.
    func test_subnormal_temperature_votes_like_the_nearest_neighbour() {
        let dim = 6, trainRows = 40
        let train = uniform(trainRows * dim), test = uniform(30 * dim)
        let labels = (0..<trainRows).map { $0 % 4 }
        let nearest = predict(knn(train, labels, dim: dim, classes: 4, k: 1, tau: 0.1), test)
        XCTAssertEqual(predict(knn(train, labels, dim: dim, classes: 4, k: 10, tau: 5e-324), test), nearest)
    }

    func test_predictions_match_brute_force_and_ignore_chunking() {
        var rng = CounterRNG(seed: 42)
        let (n, m, d, classes, k, tau) = (300, 40, 6, 4, 7, 0.1)
        let train = (0..<(n * d)).map { _ in Float(rng.normal()) }
        let labels = (0..<n).map { _ in rng.below(classes) }
        let test = (0..<(m * d)).map { _ in Float(rng.normal()) }
        let unit = { (v: ArraySlice<Float>) -> [Double] in
            let norm = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            return v.map { Double($0) / norm }
        }
        let bank = (0..<n).map { unit(train[($0 * d)..<($0 * d + d)]) }
        let expected = (0..<m).map { q -> Int in
            let u = unit(test[(q * d)..<(q * d + d)])
            let sims = bank.map { zip($0, u).reduce(0) { $0 + $1.0 * $1.1 } }
            let top = sims.indices.sorted { sims[$0] > sims[$1] }.prefix(k)
            var scores = [Double](repeating: 0, count: classes)
            for j in top { scores[labels[j]] += exp(sims[j] / tau) }
            return scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }!
        }
        let classifier = knn(train, labels, dim: d, classes: classes, k: k, tau: tau)
        XCTAssertEqual(predict(classifier, test), expected)
        classifier.similarityBudget = 2 * n + 1  // two test rows per chunk, the last chunk short
        XCTAssertEqual(predict(classifier, test), expected)
        classifier.similarityBudget = 1  // still one row at a time
        XCTAssertEqual(predict(classifier, test), expected)
    }

    func test_accuracy_is_the_fraction_of_correct_predictions() {
        XCTAssertEqual(Accuracy.topOne(predictions: [0, 1, 2, 2], labels: [0, 1, 1, 0]), 0.5)
    }

    /// Columns: mean 2, std 1; constant 5 (scale 1, maps to 0); mean 0, std 2.
    func test_standardization_centres_scales_and_leaves_constant_features_at_zero() {
        let x: [Float] = [1, 5, -2, 3, 5, 2]
        let s = x.withUnsafeBufferPointer { FeatureStandardization(fitting: $0.baseAddress!, count: 2, dim: 3) }
        XCTAssertEqual(s.mean, [2, 5, 0])
        XCTAssertEqual(s.scale, [1, 1, 2])
        var out = [Float](repeating: .nan, count: 6)
        x.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { s.apply(x.baseAddress!, count: 2, into: $0.baseAddress!) } }
        XCTAssertEqual(out, [-1, 0, -1, 1, 0, 1])
    }

    /// Rosenbrock's valley from (−1.2, 1), the textbook test of quasi-Newton methods: minimum at (1, 1).
    func test_lbfgs_finds_the_rosenbrock_minimum() {
        var x = [-1.2, 1.0]
        let result = LBFGS(maxIterations: 200, gradientTolerance: 1e-8).minimize(&x) { x, g in
            let (a, b) = (x[0], x[1])
            g[0] = -2 * (1 - a) - 400 * a * (b - a * a)
            g[1] = 200 * (b - a * a)
            return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a)
        }
        XCTAssertEqual(result.stop, .gradient)
        XCTAssertLessThan(result.iterations, 100)
        XCTAssertEqual(x[0], 1, accuracy: 1e-6)
        XCTAssertEqual(x[1], 1, accuracy: 1e-6)
    }

    /// Three well separated Gaussian blobs in 5 dimensions (plus a constant feature): the probe
    /// converges and classifies held-out points perfectly.
    func test_linear_probe_separates_separable_classes() {
        var rng = CounterRNG(seed: 9)
        let (d, classes) = (6, 3)
        let centres: [[Double]] = [[4, 0, 0, 0, 0], [0, 4, 0, 0, 0], [0, 0, 4, 0, 0]]
        func sample(_ count: Int) -> ([Float], [Int]) {
            var x: [Float] = [], y: [Int] = []
            for i in 0..<count {
                let label = i % classes
                x += centres[label].map { Float($0 + 0.5 * rng.normal()) } + [7]
                y.append(label)
            }
            return (x, y)
        }
        let (train, trainLabels) = sample(150)
        let (test, testLabels) = sample(60)
        let probe = LinearProbe(l2: 1e-3)
        let fit = train.withUnsafeBufferPointer { probe.fit(features: $0.baseAddress!, labels: trainLabels, dim: d, classes: classes) }
        XCTAssertTrue(fit.converged)
        XCTAssertLessThanOrEqual(fit.gradientNorm, probe.tolerance)
        XCTAssertTrue(fit.loss.isFinite && fit.loss > 0)
        XCTAssertEqual(fit.classifier.weights.shape, [d, classes])
        for c in 0..<classes { XCTAssertEqual(fit.classifier.weights[(d - 1) * classes + c], 0, accuracy: 1e-6, "constant feature gets no weight") }
        let top1 = train.withUnsafeBufferPointer { tr in
            test.withUnsafeBufferPointer { te in
                probe.accuracy(train: tr.baseAddress!, trainLabels: trainLabels, test: te.baseAddress!, testLabels: testLabels, dim: d, classes: classes)
            }
        }
        XCTAssertEqual(top1, 1)
    }

    /// At the optimum the gradient vanishes: per class, Σᵢ (pᵢc − yᵢc)/N = 0 for the bias, so the
    /// mean predicted probability of each class equals its frequency in the training set.
    func test_linear_probe_matches_class_frequencies_at_the_optimum() {
        var rng = CounterRNG(seed: 3)
        let (n, d, classes) = (200, 4, 3)
        let x = (0..<(n * d)).map { _ in Float(rng.normal()) }
        let labels = (0..<n).map { _ in rng.below(10) < 6 ? 0 : rng.below(2) + 1 }  // overlapping, not separable
        let fit = x.withUnsafeBufferPointer { LinearProbe(l2: 0.1).fit(features: $0.baseAddress!, labels: labels, dim: d, classes: classes) }
        XCTAssertTrue(fit.converged)
        let classifier = fit.classifier
        let standardized = Tensor(shape: [n, d])
        let logits = Tensor(shape: [n, classes])
        x.withUnsafeBufferPointer { classifier.standardization.apply($0.baseAddress!, count: n, into: standardized.data) }
        classifier.logits(standardized: standardized.data, count: n, into: logits.data)
        var meanProbability = [Double](repeating: 0, count: classes)
        for r in 0..<n {
            let row = (0..<classes).map { Double(logits[r * classes + $0]) }
            let m = row.max()!
            let total = row.reduce(0) { $0 + exp($1 - m) }
            for c in 0..<classes { meanProbability[c] += exp(row[c] - m) / total / Double(n) }
        }
        for c in 0..<classes {
            let frequency = Double(labels.filter { $0 == c }.count) / Double(n)
            XCTAssertEqual(meanProbability[c], frequency, accuracy: 1e-4, "class \(c)")
        }
    }
}
