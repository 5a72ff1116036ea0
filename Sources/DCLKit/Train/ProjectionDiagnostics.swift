#if canImport(Glibc)
import Glibc
#endif

/// What a run's training batches say about its representation, gathered per epoch from every
/// step's two views and closed into the epoch's record (`closeEpoch`). Each method passes its
/// step's outputs to `observe` (view 0 and view 1 as rows, and MoCo its queue); all values are
/// computed on the L2-normalised rows u (`RowNormalization`):
///
/// - `npc_mean`, `npc_p10`, `npc_p50`, `npc_p90`: the negative–positive coupling multiplier of
///   InfoNCE's gradient (Yeh et al. 2022), whatever the run's loss, with the run's τ:
///   pair form, for each of the 2N anchors i with positive i′,
///   `q_i = 1 − exp(s_ii′/τ) / (exp(s_ii′/τ) + Σ_{k∉{i,i′}} exp(s_ik/τ))`;
///   queue form (MoCo), for each query, `1 − exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_queue exp(q·n/τ))`.
///   Mean and 10th/50th/90th percentiles (linear between order statistics, numpy's default) over
///   the epoch's anchors (the first 2²⁰ of them). Absent for methods without τ.
/// - `positive_cosine`: mean u⁰_i·u¹_i; `negative_cosine`: mean s_ik over the anchors' negatives
///   (pair form: k ∉ {i, i′}; queue form: the queue).
/// - `alignment`: E‖u⁰_i − u¹_i‖² (Wang & Isola 2020); `uniformity`: log E_{i≠k} exp(−2‖u_i − u_k‖²)
///   over the distinct pairs of the step's 2N rows.
/// - `collapse_std`: the standard deviation over the 2N rows of each coordinate of u, averaged
///   over the D coordinates (SimSiam's collapse metric: about 1/√D healthy, 0 collapsed).
///
/// Step values are averaged over the epoch's steps. The accumulators are part of a checkpoint
/// (`stateTensors`, `metadata`), so a run resumed mid-epoch closes the same record.
public final class ProjectionDiagnostics {
    /// The names of the values in an epoch's record, in order.
    public static let names = ["npc_mean", "npc_p10", "npc_p50", "npc_p90", "positive_cosine", "negative_cosine",
                               "alignment", "uniformity", "collapse_std"]
    /// The most multipliers kept per epoch.
    public static let maximumMultipliers = 1 << 20
    /// The step means summed over the epoch: positive and negative cosine, alignment, uniformity,
    /// collapse; and the steps observed.
    private var sums = [Double](repeating: 0, count: 5)
    private var steps = 0
    private var multipliers: [Float] = []

    private let unit = Tensor(shape: [0])
    private let norms = Tensor(shape: [0])
    private let similarity = Tensor(shape: [0])
    private let queueSimilarity = Tensor(shape: [0])

    /// Empty accumulators.
    public init() {}

    /// A bound on the floats `observe` allocates for `pairs` pairs of `dim` with a queue of
    /// `queueSize` (the unit rows, the 2N × 2N and N × K similarities, OpenBLAS's buffers),
    /// saturating at `Int.max`.
    public static func bufferElements(pairs: Int, dim: Int, queueSize: Int) -> Int {
        [saturatingProduct(2, pairs, dim), saturatingProduct(4, pairs, pairs), saturatingProduct(pairs, queueSize),
         saturatingProduct(2, pairs), BLAS.threadBufferElements].reduce(0, saturatingSum)
    }

    /// Adds one step: `view0` and `view1` (n, d) raw outputs whose row i is a positive pair;
    /// `temperature` nil leaves the multipliers out; with a `queue` (queueSize, d) of unit rows
    /// the multipliers and negatives are the queue form (view 0 the queries, view 1 the keys).
    public func observe(view0: UnsafePointer<Float>, view1: UnsafePointer<Float>, rows n: Int, dim d: Int,
                        temperature: Double?, queue: UnsafePointer<Float>? = nil, queueSize: Int = 0) {
        guard n >= 1, d >= 1 else { return }
        let rows = 2 * n
        unit.resize([rows, d])
        norms.resize([rows])
        RowNormalization.forward(view0, rows: n, dim: d, into: unit.data, norms: norms.data)
        RowNormalization.forward(view1, rows: n, dim: d, into: unit.data + n * d, norms: norms.data + n)
        similarity.resize([rows, rows])
        BLAS.gemm(transB: true, m: rows, n: rows, k: d, a: unit.data, lda: d, b: unit.data, ldb: d, c: similarity.data, ldc: rows)
        let s = similarity.data
        var positive = 0.0, alignment = 0.0
        for i in 0..<n {
            positive += Double(s[i * rows + i + n])
            alignment += Double(s[i * rows + i]) + Double(s[(i + n) * rows + i + n]) - 2 * Double(s[i * rows + i + n])
        }
        var negative = 0.0
        if let queue, queueSize > 0 {
            queueSimilarity.resize([n, queueSize])
            BLAS.gemm(transB: true, m: n, n: queueSize, k: d, a: unit.data, lda: d, b: queue, ldb: d,
                      c: queueSimilarity.data, ldc: queueSize)
            let q = queueSimilarity.data
            for index in 0..<(n * queueSize) { negative += Double(q[index]) }
            negative /= Double(n * queueSize)
            if let temperature {
                for i in 0..<n {
                    record(positive: Double(s[i * rows + i + n]) / temperature,
                           negatives: (0..<queueSize).lazy.map { Double(q[i * queueSize + $0]) / temperature })
                }
            }
        } else if rows > 2 {
            for i in 0..<rows {
                let partner = (i + n) % rows
                for k in 0..<rows where k != i && k != partner { negative += Double(s[i * rows + k]) }
                if let temperature {
                    record(positive: Double(s[i * rows + partner]) / temperature,
                           negatives: (0..<rows).lazy.filter { $0 != i && $0 != partner }.map { Double(s[i * rows + $0]) / temperature })
                }
            }
            negative /= Double(rows * (rows - 2))
        }
        sums[0] += positive / Double(n)
        sums[1] += negative
        sums[2] += alignment / Double(n)
        sums[3] += uniformity(rows: rows)
        sums[4] += collapse(rows: rows, dim: d)
        steps += 1
    }

    /// q = 1 − softmax weight of the positive among the positive and the negatives (logits).
    private func record<Negatives: Sequence>(positive: Double, negatives: Negatives) where Negatives.Element == Double {
        guard multipliers.count < Self.maximumMultipliers else { return }
        var peak = positive
        for x in negatives { peak = max(peak, x) }
        var total = exp(positive - peak)
        for x in negatives { total += exp(x - peak) }
        multipliers.append(Float(1 - exp(positive - peak) / total))
    }

    /// log mean over i ≠ k of exp(−2‖u_i − u_k‖²), max-shifted.
    private func uniformity(rows: Int) -> Double {
        guard rows >= 2 else { return 0 }
        let s = similarity.data
        func exponent(_ i: Int, _ k: Int) -> Double {
            -2 * (Double(s[i * rows + i]) + Double(s[k * rows + k]) - 2 * Double(s[i * rows + k]))
        }
        var peak = -Double.infinity
        for i in 0..<rows { for k in (i + 1)..<rows { peak = max(peak, exponent(i, k)) } }
        var total = 0.0
        for i in 0..<rows { for k in (i + 1)..<rows { total += exp(exponent(i, k) - peak) } }
        return peak + log(total / Double(rows * (rows - 1) / 2))
    }

    /// Mean over the coordinates of the rows' standard deviation (population) of that coordinate.
    private func collapse(rows: Int, dim: Int) -> Double {
        let u = unit.data
        var total = 0.0
        for j in 0..<dim {
            var mean = 0.0
            for r in 0..<rows { mean += Double(u[r * dim + j]) }
            mean /= Double(rows)
            var variance = 0.0
            for r in 0..<rows { variance += (Double(u[r * dim + j]) - mean) * (Double(u[r * dim + j]) - mean) }
            total += (variance / Double(rows)).squareRoot()
        }
        return total / Double(dim)
    }

    /// The epoch's values by `names` (the multipliers' four only when some were recorded; none
    /// when no step was observed), and empty accumulators for the next epoch.
    public func closeEpoch() -> [(name: String, value: Double)] {
        defer {
            sums = [Double](repeating: 0, count: sums.count)
            steps = 0
            multipliers.removeAll(keepingCapacity: true)
        }
        guard steps > 0 else { return [] }
        var values: [(String, Double)] = []
        if !multipliers.isEmpty {
            let sorted = multipliers.map(Double.init).sorted()
            values.append(("npc_mean", sorted.reduce(0, +) / Double(sorted.count)))
            for (name, fraction) in [("npc_p10", 0.1), ("npc_p50", 0.5), ("npc_p90", 0.9)] {
                values.append((name, ProjectionDiagnostics.percentile(sorted, fraction)))
            }
        }
        for (index, name) in ["positive_cosine", "negative_cosine", "alignment", "uniformity", "collapse_std"].enumerated() {
            values.append((name, sums[index] / Double(steps)))
        }
        return values
    }

    /// The `fraction` quantile of ascending `sorted`, linear between order statistics.
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        let position = fraction * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }

    /// The accumulators as checkpoint metadata (doubles written to read back exactly).
    var metadata: [String: String] {
        ["diagnostics_sums": sums.map { "\($0)" }.joined(separator: ","), "diagnostics_steps": String(steps)]
    }

    /// The multipliers as a checkpoint tensor.
    var stateTensors: [(name: String, tensor: Tensor)] {
        let t = Tensor(shape: [multipliers.count])
        multipliers.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: $0.count) }
        return [("diagnostics.npc", t)]
    }

    /// Restores the accumulators of `metadata` and `tensors`; a checkpoint written before the
    /// diagnostics (format 2 without them) leaves them empty. Throws a `TrainingError` (format)
    /// for values that do not read back.
    func restore(metadata: [String: String], tensors: [String: Tensor]) throws {
        guard let text = metadata["diagnostics_sums"] else { return }
        let parts = text.split(separator: ",").compactMap { FileNumbers.finite(String($0)) }
        guard parts.count == sums.count, let count = FileNumbers.count(metadata["diagnostics_steps"] ?? "") else {
            throw TrainingError.format("the checkpoint's diagnostics do not read back")
        }
        let saved = tensors["diagnostics.npc"]
        guard let saved, saved.shape.count == 1, saved.count <= Self.maximumMultipliers else {
            throw TrainingError.format("the checkpoint has no diagnostics.npc tensor of at most \(Self.maximumMultipliers) values")
        }
        let values = Array(UnsafeBufferPointer(start: saved.data, count: saved.count))
        guard values.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }) else {
            throw TrainingError.format("the checkpoint's diagnostics.npc holds values outside [0, 1]")
        }
        sums = parts
        steps = count
        multipliers = values
    }
}
