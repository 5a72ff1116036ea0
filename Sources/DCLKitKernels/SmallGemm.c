// `dclk_small_gemm` (DCLKitKernels.h): the body (SmallGemmBodies.h) built at 8 lanes (baseline,
// AVX2 + FMA) and 16 lanes (AVX-512).

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
