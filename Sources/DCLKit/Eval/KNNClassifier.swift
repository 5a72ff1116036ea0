#if canImport(Glibc)
import Glibc
#endif

/// Weighted k-nearest-neighbour classification of frozen features, as in InstDisc
/// (Wu et al. 2018) and the kNN monitor of MoCo / SimCLR reproductions.
///
/// Training features (N, D) are L2-normalised once into a bank. For a test feature q
/// (normalised the same way) the cosine similarities s_j = q·b_j to all N bank rows are one
/// GEMM per chunk of test rows; the k most similar rows vote for their labels with weight
/// exp(s_j / τ), the class score is the sum of its voters' weights, and the prediction is the
/// highest-scoring class.
///
/// - k is clamped to N. Among equal similarities the lower training index is kept; among equal
///   class scores the lower class wins.
/// - Weights are computed as exp((s_j − s_max) / τ), the same ratios without overflow for any τ > 0;
///   the difference is divided by τ (not multiplied by 1/τ, which is infinite for τ below about
///   5.6e-309), so as τ → 0 the vote tends to the most similar rows' (ties to the best weigh 1, the
///   rest 0) and never turns NaN.
/// - Rows are normalised by `RowNormalization.direction`: the result does not depend on a row's
///   scale (features times 1e-38 or 1e38 vote as the features), and a zero row normalises to zero
///   (similarity 0 to everything).
/// - Memory: the bank (N·D floats) plus at most `similarityBudget` similarity values and the
///   matching chunk of normalised test rows; test rows are processed in chunks to stay within it.
///
/// ```swift
/// let knn = KNNClassifier(trainFeatures: train.data, labels: trainLabels, dim: 512, classes: 10)
/// let top1 = knn.accuracy(test.data, labels: testLabels)
/// ```
public final class KNNClassifier {
    /// Neighbours per vote, k (already clamped to the training set size).
    public let neighbours: Int
    /// Temperature τ > 0 of the vote weights.
    public let temperature: Double
    /// Number of classes; labels lie in `0..<classes`.
    public let classes: Int
    /// Feature dimension D.
    public let dim: Int
    /// The most similarity values held at once (test chunk rows × N); at least one row is processed.
    public var similarityBudget: Int = KNNClassifier.defaultSimilarityBudget
    /// The default `similarityBudget` (8 Mi values, 32 MB).
    public static let defaultSimilarityBudget = 1 << 23
    /// InstDisc's k (Wu et al. 2018), the monitor's and `dcl_knn`'s default (`DCL_KNN_DEFAULT_K`).
    public static let defaultNeighbours = 200
    /// InstDisc's τ of the vote weights, the monitor's default (`DCL_KNN_DEFAULT_TEMPERATURE_MILLI` / 1000).
    public static let defaultTemperature = 0.1

    private let bank: Tensor
    private let labels: [Int]
    private let queries = Tensor(shape: [0])
    private let similarities = Tensor(shape: [0])

    /// A classifier over `labels.count` training rows of `trainFeatures` (row-major (N, D)).
    /// N ≥ 1, D ≥ 1, k ≥ 1, τ > 0 and every label in `0..<classes`: checked by callers.
    public init(trainFeatures: UnsafePointer<Float>, labels: [Int], dim: Int, classes: Int,
                neighbours: Int = KNNClassifier.defaultNeighbours, temperature: Double = KNNClassifier.defaultTemperature) {
        precondition(!labels.isEmpty && dim >= 1 && classes >= 1 && neighbours >= 1,
                     "KNNClassifier: N \(labels.count), D \(dim), classes \(classes), k \(neighbours)")
        precondition(temperature > 0 && temperature.isFinite, "KNNClassifier: temperature \(temperature)")
        precondition(labels.allSatisfy { (0..<classes).contains($0) }, "KNNClassifier: label outside 0..<\(classes)")
        self.neighbours = min(neighbours, labels.count)
        self.temperature = temperature
        self.classes = classes
        self.dim = dim
        self.labels = labels
        bank = Tensor(shape: [labels.count, dim])
        normalizeRows(trainFeatures, rows: labels.count, into: bank)
    }

    /// An upper bound on the floats a classifier of `trainCount` rows of `dim` allocates to predict
    /// `testCount` rows (the bank, a chunk of queries and of similarities, votes, OpenBLAS's
    /// buffers) with the default `similarityBudget`, saturating at `Int.max`.
    public static func bufferElements(trainCount: Int, testCount: Int, dim: Int, classes: Int) -> Int {
        let chunk = max(1, min(testCount, defaultSimilarityBudget / max(trainCount, 1)))
        return [saturatingProduct(saturatingSum(trainCount, chunk), dim + 1), saturatingProduct(chunk, trainCount),
                saturatingProduct(4 * Threads.count + 4, classes), saturatingProduct(2, testCount), BLAS.threadBufferElements]
            .reduce(0, saturatingSum)
    }

    /// The predicted class of each of `count` test rows of `features` (row-major (count, D)).
    public func predict(_ features: UnsafePointer<Float>, count: Int) -> [Int] {
        var predictions = [Int](repeating: 0, count: count)
        let n = labels.count
        let chunkRows = max(1, min(count, similarityBudget / n))
        predictions.withUnsafeMutableBufferPointer { out in
            var start = 0
            while start < count {
                let rows = min(chunkRows, count - start)
                queries.resize([rows, dim])
                normalizeRows(features + start * dim, rows: rows, into: queries)
                similarities.resize([rows, n])
                BLAS.gemm(transB: true, m: rows, n: n, k: dim, a: queries.data, lda: dim,
                          b: bank.data, ldb: dim, c: similarities.data, ldc: n)
                vote(rows: rows, into: out.baseAddress! + start)
                start += rows
            }
        }
        return predictions
    }

    /// Top-1 accuracy on `labels.count` test rows of `features`, in [0, 1].
    public func accuracy(_ features: UnsafePointer<Float>, labels: [Int]) -> Double {
        Accuracy.topOne(predictions: predict(features, count: labels.count), labels: labels)
    }

    /// Top-k selection and weighted vote for each row of `similarities` (rows × N).
    private func vote(rows: Int, into predictions: UnsafeMutablePointer<Int>) {
        let n = labels.count
        let k = neighbours
        let tau = temperature
        let s = similarities.data
        labels.withUnsafeBufferPointer { labels in
            Threads.forEachChunk(rows) { range in
                let heap = NeighbourHeap(capacity: k)
                var scores = [Double](repeating: 0, count: classes)
                for r in range {
                    let row = s + r * n
                    heap.removeAll()
                    for j in 0..<n { heap.offer(row[j], index: j) }
                    var best = -Float.infinity
                    for i in 0..<k { best = max(best, heap.similarities[i]) }
                    for c in 0..<classes { scores[c] = 0 }
                    for i in 0..<k {
                        scores[labels[heap.indices[i]]] += exp(Double(heap.similarities[i] - best) / tau)
                    }
                    var winner = 0
                    for c in 1..<classes where scores[c] > scores[winner] { winner = c }
                    predictions[r] = winner
                }
            }
        }
    }

    /// The directions of `rows` rows of `x` (whatever their scale) into `out` (resized to
    /// (rows, D)), in parallel chunks.
    private func normalizeRows(_ x: UnsafePointer<Float>, rows: Int, into out: Tensor) {
        out.resize([rows, dim])
        let d = dim
        Threads.forEachChunk(rows) { range in
            RowNormalization.direction(x + range.lowerBound * d, rows: range.count, dim: d,
                                       into: out.data + range.lowerBound * d)
        }
    }
}

/// The k strongest neighbours seen so far, as a binary heap whose root is the weakest kept one.
/// "Weaker" means a lower similarity, or an equal similarity at a higher training index, so the
/// kept set is the k largest similarities with ties going to the lower index. Offers arrive in
/// increasing index order, so a newcomer must be strictly more similar than the root to enter.
/// Storage is allocated once per heap and reused across rows (`removeAll`).
private final class NeighbourHeap {
    let similarities: UnsafeMutablePointer<Float>
    let indices: UnsafeMutablePointer<Int>
    private(set) var count = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        similarities = .allocate(capacity: capacity)
        indices = .allocate(capacity: capacity)
    }

    deinit {
        similarities.deallocate()
        indices.deallocate()
    }

    func removeAll() { count = 0 }

    @inline(__always)
    func offer(_ similarity: Float, index: Int) {
        if count < capacity {
            count += 1
            siftUp(similarity, index: index, from: count - 1)
        } else if similarity > similarities[0] {
            siftDown(similarity, index: index)
        }
    }

    @inline(__always)
    private func isWeaker(_ s: Float, _ i: Int, than t: Float, _ j: Int) -> Bool {
        s < t || (s == t && i > j)
    }

    /// Places (similarity, index) at the hole `start`, moving stronger parents down.
    private func siftUp(_ similarity: Float, index: Int, from start: Int) {
        var hole = start
        while hole > 0 {
            let parent = (hole - 1) / 2
            guard isWeaker(similarity, index, than: similarities[parent], indices[parent]) else { break }
            similarities[hole] = similarities[parent]
            indices[hole] = indices[parent]
            hole = parent
        }
        similarities[hole] = similarity
        indices[hole] = index
    }

    /// Replaces the root by (similarity, index), moving weaker children up.
    private func siftDown(_ similarity: Float, index: Int) {
        var hole = 0
        while true {
            var child = 2 * hole + 1
            guard child < count else { break }
            if child + 1 < count && isWeaker(similarities[child + 1], indices[child + 1], than: similarities[child], indices[child]) {
                child += 1
            }
            guard isWeaker(similarities[child], indices[child], than: similarity, index) else { break }
            similarities[hole] = similarities[child]
            indices[hole] = indices[child]
            hole = child
        }
        similarities[hole] = similarity
        indices[hole] = index
    }
}
