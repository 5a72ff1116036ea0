// `dclk_max_pool_window` (DCLKitKernels.h): the body (MaxPoolBodies.h) built at 8 lanes
// (baseline, AVX2 + FMA) and 16 lanes (AVX-512).

#include "DCLKitKernels.h"

#pragma clang diagnostic ignored "-Wpsabi"

#define VW 8
#include "MaxPoolBodies.h"
#undef VW
#define VW 16
#include "MaxPoolBodies.h"
#undef VW

#include "Dispatch.h"

DISPATCHED(dclk_max_pool_window, max_pool_window,
           (const float *sample, size_t width, size_t c, size_t y_first, size_t y_end, size_t x_first, size_t x_end, float *out,
            float *winner),
           (sample, width, c, y_first, y_end, x_first, x_end, out, winner))
