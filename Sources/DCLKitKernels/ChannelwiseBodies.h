// The bodies of the channel-wise kernels (DCLKitKernels.h) on VW-lane vectors; included by
// Channelwise.c once per width. Each column loop runs whole vectors, then one partial vector
// for the c mod VW channels left.

#include "Vectors.h"

BODY void N(scale_shift)(const float *x, const float *skip, float *y, size_t rows, size_t c, const float *scale,
                         const float *shift, int relu) {
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            VF v = N(load_n)(x + o + j, n) * N(load_n)(scale + j, n) + N(load_n)(shift + j, n);
            if (skip) v += N(load_n)(skip + o + j, n);
            N(store_n)(y + o + j, relu ? N(relu)(v) : v, n, 0);
        }
    }
}

BODY void N(affine2)(const float *g, const float *x, float *out, size_t rows, size_t c, const float *a, const float *b,
                     const float *k) {
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            const VF v = N(load_n)(a + j, n) * N(load_n)(g + o + j, n)
                         + (N(load_n)(b + j, n) * N(load_n)(x + o + j, n) + N(load_n)(k + j, n));
            N(store_n)(out + o + j, v, n, 0);
        }
    }
}

// The two reductions below keep their sums in registers over all rows when the channels fit in
// SUM_VECTORS vectors (`vectors` a constant in each specialisation): summed in memory row by
// row, the few chains of a narrow layer wait on store-to-load forwarding. Wider layers have
// enough independent vectors per row to sum in memory.
#define SUM_VECTORS 4

/// The lanes of channel vector v (of c channels) that are channels.
#define LANES(v) (c - (v) * VW < VW ? c - (v) * VW : VW)

BODY void N(moment_sums_in_registers)(const size_t vectors, const float *x, size_t rows, size_t c, const float *shift,
                                      float *acc) {
    VF sums[SUM_VECTORS], squares[SUM_VECTORS], shifts[SUM_VECTORS];
    for (size_t v = 0; v < vectors; v++) {
        sums[v] = squares[v] = (VF){0};
        shifts[v] = N(load_n)(shift + v * VW, LANES(v));
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) {
            const VF d = N(load_n)(x + r * c + v * VW, LANES(v)) - shifts[v];
            sums[v] += d;
            squares[v] += d * d;
        }
    }
    for (size_t v = 0; v < vectors; v++) {
        N(store_n)(acc + v * VW, sums[v], LANES(v), 1);
        N(store_n)(acc + c + v * VW, squares[v], LANES(v), 1);
    }
}

BODY void N(moment_sums)(const float *x, size_t rows, size_t c, const float *shift, float *acc) {
    switch ((c + VW - 1) / VW) {
    case 1: N(moment_sums_in_registers)(1, x, rows, c, shift, acc); return;
    case 2: N(moment_sums_in_registers)(2, x, rows, c, shift, acc); return;
    case 3: N(moment_sums_in_registers)(3, x, rows, c, shift, acc); return;
    case 4: N(moment_sums_in_registers)(4, x, rows, c, shift, acc); return;
    default: break;
    }
    float *squares = acc + c;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            const VF d = N(load_n)(row + j, n) - N(load_n)(shift + j, n);
            N(store_n)(acc + j, d, n, 1);
            N(store_n)(squares + j, d * d + N(load_n)(squares + j, n), n, 0);
        }
    }
}

BODY void N(gradient_sums_in_registers)(const size_t vectors, float *g, const float *x, const float *y, size_t rows,
                                        size_t c, const float *mean, float *acc, int relu) {
    VF sums[SUM_VECTORS], products[SUM_VECTORS], means[SUM_VECTORS];
    for (size_t v = 0; v < vectors; v++) {
        sums[v] = products[v] = (VF){0};
        means[v] = N(load_n)(mean + v * VW, LANES(v));
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) {
            const size_t o = r * c + v * VW;
            VF gv = N(load_n)(g + o, LANES(v));
            if (relu) {
                gv = N(mask)(gv, N(load_n)(y + o, LANES(v)));
                N(store_n)(g + o, gv, LANES(v), 0);
            }
            sums[v] += gv;
            products[v] += gv * (N(load_n)(x + o, LANES(v)) - means[v]);
        }
    }
    for (size_t v = 0; v < vectors; v++) {
        N(store_n)(acc + v * VW, sums[v], LANES(v), 1);
        N(store_n)(acc + c + v * VW, products[v], LANES(v), 1);
    }
}

BODY void N(gradient_sums)(float *g, const float *x, const float *y, size_t rows, size_t c, const float *mean, float *acc,
                           int relu) {
    switch ((c + VW - 1) / VW) {
    case 1: N(gradient_sums_in_registers)(1, g, x, y, rows, c, mean, acc, relu); return;
    case 2: N(gradient_sums_in_registers)(2, g, x, y, rows, c, mean, acc, relu); return;
    case 3: N(gradient_sums_in_registers)(3, g, x, y, rows, c, mean, acc, relu); return;
    case 4: N(gradient_sums_in_registers)(4, g, x, y, rows, c, mean, acc, relu); return;
    default: break;
    }
    float *products = acc + c;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            VF gv = N(load_n)(g + o + j, n);
            if (relu) {
                gv = N(mask)(gv, N(load_n)(y + o + j, n));
                N(store_n)(g + o + j, gv, n, 0);
            }
            N(store_n)(acc + j, gv, n, 1);
            N(store_n)(products + j, gv * (N(load_n)(x + o + j, n) - N(load_n)(mean + j, n)) + N(load_n)(products + j, n), n, 0);
        }
    }
}

#undef LANES
#undef SUM_VECTORS

BODY void N(relu_rows)(const float *x, float *y, size_t count) {
    for (size_t i = 0; i < count; i += VW) {
        const size_t n = count - i < VW ? count - i : VW;
        N(store_n)(y + i, N(relu)(N(load_n)(x + i, n)), n, 0);
    }
}

BODY void N(relu_backward)(const float *g, const float *y, float *dx, size_t count) {
    for (size_t i = 0; i < count; i += VW) {
        const size_t n = count - i < VW ? count - i : VW;
        N(store_n)(dx + i, N(mask)(N(load_n)(g + i, n), N(load_n)(y + i, n)), n, 0);
    }
}

BODY void N(column_sums)(const float *x, size_t rows, size_t c, float *acc) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            N(store_n)(acc + j, N(load_n)(row + j, n), n, 1);
        }
    }
}

BODY void N(broadcast_rows)(const float *v, float s, float *out, size_t rows, size_t c) {
    const VF sv = N(splat)(s);
    for (size_t r = 0; r < rows; r++) {
        float *row = out + r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            N(store_n)(row + j, N(load_n)(v + j, n) * sv, n, 0);
        }
    }
}
