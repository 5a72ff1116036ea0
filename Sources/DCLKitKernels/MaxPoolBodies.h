// The body of `dclk_max_pool_window` (DCLKitKernels.h) on VW-lane vectors; included by MaxPool.c
// once per width. Per vector of channels, the running maximum and its pixel index stay in
// registers over the window, starting from −∞ at the first pixel; a lane takes a pixel only when
// strictly greater (the first maximum in row-major order wins, NaN never does), with bitwise selects.

#include "Vectors.h"

BODY void N(max_pool_window)(const float *sample, size_t width, size_t c, size_t y_first, size_t y_end, size_t x_first,
                             size_t x_end, float *out, float *winner) {
    for (size_t j = 0; j < c; j += VW) {
        const size_t n = c - j < VW ? c - j : VW;
        VF best = N(splat)(-__builtin_inff());
        VF index = N(splat)((float)(y_first * width + x_first));
        for (size_t y = y_first; y < y_end; y++) {
            for (size_t x = x_first; x < x_end; x++) {
                const VF v = N(load_n)(sample + (y * width + x) * c + j, n);
                const VI wins = (VI)(v > best);
                best = (VF)(((VI)v & wins) | ((VI)best & ~wins));
                index = (VF)(((VI)N(splat)((float)(y * width + x)) & wins) | ((VI)index & ~wins));
            }
        }
        N(store_n)(out + j, best, n, 0);
        N(store_n)(winner + j, index, n, 0);
    }
}
