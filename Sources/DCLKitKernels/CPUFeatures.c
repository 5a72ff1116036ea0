// CPU feature detection and the choice of the kernels' SIMD level (see DCLKitKernels.h).

#include "DCLKitKernels.h"

#include <stdio.h>
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

/// XCR0 bits: SSE (XMM) and AVX (upper YMM) state; AVX-512's opmask, upper ZMM0–15 and ZMM16–31.
#define XCR0_YMM 0x6ULL
#define XCR0_ZMM 0xE0ULL

static int detect_features(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    const unsigned long long xcr0 = extended_control_register();
    if ((xcr0 & XCR0_YMM) != XCR0_YMM) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int features = 0;
    if ((b >> 5) & 1) features |= DCLK_CPU_AVX2;
    if (fma) features |= DCLK_CPU_FMA;
    if ((xcr0 & XCR0_ZMM) == XCR0_ZMM) {
        // CPUID.7.0:EBX bits 16 (F), 17 (DQ), 30 (BW), 31 (VL).
        if ((b >> 16) & 1) features |= DCLK_CPU_AVX512F;
        if ((b >> 17) & 1) features |= DCLK_CPU_AVX512DQ;
        if ((b >> 30) & 1) features |= DCLK_CPU_AVX512BW;
        if ((b >> 31) & 1) features |= DCLK_CPU_AVX512VL;
        // CPUID.7.1:EAX bit 5.
        unsigned int a1, b1, c1, d1;
        if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && ((a1 >> 5) & 1)) features |= DCLK_CPU_AVX512BF16;
    }
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
    const int avx2 = DCLK_CPU_AVX2 | DCLK_CPU_FMA;
    const int avx512 = avx2 | DCLK_CPU_AVX512F | DCLK_CPU_AVX512VL | DCLK_CPU_AVX512BW | DCLK_CPU_AVX512DQ;
    if ((f & avx512) == avx512) return DCLK_SIMD_AVX512;
    if ((f & avx2) == avx2) return DCLK_SIMD_AVX2_FMA;
    return DCLK_SIMD_BASELINE;
}

/// The level `DCLKIT_SIMD` asks for (the best one when unset; unknown values are reported on
/// stderr once and ignored).
static dclk_simd_level_t requested_level(void) {
    const char *forced = getenv("DCLKIT_SIMD");
    if (!forced || !*forced) return DCLK_SIMD_AVX512;
    if (strcmp(forced, "baseline") == 0) return DCLK_SIMD_BASELINE;
    if (strcmp(forced, "avx2") == 0 || strcmp(forced, "avx2+fma") == 0) return DCLK_SIMD_AVX2_FMA;
    if (strcmp(forced, "avx512") == 0) return DCLK_SIMD_AVX512;
    fprintf(stderr, "dclkit: DCLKIT_SIMD=%s is not one of baseline, avx2, avx512; using the best level the CPU runs\n", forced);
    return DCLK_SIMD_AVX512;
}

dclk_simd_level_t dclk_simd_level(void) {
    if (current_level < 0) {
        const dclk_simd_level_t best = supported_level(), wanted = requested_level();
        current_level = wanted < best ? wanted : best;
    }
    return (dclk_simd_level_t)current_level;
}

dclk_simd_level_t dclk_set_simd_level(dclk_simd_level_t level) {
    const dclk_simd_level_t best = supported_level();
    current_level = level < DCLK_SIMD_BASELINE ? DCLK_SIMD_BASELINE : level <= best ? level : best;
    return (dclk_simd_level_t)current_level;
}

const char *dclk_simd_level_name(dclk_simd_level_t level) {
    switch (level) {
    case DCLK_SIMD_AVX512: return "avx512";
    case DCLK_SIMD_AVX2_FMA: return "avx2+fma";
    default: return "baseline";
    }
}
