// Generic float vectors of VW lanes (8 or 16) and their helpers, for the kernel bodies. Include
// with VW defined; every name gets the suffix _VW through `N(name)`. The 16-lane helpers carry
// the AVX-512 target attribute (their tails use masked loads and stores), so bodies built on
// them must be inlined into AVX-512 functions only; the 8-lane ones run at every level.

#undef LANES_TARGET
#undef BODY
#undef VF
#undef VI
#undef MASKED_TAILS

#if defined(__x86_64__)
#include <immintrin.h>
#define MASKED_TAILS (VW == 16)
#else
#define MASKED_TAILS 0
#endif
#include <string.h>

#define N_PASTE(name, width) name##_##width
#define N_EXPAND(name, width) N_PASTE(name, width)
#define N(name) N_EXPAND(name, VW)

#if VW == 16 && defined(__x86_64__)
#define LANES_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#else
#define LANES_TARGET
#endif

/// A helper or kernel body: always inlined into the entry point of its level.
#define BODY static inline __attribute__((always_inline)) LANES_TARGET

typedef float N(vf) __attribute__((vector_size(VW * 4)));
typedef int N(vi) __attribute__((vector_size(VW * 4)));
#define VF N(vf)
#define VI N(vi)

BODY VF N(load)(const float *p) {
    VF v;
    memcpy(&v, p, sizeof v);
    return v;
}

BODY void N(store)(float *p, VF v) { memcpy(p, &v, sizeof v); }

/// s in every lane. Written s − 0, an identity the compiler removes (0 + s is not one, since
/// 0 + (−0) = +0, so it kept a scalar add before a register broadcast on the FMA port: the small
/// GEMM ran at half speed), which leaves a broadcast straight from memory.
BODY VF N(splat)(float s) { return s - (VF){0}; }

/// The first n < VW floats at p, the other lanes zero.
BODY VF N(load_part)(const float *p, size_t n) {
#if MASKED_TAILS
    return (VF)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
#else
    VF v = {0};
    memcpy(&v, p, n * sizeof(float));
    return v;
#endif
}

/// Writes the first n < VW lanes of v at p.
BODY void N(store_part)(float *p, VF v, size_t n) {
#if MASKED_TAILS
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
#else
    memcpy(p, &v, n * sizeof(float));
#endif
}

/// The first n ≤ VW floats at p (the rest zero).
BODY VF N(load_n)(const float *p, size_t n) { return n == VW ? N(load)(p) : N(load_part)(p, n); }

/// Writes the first n ≤ VW lanes of v at p, added to what is there when `add`.
BODY void N(store_n)(float *p, VF v, size_t n, int add) {
    if (n == VW) {
        N(store)(p, add ? N(load)(p) + v : v);
    } else {
        N(store_part)(p, add ? N(load_part)(p, n) + v : v, n);
    }
}

/// max(v, 0), keeping NaN (only lanes below zero become 0).
BODY VF N(relu)(VF v) {
    const VF zero = {0};
    return (VF)((VI)v & ~(VI)(v < zero));
}

/// g where y > 0, else 0.
BODY VF N(mask)(VF g, VF y) {
    const VF zero = {0};
    return (VF)((VI)g & (VI)(y > zero));
}
