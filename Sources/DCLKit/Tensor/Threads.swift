import CBLAS
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The one knob for parallelism: the OpenBLAS thread count and the number of chunks
/// per-sample work (augmentation, im2col) is split into.
public enum Threads {
    private static var current: Int = max(1, Int(openblas_get_num_threads()))

    /// The number of threads in use (OpenBLAS's own default until `setCount` is called).
    public static var count: Int { current }

    /// The most threads the library runs: 4 × the machine's online cores, at most 256. More
    /// threads than that only add OpenBLAS buffers (128 MiB each, counted by every memory bound)
    /// and contention, so the ABI refuses a larger count instead of letting every later call
    /// fail its memory check.
    public static let maximum: Int = {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return min(256, 4 * max(1, cores))
    }()

    /// Sets the thread count for BLAS and for the library's own parallel loops.
    /// - Precondition: `1 <= n <= maximum` (the ABI checks its callers).
    public static func setCount(_ n: Int) {
        precondition(n >= 1 && n <= maximum, "Threads.setCount: \(n) (maximum \(maximum))")
        current = n
        openblas_set_num_threads(Int32(n))
    }

    /// Runs `body` over `0..<n` split into at most `count` contiguous chunks, in parallel
    /// (GCD's `concurrentPerform`). Each call of `body` gets one chunk; chunks do not overlap.
    public static func forEachChunk(_ n: Int, _ body: (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let chunks = min(current, n)
        if chunks == 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
