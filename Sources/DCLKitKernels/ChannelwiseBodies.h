// The bodies of the channel-wise kernels (DCLKitKernels.h) on VW-lane vectors; included by
// Channelwise.c once per width. Each column loop runs whole vectors, then one partial vector
// for the c mod VW channels left.

#include "Vectors.h"

/// x·s + t: the normalisation before the ReLU, one expression (an FMA where the target has one),
/// shared by the forward and the ReLU gate of backward so both round it alike.
BODY VF N(normalized)(VF x, VF s, VF t) { return x * s + t; }

/// g where x·s + t > 0, else 0: the ReLU's mask recomputed from the normalisation's input, the
/// same lanes as `mask(g, y)` with y the forward's output.
BODY VF N(gated)(VF g, VF x, VF s, VF t) { return N(mask)(g, N(normalized)(x, s, t)); }

BODY void N(scale_shift)(const float *x, const float *skip, float *y, size_t rows, size_t c, const float *scale,
                         const float *shift, int relu) {
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            VF v = N(normalized)(N(load_n)(x + o + j, n), N(load_n)(scale + j, n), N(load_n)(shift + j, n));
            if (skip) v += N(load_n)(skip + o + j, n);
            N(store_n)(y + o + j, relu ? N(relu)(v) : v, n, 0);
        }
    }
}

BODY void N(affine2)(const float *g, const float *x, float *out, size_t rows, size_t c, const float *a, const float *b,
                     const float *k, const float *gate) {
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            const VF xv = N(load_n)(x + o + j, n);
            VF gv = N(load_n)(g + o + j, n);
            if (gate) gv = N(gated)(gv, xv, N(load_n)(gate + j, n), N(load_n)(gate + c + j, n));
            const VF v = N(load_n)(a + j, n) * gv + (N(load_n)(b + j, n) * xv + N(load_n)(k + j, n));
            N(store_n)(out + o + j, v, n, 0);
        }
    }
}

// The two reductions below keep their sums in registers over all rows when the channels fit in
// SUM_VECTORS vectors (`vectors` a constant in each specialisation): summed in memory row by
// row, the few chains of a narrow layer wait on store-to-load forwarding. Wider layers have
// enough independent vectors per row to sum in memory. (Read from memory, wider layers ran
// slower both as strips of channels over tiles of rows and with two rows per step.)
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

/// g at offset o masked by the ReLU (see `gradient_sums`): by y, written back into g; by the gate
/// (scale s, shift t, recomputed from x); or g as it is.
BODY VF N(masked_gradient)(float *g, const float *y, VF xv, VF s, VF t, int gated, size_t o, size_t n) {
    VF gv = N(load_n)(g + o, n);
    if (y) {
        gv = N(mask)(gv, N(load_n)(y + o, n));
        N(store_n)(g + o, gv, n, 0);
    } else if (gated) {
        gv = N(gated)(gv, xv, s, t);
    }
    return gv;
}

BODY void N(gradient_sums_in_registers)(const size_t vectors, float *g, const float *x, const float *y,
                                        const float *gate, size_t rows, size_t c, const float *mean, float *acc) {
    VF sums[SUM_VECTORS], products[SUM_VECTORS], means[SUM_VECTORS], scales[SUM_VECTORS], shifts[SUM_VECTORS];
    for (size_t v = 0; v < vectors; v++) {
        sums[v] = products[v] = (VF){0};
        means[v] = N(load_n)(mean + v * VW, LANES(v));
        scales[v] = gate ? N(load_n)(gate + v * VW, LANES(v)) : (VF){0};
        shifts[v] = gate ? N(load_n)(gate + c + v * VW, LANES(v)) : (VF){0};
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t v = 0; v < vectors; v++) {
            const size_t o = r * c + v * VW;
            const VF xv = N(load_n)(x + o, LANES(v));
            const VF gv = N(masked_gradient)(g, y, xv, scales[v], shifts[v], gate != 0, o, LANES(v));
            sums[v] += gv;
            products[v] += gv * (xv - means[v]);
        }
    }
    for (size_t v = 0; v < vectors; v++) {
        N(store_n)(acc + v * VW, sums[v], LANES(v), 1);
        N(store_n)(acc + c + v * VW, products[v], LANES(v), 1);
    }
}

BODY void N(gradient_sums)(float *g, const float *x, const float *y, const float *gate, size_t rows, size_t c,
                           const float *mean, float *acc) {
    switch ((c + VW - 1) / VW) {
    case 1: N(gradient_sums_in_registers)(1, g, x, y, gate, rows, c, mean, acc); return;
    case 2: N(gradient_sums_in_registers)(2, g, x, y, gate, rows, c, mean, acc); return;
    case 3: N(gradient_sums_in_registers)(3, g, x, y, gate, rows, c, mean, acc); return;
    case 4: N(gradient_sums_in_registers)(4, g, x, y, gate, rows, c, mean, acc); return;
    default: break;
    }
    float *products = acc + c;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * c;
        for (size_t j = 0; j < c; j += VW) {
            const size_t n = c - j < VW ? c - j : VW;
            const VF xv = N(load_n)(x + o + j, n);
            const VF s = gate ? N(load_n)(gate + j, n) : (VF){0}, t = gate ? N(load_n)(gate + c + j, n) : (VF){0};
            const VF gv = N(masked_gradient)(g, y, xv, s, t, gate != 0, o + j, n);
            N(store_n)(acc + j, gv, n, 1);
            N(store_n)(products + j, gv * (xv - N(load_n)(mean + j, n)) + N(load_n)(products + j, n), n, 0);
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
