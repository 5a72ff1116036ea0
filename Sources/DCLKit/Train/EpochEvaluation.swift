/// The kNN monitor a trainer runs when it closes an epoch: labelled uint8 train and test images
/// (copied, NHWC), embedded in eval mode like `ContrastiveTrainer.embed`, and the weighted kNN
/// top-1 of the test images against the train images (`KNNClassifier`, k and τ as given,
/// InstDisc's 200 and 0.1 by default), recorded as the epoch's `knn_top1` every `every` epochs
/// and at epoch `lastEpoch`.
public struct EpochEvaluation {
    /// The images of one split with their labels.
    public struct Split {
        /// uint8 pixels, (count, height, width, channels).
        public let pixels: [UInt8]
        public let count: Int, height: Int, width: Int, channels: Int
        /// Labels in 0..<classes.
        public let labels: [Int]

        /// A split of `labels.count` images of (height, width, channels) copied from `pixels`.
        public init(pixels: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int, labels: [Int]) {
            count = labels.count
            self.height = height
            self.width = width
            self.channels = channels
            self.pixels = Array(UnsafeBufferPointer(start: pixels, count: labels.count * height * width * channels))
            self.labels = labels
        }
    }

    /// The memory bank's images.
    public let train: Split
    /// The images classified.
    public let test: Split
    /// Classes (labels are in 0..<classes).
    public let classes: Int
    /// k of the vote.
    public let neighbours: Int
    /// τ of the vote weights.
    public let temperature: Double
    /// The monitor runs when the finished epoch count is a multiple of `every`.
    public let every: Int
    /// … and when it reaches `lastEpoch` (the end of the caller's fit).
    public let lastEpoch: Int

    /// The monitor; `every` ≥ 1, `neighbours` ≥ 1, τ > 0 (checked by callers).
    public init(train: Split, test: Split, classes: Int, neighbours: Int = KNNClassifier.defaultNeighbours,
                temperature: Double = KNNClassifier.defaultTemperature, every: Int, lastEpoch: Int) {
        self.train = train
        self.test = test
        self.classes = classes
        self.neighbours = neighbours
        self.temperature = temperature
        self.every = every
        self.lastEpoch = lastEpoch
    }

    /// Images embedded per forward pass (bounds the monitor's activations; Python's `embed` default).
    public static let embeddingChunk = 256

    /// Whether the monitor runs when `epoch` epochs are finished.
    func isDue(afterEpoch epoch: Int) -> Bool {
        epoch % every == 0 || epoch == lastEpoch
    }
}

extension ContrastiveTrainer {
    /// kNN top-1 of `evaluation`'s test split with this encoder's features; throws `TensorError`
    /// when the features or the classifier's buffers cannot be allocated.
    func knnTopOne(_ evaluation: EpochEvaluation) throws -> Double {
        let dim = encoder.configuration.featureDimension
        // In chunks of `embeddingChunk` images, as Python's `Trainer.embed` does: an eval forward's
        // activations grow with the batch (10,000 CIFAR images at once took 7.5 GB).
        func features(_ split: EpochEvaluation.Split) throws -> Tensor {
            let out = try Tensor.zeros([split.count, dim])
            let imageBytes = split.height * split.width * split.channels
            try split.pixels.withUnsafeBufferPointer { pixels in
                for first in stride(from: 0, to: split.count, by: EpochEvaluation.embeddingChunk) {
                    let count = min(EpochEvaluation.embeddingChunk, split.count - first)
                    try embed(images: pixels.baseAddress! + first * imageBytes, count: count, height: split.height,
                              width: split.width, channels: split.channels, into: out.data + first * dim)
                }
            }
            return out
        }
        try Tensor.requireAllocatable(floats: KNNClassifier.bufferElements(
            trainCount: evaluation.train.count, testCount: evaluation.test.count, dim: dim, classes: evaluation.classes))
        let bank = try features(evaluation.train), queries = try features(evaluation.test)
        let classifier = KNNClassifier(trainFeatures: bank.data, labels: evaluation.train.labels, dim: dim,
                                       classes: evaluation.classes, neighbours: evaluation.neighbours,
                                       temperature: evaluation.temperature)
        return Accuracy.topOne(predictions: classifier.predict(queries.data, count: evaluation.test.count),
                               labels: evaluation.test.labels)
    }
}
