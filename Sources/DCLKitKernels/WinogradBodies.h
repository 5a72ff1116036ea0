// The bodies of the Winograd tile transforms (DCLKitKernels.h) on VW-lane vectors of channels;
// included by Winograd.c once per width. The 1-D transforms are straight-line code that reads
// x[0], x[xs], … and writes y[0], y[ys], …; a 2-D transform L · X · Lᵀ is the 1-D one over the
// columns, then over the rows (`two_sided`). The factorings are Lavin & Gray's (2016) with the
// usual pairing of the rows ±1 and ±2; `WinogradConvolutionTests` checks them against the
// matrices of `WinogradTiling`.

#include "Vectors.h"
#include <stdint.h>

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

/// Fully unrolls the loop that follows. The tile loops have constant trip counts once m is, and
/// unrolled, their arrays of vectors become registers instead of stack slots (clang at -O2 keeps
/// 36-iteration loops rolled otherwise, spilling every point to the stack and back).
#define UNROLLED _Pragma("clang loop unroll(full)")

/// out = L · x · Lᵀ for the 1-D transform `f` from r to s points: x is r×r, scratch r×s, out
/// s×s, all row-major. Rows first (scratch = x · Lᵀ), then columns.
#define TWO_SIDED(f, r, s, x, scratch, out)                                             \
    do {                                                                                \
        UNROLLED for (size_t row = 0; row < (r); row++)                                 \
            f((x) + row * (r), 1, (scratch) + row * (s), 1);                            \
        UNROLLED for (size_t column = 0; column < (s); column++)                        \
            f((scratch) + column, (s), (out) + column, (s));                            \
    } while (0)

/// One row of TWO_SIDED: the 1-D transform of the contiguous x into the contiguous y.
#define ROW(f, x, y) f((x), 1, (y), 1)

/// The column half of TWO_SIDED, for a scratch already holding x · Lᵀ.
#define COLUMNS(f, r, s, scratch, out)                                                  \
    do {                                                                                \
        UNROLLED for (size_t column = 0; column < (s); column++)                        \
            f((scratch) + column, (s), (out) + column, (s));                            \
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

/// The columns [j0, j1) (j0 < j1) of an r-wide tile that lie in the image, as CLIPPED_ROW reads
/// them: `offset[j]`, the offset from its row of column j's vector (first + j·pixel_stride, or
/// that of the nearest column inside, so that every load is in bounds), and `keep[j]`, all ones
/// inside and 0 outside. With constant bounds (0, r) it folds to first + j·pixel_stride and ones.
#define CLIPPED_COLUMNS(offset, keep, r, first, pixel_stride, j0, j1)                  \
    UNROLLED for (size_t j = 0; j < (r); j++) {                                        \
        const size_t nearest = j < (j0) ? (j0) : j >= (j1) ? (j1) - 1 : j;               \
        (offset)[j] = (first) + (long)(nearest * (pixel_stride));                      \
        (keep)[j] = j >= (j0) && j < (j1) ? -1 : 0;                                    \
    }

/// Loads the r channel vectors (first n ≤ VW lanes) of one tile row at `row` into `tile`, zero
/// outside the columns CLIPPED_COLUMNS described: a load and an and each, no branch.
#define CLIPPED_ROW(tile, r, row, offset, keep, n)                                     \
    UNROLLED for (size_t j = 0; j < (r); j++)                                          \
        (tile)[j] = (VF)((VI)N(load_n)((row) + (offset)[j], (n)) & ((VI){0} + (keep)[j]))

/// Bᵀ d B of channels [0, n) of one α×α input window at (y0, x0) of an image whose rows are
/// `row_stride` floats apart at `base` (pixels c apart), of which the window's rows [i0, i1)
/// and columns [j0, j1) lie in the image (the rest is zero padding; i0 < i1 and j0 < j1, or
/// i0 = i1 for a window all in the padding); only elements in the image are read. Point q goes
/// to out + q·point_stride. With the bounds constants (0, α) and n = VW it is the plain
/// transform of a whole window.
BODY void N(input_tile)(const size_t m, const float *base, long y0, long x0, size_t row_stride, size_t c, size_t i0,
                        size_t i1, size_t j0, size_t j1, size_t n, float *out, size_t point_stride) {
    const size_t a = m + 2;
    const VF zero = {0};
    VF tile[6], scratch[36], points[36];
    long offset[6];
    int keep[6];
    CLIPPED_COLUMNS(offset, keep, a, x0 * (long)c, c, j0, j1);
    UNROLLED for (size_t i = 0; i < a; i++) {
        if (i < i0 || i >= i1) {
            UNROLLED for (size_t j = 0; j < a; j++) scratch[i * a + j] = zero;
        } else {
            CLIPPED_ROW(tile, a, base + (size_t)(y0 + (long)i) * row_stride, offset, keep, n);
            TRANSFORM_WITH(ROW, m, input, tile, scratch + i * a);
        }
    }
    TRANSFORM_WITH(COLUMNS, m, input, a, a, scratch, points);
    UNROLLED for (size_t q = 0; q < a * a; q++) N(store_n)(out + q * point_stride, points[q], n, 0);
}

/// v clamped to [0, limit].
BODY size_t N(clamped)(long v, size_t limit) { return v < 0 ? 0 : (size_t)v > limit ? limit : (size_t)v; }

BODY void N(winograd_input)(const size_t m, const float *x, size_t samples, size_t h, size_t w, size_t c,
                            size_t padding, float *v, size_t point_stride) {
    const size_t a = m + 2;
    const size_t rows = TILE_COUNT(h + 2 * padding - 2, m), columns = TILE_COUNT(w + 2 * padding - 2, m);
    const size_t row_stride = w * c, whole = c / VW * VW;
    size_t t = 0;
    for (size_t s = 0; s < samples; s++) {
        const float *sample = x + s * h * w * c;
        for (size_t ty = 0; ty < rows; ty++) {
            const long y0 = (long)(ty * m) - (long)padding;
            // The window's rows in the image, relative to the window: [i0, i1).
            const size_t i0 = N(clamped)(-y0, a), i1 = N(clamped)((long)h - y0, a);
            for (size_t tx = 0; tx < columns; tx++, t++) {
                const long x0 = (long)(tx * m) - (long)padding;
                const size_t j0 = N(clamped)(-x0, a), j1 = N(clamped)((long)w - x0, a);
                // A window all in the padding (padding > m + 1) reads no row.
                const size_t rows_end = j0 < j1 ? i1 : i0;
                float *out = v + t * c;
                if (i0 == 0 && i1 == a && j0 == 0 && j1 == a) {
                    for (size_t c0 = 0; c0 < whole; c0 += VW)
                        N(input_tile)(m, sample + c0, y0, x0, row_stride, c, 0, a, 0, a, VW, out + c0, point_stride);
                } else {
                    for (size_t c0 = 0; c0 < whole; c0 += VW)
                        N(input_tile)(m, sample + c0, y0, x0, row_stride, c, i0, rows_end, j0, j1, VW, out + c0, point_stride);
                }
                if (whole < c)
                    N(input_tile)(m, sample + whole, y0, x0, row_stride, c, i0, rows_end, j0, j1, c - whole, out + whole,
                                  point_stride);
            }
        }
    }
}

/// Aᵀ M A of channels [0, n) of one tile, point q at products + q·point_stride, written (or
/// added when `accumulate`) to its height × width part of the output at corner, pixel (i, j) at
/// corner + i·row_stride + j·c.
BODY void N(output_tile)(const size_t m, const float *products, size_t point_stride, size_t height, size_t width,
                         size_t n, float *corner, size_t row_stride, size_t c, int accumulate) {
    const size_t a = m + 2;
    VF points[36], scratch[36], tile[16];
    UNROLLED for (size_t q = 0; q < a * a; q++) points[q] = N(load_n)(products + q * point_stride, n);
    TRANSFORM(m, output, a, m, points, scratch, tile);
    UNROLLED for (size_t i = 0; i < m; i++) {
        UNROLLED for (size_t j = 0; j < m; j++) {
            if (i < height && j < width) N(store_n)(corner + i * row_stride + j * c, tile[i * m + j], n, accumulate);
        }
    }
}

BODY void N(winograd_output)(const size_t m, const float *products, size_t point_stride, size_t samples,
                             size_t oh, size_t ow, size_t c, float *y, int accumulate) {
    const size_t rows = TILE_COUNT(oh, m), columns = TILE_COUNT(ow, m);
    const size_t row_stride = ow * c, whole = c / VW * VW;
    size_t t = 0;
    for (size_t s = 0; s < samples; s++) {
        for (size_t ty = 0; ty < rows; ty++) {
            const size_t height = oh - ty * m < m ? oh - ty * m : m;
            for (size_t tx = 0; tx < columns; tx++, t++) {
                const size_t width = ow - tx * m < m ? ow - tx * m : m;
                float *corner = y + ((s * oh + ty * m) * ow + tx * m) * c;
                const float *in = products + t * c;
                if (height == m && width == m && !accumulate) {
                    for (size_t c0 = 0; c0 < whole; c0 += VW)
                        N(output_tile)(m, in + c0, point_stride, m, m, VW, corner + c0, row_stride, c, 0);
                } else {
                    for (size_t c0 = 0; c0 < whole; c0 += VW)
                        N(output_tile)(m, in + c0, point_stride, height, width, VW, corner + c0, row_stride, c, accumulate);
                }
                if (whole < c)
                    N(output_tile)(m, in + whole, point_stride, height, width, c - whole, corner + whole, row_stride, c,
                                   accumulate);
            }
        }
    }
}

/// A dY Aᵀ of channels [0, n) of one output tile whose first `height` rows and `width` columns
/// lie in the output (the rest counts as zero and is not read), dY's pixel (i, j) at corner +
/// i·row_stride + j·c; point q goes to out + q·point_stride. Rows outside transform to zero.
BODY void N(output_gradient_tile)(const size_t m, const float *corner, size_t row_stride, size_t c, size_t height,
                                  size_t width, size_t n, float *out, size_t point_stride) {
    const size_t a = m + 2;
    const VF zero = {0};
    VF tile[4], scratch[36], points[36];
    long offset[4];
    int keep[4];
    CLIPPED_COLUMNS(offset, keep, m, 0, c, 0, width);
    UNROLLED for (size_t i = 0; i < m; i++) {
        if (i >= height) {
            UNROLLED for (size_t j = 0; j < a; j++) scratch[i * a + j] = zero;
        } else {
            CLIPPED_ROW(tile, m, corner + i * row_stride, offset, keep, n);
            TRANSFORM_WITH(ROW, m, output_gradient, tile, scratch + i * a);
        }
    }
    TRANSFORM_WITH(COLUMNS, m, output_gradient, m, a, scratch, points);
    UNROLLED for (size_t q = 0; q < a * a; q++) N(store_n)(out + q * point_stride, points[q], n, 0);
}

BODY void N(winograd_output_gradient)(const size_t m, const float *dy, size_t samples, size_t oh, size_t ow,
                                      size_t c, float *v, size_t point_stride) {
    const size_t rows = TILE_COUNT(oh, m), columns = TILE_COUNT(ow, m);
    const size_t row_stride = ow * c, whole = c / VW * VW;
    size_t t = 0;
    for (size_t s = 0; s < samples; s++) {
        for (size_t ty = 0; ty < rows; ty++) {
            const size_t height = oh - ty * m < m ? oh - ty * m : m;
            for (size_t tx = 0; tx < columns; tx++, t++) {
                const size_t width = ow - tx * m < m ? ow - tx * m : m;
                const float *corner = dy + ((s * oh + ty * m) * ow + tx * m) * c;
                float *out = v + t * c;
                if (height == m && width == m) {
                    for (size_t c0 = 0; c0 < whole; c0 += VW)
                        N(output_gradient_tile)(m, corner + c0, row_stride, c, m, m, VW, out + c0, point_stride);
                } else {
                    for (size_t c0 = 0; c0 < whole; c0 += VW)
                        N(output_gradient_tile)(m, corner + c0, row_stride, c, height, width, VW, out + c0, point_stride);
                }
                if (whole < c)
                    N(output_gradient_tile)(m, corner + whole, row_stride, c, height, width, c - whole, out + whole,
                                            point_stride);
            }
        }
    }
}

/// The size in floats (16 MiB) beyond which `winograd_kernel` writes its (α², cout, cin) output
/// with non-temporal stores. Beyond about half a 32 MiB L3, the products read the matrices from
/// memory anyway, and ordinary stores to the α² = 36 streams, each a line read for ownership
/// first, wrote 512 channels' 36 MiB at about 2 GB/s (Zen 4, one thread: 15-50 ms against 2 ms
/// non-temporal). Smaller kernels stay in the caches for the products that follow.
#define STREAMED_KERNEL_FLOATS ((size_t)1 << 22)

/// v written at p, which is aligned to a whole vector, with a non-temporal store.
BODY void N(store_streaming)(float *p, VF v) { __builtin_nontemporal_store(v, (VF *)p); }

/// Orders the thread's earlier non-temporal stores before its later stores.
BODY void N(store_fence)(void) {
#if defined(__x86_64__)
    _mm_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

BODY void N(winograd_kernel)(const size_t m, const float *weight, size_t first, size_t last, size_t cout, size_t cin,
                             int flipped, int transposed, float *u, size_t point_stride) {
    const size_t a = m + 2;
    const int stream = !transposed && a * a * point_stride > STREAMED_KERNEL_FLOATS && point_stride % VW == 0;
    VF kernel[9], scratch[18], points[36];
    for (size_t o = first; o < last; o++) {
        for (size_t c0 = 0; c0 < cin; c0 += VW) {
            const size_t n = cin - c0 < VW ? cin - c0 : VW;
            for (size_t q = 0; q < 9; q++) kernel[q] = N(load_n)(weight + (o * 9 + (flipped ? 8 - q : q)) * cin + c0, n);
            TRANSFORM(m, kernel, 3, a, kernel, scratch, points);
            float *row = u + o * cin + c0;
            if (transposed) {
                for (size_t q = 0; q < a * a; q++) {
                    for (size_t l = 0; l < n; l++) u[q * point_stride + (c0 + l) * cout + o] = points[q][l];
                }
            } else if (stream && n == VW && (uintptr_t)row % sizeof(VF) == 0) {
                for (size_t q = 0; q < a * a; q++) N(store_streaming)(row + q * point_stride, points[q]);
            } else {
                for (size_t q = 0; q < a * a; q++) N(store_n)(row + q * point_stride, points[q], n, 0);
            }
        }
    }
    // Non-temporal stores are weakly ordered: they must be visible before the caller's barrier.
    if (stream) N(store_fence)();
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
#undef STREAMED_KERNEL_FLOATS
#undef TWO_SIDED
#undef TRANSFORM
#undef TRANSFORM_WITH
#undef ROW
#undef COLUMNS
#undef CLIPPED_ROW
#undef CLIPPED_COLUMNS
#undef UNROLLED
