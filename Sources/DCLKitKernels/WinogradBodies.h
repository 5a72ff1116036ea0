// The bodies of the Winograd tile transforms (DCLKitKernels.h) on VW-lane vectors of channels;
// included by Winograd.c once per width. The 1-D transforms are straight-line code that reads
// x[0], x[xs], … and writes y[0], y[ys], …; a 2-D transform L · X · Lᵀ is the 1-D one over the
// columns, then over the rows (`two_sided`). The factorings are Lavin & Gray's (2016) with the
// usual pairing of the rows ±1 and ±2; `WinogradConvolutionTests` checks them against the
// matrices of `WinogradTiling`.

#include "Vectors.h"

/// F(2×2, 3×3) Bᵀ d: 4 → 4.
BODY void N(f2_input)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs];
    y[0] = d0 - d2;
    y[ys] = d1 + d2;
    y[2 * ys] = d2 - d1;
    y[3 * ys] = d1 - d3;
}

/// F(2×2, 3×3) Aᵀ M: 4 → 2.
BODY void N(f2_output)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF m0 = x[0], m1 = x[xs], m2 = x[2 * xs], m3 = x[3 * xs];
    y[0] = m0 + m1 + m2;
    y[ys] = m1 - m2 - m3;
}

/// F(2×2, 3×3) A dY: 2 → 4.
BODY void N(f2_output_gradient)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF e0 = x[0], e1 = x[xs];
    y[0] = e0;
    y[ys] = e0 + e1;
    y[2 * ys] = e0 - e1;
    y[3 * ys] = -e1;
}

/// F(2×2, 3×3) G g: 3 → 4.
BODY void N(f2_kernel)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF g0 = x[0], g1 = x[xs], g2 = x[2 * xs];
    const VF a = g0 + g2, half = N(splat)(0.5f);
    y[0] = g0;
    y[ys] = (a + g1) * half;
    y[2 * ys] = (a - g1) * half;
    y[3 * ys] = g2;
}

/// F(2×2, 3×3) Gᵀ dU: 4 → 3.
BODY void N(f2_kernel_gradient)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF u0 = x[0], u1 = x[xs], u2 = x[2 * xs], u3 = x[3 * xs];
    const VF half = N(splat)(0.5f), sum = (u1 + u2) * half;
    y[0] = u0 + sum;
    y[ys] = (u1 - u2) * half;
    y[2 * ys] = sum + u3;
}

/// F(4×4, 3×3) Bᵀ d: 6 → 6.
BODY void N(f4_input)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs], d4 = x[4 * xs], d5 = x[5 * xs];
    const VF four = N(splat)(4), five = N(splat)(5), two = N(splat)(2);
    const VF p1 = d4 - four * d2, q1 = d3 - four * d1;
    const VF p2 = d4 - d2, q2 = two * (d3 - d1);
    y[0] = four * d0 - five * d2 + d4;
    y[ys] = p1 + q1;
    y[2 * ys] = p1 - q1;
    y[3 * ys] = p2 + q2;
    y[4 * ys] = p2 - q2;
    y[5 * ys] = four * d1 - five * d3 + d5;
}

/// F(4×4, 3×3) Aᵀ M: 6 → 4.
BODY void N(f4_output)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF m0 = x[0], m1 = x[xs], m2 = x[2 * xs], m3 = x[3 * xs], m4 = x[4 * xs], m5 = x[5 * xs];
    const VF s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    y[0] = m0 + s12 + s34;
    y[ys] = d12 + N(splat)(2) * d34;
    y[2 * ys] = s12 + N(splat)(4) * s34;
    y[3 * ys] = d12 + N(splat)(8) * d34 + m5;
}

/// F(4×4, 3×3) A dY: 4 → 6.
BODY void N(f4_output_gradient)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF e0 = x[0], e1 = x[xs], e2 = x[2 * xs], e3 = x[3 * xs];
    const VF p1 = e0 + e2, q1 = e1 + e3;
    const VF p2 = e0 + N(splat)(4) * e2, q2 = N(splat)(2) * e1 + N(splat)(8) * e3;
    y[0] = e0;
    y[ys] = p1 + q1;
    y[2 * ys] = p1 - q1;
    y[3 * ys] = p2 + q2;
    y[4 * ys] = p2 - q2;
    y[5 * ys] = e3;
}

/// F(4×4, 3×3) G g: 3 → 6.
BODY void N(f4_kernel)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF g0 = x[0], g1 = x[xs], g2 = x[2 * xs];
    const VF a = g0 + g2;
    const VF b = g0 * N(splat)(1.0f / 24) + g2 * N(splat)(1.0f / 6);
    const VF c = g1 * N(splat)(1.0f / 12);
    const VF minus_sixth = N(splat)(-1.0f / 6);
    y[0] = g0 * N(splat)(0.25f);
    y[ys] = (a + g1) * minus_sixth;
    y[2 * ys] = (a - g1) * minus_sixth;
    y[3 * ys] = b + c;
    y[4 * ys] = b - c;
    y[5 * ys] = g2;
}

/// F(4×4, 3×3) Gᵀ dU: 6 → 3.
BODY void N(f4_kernel_gradient)(const VF *x, size_t xs, VF *y, size_t ys) {
    const VF u0 = x[0], u1 = x[xs], u2 = x[2 * xs], u3 = x[3 * xs], u4 = x[4 * xs], u5 = x[5 * xs];
    const VF s12 = u1 + u2, d12 = u2 - u1, s34 = u3 + u4, d34 = u3 - u4;
    const VF sixth = N(splat)(1.0f / 6);
    y[0] = u0 * N(splat)(0.25f) - s12 * sixth + s34 * N(splat)(1.0f / 24);
    y[ys] = d12 * sixth + d34 * N(splat)(1.0f / 12);
    y[2 * ys] = (s34 - s12) * sixth + u5;
}

/// out = L · x · Lᵀ for the 1-D transform `f` from r to s points: x is r×r, scratch r×s, out
/// s×s, all row-major. Rows first (scratch = x · Lᵀ), then columns.
#define TWO_SIDED(f, r, s, x, scratch, out)                                                         \
    do {                                                                                            \
        for (size_t row = 0; row < (r); row++) f((x) + row * (r), 1, (scratch) + row * (s), 1);        \
        for (size_t column = 0; column < (s); column++) f((scratch) + column, (s), (out) + column, (s)); \
    } while (0)

/// One row of TWO_SIDED: the 1-D transform of the contiguous x into the contiguous y.
#define ROW(f, x, y) f((x), 1, (y), 1)

/// The column half of TWO_SIDED, for a scratch already holding x · Lᵀ.
#define COLUMNS(f, r, s, scratch, out)                                                              \
    do {                                                                                            \
        for (size_t column = 0; column < (s); column++) f((scratch) + column, (s), (out) + column, (s)); \
    } while (0)

/// `op` (TWO_SIDED or COLUMNS) with the 1-D transform `kind` of F(m×m, 3×3) (m = 2 or 4, a
/// constant once inlined).
#define TRANSFORM_WITH(op, m, kind, ...)                              \
    do {                                                              \
        if ((m) == 2)                                                 \
            op(N(f2_##kind), __VA_ARGS__);                            \
        else                                                          \
            op(N(f4_##kind), __VA_ARGS__);                            \
    } while (0)
#define TRANSFORM(m, kind, ...) TRANSFORM_WITH(TWO_SIDED, m, kind, __VA_ARGS__)

/// Tile geometry: tiles per row and per column of one sample's output.
#define TILE_COUNT(side, m) (((side) + (m) - 1) / (m))

BODY void N(winograd_input)(const size_t m, const float *x, size_t samples, size_t h, size_t w, size_t c,
                            size_t padding, float *v, size_t point_stride) {
    const size_t a = m + 2;
    const size_t rows = TILE_COUNT(h + 2 * padding - 2, m), columns = TILE_COUNT(w + 2 * padding - 2, m);
    VF tile[6], scratch[36], points[36];
    const VF zero = {0};
    size_t t = 0;
    for (size_t s = 0; s < samples; s++) {
        const float *sample = x + s * h * w * c;
        for (size_t ty = 0; ty < rows; ty++) {
            const long y0 = (long)(ty * m) - (long)padding;
            for (size_t tx = 0; tx < columns; tx++, t++) {
                const long x0 = (long)(tx * m) - (long)padding;
                const int inside = y0 >= 0 && y0 + (long)a <= (long)h && x0 >= 0 && x0 + (long)a <= (long)w;
                float *row = v + t * c;
                for (size_t c0 = 0; c0 < c; c0 += VW) {
                    const size_t n = c - c0 < VW ? c - c0 : VW;
                    // Each row of the window is loaded and transformed at once (scratch = d · B).
                    if (inside && n == VW) {
                        const float *corner = sample + ((size_t)y0 * w + (size_t)x0) * c + c0;
                        for (size_t i = 0; i < a; i++) {
                            for (size_t j = 0; j < a; j++) tile[j] = N(load)(corner + (i * w + j) * c);
                            TRANSFORM_WITH(ROW, m, input, tile, scratch + i * a);
                        }
                    } else {
                        for (size_t i = 0; i < a; i++) {
                            const long yi = y0 + (long)i;
                            for (size_t j = 0; j < a; j++) {
                                const long xj = x0 + (long)j;
                                tile[j] = yi >= 0 && yi < (long)h && xj >= 0 && xj < (long)w
                                              ? N(load_n)(sample + ((size_t)yi * w + (size_t)xj) * c + c0, n)
                                              : zero;
                            }
                            TRANSFORM_WITH(ROW, m, input, tile, scratch + i * a);
                        }
                    }
                    TRANSFORM_WITH(COLUMNS, m, input, a, a, scratch, points);
                    for (size_t q = 0; q < a * a; q++) N(store_n)(row + q * point_stride + c0, points[q], n, 0);
                }
            }
        }
    }
}

BODY void N(winograd_output)(const size_t m, const float *products, size_t point_stride, size_t samples,
                             size_t oh, size_t ow, size_t c, float *y, int accumulate) {
    const size_t a = m + 2;
    const size_t rows = TILE_COUNT(oh, m), columns = TILE_COUNT(ow, m);
    VF points[36], scratch[36], tile[16];
    size_t t = 0;
    for (size_t s = 0; s < samples; s++) {
        for (size_t ty = 0; ty < rows; ty++) {
            const size_t height = oh - ty * m < m ? oh - ty * m : m;
            for (size_t tx = 0; tx < columns; tx++, t++) {
                const size_t width = ow - tx * m < m ? ow - tx * m : m;
                float *corner = y + ((s * oh + ty * m) * ow + tx * m) * c;
                const float *row = products + t * c;
                for (size_t c0 = 0; c0 < c; c0 += VW) {
                    const size_t n = c - c0 < VW ? c - c0 : VW;
                    for (size_t q = 0; q < a * a; q++) points[q] = N(load_n)(row + q * point_stride + c0, n);
                    TRANSFORM(m, output, a, m, points, scratch, tile);
                    for (size_t i = 0; i < height; i++) {
                        for (size_t j = 0; j < width; j++) N(store_n)(corner + (i * ow + j) * c + c0, tile[i * m + j], n, accumulate);
                    }
                }
            }
        }
    }
}

BODY void N(winograd_output_gradient)(const size_t m, const float *dy, size_t samples, size_t oh, size_t ow,
                                      size_t c, float *v, size_t point_stride) {
    const size_t a = m + 2;
    const size_t rows = TILE_COUNT(oh, m), columns = TILE_COUNT(ow, m);
    VF tile[16], scratch[36], points[36];
    const VF zero = {0};
    size_t t = 0;
    for (size_t s = 0; s < samples; s++) {
        for (size_t ty = 0; ty < rows; ty++) {
            const size_t height = oh - ty * m < m ? oh - ty * m : m;
            for (size_t tx = 0; tx < columns; tx++, t++) {
                const size_t width = ow - tx * m < m ? ow - tx * m : m;
                const float *corner = dy + ((s * oh + ty * m) * ow + tx * m) * c;
                float *row = v + t * c;
                for (size_t c0 = 0; c0 < c; c0 += VW) {
                    const size_t n = c - c0 < VW ? c - c0 : VW;
                    for (size_t i = 0; i < m; i++) {
                        for (size_t j = 0; j < m; j++)
                            tile[i * m + j] = i < height && j < width ? N(load_n)(corner + (i * ow + j) * c + c0, n) : zero;
                    }
                    TRANSFORM(m, output_gradient, m, a, tile, scratch, points);
                    for (size_t q = 0; q < a * a; q++) N(store_n)(row + q * point_stride + c0, points[q], n, 0);
                }
            }
        }
    }
}

BODY void N(winograd_kernel)(const size_t m, const float *weight, size_t first, size_t last, size_t cout, size_t cin,
                             int flipped, int transposed, float *u, size_t point_stride) {
    const size_t a = m + 2;
    VF kernel[9], scratch[18], points[36];
    for (size_t o = first; o < last; o++) {
        for (size_t c0 = 0; c0 < cin; c0 += VW) {
            const size_t n = cin - c0 < VW ? cin - c0 : VW;
            for (size_t q = 0; q < 9; q++) kernel[q] = N(load_n)(weight + (o * 9 + (flipped ? 8 - q : q)) * cin + c0, n);
            TRANSFORM(m, kernel, 3, a, kernel, scratch, points);
            if (transposed) {
                for (size_t q = 0; q < a * a; q++) {
                    for (size_t l = 0; l < n; l++) u[q * point_stride + (c0 + l) * cout + o] = points[q][l];
                }
            } else {
                for (size_t q = 0; q < a * a; q++) N(store_n)(u + q * point_stride + o * cin + c0, points[q], n, 0);
            }
        }
    }
}

BODY void N(winograd_kernel_gradient)(const size_t m, const float *du, size_t point_stride, size_t first,
                                      size_t last, size_t cin, float *weight_gradient) {
    const size_t a = m + 2;
    VF points[36], scratch[18], kernel[9];
    for (size_t o = first; o < last; o++) {
        for (size_t c0 = 0; c0 < cin; c0 += VW) {
            const size_t n = cin - c0 < VW ? cin - c0 : VW;
            for (size_t q = 0; q < a * a; q++) points[q] = N(load_n)(du + q * point_stride + o * cin + c0, n);
            TRANSFORM(m, kernel_gradient, a, 3, points, scratch, kernel);
            for (size_t q = 0; q < 9; q++) N(store_n)(weight_gradient + (o * 9 + q) * cin + c0, kernel[q], n, 1);
        }
    }
}

#undef TILE_COUNT
#undef TWO_SIDED
#undef TRANSFORM
#undef TRANSFORM_WITH
#undef ROW
#undef COLUMNS
