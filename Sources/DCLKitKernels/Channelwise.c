// The channel-wise kernels of DCLKitKernels.h. Each body is written once on 8-wide generic
// vectors and inlined into two entry points: one compiled for the baseline target (the vectors
// lower to pairs of SSE2 operations) and one with target("avx2,fma") (one AVX2 operation, and
// `a * b + c` contracts to an FMA). The public function picks one by `dclk_simd_level()`.

#include "DCLKitKernels.h"

#include <string.h>

// The 8-wide helpers below are always inlined, so no vector crosses a call: the ABI note clang
// gives for them in the baseline functions does not apply.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

#define BODY static inline __attribute__((always_inline))

BODY v8 load8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

BODY void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

/// max(v, 0), keeping NaN (only lanes below zero become 0).
BODY v8 relu8(v8 v) {
    const v8 zero = {0};
    return (v8)((v8i)v & ~(v8i)(v < zero));
}

/// g where y > 0, else 0.
BODY v8 mask8(v8 g, v8 y) {
    const v8 zero = {0};
    return (v8)((v8i)g & (v8i)(y > zero));
}

BODY float relu1(float v) { return v < 0 ? 0 : v; }

BODY void scale_shift_body(const float *x, const float *skip, float *y, size_t rows, size_t c,
                           const float *scale, const float *shift, int relu) {
    const size_t vc = c & ~(size_t)7;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        size_t j = 0;
        for (; j < vc; j += 8) {
            v8 v = load8(x + o + j) * load8(scale + j) + load8(shift + j);
            if (skip) v += load8(skip + o + j);
            store8(y + o + j, relu ? relu8(v) : v);
        }
        for (; j < c; j++) {
            float v = x[o + j] * scale[j] + shift[j];
            if (skip) v += skip[o + j];
            y[o + j] = relu ? relu1(v) : v;
        }
    }
}

BODY void affine2_body(const float *g, const float *x, float *out, size_t rows, size_t c,
                       const float *a, const float *b, const float *k) {
    const size_t vc = c & ~(size_t)7;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        size_t j = 0;
        for (; j < vc; j += 8)
            store8(out + o + j, load8(a + j) * load8(g + o + j) + (load8(b + j) * load8(x + o + j) + load8(k + j)));
        for (; j < c; j++) out[o + j] = a[j] * g[o + j] + (b[j] * x[o + j] + k[j]);
    }
}

BODY void moment_sums_body(const float *x, size_t rows, size_t c, const float *shift, float *acc) {
    const size_t vc = c & ~(size_t)7;
    float *squares = acc + c;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * c;
        size_t j = 0;
        for (; j < vc; j += 8) {
            const v8 d = load8(row + j) - load8(shift + j);
            store8(acc + j, load8(acc + j) + d);
            store8(squares + j, d * d + load8(squares + j));
        }
        for (; j < c; j++) {
            const float d = row[j] - shift[j];
            acc[j] += d;
            squares[j] += d * d;
        }
    }
}

BODY void gradient_sums_body(float *g, const float *x, const float *y, size_t rows, size_t c,
                             const float *mean, float *acc, int relu) {
    const size_t vc = c & ~(size_t)7;
    float *products = acc + c;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        size_t j = 0;
        for (; j < vc; j += 8) {
            v8 gv = load8(g + o + j);
            if (relu) {
                gv = mask8(gv, load8(y + o + j));
                store8(g + o + j, gv);
            }
            store8(acc + j, load8(acc + j) + gv);
            store8(products + j, gv * (load8(x + o + j) - load8(mean + j)) + load8(products + j));
        }
        for (; j < c; j++) {
            float gj = g[o + j];
            if (relu) {
                gj = y[o + j] > 0 ? gj : 0;
                g[o + j] = gj;
            }
            acc[j] += gj;
            products[j] += gj * (x[o + j] - mean[j]);
        }
    }
}

BODY void relu_body(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) store8(y + i, relu8(load8(x + i)));
    for (; i < n; i++) y[i] = relu1(x[i]);
}

BODY void relu_backward_body(const float *g, const float *y, float *dx, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) store8(dx + i, mask8(load8(g + i), load8(y + i)));
    for (; i < n; i++) dx[i] = y[i] > 0 ? g[i] : 0;
}

BODY void column_sums_body(const float *x, size_t rows, size_t c, float *acc) {
    const size_t vc = c & ~(size_t)7;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * c;
        size_t j = 0;
        for (; j < vc; j += 8) store8(acc + j, load8(acc + j) + load8(row + j));
        for (; j < c; j++) acc[j] += row[j];
    }
}

BODY void broadcast_rows_body(const float *v, float s, float *out, size_t rows, size_t c) {
    const size_t vc = c & ~(size_t)7;
    const v8 sv = {s, s, s, s, s, s, s, s};
    for (size_t r = 0; r < rows; r++) {
        float *row = out + r * c;
        size_t j = 0;
        for (; j < vc; j += 8) store8(row + j, load8(v + j) * sv);
        for (; j < c; j++) row[j] = v[j] * s;
    }
}

#if defined(__x86_64__)
#define WIDE __attribute__((target("avx2,fma")))
#define HAS_WIDE 1
#else
#define WIDE
#define HAS_WIDE 0
#endif

/// Defines `name` running `body` at the baseline or, when the level allows, with AVX2 + FMA.
#define DISPATCHED(name, body, params, args)                             \
    static void name##_baseline params { body args; }                   \
    WIDE static void name##_wide params { body args; }                  \
    void name params {                                                  \
        if (HAS_WIDE && dclk_simd_level() == DCLK_SIMD_AVX2_FMA)        \
            name##_wide args;                                           \
        else                                                            \
            name##_baseline args;                                       \
    }

DISPATCHED(dclk_scale_shift_rows, scale_shift_body,
           (const float *x, const float *skip, float *y, size_t rows, size_t c, const float *scale,
            const float *shift, int relu),
           (x, skip, y, rows, c, scale, shift, relu))

DISPATCHED(dclk_affine2_rows, affine2_body,
           (const float *g, const float *x, float *out, size_t rows, size_t c, const float *a,
            const float *b, const float *k),
           (g, x, out, rows, c, a, b, k))

DISPATCHED(dclk_moment_sums, moment_sums_body,
           (const float *x, size_t rows, size_t c, const float *shift, float *acc),
           (x, rows, c, shift, acc))

DISPATCHED(dclk_gradient_sums, gradient_sums_body,
           (float *g, const float *x, const float *y, size_t rows, size_t c, const float *mean,
            float *acc, int relu),
           (g, x, y, rows, c, mean, acc, relu))

DISPATCHED(dclk_relu, relu_body, (const float *x, float *y, size_t n), (x, y, n))

DISPATCHED(dclk_relu_backward, relu_backward_body, (const float *g, const float *y, float *dx, size_t n),
           (g, y, dx, n))

DISPATCHED(dclk_column_sums, column_sums_body, (const float *x, size_t rows, size_t c, float *acc),
           (x, rows, c, acc))

DISPATCHED(dclk_broadcast_rows, broadcast_rows_body,
           (const float *v, float s, float *out, size_t rows, size_t c),
           (v, s, out, rows, c))
