import CBLAS
import DCLKitKernels
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's choice of kernels, checked once before the first product.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU's family and model when it loads; a CPU
/// newer than the library (Debian's 0.3.21 on an Intel Emerald Rapids, family 6 model 207) gets its
/// generic "Prescott" fallback, SSE3 only, about a tenth of the machine's sgemm. When that happened,
/// the user has not chosen a core (`OPENBLAS_CORETYPE` unset) and the CPU's usable features allow
/// more, the kernels are picked again for those features: "SkylakeX" with AVX-512 F/VL/BW/DQ,
/// "Haswell" with AVX2 + FMA (`DCLKitKernels`' CPUID + XGETBV check). That goes through OpenBLAS's
/// own `gotoblas_dynamic_quit` / `gotoblas_dynamic_init` (looked up at run time: a library built
/// without DYNAMIC_ARCH has neither and is left alone), with `OPENBLAS_CORETYPE` set only around it.
enum BLASKernelSelection {
    /// The core OpenBLAS picked by itself when it loaded.
    static let detectedCore: String = {
        guard let s = openblas_get_corename() else { return "unknown" }
        return String(cString: s)
    }()

    /// The core to pick instead of OpenBLAS's generic fallback for the CPU's usable features, or nil.
    static func replacement(detected: String, features: Int32, userChoice: String?) -> String? {
        guard detected.lowercased() == "prescott", userChoice == nil else { return nil }
        let avx512 = DCLK_CPU_AVX512F | DCLK_CPU_AVX512VL | DCLK_CPU_AVX512BW | DCLK_CPU_AVX512DQ
        if features & avx512 == avx512 { return "SkylakeX" }
        let avx2 = DCLK_CPU_AVX2 | DCLK_CPU_FMA
        if features & avx2 == avx2 { return "Haswell" }
        return nil
    }

    /// Runs the check once (thread-safe: a static's first use); every product goes through here first.
    static let done: Void = {
        let userChoice = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        guard let core = replacement(detected: detectedCore, features: Int32(dclk_cpu_features()), userChoice: userChoice),
              let quit = symbol("gotoblas_dynamic_quit"), let initialise = symbol("gotoblas_dynamic_init") else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        quit()
        initialise()
        unsetenv("OPENBLAS_CORETYPE")
    }()

    /// A `void f(void)` function of the loaded libraries, or nil.
    private static func symbol(_ name: String) -> (@convention(c) () -> Void)? {
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: (@convention(c) () -> Void).self)
    }
}
