/// The parallel region every convolution algorithm runs its per-worker work in, with the
/// profile split between copies (im2col, col2im, Winograd transforms) and matrix products.
extension Workspace {
    /// Runs `body(worker, samples, phase)` over the workers (`forEachWorker`); when profiling,
    /// splits the region's wall time between `copyKind` and GEMMs in the proportion worker 0
    /// measured.
    func convolutionRegion(_ n: Int, copyKind: LayerProfile.Kind, _ body: (Int, Range<Int>, Phase) -> Void) {
        profiled(copyKind) { clock in forEachWorker(n) { body($0, $1, Phase(clock: $0 == 0 ? clock : nil)) } }
    }

    /// Runs `body(worker, part, phase)` over `0..<n` samples in parts of `chunk` samples (fewer
    /// when that leaves a worker idle: at most `share(of: n)`), which the
    /// workers claim one at a time (`forEachChunk`), profiled as `convolutionRegion`. For passes
    /// whose parts write only their own samples' outputs: a forward, an input gradient.
    func convolutionChunks(_ n: Int, chunk: Int, copyKind: LayerProfile.Kind, _ body: (Int, Range<Int>, Phase) -> Void) {
        profiled(copyKind) { clock in
            forEachChunk(n, size: max(1, min(chunk, share(of: n)))) { body($0, $1, Phase(clock: $0 == 0 ? clock : nil)) }
        }
    }

    /// Runs `region` with worker 0's phase clock when profiling, then splits the region's wall
    /// time between `copyKind` and GEMMs in the proportion that clock measured.
    private func profiled(_ copyKind: LayerProfile.Kind, _ region: (PhaseClock?) -> Void) {
        guard let profile else { return region(nil) }
        let clock = PhaseClock()
        let start = LayerProfile.now()
        region(clock)
        let wall = LayerProfile.now() - start
        let measured = clock.copy + clock.gemm
        let copyShare = measured > 0 ? clock.copy / measured : 0
        profile.add(copyKind, wall * copyShare)
        profile.add(.convolutionGEMM, wall * (1 - copyShare))
    }
}

/// Consecutive sub-ranges of `size` samples (the last one shorter), without allocating.
struct SampleChunks: Sequence, IteratorProtocol {
    var samples: Range<Int>
    let size: Int

    mutating func next() -> Range<Int>? {
        guard !samples.isEmpty else { return nil }
        let chunk = samples.lowerBound..<Swift.min(samples.lowerBound + size, samples.upperBound)
        samples = chunk.upperBound..<samples.upperBound
        return chunk
    }
}

/// Worker 0's time in copies and in GEMMs during one parallel region.
final class PhaseClock {
    var copy = 0.0
    var gemm = 0.0
}

/// Runs a worker's phases, timing them on the worker that owns a clock.
struct Phase {
    let clock: PhaseClock?

    func copy(_ body: () -> Void) { run(body) { $0.copy += $1 } }
    func gemm(_ body: () -> Void) { run(body) { $0.gemm += $1 } }

    private func run(_ body: () -> Void, _ record: (PhaseClock, Double) -> Void) {
        guard let clock else { return body() }
        let start = LayerProfile.now()
        body()
        record(clock, LayerProfile.now() - start)
    }
}
