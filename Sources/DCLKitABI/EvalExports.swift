import DCLKit

/// The largest number of classes the evaluation functions accept.
private let maximumClasses = 1 << 20

extension Arguments {
    /// `count` int64 class labels, each in `0..<maximumClasses`, as Ints.
    static func classLabels(_ p: UnsafePointer<Int64>?, count: Int, name: String) throws -> [Int] {
        try labels(p, count: count, classes: maximumClasses, name: name)
    }

    /// `count` int64 labels, each in `0..<classes`, as Ints.
    static func labels(_ p: UnsafePointer<Int64>?, count: Int, classes: Int, name: String) throws -> [Int] {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        var labels = [Int](repeating: 0, count: count)
        for i in 0..<count {
            guard p[i] >= 0, p[i] < Int64(classes) else {
                throw ABIError.invalid("\(name)[\(i)] = \(p[i]) is outside [0, \(classes)) (classes = \(classes))")
            }
            labels[i] = Int(p[i])
        }
        return labels
    }

}

/// The features and labels of a train/test evaluation, checked.
private struct EvaluationData {
    let train: UnsafePointer<Float>
    let trainLabels: [Int]
    let test: UnsafePointer<Float>
    let testLabels: [Int]
    let dim: Int
    let classes: Int

    init(_ train: UnsafePointer<Float>?, _ trainLabels: UnsafePointer<Int64>?, _ nTrain: Int64,
         _ test: UnsafePointer<Float>?, _ testLabels: UnsafePointer<Int64>?, _ nTest: Int64,
         _ dim: Int64, _ classes: Int64) throws {
        let nTrain = try Arguments.atLeast(nTrain, 1, name: "n_train")
        let nTest = try Arguments.atLeast(nTest, 1, name: "n_test")
        let dim = try Arguments.atLeast(dim, 1, name: "dim")
        let classes = try Arguments.atLeast(classes, 1, name: "classes")
        guard classes <= maximumClasses else { throw ABIError.invalid("classes must be at most \(maximumClasses), got \(classes)") }
        let trainFeatures = try Arguments.floats(train, count: try Arguments.product(nTrain, dim, name: "train_features"), name: "train_features")
        let testFeatures = try Arguments.floats(test, count: try Arguments.product(nTest, dim, name: "test_features"), name: "test_features")
        try Arguments.requireFinite(trainFeatures, name: "train_features")
        try Arguments.requireFinite(testFeatures, name: "test_features")
        self.trainLabels = try Arguments.labels(trainLabels, count: nTrain, classes: classes, name: "train_labels")
        self.testLabels = try Arguments.labels(testLabels, count: nTest, classes: classes, name: "test_labels")
        self.train = trainFeatures.baseAddress!
        self.test = testFeatures.baseAddress!
        self.dim = dim
        self.classes = classes
    }

    /// Writes top-1 and, when `predictionsOut` is not null, the test predictions.
    func report(_ predictions: [Int], top1: UnsafeMutablePointer<Double>, predictionsOut: UnsafeMutablePointer<Int64>?) {
        top1.pointee = Accuracy.topOne(predictions: predictions, labels: testLabels)
        guard let predictionsOut else { return }
        for (i, p) in predictions.enumerated() { predictionsOut[i] = Int64(p) }
    }
}

/// Weighted kNN top-1 (cosine similarity, k neighbours, weights exp(s/τ)). See dclkit.h.
@_cdecl("dcl_knn")
public func dcl_knn(
    _ trainFeatures: UnsafePointer<Float>?, _ trainLabels: UnsafePointer<Int64>?, _ nTrain: Int64,
    _ testFeatures: UnsafePointer<Float>?, _ testLabels: UnsafePointer<Int64>?, _ nTest: Int64,
    _ dim: Int64, _ classes: Int64, _ k: Int64, _ temperature: Double,
    _ top1: UnsafeMutablePointer<Double>?, _ predictions: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let data = try EvaluationData(trainFeatures, trainLabels, nTrain, testFeatures, testLabels, nTest, dim, classes)
        let k = try Arguments.atLeast(k, 1, name: "k")
        let tau = try Arguments.positive(temperature, name: "temperature")
        let top1 = try Arguments.out(top1, name: "top1")
        try Tensor.requireAllocatable(floats: KNNClassifier.bufferElements(
            trainCount: data.trainLabels.count, testCount: data.testLabels.count, dim: data.dim, classes: data.classes))
        let classifier = KNNClassifier(trainFeatures: data.train, labels: data.trainLabels, dim: data.dim,
                                       classes: data.classes, neighbours: k, temperature: tau)
        data.report(classifier.predict(data.test, count: data.testLabels.count), top1: top1, predictionsOut: predictions)
    }
}

/// Linear probe top-1 (L2-regularised softmax regression on standardised features, L-BFGS). See dclkit.h.
@_cdecl("dcl_linear_probe")
public func dcl_linear_probe(
    _ trainFeatures: UnsafePointer<Float>?, _ trainLabels: UnsafePointer<Int64>?, _ nTrain: Int64,
    _ testFeatures: UnsafePointer<Float>?, _ testLabels: UnsafePointer<Int64>?, _ nTest: Int64,
    _ dim: Int64, _ classes: Int64, _ l2: Double, _ maxIterations: Int64,
    _ top1: UnsafeMutablePointer<Double>?, _ predictions: UnsafeMutablePointer<Int64>?,
    _ iterations: UnsafeMutablePointer<Int64>?, _ converged: UnsafeMutablePointer<Int32>?
) -> Int32 {
    exported {
        let data = try EvaluationData(trainFeatures, trainLabels, nTrain, testFeatures, testLabels, nTest, dim, classes)
        _ = try Arguments.product(data.dim, data.classes, name: "the weight matrix (dim × classes)")
        _ = try Arguments.product(data.trainLabels.count, data.classes, name: "the logit matrix (n_train × classes)")
        let lambda = try Arguments.positive(l2, name: "l2")
        let maxIterations = try Arguments.atLeast(maxIterations, 1, name: "max_iter")
        guard maxIterations <= 1_000_000 else { throw ABIError.invalid("max_iter must be at most 1000000, got \(maxIterations)") }
        let top1 = try Arguments.out(top1, name: "top1")
        try Tensor.requireAllocatable(floats: LinearProbe.bufferElements(
            trainCount: data.trainLabels.count, testCount: data.testLabels.count, dim: data.dim, classes: data.classes))
        let fit = LinearProbe(l2: lambda, maxIterations: maxIterations)
            .fit(features: data.train, labels: data.trainLabels, dim: data.dim, classes: data.classes)
        data.report(fit.classifier.predict(data.test, count: data.testLabels.count), top1: top1, predictionsOut: predictions)
        iterations?.pointee = Int64(fit.iterations)
        converged?.pointee = fit.converged ? 1 : 0
    }
}
