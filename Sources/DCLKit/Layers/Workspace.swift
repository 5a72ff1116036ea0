import CBLAS
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Scratch buffers shared by the layers of one model, so that transient data costs one buffer per
/// role (and per worker thread) rather than one per layer:
///
/// - `columns(_:)`: each worker's im2col columns (and, in backward, their gradient); a
///   convolution processes its samples in chunks whose columns fit `columnElements`.
/// - `weightGradient(_:)`: each extra worker's partial weight gradient, summed after a backward.
/// - `flippedWeight`: a convolution weight rearranged for the input gradient, or transformed for
///   Winograd (its kernels; in the weight-gradient pass, worker 0's transformed sum).
/// - `activation`: an activation that backward recomputes instead of storing (a bottleneck's
///   inner BatchNorm + ReLU outputs and projection shortcut, see `BatchNorm.recomputeOutput()`,
///   `Conv2d.recomputeOutput()`); it records which layer wrote it last, so a backward that needs
///   it checks it is still its own. (A basic block keeps these in its own output's buffer.)
/// - `gradients`: three gradient buffers for a residual network's backward pass. The first
///   carries dL/d(activation) from block to block (each block returns dL/dx in the buffer its
///   dL/dy came in); a basic block needs no other (it writes gradients over its consumed
///   activations), a bottleneck works in the other two, as does the ImageNet stem's max-pool.
/// - `partials`: per-block partial sums of BatchNorm's reductions (nothing else: coefficients
///   live in each layer).
///
/// Every buffer grows to the largest size asked of it during the first step and is reused after.
/// A workspace serves one model on one thread at a time.
public final class Workspace {
    /// The bound on one worker's im2col columns per chunk, in floats (a chunk holds at least one sample).
    public let columnElements: Int
    /// The shared buffer for recomputed activations.
    public let activation = SharedActivation()
    /// Three gradient buffers for backward passes.
    public let gradients = [Tensor(shape: [0]), Tensor(shape: [0]), Tensor(shape: [0])]
    /// Partial sums of BatchNorm's reductions.
    public let partials = Tensor(shape: [0])
    /// A rearranged or transformed convolution weight.
    public let flippedWeight = Tensor(shape: [0])
    /// When set, layers add their wall time to it by kind (for `make bench`).
    public var profile: LayerProfile?

    private var columnBuffers: [Tensor] = []
    private var weightGradientBuffers: [Tensor] = []

    /// A workspace whose im2col and Winograd chunks hold at most `columnElements` floats per worker
    /// (default 1 Mi = 4 MB); chunks whose products run on the small GEMM are cut to
    /// `cacheSizedColumnElements` within that bound (`chunkElements`).
    public init(columnElements: Int = 1 << 20) {
        precondition(columnElements >= 1, "Workspace: columnElements \(columnElements)")
        self.columnElements = columnElements
    }

    /// A quarter of the level-2 cache per core, in floats, within 32 Ki–1 Mi (256 Ki when the
    /// system does not say): a chunk's columns or transform points, written by one pass and read
    /// by the next, then stay in the core's own cache. For the small GEMM's layers that made a
    /// width-0.25 training step 1.09–1.17× faster than 1 Mi chunks (Xeon with 2 MB of L2,
    /// 2026-12-02; an eighth and a half of L2 were level with a quarter). OpenBLAS's layers keep
    /// the large chunks: it packs its operands once per call, and with quarter-L2 chunks a width-1
    /// step took 1.5× as long. The chunk size changes at most the order of float sums and is fixed
    /// per machine, so a resume on the same machine stays exact.
    public static let cacheSizedColumnElements: Int = {
        let bytes = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        guard bytes > 0 else { return 1 << 18 }
        return min(max(bytes / 4 / MemoryLayout<Float>.stride, 1 << 15), 1 << 20)
    }()

    /// The floats per worker of one chunk of a convolution whose products run on the small GEMM
    /// (`smallProducts`) or on OpenBLAS.
    public func chunkElements(smallProducts: Bool) -> Int {
        smallProducts ? min(columnElements, Workspace.cacheSizedColumnElements) : columnElements
    }

    /// Worker `worker`'s im2col buffer.
    public func columns(_ worker: Int) -> Tensor { columnBuffers[worker] }

    /// Worker `worker`'s partial weight gradient (workers ≥ 1; worker 0 adds to the parameter).
    public func weightGradient(_ worker: Int) -> Tensor { weightGradientBuffers[worker] }

    /// The two gradient buffers other than `held` (`held` is usually one of the three).
    public func gradientBuffers(besides held: Tensor) -> (Tensor, Tensor) {
        if held === gradients[0] { return (gradients[1], gradients[2]) }
        if held === gradients[1] { return (gradients[0], gradients[2]) }
        return (gradients[0], gradients[1])
    }

    /// The number of workers `forEachWorker` uses for `n` items.
    public func workers(for n: Int) -> Int { max(1, min(Threads.count, n)) }

    /// The most of `n` items `forEachWorker` gives one worker, ⌈n / workers⌉.
    public func share(of n: Int) -> Int { (n + workers(for: n) - 1) / workers(for: n) }

    /// Splits `0..<n` into `workers(for: n)` contiguous ranges and runs `body(worker, range)` for
    /// each in parallel (GCD's `concurrentPerform`). With more than one worker, OpenBLAS runs
    /// single-threaded meanwhile: each worker's GEMMs use one core (two single-threaded GEMMs on
    /// halves of a tall, narrow product beat one two-threaded GEMM, and one worker's copies
    /// overlap the other's arithmetic).
    /// OpenBLAS's thread count is process-wide: a GEMM another thread starts meanwhile also runs
    /// single-threaded (still correct).
    public func forEachWorker(_ n: Int, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        let workers = workers(for: n)
        growWorkerBuffers(to: workers)
        guard workers > 1 else {
            if n > 0 { body(0, 0..<n) }
            return
        }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(Threads.count)) }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            body(w, (n * w / workers)..<(n * (w + 1) / workers))
        }
    }

    /// Cuts `0..<n` into consecutive chunks of `size` items (the last one shorter) and runs
    /// `body(worker, chunk)` for each on `workers(for:)` the chunk count workers, in parallel,
    /// OpenBLAS single-threaded meanwhile as in `forEachWorker`. The workers claim the chunks in
    /// order, one at a time, so one that starts late or is held up by another process takes
    /// fewer. For work whose results do not depend on which worker ran a chunk (each chunk
    /// writes its own outputs; `worker` only picks scratch buffers): the chunks' bounds depend
    /// on `n` and `size` only.
    public func forEachChunk(_ n: Int, size: Int, _ body: (_ worker: Int, _ chunk: Range<Int>) -> Void) {
        precondition(size >= 1, "Workspace.forEachChunk: size \(size)")
        let chunks = (n + size - 1) / size
        let workers = workers(for: chunks)
        let chunk = { (c: Int) in (c * size)..<Swift.min(n, (c + 1) * size) }
        growWorkerBuffers(to: workers)
        guard workers > 1 else {
            for c in 0..<chunks { body(0, chunk(c)) }
            return
        }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(Threads.count)) }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            while case let c = next.add(1, ordering: .relaxed).oldValue, c < chunks { body(w, chunk(c)) }
        }
    }

    /// Gives every worker up to `workers` its (empty) columns and weight-gradient buffers.
    private func growWorkerBuffers(to workers: Int) {
        while columnBuffers.count < workers {
            columnBuffers.append(Tensor(shape: [0]))
            weightGradientBuffers.append(Tensor(shape: [0]))
        }
    }

    /// Runs `body`, adding its wall time to `profile` under `kind` when profiling.
    @inline(__always)
    public func timed<T>(_ kind: LayerProfile.Kind, _ body: () -> T) -> T {
        guard let profile else { return body() }
        let start = LayerProfile.now()
        let result = body()
        profile.add(kind, LayerProfile.now() - start)
        return result
    }
}

/// An activation buffer that several layers write in turn (each forward overwrites the last
/// one's output), with a record of the layer that wrote it last: a layer that reads its own
/// output back (BatchNorm's ReLU mask, a convolution's kept input) first checks `isHeld(by:)`
/// or rewrites it (`BatchNorm.recomputeOutput()`).
public final class SharedActivation {
    /// The buffer.
    public let tensor = Tensor(shape: [0])
    private var holder: ObjectIdentifier?

    /// An empty buffer, held by no layer.
    public init() {}

    /// Records `layer` as the writer of the buffer's contents (call before writing them).
    public func claim(by layer: AnyObject) { holder = ObjectIdentifier(layer) }

    /// Whether `layer` wrote the buffer's contents last.
    public func isHeld(by layer: AnyObject) -> Bool { holder == ObjectIdentifier(layer) }
}
