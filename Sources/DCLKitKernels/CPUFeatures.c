// CPU feature detection and the choice of the kernels' SIMD level (see DCLKitKernels.h).

#include "DCLKitKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/// XCR0, the register-state mask the operating system enabled (XGETBV with ECX = 0).
static unsigned long long extended_control_register(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int detect_features(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    const unsigned long long xcr0 = extended_control_register();
    if ((xcr0 & 0x6) != 0x6) return 0;  // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int features = 0;
    if ((b >> 5) & 1) features |= DCLK_CPU_AVX2;
    if (fma) features |= DCLK_CPU_FMA;
    if (((b >> 16) & 1) && (xcr0 & 0xE0) == 0xE0) features |= DCLK_CPU_AVX512F;  // opmask, ZMM state
    return features;
}
#else
static int detect_features(void) { return 0; }
#endif

static int cached_features = -1;
static int current_level = -1;

int dclk_cpu_features(void) {
    if (cached_features < 0) cached_features = detect_features();
    return cached_features;
}

/// The best level this CPU runs.
static dclk_simd_level_t supported_level(void) {
    const int f = dclk_cpu_features();
    return (f & DCLK_CPU_AVX2) && (f & DCLK_CPU_FMA) ? DCLK_SIMD_AVX2_FMA : DCLK_SIMD_BASELINE;
}

dclk_simd_level_t dclk_simd_level(void) {
    if (current_level < 0) {
        const char *forced = getenv("DCLKIT_SIMD");
        current_level = forced && strcmp(forced, "baseline") == 0 ? DCLK_SIMD_BASELINE : supported_level();
    }
    return (dclk_simd_level_t)current_level;
}

dclk_simd_level_t dclk_set_simd_level(dclk_simd_level_t level) {
    const dclk_simd_level_t best = supported_level();
    current_level = level <= best ? level : best;
    return (dclk_simd_level_t)current_level;
}

const char *dclk_simd_level_name(dclk_simd_level_t level) {
    return level == DCLK_SIMD_AVX2_FMA ? "avx2+fma" : "baseline";
}
