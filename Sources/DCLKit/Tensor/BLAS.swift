import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Thin, row-major wrappers over OpenBLAS. Matrices are pointers plus leading dimensions,
/// as in CBLAS; all products in the library go through here.
public enum BLAS {
    /// The bytes OpenBLAS takes for its GEMM buffer in each thread that first calls it (128 MiB
    /// and a page table, seen in its `blas_memory_alloc`); it waits for memory without end when
    /// that allocation fails, so memory checks count one for every thread that may still need it.
    public static let threadBufferBytes = (128 << 20) + (16 << 10)

    /// `threadBufferBytes`, in floats, for each of the threads that may run a GEMM (the caller and
    /// the workers, `Threads.count + 1`) beyond those that have run one already (their buffers
    /// exist). A pool thread that has never run a GEMM may still take a caller's place later;
    /// the count is the best knowledge of the moment.
    public static var threadBufferElements: Int {
        let missing = max(0, Threads.count + 1 - GEMMThreads.count)
        return Tensor.product([missing, threadBufferBytes / MemoryLayout<Float>.stride]) ?? .max
    }

    /// C = alpha · op(A) · op(B) + beta · C, with op(A) of shape (m, k), op(B) (k, n), C (m, n).
    /// `transA` / `transB` say whether A / B are stored transposed.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        BLASKernelSelection.done
        GEMMThreads.record()
        if k == 0 {
            // OpenBLAS leaves C untouched for k == 0; the definition says C = beta · C.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// OpenBLAS's build configuration string (for example "OpenBLAS 0.3.21 DYNAMIC_ARCH ...").
    public static var configuration: String {
        guard let s = openblas_get_config() else { return "unknown" }
        return String(cString: s)
    }

    /// The kernel family OpenBLAS runs on this processor (for example "Cooperlake"), after
    /// `BLASKernelSelection`'s check.
    public static var coreName: String {
        BLASKernelSelection.done
        guard let s = openblas_get_corename() else { return "unknown" }
        return String(cString: s)
    }

    /// The kernel family OpenBLAS picked by itself when it loaded; it differs from `coreName` when
    /// its generic fallback was replaced (`BLASKernelSelection`).
    public static var detectedCoreName: String { BLASKernelSelection.detectedCore }
}

/// The threads that have run a GEMM (and so hold OpenBLAS's buffer), counted once each.
enum GEMMThreads {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()
    private static var known = 0

    /// How many threads have run a GEMM.
    static var count: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return known
    }

    /// Counts the calling thread, once.
    @inline(__always)
    static func record() {
        guard pthread_getspecific(key) == nil else { return }
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        pthread_mutex_lock(mutex)
        known += 1
        pthread_mutex_unlock(mutex)
    }
}
