import CBLAS

/// Thin, row-major wrappers over OpenBLAS. Matrices are pointers plus leading dimensions,
/// as in CBLAS; all products in the library go through here.
public enum BLAS {
    /// The bytes OpenBLAS maps for each GEMM buffer (128 MiB and a page table, seen in its
    /// `blas_memory_alloc`); it waits for memory without end when that mapping fails, so memory
    /// checks count every buffer still to come (`OpenBLASBuffers`).
    public static let threadBufferBytes = (128 << 20) + (16 << 10)

    /// `threadBufferBytes`, in floats, for each buffer that `Threads.count` GEMMs at once may
    /// still map (`OpenBLASBuffers.missing`: all of them before the first GEMM, then none until
    /// `Threads.count` rises).
    public static var threadBufferElements: Int {
        Tensor.product([OpenBLASBuffers.missing, threadBufferBytes / MemoryLayout<Float>.stride]) ?? .max
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
        OpenBLASBuffers.reserve()
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
