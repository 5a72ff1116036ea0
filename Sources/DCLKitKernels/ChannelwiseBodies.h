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

BODY void N(moment_sums)(const float *x, size_t rows, size_t c, const float *shift, float *acc) {
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

BODY void N(gradient_sums)(float *g, const float *x, const float *y, size_t rows, size_t c, const float *mean, float *acc,
                           int relu) {
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
