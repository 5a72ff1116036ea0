// bfloat16 products with float32 sums (`dclk_bf16_*`, DCLKitKernels.h): issue 24's experiment.
// The AVX-512 BF16 kernel keeps a block of up to 6 rows × 4 vectors of 16 columns of C in
// registers while the pairs of k run; each step loads 4 vectors of B's pairs and broadcasts one
// pair of A per row into VDPBF16PS. The portable build computes the same sums in the same order
// (each bf16 × bf16 product is exact in float32), so both agree bit for bit on normal numbers.

#include "DCLKitKernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma")))
#endif

uint16_t dclk_bf16_from_float(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) return (uint16_t)((bits >> 16) | 0x0040u);
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
    return (uint16_t)(bits >> 16);
}

/// The float32 value of a bfloat16.
static inline float bf16_to_float(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/// The float at `p`, read as bytes: the packing functions may write their words over the floats
/// they read (in place), which plain float loads beside uint32_t stores would not allow.
static inline float load_float(const float *p) {
    float x;
    memcpy(&x, p, sizeof x);
    return x;
}

#if defined(__x86_64__)
/// A row's pairs are its floats in order, so packing a row is converting it: 16 at a time with
/// VCVTNEPS2BF16 (to nearest, ties to even, as `dclk_bf16_from_float` on normal numbers).
BF16_TARGET static void bf16_pack_rows_avx512(const float *a, size_t m, size_t k, size_t lda, uint32_t *packed) {
    const size_t pairs = (k + 1) / 2;
    for (size_t r = 0; r < m; r++) {
        uint16_t *out = (uint16_t *)(packed + r * pairs);
        size_t p = 0;
        for (; p + 16 <= k; p += 16) _mm256_storeu_si256((__m256i *)(out + p), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(a + r * lda + p)));
        if (p < k) {
            const __mmask16 tail = (__mmask16)((1u << (k - p)) - 1);
            _mm256_mask_storeu_epi16(out + p, tail, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(tail, a + r * lda + p)));
        }
        if (k % 2) out[k] = 0;
    }
}
#endif

void dclk_bf16_pack_rows(const float *a, size_t m, size_t k, size_t lda, uint32_t *packed) {
#if defined(__x86_64__)
    if (dclk_bf16_available()) {
        bf16_pack_rows_avx512(a, m, k, lda, packed);
        return;
    }
#endif
    const size_t pairs = (k + 1) / 2;
    for (size_t r = 0; r < m; r++) {
        for (size_t p = 0; p < pairs; p++) {
            const uint32_t even = dclk_bf16_from_float(load_float(a + r * lda + 2 * p));
            const uint32_t odd = 2 * p + 1 < k ? dclk_bf16_from_float(load_float(a + r * lda + 2 * p + 1)) : 0;
            packed[r * pairs + p] = even | (odd << 16);
        }
    }
}

#if defined(__x86_64__)
/// Pair p of 16 columns at a time: both rows converted with VCVTNEPS2BF16, the even row's bfloat16
/// zero-extended into the low halves and the odd row's shifted into the high halves. Every load of
/// a pair precedes its store, which lands at or before what it read (in-place packing).
BF16_TARGET static void bf16_pack_columns_avx512(const float *b, size_t k, size_t n, size_t ldb, uint32_t *packed) {
    const size_t pairs = (k + 1) / 2;
    for (size_t p = 0; p < pairs; p++) {
        const float *even = b + 2 * p * ldb, *odd = even + ldb;
        const int hasOdd = 2 * p + 1 < k;
        for (size_t j = 0; j < n; j += 16) {
            const __mmask16 mask = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
            const __m512i low = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, even + j)));
            const __m512 high = hasOdd ? _mm512_maskz_loadu_ps(mask, odd + j) : _mm512_setzero_ps();
            const __m512i highBits = _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(high)), 16);
            _mm512_mask_storeu_epi32(packed + p * n + j, mask, _mm512_or_si512(low, highBits));
        }
    }
}
#endif

void dclk_bf16_pack_columns(const float *b, size_t k, size_t n, size_t ldb, uint32_t *packed) {
#if defined(__x86_64__)
    if (dclk_bf16_available()) {
        bf16_pack_columns_avx512(b, k, n, ldb, packed);
        return;
    }
#endif
    const size_t pairs = (k + 1) / 2;
    for (size_t p = 0; p < pairs; p++) {
        for (size_t j = 0; j < n; j++) {
            const uint32_t even = dclk_bf16_from_float(load_float(b + 2 * p * ldb + j));
            const uint32_t odd = 2 * p + 1 < k ? dclk_bf16_from_float(load_float(b + (2 * p + 1) * ldb + j)) : 0;
            packed[p * n + j] = even | (odd << 16);
        }
    }
}

/// The portable build: C[r, j] (+)= Σ_p (a_odd · b_odd, then a_even · b_even), in that order.
static void bf16_gemm_portable(size_t m, size_t n, size_t pairs, const uint32_t *a, const uint32_t *b, float *c, size_t ldc,
                               int accumulate) {
    for (size_t r = 0; r < m; r++) {
        for (size_t j = 0; j < n; j++) {
            float sum = accumulate ? c[r * ldc + j] : 0;
            for (size_t p = 0; p < pairs; p++) {
                const uint32_t x = a[r * pairs + p], y = b[p * n + j];
                sum += bf16_to_float((uint16_t)(x >> 16)) * bf16_to_float((uint16_t)(y >> 16));
                sum += bf16_to_float((uint16_t)x) * bf16_to_float((uint16_t)y);
            }
            c[r * ldc + j] = sum;
        }
    }
}

#if defined(__x86_64__)
/// Rows `rows` (≤ 6, a constant after inlining) × `vectors` (≤ 4) vectors of 16 columns from j,
/// the last vector masked by `tail`.
BF16_TARGET static inline __attribute__((always_inline)) void
bf16_block(const size_t rows, const size_t vectors, __mmask16 tail, size_t pairs, const uint32_t *a, const uint32_t *b,
           size_t n, float *c, size_t ldc, int accumulate) {
    __m512 acc[6][4];
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) {
            const __mmask16 mask = v + 1 == vectors ? tail : 0xffff;
            acc[r][v] = accumulate ? _mm512_maskz_loadu_ps(mask, c + r * ldc + 16 * v) : _mm512_setzero_ps();
        }
    }
    for (size_t p = 0; p < pairs; p++) {
        __m512bh bv[4];
        for (size_t v = 0; v < vectors; v++) {
            const __mmask16 mask = v + 1 == vectors ? tail : 0xffff;
            bv[v] = (__m512bh)_mm512_maskz_loadu_epi32(mask, b + p * n + 16 * v);
        }
        for (size_t r = 0; r < rows; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r * pairs + p]);
            for (size_t v = 0; v < vectors; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) {
            const __mmask16 mask = v + 1 == vectors ? tail : 0xffff;
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask, acc[r][v]);
        }
    }
}

/// All rows for one column block of `vectors` vectors: 6 at a time, then the rest.
BF16_TARGET static inline __attribute__((always_inline)) void
bf16_columns(const size_t vectors, __mmask16 tail, size_t m, size_t pairs, const uint32_t *a, const uint32_t *b, size_t n,
             float *c, size_t ldc, int accumulate) {
    size_t r = 0;
    for (; r + 6 <= m; r += 6) bf16_block(6, vectors, tail, pairs, a + r * pairs, b, n, c + r * ldc, ldc, accumulate);
    const uint32_t *ar = a + r * pairs;
    float *cr = c + r * ldc;
    switch (m - r) {
    case 5: bf16_block(5, vectors, tail, pairs, ar, b, n, cr, ldc, accumulate); break;
    case 4: bf16_block(4, vectors, tail, pairs, ar, b, n, cr, ldc, accumulate); break;
    case 3: bf16_block(3, vectors, tail, pairs, ar, b, n, cr, ldc, accumulate); break;
    case 2: bf16_block(2, vectors, tail, pairs, ar, b, n, cr, ldc, accumulate); break;
    case 1: bf16_block(1, vectors, tail, pairs, ar, b, n, cr, ldc, accumulate); break;
    default: break;
    }
}

BF16_TARGET static void bf16_gemm_avx512(size_t m, size_t n, size_t pairs, const uint32_t *a, const uint32_t *b, float *c,
                                         size_t ldc, int accumulate) {
    size_t j = 0;
    for (; j + 64 <= n; j += 64) bf16_columns(4, 0xffff, m, pairs, a, b + j, n, c + j, ldc, accumulate);
    const size_t rest = n - j;
    if (rest == 0) return;
    const __mmask16 tail = rest % 16 == 0 ? 0xffff : (__mmask16)((1u << (rest % 16)) - 1);
    switch ((rest + 15) / 16) {
    case 3: bf16_columns(3, tail, m, pairs, a, b + j, n, c + j, ldc, accumulate); break;
    case 2: bf16_columns(2, tail, m, pairs, a, b + j, n, c + j, ldc, accumulate); break;
    default: bf16_columns(1, tail, m, pairs, a, b + j, n, c + j, ldc, accumulate); break;
    }
}
#endif

int dclk_bf16_available(void) {
    const int needed = DCLK_CPU_AVX512F | DCLK_CPU_AVX512VL | DCLK_CPU_AVX512BW | DCLK_CPU_AVX512DQ | DCLK_CPU_AVX512BF16;
    return (dclk_cpu_features() & needed) == needed && dclk_simd_level() == DCLK_SIMD_AVX512;
}

void dclk_bf16_gemm(size_t m, size_t n, size_t k, const uint32_t *a, const uint32_t *b, float *c, size_t ldc, int accumulate) {
    const size_t pairs = (k + 1) / 2;
#if defined(__x86_64__)
    if (dclk_bf16_available()) {
        bf16_gemm_avx512(m, n, pairs, a, b, c, ldc, accumulate);
        return;
    }
#endif
    bf16_gemm_portable(m, n, pairs, a, b, c, ldc, accumulate);
}
