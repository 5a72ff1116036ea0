import CBLAS
import DCLKitKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's GEMM buffers (`BLAS.threadBufferBytes` of address space each), made before they
/// are needed, so that memory checks know how many are still to come.
///
/// OpenBLAS (0.3.21 as Debian builds it, without USE_TLS) keeps them in one table for the whole
/// process: a GEMM takes the first buffer not in use and maps a new one only when every mapped
/// one is in use, each of its own threads holds one from its start, and a mapping that fails is
/// retried without end. How many buffers a call still maps therefore depends on how many GEMMs
/// ran at once before, a matter of timing, and not on which threads ran them: counting the
/// threads that had run a GEMM saw none missing after GCD's threads had run theirs one at a time
/// while a third buffer was still to come, and with a fixed pool of workers counted OpenBLAS's
/// own thread's buffer as missing for ever, a second one too when the worker happened not to
/// have run a GEMM yet, and refused a small batch at random under RLIMIT_AS.
///
/// So before its first GEMM, and again after `Threads.count` rose, the library takes
/// `Threads.count` buffers at once and gives them back (`reserve`): a parallel region's GEMMs,
/// one per worker, then find theirs mapped, and `missing` is exact. (An OpenBLAS built with
/// USE_TLS keeps buffers per thread instead; there the reservation covers the reserving thread.)
enum OpenBLASBuffers {
    /// The buffers mapped at once by the last reservation (0 before the first, or when the
    /// loaded OpenBLAS exports no buffer table).
    private static let reserved = Atomic<Int>(0)
    /// Serialises reservations, at a fixed address (lives as long as the process).
    private static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()
    /// OpenBLAS's `blas_memory_alloc` and `blas_memory_free`, looked up in its own library.
    private static let table: (take: @convention(c) (Int32) -> UnsafeMutableRawPointer?,
                               give: @convention(c) (UnsafeMutableRawPointer?) -> Void)? = {
        let known: @convention(c) () -> UnsafeMutablePointer<CChar>? = openblas_get_corename
        let anchor = unsafeBitCast(known, to: UnsafeRawPointer.self)
        guard let take = dclk_symbol_beside(anchor, "blas_memory_alloc"),
              let give = dclk_symbol_beside(anchor, "blas_memory_free") else { return nil }
        return (unsafeBitCast(take, to: (@convention(c) (Int32) -> UnsafeMutableRawPointer?).self),
                unsafeBitCast(give, to: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self))
    }()

    /// Buffers that `Threads.count` GEMMs at once may still map.
    static var missing: Int { max(0, Threads.count - reserved.load(ordering: .acquiring)) }

    /// Makes sure `Threads.count` buffers are mapped (every GEMM calls this first; after the
    /// first, one atomic load). A memory check before the call counted them (`missing`).
    @inline(__always)
    static func reserve() {
        if reserved.load(ordering: .acquiring) < Threads.count { reserveNow() }
    }

    private static func reserveNow() {
        guard let table else { return }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let count = Threads.count
        guard reserved.load(ordering: .acquiring) < count else { return }
        let taken = (0..<count).map { _ in table.take(0) }
        taken.forEach(table.give)
        reserved.store(count, ordering: .releasing)
    }
}
