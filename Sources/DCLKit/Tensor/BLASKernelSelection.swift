import CBLAS
import DCLKitKernels
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's choice of kernels, checked once before the first product.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU's family and model when it loads, and a
/// CPU newer than the library gets less than it runs: Debian's 0.3.21 gives an Intel Emerald Rapids
/// (family 6 model 207) its generic "Prescott" fallback, SSE3 only, about a tenth of the machine's
/// sgemm, and an AMD Zen 4 or Zen 5 (which it names "Zen" or "Haswell") AVX2 kernels, 0.56–0.82×
/// of the SkylakeX kernels' sgemm on a Zen 5. When the user has not chosen a core
/// (`OPENBLAS_CORETYPE` unset), the kernels are picked again for the CPU's usable features
/// (`DCLKitKernels`' CPUID + XGETBV check): "SkylakeX" with AVX-512 F/VL/BW/DQ unless OpenBLAS
/// already picked one of its AVX-512 cores, "Haswell" with AVX2 + FMA in place of the generic
/// fallback. That goes through OpenBLAS's own `gotoblas_dynamic_quit` / `gotoblas_dynamic_init`
/// (looked up at run time in OpenBLAS's own library: one built without DYNAMIC_ARCH has neither
/// and is left alone), with `OPENBLAS_CORETYPE` set only around it.
enum BLASKernelSelection {
    /// The core OpenBLAS picked by itself when it loaded.
    static let detectedCore: String = {
        guard let s = openblas_get_corename() else { return "unknown" }
        return String(cString: s)
    }()

    /// OpenBLAS 0.3.21's cores whose kernels use AVX-512 (lower case).
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    /// The core to pick instead of OpenBLAS's own for the CPU's usable features, or nil to keep it.
    static func replacement(detected: String, features: Int32, userChoice: String?) -> String? {
        guard userChoice == nil else { return nil }
        let core = detected.lowercased()
        let avx512 = DCLK_CPU_AVX512F | DCLK_CPU_AVX512VL | DCLK_CPU_AVX512BW | DCLK_CPU_AVX512DQ
        if features & avx512 == avx512 { return avx512Cores.contains(core) ? nil : "SkylakeX" }
        let avx2 = DCLK_CPU_AVX2 | DCLK_CPU_FMA
        if core == "prescott" && features & avx2 == avx2 { return "Haswell" }
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

    /// A `void f(void)` function of the loaded OpenBLAS, or nil: looked up in the library that
    /// defines `openblas_get_corename`, not in the global scope, which a library loaded with
    /// RTLD_LOCAL (Python's ctypes) keeps its dependencies out of.
    private static func symbol(_ name: String) -> (@convention(c) () -> Void)? {
        let known: @convention(c) () -> UnsafeMutablePointer<CChar>? = openblas_get_corename
        guard let address = dclk_symbol_beside(unsafeBitCast(known, to: UnsafeRawPointer.self), name) else { return nil }
        return unsafeBitCast(address, to: (@convention(c) () -> Void).self)
    }
}
