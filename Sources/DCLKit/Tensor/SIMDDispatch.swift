import DCLKitKernels

/// What the SIMD kernels (`DCLKitKernels`) see of the CPU and the level they chose, for
/// `dclkit.native_info()` and `make bench`.
public enum SIMDDispatch {
    /// The CPU's features that matter to the kernels, among "avx2", "fma" and "avx512f"
    /// (usable ones only: the operating system saves their registers).
    public static var cpuFeatures: [String] {
        let bits = dclk_cpu_features()
        return [(DCLK_CPU_AVX2, "avx2"), (DCLK_CPU_FMA, "fma"), (DCLK_CPU_AVX512F, "avx512f")]
            .filter { bits & $0.0 != 0 }.map { $0.1 }
    }

    /// The level the kernels run at: "avx2+fma" or "baseline" (SSE2). AVX-512 CPUs run the
    /// AVX2 + FMA kernels (there are no 512-bit ones).
    public static var level: String { String(cString: dclk_simd_level_name(dclk_simd_level())) }
}
