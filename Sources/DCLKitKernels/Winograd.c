// The Winograd tile transforms of DCLKitKernels.h. Each body (WinogradBodies.h) is written once
// on generic vectors over the channels and built at 8 lanes (baseline, AVX2 + FMA) and 16 lanes
// (AVX-512), each for F(2×2) and F(4×4) with the tile size a constant.

#include "DCLKitKernels.h"

#pragma clang diagnostic ignored "-Wpsabi"

#define VW 8
#include "WinogradBodies.h"
#undef VW
#define VW 16
#include "WinogradBodies.h"
#undef VW

#include "Dispatch.h"

TILED_DISPATCHED(dclk_winograd_input, winograd_input,
                 (const float *x, size_t samples, size_t h, size_t w, size_t c, size_t padding, float *v, size_t point_stride),
                 (x, samples, h, w, c, padding, v, point_stride))

TILED_DISPATCHED(dclk_winograd_output, winograd_output,
                 (const float *products, size_t point_stride, size_t samples, size_t oh, size_t ow, size_t c, float *y,
                  int accumulate),
                 (products, point_stride, samples, oh, ow, c, y, accumulate))

TILED_DISPATCHED(dclk_winograd_output_gradient, winograd_output_gradient,
                 (const float *dy, size_t samples, size_t oh, size_t ow, size_t c, float *v, size_t point_stride),
                 (dy, samples, oh, ow, c, v, point_stride))

TILED_DISPATCHED(dclk_winograd_kernel, winograd_kernel,
                 (const float *weight, size_t first, size_t last, size_t cout, size_t cin, int flipped, int transposed, float *u,
                  size_t point_stride),
                 (weight, first, last, cout, cin, flipped, transposed, u, point_stride))

TILED_DISPATCHED(dclk_winograd_kernel_gradient, winograd_kernel_gradient,
                 (const float *du, size_t point_stride, size_t first, size_t last, size_t cin, float *weight_gradient),
                 (du, point_stride, first, last, cin, weight_gradient))
