/// Classification accuracy.
public enum Accuracy {
    /// The fraction of positions where `predictions` equals `labels`, in [0, 1]
    /// (equal lengths ≥ 1, checked by callers).
    public static func topOne(predictions: [Int], labels: [Int]) -> Double {
        precondition(predictions.count == labels.count && !labels.isEmpty,
                     "Accuracy: \(predictions.count) predictions for \(labels.count) labels")
        let correct = zip(predictions, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(correct) / Double(labels.count)
    }
}
