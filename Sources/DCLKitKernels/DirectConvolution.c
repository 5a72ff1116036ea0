// The direct 3×3 convolution of DCLKitKernels.h for few input channels: the bodies
// (DirectConvolutionBodies.h) built at 8 lanes (baseline, AVX2 + FMA) and 16 lanes (AVX-512),
// and the kernel layout they read.

#include "DCLKitKernels.h"

#pragma clang diagnostic ignored "-Wpsabi"

#define VW 8
#include "DirectConvolutionBodies.h"
#undef VW
#define VW 16
#include "DirectConvolutionBodies.h"
#undef VW

#include "Dispatch.h"

size_t dclk_direct_conv3x3_kernels_count(size_t cin, size_t cout) { return (cout + 15) / 16 * 9 * cin * 16; }

void dclk_direct_conv3x3_kernels(const float *weight, size_t cin, size_t cout, float *kernels) {
    const size_t taps = 9 * cin;
    for (size_t block = 0; block * 16 < cout; block++) {
        for (size_t t = 0; t < taps; t++) {
            for (size_t lane = 0; lane < 16; lane++) {
                const size_t o = block * 16 + lane;
                kernels[(block * taps + t) * 16 + lane] = o < cout ? weight[o * taps + t] : 0;
            }
        }
    }
}

DISPATCHED(dclk_direct_conv3x3, direct_conv3x3,
           (const float *x, size_t samples, size_t h, size_t w, size_t cin, size_t padding, const float *kernels, size_t cout,
            float *y, float *scratch),
           (x, samples, h, w, cin, padding, kernels, cout, y, scratch))

DISPATCHED(dclk_direct_conv3x3_weight_gradient, direct_conv3x3_weight_gradient,
           (const float *x, const float *dy, size_t samples, size_t h, size_t w, size_t cin, size_t padding, size_t cout,
            float *weight_gradient, float *scratch),
           (x, dy, samples, h, w, cin, padding, cout, weight_gradient, scratch))
