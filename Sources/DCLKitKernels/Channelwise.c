// The channel-wise kernels of DCLKitKernels.h. Each body (ChannelwiseBodies.h) is written once
// on generic vectors and built at two widths: 8 lanes, inlined into a baseline entry point (the
// vectors lower to pairs of SSE2 operations) and into one with target("avx2,fma") (one AVX2
// operation; `a * b + c` contracts to an FMA), and 16 lanes, inlined into an AVX-512 entry point
// (one ZMM operation, masked tails). The public function picks one by `dclk_simd_level()`.

#include "DCLKitKernels.h"

// The vector helpers are always inlined, so no vector crosses a call: the ABI note clang gives
// for them in the baseline functions does not apply.
#pragma clang diagnostic ignored "-Wpsabi"

#define VW 8
#include "ChannelwiseBodies.h"
#undef VW
#define VW 16
#include "ChannelwiseBodies.h"
#undef VW

#include "Dispatch.h"

DISPATCHED(dclk_scale_shift_rows, scale_shift,
           (const float *x, const float *skip, float *y, size_t rows, size_t c, const float *scale,
            const float *shift, int relu),
           (x, skip, y, rows, c, scale, shift, relu))

DISPATCHED(dclk_affine2_rows, affine2,
           (const float *g, const float *x, float *out, size_t rows, size_t c, const float *a,
            const float *b, const float *k, const float *gate),
           (g, x, out, rows, c, a, b, k, gate))

DISPATCHED(dclk_moment_sums, moment_sums,
           (const float *x, size_t rows, size_t c, const float *shift, float *acc),
           (x, rows, c, shift, acc))

DISPATCHED(dclk_gradient_sums, gradient_sums,
           (float *g, const float *x, const float *y, const float *gate, size_t rows, size_t c,
            const float *mean, float *acc),
           (g, x, y, gate, rows, c, mean, acc))

DISPATCHED(dclk_relu, relu_rows, (const float *x, float *y, size_t n), (x, y, n))

DISPATCHED(dclk_relu_backward, relu_backward, (const float *g, const float *y, float *dx, size_t n),
           (g, y, dx, n))

DISPATCHED(dclk_column_sums, column_sums, (const float *x, size_t rows, size_t c, float *acc),
           (x, rows, c, acc))

DISPATCHED(dclk_broadcast_rows, broadcast_rows,
           (const float *v, float s, float *out, size_t rows, size_t c),
           (v, s, out, rows, c))
