// The bodies of `dclk_direct_conv3x3` and `dclk_direct_conv3x3_weight_gradient` (DCLKitKernels.h)
// on VW-lane vectors; included by DirectConvolution.c once per width. Each sample is first copied
// into a zero-bordered scratch image, so no tap needs a bounds check. Register blocking, with
// output channels across the lanes:
// - forward: a block of up to PIXELS(V) output pixels of one row by V vectors of channels lives
//   in registers over all 9·Cin taps; per tap, V kernel vectors are loaded (L1) and one input
//   value per pixel is broadcast. A row's last block is shifted left to end at the row's end
//   (its overlap is computed twice, with the same operations in the same order: the same bits).
// - weight gradient: a block of R kernel rows × T taps of a row × V vectors of channels lives in
//   registers over every pixel of a sample; per pixel, V vectors of dy are loaded and one input
//   value per tap is broadcast; the block is then added to the (Cout, 3, 3, Cin) gradient.
// Every block size is a constant in each specialisation, and Cin = 3 (the image stem) is built
// as a constant too, so the taps unroll with constant offsets.

#include "Vectors.h"

#if VW == 16
#define DIRECT_COLUMNS 4
#define DIRECT_MAX_PIXELS 16
#else
#define DIRECT_COLUMNS 3
#define DIRECT_MAX_PIXELS 8
#endif

/// Copies sample `x` (h, w, cin) into `padded` (h + 2p, w + 2p, cin) inside a zero border of p.
BODY void N(direct_pad)(const float *x, size_t h, size_t w, size_t cin, size_t p, float *padded) {
    const size_t wp = w + 2 * p;
    memset(padded, 0, (h + 2 * p) * wp * cin * sizeof(float));
    for (size_t iy = 0; iy < h; iy++) memcpy(padded + ((iy + p) * wp + p) * cin, x + iy * w * cin, w * cin * sizeof(float));
}

/// Output pixels [ox, ox + pixels) of row oy, channels [col, col + (vectors − 1)·VW + last), of
/// one sample: xp the padded sample (row length wp), y the sample's output (·, ow, cout).
BODY void N(direct_block)(const size_t pixels, const size_t vectors, const size_t cin, const float *xp, size_t wp, size_t oy,
                          size_t ox, const float *kernels, size_t col, size_t last, float *y, size_t ow, size_t cout) {
    VF acc[DIRECT_MAX_PIXELS][DIRECT_COLUMNS];
    for (size_t j = 0; j < pixels; j++) {
        for (size_t v = 0; v < vectors; v++) acc[j][v] = (VF){0};
    }
    // Vector v's kernels: its block of 16 channels, at its offset within the block.
    const float *k[DIRECT_COLUMNS];
    for (size_t v = 0; v < vectors; v++) k[v] = kernels + (col + v * VW) / 16 * 9 * cin * 16 + (col + v * VW) % 16;
    for (size_t ky = 0; ky < 3; ky++) {
        const float *row = xp + ((oy + ky) * wp + ox) * cin;
        for (size_t u = 0; u < 3 * cin; u++) {
            VF kv[DIRECT_COLUMNS];
            for (size_t v = 0; v < vectors; v++) kv[v] = N(load)(k[v] + (ky * 3 * cin + u) * 16);
            for (size_t j = 0; j < pixels; j++) {
                const VF a = N(splat)(row[j * cin + u]);
                for (size_t v = 0; v < vectors; v++) acc[j][v] += a * kv[v];
            }
        }
    }
    float *out = y + (oy * ow + ox) * cout + col;
    for (size_t j = 0; j < pixels; j++) {
        for (size_t v = 0; v + 1 < vectors; v++) N(store)(out + j * cout + v * VW, acc[j][v]);
        N(store_n)(out + j * cout + (vectors - 1) * VW, acc[j][vectors - 1], last, 0);
    }
}

/// The vectors of the channel block of `cout` channels that starts at `col` (at most
/// DIRECT_COLUMNS), with the lanes its last vector uses in `*last`.
BODY size_t N(direct_column_block)(size_t cout, size_t col, size_t *last) {
    const size_t left = cout - col;
    const size_t vectors = left >= DIRECT_COLUMNS * VW ? DIRECT_COLUMNS : (left + VW - 1) / VW;
    *last = left - (vectors - 1) * VW < VW ? left - (vectors - 1) * VW : VW;
    return vectors;
}

/// One output row's channel block: blocks of `pixels`, the last shifted to the row's end, or
/// single pixels when the row is shorter than a block.
BODY void N(direct_row)(const size_t pixels, const size_t vectors, const size_t cin, const float *xp, size_t wp, size_t oy,
                        const float *kernels, size_t col, size_t last, float *y, size_t ow, size_t cout) {
    if (ow < pixels) {
        for (size_t ox = 0; ox < ow; ox++) N(direct_block)(1, vectors, cin, xp, wp, oy, ox, kernels, col, last, y, ow, cout);
        return;
    }
    size_t ox = 0;
    for (; ox + pixels <= ow; ox += pixels) N(direct_block)(pixels, vectors, cin, xp, wp, oy, ox, kernels, col, last, y, ow, cout);
    if (ox < ow) N(direct_block)(pixels, vectors, cin, xp, wp, oy, ow - pixels, kernels, col, last, y, ow, cout);
}

/// The forward for a given cin (a constant when inlined with one).
BODY void N(direct_forward)(const float *x, size_t samples, size_t h, size_t w, const size_t cin, size_t padding,
                            const float *kernels, size_t cout, float *y, float *scratch) {
    const size_t oh = h + 2 * padding - 2, ow = w + 2 * padding - 2, wp = w + 2 * padding;
    for (size_t n = 0; n < samples; n++) {
        N(direct_pad)(x + n * h * w * cin, h, w, cin, padding, scratch);
        float *yn = y + n * oh * ow * cout;
        for (size_t oy = 0; oy < oh; oy++) {
            for (size_t col = 0; col < cout; col += DIRECT_COLUMNS * VW) {
                size_t last;
                const size_t vectors = N(direct_column_block)(cout, col, &last);
                switch (vectors) {
#if VW == 16
                case 4: N(direct_row)(6, 4, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
                case 3: N(direct_row)(8, 3, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
                case 2: N(direct_row)(12, 2, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
                default: N(direct_row)(16, 1, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
#else
                case 3: N(direct_row)(4, 3, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
                case 2: N(direct_row)(6, 2, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
                default: N(direct_row)(8, 1, cin, scratch, wp, oy, kernels, col, last, yn, ow, cout); break;
#endif
                }
            }
        }
    }
}

BODY void N(direct_conv3x3)(const float *x, size_t samples, size_t h, size_t w, size_t cin, size_t padding, const float *kernels,
                            size_t cout, float *y, float *scratch) {
    if (cin == 3) {
        N(direct_forward)(x, samples, h, w, 3, padding, kernels, cout, y, scratch);
    } else {
        N(direct_forward)(x, samples, h, w, cin, padding, kernels, cout, y, scratch);
    }
}

/// Adds one sample's block to `weight_gradient` (cout, 3, 3, cin): kernel rows [ky0, ky0 + rows),
/// taps [u0, u0 + taps) of each row (a row's tap u = kx·cin + i), channels [col, col + (vectors −
/// 1)·VW + last); xp the padded sample (row length wp), dy the sample's (oh, ow, cout) gradient.
BODY void N(direct_gradient_block)(const size_t rows, const size_t taps, const size_t vectors, const size_t cin, const float *xp,
                                   size_t wp, size_t oh, size_t ow, const float *dy, size_t cout, size_t ky0, size_t u0, size_t col,
                                   size_t last, float *weight_gradient) {
    VF acc[3][9][DIRECT_COLUMNS];
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < taps; b++) {
            for (size_t v = 0; v < vectors; v++) acc[r][b][v] = (VF){0};
        }
    }
    for (size_t oy = 0; oy < oh; oy++) {
        for (size_t ox = 0; ox < ow; ox++) {
            const float *base = xp + ((oy + ky0) * wp + ox) * cin + u0;
            const float *g = dy + (oy * ow + ox) * cout + col;
            VF gv[DIRECT_COLUMNS];
            for (size_t v = 0; v + 1 < vectors; v++) gv[v] = N(load)(g + v * VW);
            gv[vectors - 1] = N(load_n)(g + (vectors - 1) * VW, last);
            for (size_t r = 0; r < rows; r++) {
                const float *p = base + r * wp * cin;
                for (size_t b = 0; b < taps; b++) {
                    const VF a = N(splat)(p[b]);
                    for (size_t v = 0; v < vectors; v++) acc[r][b][v] += a * gv[v];
                }
            }
        }
    }
    const size_t taps_per_channel = 9 * cin;
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < taps; b++) {
            const size_t t = (ky0 + r) * 3 * cin + u0 + b;
            for (size_t v = 0; v < vectors; v++) {
                float lanes[VW];
                N(store)(lanes, acc[r][b][v]);
                const size_t n = v + 1 < vectors ? VW : last;
                float *column = weight_gradient + (col + v * VW) * taps_per_channel + t;
                for (size_t l = 0; l < n; l++) column[l * taps_per_channel] += lanes[l];
            }
        }
    }
}

/// One sample's channel block over every tap: blocks of `rows` kernel rows (then single rows)
/// by `taps` taps of a row (then single taps).
BODY void N(direct_gradient_columns)(const size_t rows, const size_t taps, const size_t vectors, const size_t cin, const float *xp,
                                     size_t wp, size_t oh, size_t ow, const float *dy, size_t cout, size_t col, size_t last,
                                     float *weight_gradient) {
    for (size_t ky = 0; ky < 3;) {
        const size_t r = ky + rows <= 3 ? rows : 1;
        size_t u = 0;
        for (; u + taps <= 3 * cin; u += taps) {
            if (r == rows) {
                N(direct_gradient_block)(rows, taps, vectors, cin, xp, wp, oh, ow, dy, cout, ky, u, col, last, weight_gradient);
            } else {
                N(direct_gradient_block)(1, taps, vectors, cin, xp, wp, oh, ow, dy, cout, ky, u, col, last, weight_gradient);
            }
        }
        for (size_t kr = ky; kr < ky + r; kr++) {
            for (size_t t = u; t < 3 * cin; t++)
                N(direct_gradient_block)(1, 1, vectors, cin, xp, wp, oh, ow, dy, cout, kr, t, col, last, weight_gradient);
        }
        ky += r;
    }
}

/// The weight gradient for a given cin (a constant when inlined with one).
BODY void N(direct_gradient)(const float *x, const float *dy, size_t samples, size_t h, size_t w, const size_t cin, size_t padding,
                             size_t cout, float *weight_gradient, float *scratch) {
    const size_t oh = h + 2 * padding - 2, ow = w + 2 * padding - 2, wp = w + 2 * padding;
    for (size_t n = 0; n < samples; n++) {
        N(direct_pad)(x + n * h * w * cin, h, w, cin, padding, scratch);
        const float *dyn = dy + n * oh * ow * cout;
        for (size_t col = 0; col < cout; col += DIRECT_COLUMNS * VW) {
            size_t last;
            const size_t vectors = N(direct_column_block)(cout, col, &last);
            switch (vectors) {
#if VW == 16
            case 4: N(direct_gradient_columns)(2, 3, 4, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
            case 3: N(direct_gradient_columns)(2, 3, 3, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
            case 2: N(direct_gradient_columns)(1, 9, 2, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
            default: N(direct_gradient_columns)(3, 9, 1, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
#else
            case 3: N(direct_gradient_columns)(1, 3, 3, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
            case 2: N(direct_gradient_columns)(2, 3, 2, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
            default: N(direct_gradient_columns)(1, 9, 1, cin, scratch, wp, oh, ow, dyn, cout, col, last, weight_gradient); break;
#endif
            }
        }
    }
}

BODY void N(direct_conv3x3_weight_gradient)(const float *x, const float *dy, size_t samples, size_t h, size_t w, size_t cin,
                                            size_t padding, size_t cout, float *weight_gradient, float *scratch) {
    if (cin == 3) {
        N(direct_gradient)(x, dy, samples, h, w, 3, padding, cout, weight_gradient, scratch);
    } else {
        N(direct_gradient)(x, dy, samples, h, w, cin, padding, cout, weight_gradient, scratch);
    }
}

#undef DIRECT_COLUMNS
#undef DIRECT_MAX_PIXELS
