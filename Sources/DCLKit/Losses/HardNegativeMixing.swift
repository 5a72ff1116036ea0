/// MoCHi's hard negative mixing (Kalantidis et al. 2020, "Hard Negative Mixing for Contrastive
/// Learning"): synthetic negatives made from the queue entries most similar to each query.
///
/// For each query q (normalised inside), the queue is ranked by q·n and the `hardest` rows with
/// the highest similarity are kept (ties go to the lower queue index). From them it synthesises
/// - `mixed` negatives h = normalize(α n_i + (1 − α) n_j), n_i, n_j drawn uniformly (with
///   replacement) from the hardest, α ~ U(0, 1);
/// - `queryMixed` negatives h′ = normalize(β q + (1 − β) n_j), n_j drawn from the hardest,
///   β ~ U(0, 0.5), so h′ stays nearer to n_j than to q.
/// The synthetic negatives carry no gradient: they are extra negatives for
/// `QueueContrastiveLoss` (its `extraNegatives`). A zero mix (n_i = −n_j with α = ½) stays zero,
/// as `RowNormalization` leaves zero rows.
///
/// Defaults: N = 1024 hardest with s = s′ = 256, the setting public MoCHi implementations use with
/// large queues (MoCo's K = 65536). With a CIFAR-sized queue (K = 4096) they use N = 32,
/// s = s′ = 16 (1024 of 4096 would be a quarter of the queue, hardly "hard").
///
/// Ranking is a partial selection: a min-heap of the `hardest` best candidates over one pass of
/// the queue (O(K + N log N · log(K/N)) per query for a queue in random order), never a full sort.
/// Randomness: query i's draws come from `CounterRNG(seed:, epoch: step, index: i, view:)`, view 0
/// for the mixed and view 1 for the query-mixed negatives, so the output depends on
/// (seed, step, inputs) only, not on the thread count. Queries run in parallel.
///
/// ```swift
/// let mixing = HardNegativeMixing(hardest: 32, mixed: 16, queryMixed: 16)
/// mixing.makeNegatives(queries: q, count: n, dim: d, queue: queue.keys.data, queueSize: queue.size,
///                      seed: 0, step: step, into: extra.data)   // extra: (n, 32, d)
/// ```
/// Buffers are kept between calls, so repeated calls of the same size do not allocate.
public final class HardNegativeMixing {
    /// N: how many of the most similar queue rows each query mixes from.
    public let hardest: Int
    /// s: negatives mixed from two hard negatives per query.
    public let mixed: Int
    /// s′: negatives mixed from the query and one hard negative per query.
    public let queryMixed: Int

    /// Synthetic negatives per query, s + s′.
    public var negativesPerQuery: Int { mixed + queryMixed }

    private let unit = Tensor(shape: [0])
    private let norms = Tensor(shape: [0])
    private let similarity = Tensor(shape: [0])
    private var hardIndices: [Int32] = []
    private let hardValues = Tensor(shape: [0])

    /// A mixer keeping `hardest` ≥ 1 queue rows per query and making `mixed` ≥ 0 and
    /// `queryMixed` ≥ 0 negatives (checked by callers).
    public init(hardest: Int = 1024, mixed: Int = 256, queryMixed: Int = 256) {
        precondition(hardest >= 1 && mixed >= 0 && queryMixed >= 0,
                     "HardNegativeMixing: hardest \(hardest), mixed \(mixed), queryMixed \(queryMixed)")
        self.hardest = hardest
        self.mixed = mixed
        self.queryMixed = queryMixed
    }

    /// Writes the synthetic negatives of the raw queries `q` (count × dim) against the queue
    /// (queueSize × dim, unit rows) into `negatives`, shape (count, mixed + queryMixed, dim):
    /// for query i, rows 0..<mixed are the mixed and the next queryMixed rows the query-mixed
    /// negatives, all unit vectors. `step` (for example the global training step) keys the draws
    /// together with `seed`. Requires count ≥ 1, dim ≥ 1 and hardest ≤ queueSize.
    /// An upper bound on the floats `makeNegatives` allocates for `count` queries of `dim`
    /// against a queue of `queueSize` (unit rows, the N × K similarities, the hardest values and
    /// indices, OpenBLAS's buffers), saturating at `Int.max`.
    public func bufferElements(count: Int, dim: Int, queueSize: Int) -> Int {
        [saturatingProduct(count, dim), saturatingProduct(count, queueSize), saturatingProduct(4, count, hardest),
         saturatingProduct(2, count), BLAS.threadBufferElements].reduce(0, saturatingSum)
    }

    public func makeNegatives(
        queries q: UnsafePointer<Float>, count n: Int, dim d: Int,
        queue: UnsafePointer<Float>, queueSize k: Int,
        seed: UInt64, step: UInt64,
        into negatives: UnsafeMutablePointer<Float>
    ) {
        precondition(n >= 1 && d >= 1 && hardest <= k,
                     "HardNegativeMixing: count \(n), dim \(d), hardest \(hardest), queue \(k)")
        unit.resize([n, d])
        norms.resize([n])
        similarity.resize([n, k])
        if hardIndices.count != n * hardest { hardIndices = [Int32](repeating: 0, count: n * hardest) }
        hardValues.resize([n, hardest])
        RowNormalization.forward(q, rows: n, dim: d, into: unit.data, norms: norms.data)
        let u = unit.data, sims = similarity.data, heaps = hardValues.data
        BLAS.gemm(transB: true, m: n, n: k, k: d, a: u, lda: d, b: queue, ldb: d, c: sims, ldc: k)

        let (h, s, sPrime) = (hardest, mixed, queryMixed)
        hardIndices.withUnsafeMutableBufferPointer { indices in
            let allHard = indices.baseAddress!
            Threads.forEachChunk(n) { range in
                for i in range {
                    let hard = allHard + i * h
                    selectHardest(sims + i * k, count: k, keep: h, indices: hard, heap: heaps + i * h)
                    let out = negatives + i * (s + sPrime) * d
                    var pairDraws = CounterRNG(seed: seed, epoch: step, index: UInt64(i), view: 0)
                    for j in 0..<s {
                        let a = queue + Int(hard[pairDraws.below(h)]) * d
                        let b = queue + Int(hard[pairDraws.below(h)]) * d
                        let alpha = Float(pairDraws.uniform())
                        mixAndNormalize(a, alpha, b, dim: d, into: out + j * d)
                    }
                    var queryDraws = CounterRNG(seed: seed, epoch: step, index: UInt64(i), view: 1)
                    for j in 0..<sPrime {
                        let b = queue + Int(hard[queryDraws.below(h)]) * d
                        let beta = Float(queryDraws.uniform(0, 0.5))
                        mixAndNormalize(u + i * d, beta, b, dim: d, into: out + (s + j) * d)
                    }
                }
            }
        }
    }
}

/// Writes the indices of the `keep` largest of `values[0..<count]` into `indices` (in heap order),
/// a larger value being harder and, among equal values, the lower index.
///
/// `indices` with `heap` (their values, kept beside them so comparisons read contiguous memory)
/// form a min-heap (root: the least hard kept); each candidate harder than the root replaces it.
/// Requires 1 ≤ keep ≤ count.
private func selectHardest(
    _ values: UnsafePointer<Float>, count: Int, keep: Int,
    indices: UnsafeMutablePointer<Int32>, heap: UnsafeMutablePointer<Float>
) {
    @inline(__always) func harder(_ v: Float, _ i: Int32, than w: Float, _ j: Int32) -> Bool {
        v > w || (v == w && i < j)
    }
    // Moves the hole at `start` down to where (v, i) belongs and puts it there.
    func siftDown(_ start: Int, _ v: Float, _ i: Int32) {
        var hole = start
        while true {
            var child = 2 * hole + 1
            if child >= keep { break }
            if child + 1 < keep && harder(heap[child], indices[child], than: heap[child + 1], indices[child + 1]) {
                child += 1
            }
            if !harder(v, i, than: heap[child], indices[child]) { break }
            heap[hole] = heap[child]
            indices[hole] = indices[child]
            hole = child
        }
        heap[hole] = v
        indices[hole] = i
    }
    for j in 0..<keep { heap[j] = values[j]; indices[j] = Int32(j) }
    for p in stride(from: keep / 2 - 1, through: 0, by: -1) { siftDown(p, heap[p], indices[p]) }
    // Candidates come in increasing index order, so one equal to the root is never harder.
    for j in keep..<count where values[j] > heap[0] { siftDown(0, values[j], Int32(j)) }
}

/// out = normalize(w·a + (1 − w)·b), each of length `dim`.
@inline(__always)
private func mixAndNormalize(
    _ a: UnsafePointer<Float>, _ w: Float, _ b: UnsafePointer<Float>, dim: Int,
    into out: UnsafeMutablePointer<Float>
) {
    for c in 0..<dim { out[c] = w * a[c] + (1 - w) * b[c] }
    var norm: Float = 0
    RowNormalization.forward(out, rows: 1, dim: dim, into: out, norms: &norm)
}
