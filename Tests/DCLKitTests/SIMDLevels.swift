import DCLKitKernels

/// The SIMD levels of DCLKitKernels this CPU runs, for tests that check every kernel build.
enum SIMDLevels {
    /// The baseline, then AVX2 + FMA and AVX-512 where the CPU has them.
    static var supported: [dclk_simd_level_t] {
        let original = dclk_simd_level()
        defer { dclk_set_simd_level(original) }
        return [DCLK_SIMD_BASELINE, DCLK_SIMD_AVX2_FMA, DCLK_SIMD_AVX512].filter { dclk_set_simd_level($0) == $0 }
    }

    /// Runs `body` at each supported level, with the level in force restored afterwards.
    static func forEach(_ body: (dclk_simd_level_t) throws -> Void) rethrows {
        let original = dclk_simd_level()
        defer { dclk_set_simd_level(original) }
        for level in supported {
            dclk_set_simd_level(level)
            try body(level)
        }
    }

    /// "baseline", "avx2+fma" or "avx512".
    static func name(_ level: dclk_simd_level_t) -> String { String(cString: dclk_simd_level_name(level)) }
}
