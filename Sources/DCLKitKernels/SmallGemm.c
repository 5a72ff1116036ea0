// `dclk_small_gemm` and `dclk_panel_gemm` (DCLKitKernels.h): the bodies (SmallGemmBodies.h) built
// at 8 lanes (baseline, AVX2 + FMA) and 16 lanes (AVX-512); `dclk_pack_panels`, plain C.

#include "DCLKitKernels.h"

#pragma clang diagnostic ignored "-Wpsabi"

#define VW 8
#include "SmallGemmBodies.h"
#undef VW
#define VW 16
#include "SmallGemmBodies.h"
#undef VW

#include "Dispatch.h"

DISPATCHED(dclk_small_gemm, small_gemm,
           (size_t m, size_t n, size_t k, const float *a, size_t a_row, size_t a_k, const float *b, size_t ldb, float *c,
            size_t ldc, int accumulate),
           (m, n, k, a, a_row, a_k, b, ldb, c, ldc, accumulate))

DISPATCHED(dclk_panel_gemm, panel_gemm,
           (size_t m, size_t n, size_t k, const float *a, size_t a_row, size_t a_k, const float *panels, float *c, size_t ldc,
            int accumulate),
           (m, n, k, a, a_row, a_k, panels, c, ldc, accumulate))

void dclk_pack_panels(const float *b, size_t k, size_t n, size_t b_k, size_t b_j, float *panels) {
    for (size_t j = 0; j < n; j += DCLK_PANEL_COLUMNS) {
        const size_t w = n - j < DCLK_PANEL_COLUMNS ? n - j : DCLK_PANEL_COLUMNS;
        float *panel = panels + j * k;
        if (b_j == 1) {
            for (size_t p = 0; p < k; p++) memcpy(panel + p * w, b + p * b_k + j, w * sizeof(float));
        } else {
            for (size_t q = 0; q < w; q++) {
                const float *column = b + (j + q) * b_j;
                for (size_t p = 0; p < k; p++) panel[p * w + q] = column[p * b_k];
            }
        }
    }
}
