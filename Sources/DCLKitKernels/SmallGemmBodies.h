// The body of `dclk_small_gemm` (DCLKitKernels.h) on VW-lane vectors; included by SmallGemm.c
// once per width. Register blocking: a block of up to ROWS rows of C by up to COLUMNS vectors
// of VW columns lives in registers while k runs over the whole inner dimension; each step
// loads one row of B's block and broadcasts one element of A per row. Both block sizes are
// constants in every specialisation, so the accumulators stay in registers. B and C are read
// and written in place: nothing is packed (the operands of Winograd's point products are small
// enough to stay in L1/L2).

#include "Vectors.h"

// 16 lanes (32 registers): 6 × 4 accumulators + 4 of B + 1 broadcast. 8 lanes (16 registers):
// 6 × 2 + 2 + 1 = 15, which leaves the compiler a spare; a 4 × 3 block needs all 16 and was
// compiled with one accumulator spilled to the stack, its sum chained through memory.
#if VW == 16
#define ROWS 6
#define COLUMNS 4
#define ROWS_ONE_VECTOR 12
#else
#define ROWS 6
#define COLUMNS 2
#define ROWS_ONE_VECTOR 8
#endif

/// C[r, j0 + …] for r < rows, `vectors` whole vectors of columns from j0.
BODY void N(gemm_block)(const size_t rows, const size_t vectors, size_t k, const float *a, size_t a_row, size_t a_k,
                        const float *b, size_t ldb, float *c, size_t ldc, int accumulate) {
    VF acc[ROWS_ONE_VECTOR][COLUMNS];
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) acc[r][v] = accumulate ? N(load)(c + r * ldc + v * VW) : (VF){0};
    }
    for (size_t p = 0; p < k; p++) {
        VF bv[COLUMNS];
        for (size_t v = 0; v < vectors; v++) bv[v] = N(load)(b + p * ldb + v * VW);
        for (size_t r = 0; r < rows; r++) {
            const VF av = N(splat)(a[r * a_row + p * a_k]);
            for (size_t v = 0; v < vectors; v++) acc[r][v] += av * bv[v];
        }
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) N(store)(c + r * ldc + v * VW, acc[r][v]);
    }
}

/// The column block of `vectors` (a constant) vectors over all rows: ROWS at a time (or
/// ROWS_ONE_VECTOR for a single vector, which leaves registers for more independent sums), then
/// the rest.
BODY void N(gemm_columns)(const size_t vectors, size_t m, size_t k, const float *a, size_t a_row, size_t a_k, const float *b,
                          size_t ldb, float *c, size_t ldc, int accumulate) {
    size_t r = 0;
    if (vectors == 1) {
        for (; r + ROWS_ONE_VECTOR <= m; r += ROWS_ONE_VECTOR)
            N(gemm_block)(ROWS_ONE_VECTOR, 1, k, a + r * a_row, a_row, a_k, b, ldb, c + r * ldc, ldc, accumulate);
    }
    for (; r + ROWS <= m; r += ROWS) N(gemm_block)(ROWS, vectors, k, a + r * a_row, a_row, a_k, b, ldb, c + r * ldc, ldc, accumulate);
    const float *ar = a + r * a_row;
    float *cr = c + r * ldc;
    switch (m - r) {
#if ROWS > 5
    case 5: N(gemm_block)(5, vectors, k, ar, a_row, a_k, b, ldb, cr, ldc, accumulate); break;
    case 4: N(gemm_block)(4, vectors, k, ar, a_row, a_k, b, ldb, cr, ldc, accumulate); break;
#endif
    case 3: N(gemm_block)(3, vectors, k, ar, a_row, a_k, b, ldb, cr, ldc, accumulate); break;
    case 2: N(gemm_block)(2, vectors, k, ar, a_row, a_k, b, ldb, cr, ldc, accumulate); break;
    case 1: N(gemm_block)(1, vectors, k, ar, a_row, a_k, b, ldb, cr, ldc, accumulate); break;
    default: break;
    }
}

BODY void N(small_gemm)(size_t m, size_t n, size_t k, const float *a, size_t a_row, size_t a_k, const float *b, size_t ldb,
                        float *c, size_t ldc, int accumulate) {
    size_t j = 0;
    for (; j + COLUMNS * VW <= n; j += COLUMNS * VW) N(gemm_columns)(COLUMNS, m, k, a, a_row, a_k, b + j, ldb, c + j, ldc, accumulate);
    switch ((n - j) / VW) {
#if COLUMNS > 3
    case 3: N(gemm_columns)(3, m, k, a, a_row, a_k, b + j, ldb, c + j, ldc, accumulate); break;
    case 2: N(gemm_columns)(2, m, k, a, a_row, a_k, b + j, ldb, c + j, ldc, accumulate); break;
#endif
    case 1: N(gemm_columns)(1, m, k, a, a_row, a_k, b + j, ldb, c + j, ldc, accumulate); break;
    default: break;
    }
    j += (n - j) / VW * VW;
    // The last n mod VW columns, one at a time (channel counts in use are multiples of 16).
    for (; j < n; j++) {
        for (size_t r = 0; r < m; r++) {
            float sum = accumulate ? c[r * ldc + j] : 0;
            for (size_t p = 0; p < k; p++) sum += a[r * a_row + p * a_k] * b[p * ldb + j];
            c[r * ldc + j] = sum;
        }
    }
}

/// `dclk_panel_gemm`: row blocks of DCLK_PANEL_ROWS, each against every panel (contiguous B
/// rows of at most DCLK_PANEL_COLUMNS floats: no cache-set conflicts between B's rows, which a
/// row stride of a multiple of 4 KiB gives an unpacked B).
BODY void N(panel_gemm)(size_t m, size_t n, size_t k, const float *a, size_t a_row, size_t a_k, const float *panels, float *c,
                        size_t ldc, int accumulate) {
    for (size_t r = 0; r < m; r += DCLK_PANEL_ROWS) {
        const size_t rows = m - r < DCLK_PANEL_ROWS ? m - r : DCLK_PANEL_ROWS;
        for (size_t j = 0; j < n; j += DCLK_PANEL_COLUMNS) {
            const size_t w = n - j < DCLK_PANEL_COLUMNS ? n - j : DCLK_PANEL_COLUMNS;
            N(small_gemm)(rows, w, k, a + r * a_row, a_row, a_k, panels + j * k, w, c + r * ldc + j, ldc, accumulate);
        }
    }
}

#undef ROWS
#undef ROWS_ONE_VECTOR
#undef COLUMNS
