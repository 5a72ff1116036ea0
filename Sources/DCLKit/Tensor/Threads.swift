import CBLAS
import Dispatch

/// The one knob for parallelism: the OpenBLAS thread count and the number of chunks
/// per-sample work (augmentation, im2col) is split into.
public enum Threads {
    private static var current: Int = max(1, Int(openblas_get_num_threads()))

    /// The number of threads in use (OpenBLAS's own default until `setCount` is called).
    public static var count: Int { current }

    /// Sets the thread count for BLAS and for the library's own parallel loops.
    /// - Precondition: `n >= 1` (the ABI checks its callers).
    public static func setCount(_ n: Int) {
        precondition(n >= 1, "Threads.setCount: \(n)")
        current = n
        openblas_set_num_threads(Int32(n))
    }

    /// Runs `body` over `0..<n` split into at most `count` contiguous chunks, in parallel.
    /// Each call of `body` gets one chunk; chunks do not overlap.
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
