import DCLKitKernels

/// What the SIMD kernels (`DCLKitKernels`) see of the CPU and the level they chose, for
/// `dclkit.native_info()` and `make bench`.
public enum SIMDDispatch {
    /// The CPU's features that matter to the kernels, among "avx2", "fma", "avx512f",
    /// "avx512vl", "avx512bw", "avx512dq" and "avx512_bf16" (usable ones only: the operating system
    /// saves their registers).
    public static var cpuFeatures: [String] {
        let bits = dclk_cpu_features()
        return [(DCLK_CPU_AVX2, "avx2"), (DCLK_CPU_FMA, "fma"), (DCLK_CPU_AVX512F, "avx512f"), (DCLK_CPU_AVX512VL, "avx512vl"),
                (DCLK_CPU_AVX512BW, "avx512bw"), (DCLK_CPU_AVX512DQ, "avx512dq"), (DCLK_CPU_AVX512BF16, "avx512_bf16")]
            .filter { bits & $0.0 != 0 }.map { $0.1 }
    }

    /// The level the kernels run at: "avx512" (F + VL + BW + DQ), "avx2+fma" or "baseline"
    /// (SSE2); `DCLKIT_SIMD=baseline|avx2` forces a lower one.
    public static var level: String { String(cString: dclk_simd_level_name(dclk_simd_level())) }
}
