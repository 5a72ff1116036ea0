import DCLKit

/// kNN and linear-probe time at the sizes of issue 5 (CIFAR-10-like: 50,000 × 10,000 × 512-d
/// features for kNN, 10,000 × 512 with 10 classes for the probe).
enum EvalBench {
    static func run() {
        print("\n### Evaluation (threads: \(Threads.count))\n")
        print("| task | size | median s | notes |")
        print("|---|---|---:|---|")
        knn()
        linearProbe()
    }

    /// Gaussian classes around random centres: features (n, d) and labels.
    private static func blobs(_ n: Int, dim d: Int, classes: Int, separation: Double, seed: UInt64) -> (Tensor, [Int]) {
        var centres = CounterRNG(seed: 1)
        let centre = (0..<(classes * d)).map { _ in separation * centres.normal() }
        var rng = CounterRNG(seed: seed)
        let x = Tensor(shape: [n, d])
        var labels: [Int] = []
        for r in 0..<n {
            let label = rng.below(classes)
            labels.append(label)
            for j in 0..<d { x[r * d + j] = Float(centre[label * d + j] + rng.normal()) }
        }
        return (x, labels)
    }

    private static func knn() {
        let (n, m, d, classes) = (50_000, 10_000, 512, 10)
        let (train, trainLabels) = blobs(n, dim: d, classes: classes, separation: 0.1, seed: 2)
        let (test, testLabels) = blobs(m, dim: d, classes: classes, separation: 0.1, seed: 3)
        var top1 = 0.0
        let seconds = Timing.median(repeats: 3) {
            let classifier = KNNClassifier(trainFeatures: train.data, labels: trainLabels, dim: d, classes: classes)
            top1 = classifier.accuracy(test.data, labels: testLabels)
        }
        let gflops = 2.0 * Double(n) * Double(m) * Double(d) / seconds / 1e9
        print("| kNN (k = 200, τ = 0.1) | \(n) train × \(m) test × \(d)-d | \(Timing.format(seconds, 2)) | "
              + "\(Timing.format(gflops)) GFLOP/s end to end (similarity GEMM + top-k + vote), top-1 \(Timing.format(100 * top1))% |")
    }

    private static func linearProbe() {
        let (n, m, d, classes) = (10_000, 10_000, 512, 10)
        let (train, trainLabels) = blobs(n, dim: d, classes: classes, separation: 0.05, seed: 4)
        let (test, testLabels) = blobs(m, dim: d, classes: classes, separation: 0.05, seed: 5)
        let probe = LinearProbe()
        var fit: LinearProbe.Fit?
        let seconds = Timing.median(repeats: 3) {
            fit = probe.fit(features: train.data, labels: trainLabels, dim: d, classes: classes)
        }
        guard let fit else { return }
        let top1 = Accuracy.topOne(predictions: fit.classifier.predict(test.data, count: m), labels: testLabels)
        print("| linear probe (λ = \(probe.l2)) | \(n) × \(d)-d, \(classes) classes | \(Timing.format(seconds, 2)) | "
              + "fit only; L-BFGS \(fit.iterations) iterations, converged \(fit.converged), test top-1 \(Timing.format(100 * top1))% |")
    }
}
