#if canImport(Glibc)
import Glibc
#endif

/// The linear probe: multinomial logistic (softmax) regression on standardised frozen features,
/// with L2 regularisation, trained to convergence; reports top-1 accuracy.
///
/// Features are standardised with the training set's statistics (`FeatureStandardization`).
/// With standardised rows xᵢ, labels yᵢ ∈ 0..<C and λ = `l2` > 0, the objective is
///
///     L(W, b) = (1/N) Σᵢ [ log Σ_c exp(xᵢ·W_c + b_c) − (xᵢ·W_{yᵢ} + b_{yᵢ}) ] + (λ/2)·‖W‖²
///
/// (the bias is not penalised). This equals scikit-learn's `LogisticRegression` objective with
/// C = 1 / (λ·N), divided by N. It is strictly convex in W, so the minimiser is unique up to a
/// common shift of the biases, which changes no prediction.
///
/// Method: full-batch, deterministic L-BFGS (`LBFGS`, memory 10, Armijo backtracking) on
/// (W, b) in float64; the loss and gradient use two float32 GEMMs per evaluation (logits = X·W,
/// ∂L/∂W = Xᵀ·(P − Y)/N + λW) with the softmax and the sums in float64. Stops when the largest
/// gradient entry is at most `tolerance`, when f no longer decreases, or after `maxIterations`.
///
/// ```swift
/// let probe = LinearProbe(l2: 1e-4)
/// let top1 = probe.accuracy(train: xTrain.data, trainLabels: yTrain, test: xTest.data, testLabels: yTest, dim: 512, classes: 10)
/// ```
public struct LinearProbe {
    /// L2 strength λ > 0 on the weights of the mean cross-entropy.
    public let l2: Double
    /// L-BFGS iteration limit (≥ 1).
    public let maxIterations: Int
    /// Stop once every gradient entry is at most this in magnitude (> 0).
    public let tolerance: Double

    /// A fitted classifier and how its optimisation ended.
    public struct Fit {
        /// The classifier at the last iterate.
        public let classifier: LinearClassifier
        /// L-BFGS iterations run.
        public let iterations: Int
        /// The objective L at the last iterate.
        public let loss: Double
        /// The largest gradient entry there, in magnitude.
        public let gradientNorm: Double
        /// True when the gradient tolerance was met or f stopped decreasing before the iteration limit.
        public let converged: Bool
    }

    /// A probe with the given hyperparameters (λ > 0, maxIterations ≥ 1, tolerance > 0; checked by callers).
    public init(l2: Double = 1e-4, maxIterations: Int = 1000, tolerance: Double = 1e-6) {
        precondition(l2 > 0 && l2.isFinite, "LinearProbe: l2 \(l2)")
        precondition(maxIterations >= 1, "LinearProbe: maxIterations \(maxIterations)")
        precondition(tolerance > 0 && tolerance.isFinite, "LinearProbe: tolerance \(tolerance)")
        self.l2 = l2
        self.maxIterations = maxIterations
        self.tolerance = tolerance
    }

    /// Fits on `labels.count` rows of `features` (row-major (N, D)); N ≥ 1, D ≥ 1, classes ≥ 1,
    /// labels in `0..<classes` (checked by callers).
    /// An upper bound on the floats `fit` on `trainCount` rows and the classifier's prediction of
    /// `testCount` rows allocate (the standardised features, logits, per-row sums, the weights
    /// and their gradient, L-BFGS's pairs and work vectors in doubles, OpenBLAS's buffers),
    /// saturating at `Int.max`.
    public static func bufferElements(trainCount: Int, testCount: Int, dim: Int, classes: Int) -> Int {
        let parameters = saturatingSum(saturatingProduct(dim, classes), classes)
        return [saturatingProduct(trainCount, saturatingSum(dim, classes)), saturatingProduct(8, saturatingSum(trainCount, testCount)),
                saturatingProduct(2 * (2 * 10 + 8), parameters), saturatingProduct(2, dim + 2),
                saturatingProduct(min(testCount, LinearClassifier.chunkRows), saturatingSum(dim, classes)), BLAS.threadBufferElements]
            .reduce(0, saturatingSum)
    }

    public func fit(features: UnsafePointer<Float>, labels: [Int], dim: Int, classes: Int) -> Fit {
        precondition(!labels.isEmpty && dim >= 1 && classes >= 1, "LinearProbe: N \(labels.count), D \(dim), classes \(classes)")
        precondition(labels.allSatisfy { (0..<classes).contains($0) }, "LinearProbe: label outside 0..<\(classes)")
        let n = labels.count
        let standardization = FeatureStandardization(fitting: features, count: n, dim: dim)
        let classifier = LinearClassifier(standardization: standardization, classes: classes)
        let objective = SoftmaxObjective(classifier: classifier, labels: labels, l2: l2)
        standardization.apply(features, count: n, into: objective.x.data)
        var parameters = [Double](repeating: 0, count: dim * classes + classes)
        let result = LBFGS(maxIterations: maxIterations, gradientTolerance: tolerance).minimize(&parameters, objective.evaluate)
        objective.load(parameters)
        return Fit(classifier: classifier, iterations: result.iterations, loss: result.value,
                   gradientNorm: result.gradientNorm, converged: result.stop != .maxIterations)
    }

    /// Fits on the training rows and returns top-1 accuracy on the test rows, in [0, 1].
    public func accuracy(train: UnsafePointer<Float>, trainLabels: [Int], test: UnsafePointer<Float>, testLabels: [Int],
                         dim: Int, classes: Int) -> Double {
        let classifier = fit(features: train, labels: trainLabels, dim: dim, classes: classes).classifier
        return Accuracy.topOne(predictions: classifier.predict(test, count: testLabels.count), labels: testLabels)
    }
}

/// The regularised mean cross-entropy of a `LinearClassifier` on fixed standardised rows, and its
/// gradient, over the flat parameter vector [W (D·C, row-major), b (C)]. Buffers are kept
/// between evaluations.
private final class SoftmaxObjective {
    let classifier: LinearClassifier
    let labels: [Int]
    let l2: Double
    /// Standardised training rows (N, D), filled by the caller.
    let x: Tensor
    private let scores: Tensor
    private let weightGradient: Tensor
    private var rowLoss: [Double]

    init(classifier: LinearClassifier, labels: [Int], l2: Double) {
        self.classifier = classifier
        self.labels = labels
        self.l2 = l2
        x = Tensor(shape: [labels.count, classifier.dim])
        scores = Tensor(shape: [labels.count, classifier.classes])
        weightGradient = Tensor(shape: [classifier.dim, classifier.classes])
        rowLoss = [Double](repeating: 0, count: labels.count)
    }

    /// Copies the flat parameters into the classifier's weights and bias (float32).
    func load(_ parameters: [Double]) {
        let w = classifier.weights.count
        for i in 0..<w { classifier.weights[i] = Float(parameters[i]) }
        for c in 0..<classifier.classes { classifier.bias[c] = Float(parameters[w + c]) }
    }

    /// L at `parameters`; writes ∂L/∂parameters into `gradient`.
    func evaluate(_ parameters: [Double], _ gradient: inout [Double]) -> Double {
        load(parameters)
        let n = labels.count, c = classifier.classes, d = classifier.dim
        classifier.logits(standardized: x.data, count: n, into: scores.data)
        // Each row of scores becomes (softmax − one-hot) / N.
        let s = scores.data
        let inverseN = 1 / Double(n)
        labels.withUnsafeBufferPointer { labels in
            rowLoss.withUnsafeMutableBufferPointer { rowLoss in
                Threads.forEachChunk(n) { range in
                    for r in range {
                        let row = s + r * c
                        var m = -Double.infinity
                        for k in 0..<c { m = max(m, Double(row[k])) }
                        var sum = 0.0
                        for k in 0..<c { sum += exp(Double(row[k]) - m) }
                        let logSum = m + log(sum)
                        let y = labels[r]
                        rowLoss[r] = logSum - Double(row[y])
                        for k in 0..<c { row[k] = Float(exp(Double(row[k]) - logSum) * inverseN) }
                        row[y] -= Float(inverseN)
                    }
                }
            }
        }
        BLAS.gemm(transA: true, m: d, n: c, k: n, a: x.data, lda: d, b: s, ldb: c, c: weightGradient.data, ldc: c)
        var penalty = 0.0
        for i in 0..<(d * c) {
            penalty += parameters[i] * parameters[i]
            gradient[i] = Double(weightGradient[i]) + l2 * parameters[i]
        }
        for k in 0..<c { gradient[d * c + k] = 0 }
        for r in 0..<n {
            for k in 0..<c { gradient[d * c + k] += Double(s[r * c + k]) }
        }
        return rowLoss.reduce(0, +) * inverseN + 0.5 * l2 * penalty
    }
}
