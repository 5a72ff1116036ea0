/*
 * dclkit.h: the C ABI of libdclkit.so.
 *
 * Conventions
 * - Every function that can fail returns an int32_t status (DCL_OK = 0 on success) and never
 *   aborts the host process on bad input. The message of the last failure on the calling thread
 *   is returned by dcl_last_error() (owned by the library, valid until the thread's next call).
 * - Arrays are float32 (or uint8 for images), C-contiguous, row-major; activations and images are
 *   NHWC. Sizes are int64_t. The caller owns every array it passes in, and output arrays are
 *   written by the callee into memory the caller allocated with the documented size.
 * - Handles (opaque pointers) are created by a *_create / *_load function and released by the
 *   matching *_free function; freeing NULL is a no-op. A handle is not thread-safe: callers
 *   serialise calls on one handle (the Python package holds a lock per object). Different
 *   handles may be used from different threads at once.
 */
#ifndef DCLKIT_H
#define DCLKIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes --------------------------------------------------------------------- */

#define DCL_OK 0
#define DCL_INVALID_ARGUMENT 1 /* a wrong value, shape or size */
#define DCL_TYPE_ERROR 2       /* a wrong type (an unknown dtype code, ...) */
#define DCL_IO_ERROR 3         /* a file could not be read or written */
#define DCL_FORMAT_ERROR 4     /* a file's contents are not what was expected */
#define DCL_STATE_ERROR 5      /* the handle's state does not allow the call */

/* ---- Library ---------------------------------------------------------------------------- */

/* The library version ("0.1.0"); a static string. */
const char *dcl_version(void);

/* The calling thread's last error message, or NULL when its last call succeeded. */
const char *dcl_last_error(void);

/* Writes a JSON object {"version", "swift", "blas", "blas_config", "blas_core", "num_threads"}
 * into buffer (NUL-terminated, truncated to capacity bytes; buffer may be NULL when capacity
 * is 0) and sets *needed to the full length plus one. */
int32_t dcl_native_info(char *buffer, int64_t capacity, int64_t *needed);

/* Sets the thread count of OpenBLAS and of the library's parallel loops, 1 <= n <= 1024. */
int32_t dcl_set_num_threads(int32_t n);

/* The thread count in use. */
int32_t dcl_get_num_threads(void);

/* ---- Losses ----------------------------------------------------------------------------- */

#define DCL_LOSS_NTXENT 0 /* SimCLR's NT-Xent / InfoNCE */
#define DCL_LOSS_DCL 1    /* decoupled contrastive loss */
#define DCL_LOSS_DCLW 2   /* DCL with the positive weighted by 2 - N softmax(s_jj'/sigma) */

/* Two-view contrastive loss over N images.
 * z0, z1: (n, d) raw projections of view 0 and view 1, n >= 2, d >= 1, finite.
 * temperature > 0; sigma > 0 (read by DCL_LOSS_DCLW only).
 * Writes *loss (mean over the 2n anchors) and grad_z0, grad_z1 ((n, d) each, caller-allocated):
 * d loss / d z for the raw inputs. Rows are L2-normalised inside (norm clamped at 1e-12). */
int32_t dcl_pair_loss(int32_t objective, const float *z0, const float *z1, int64_t n, int64_t d,
                      double temperature, double sigma, double *loss, float *grad_z0, float *grad_z1);

/* ---- Augment ---------------------------------------------------------------------------- */

/* Images are uint8, C-contiguous (n, h, w, c) with c = 1 (grayscale, replicated to RGB) or 3;
 * n, h, w >= 1. Every operation matches torchvision's functional arithmetic on uint8 tensors
 * (_functional_tensor) to within rounding of the last level.
 *
 * A pipeline is created from DCL_AUGMENT_PARAMETER_COUNT doubles, indexed as below (ranges are
 * min <= max; probabilities in [0, 1]). Each view: random resized crop to size x size (area
 * fraction in [scale_min, scale_max] within (0, 1], aspect ratio log-uniform in
 * [ratio_min, ratio_max], 10 tries then the centre crop; bilinear, antialiased when shrinking),
 * horizontal flip (p = flip), colour jitter (p = jitter; brightness, contrast, saturation factors
 * >= 0 and hue shift in [-0.5, 0.5] drawn uniformly in their ranges, applied in a random order; a
 * range equal to 1..1, or 0..0 for hue, skips that adjustment), grayscale (p = grayscale),
 * Gaussian blur (p = blur, sigma uniform in [sigma_min, sigma_max] > 0, kernel_size odd, 0 = about
 * 10% of size), solarisation (p = solarize, levels >= solarize_threshold inverted), then
 * x = (v/255 - mean) / std per channel (std > 0). */
#define DCL_AUG_SIZE 0
#define DCL_AUG_SCALE_MIN 1
#define DCL_AUG_SCALE_MAX 2
#define DCL_AUG_RATIO_MIN 3
#define DCL_AUG_RATIO_MAX 4
#define DCL_AUG_FLIP 5
#define DCL_AUG_JITTER 6
#define DCL_AUG_BRIGHTNESS_MIN 7
#define DCL_AUG_BRIGHTNESS_MAX 8
#define DCL_AUG_CONTRAST_MIN 9
#define DCL_AUG_CONTRAST_MAX 10
#define DCL_AUG_SATURATION_MIN 11
#define DCL_AUG_SATURATION_MAX 12
#define DCL_AUG_HUE_MIN 13
#define DCL_AUG_HUE_MAX 14
#define DCL_AUG_GRAYSCALE 15
#define DCL_AUG_BLUR 16
#define DCL_AUG_SIGMA_MIN 17
#define DCL_AUG_SIGMA_MAX 18
#define DCL_AUG_KERNEL_SIZE 19
#define DCL_AUG_SOLARIZE 20
#define DCL_AUG_SOLARIZE_THRESHOLD 21
#define DCL_AUG_MEAN 22 /* 22, 23, 24: red, green, blue */
#define DCL_AUG_STD 25  /* 25, 26, 27: red, green, blue */
#define DCL_AUGMENT_PARAMETER_COUNT 28

typedef struct dcl_augment dcl_augment;

/* Creates a two-view pipeline; count must be DCL_AUGMENT_PARAMETER_COUNT. *pipeline receives the
 * handle (release it with dcl_augment_free). */
int32_t dcl_augment_create(const double *parameters, int64_t count, dcl_augment **pipeline);

/* Fills parameters (count = DCL_AUGMENT_PARAMETER_COUNT) with a preset: kind DCL_AUG_SIMCLR
 * (strength in [0, 2.5]: jitter 0.8s/0.8s/0.8s/0.2s; blur = blur probability) or DCL_AUG_MOCO_V2
 * (strength and blur ignored), 1 <= size <= 4096, normalisation DCL_AUG_NORMALIZE_*. Callers may
 * change any entry before dcl_augment_create. */
#define DCL_AUG_SIMCLR 0
#define DCL_AUG_MOCO_V2 1
#define DCL_AUG_NORMALIZE_NONE 0     /* v/255 */
#define DCL_AUG_NORMALIZE_CIFAR10 1
#define DCL_AUG_NORMALIZE_IMAGENET 2
int32_t dcl_augment_preset(int32_t kind, int64_t size, double strength, double blur, int32_t normalization,
                           double *parameters, int64_t count);

/* Releases a pipeline; NULL is a no-op. */
void dcl_augment_free(dcl_augment *pipeline);

/* Two augmented views of each of the n images, written into view0 and view1, float32
 * (n, size, size, 3) each, normalised. View v of row i depends only on (seed, epoch, index, v),
 * with index = indices[i] when indices is not NULL (n int64 values, e.g. dataset indices), else
 * i: the output is the same whatever the thread count, and the two views differ. Runs in parallel
 * over images (dcl_set_num_threads). Not reentrant per handle. */
int32_t dcl_augment_views(dcl_augment *pipeline, const uint8_t *images, int64_t n, int64_t h, int64_t w,
                          int64_t c, const int64_t *indices, uint64_t seed, uint64_t epoch,
                          float *view0, float *view1);

/* As dcl_augment_views, but the views are uint8 (n, size, size, 3) before normalisation. */
int32_t dcl_augment_views_uint8(dcl_augment *pipeline, const uint8_t *images, int64_t n, int64_t h,
                                int64_t w, int64_t c, const int64_t *indices, uint64_t seed,
                                uint64_t epoch, uint8_t *view0, uint8_t *view1);

/* Functional forms: the same parameters for every image, output uint8 (n, ., ., 3).
 * resized_crop: rows top..top+height-1, columns left..left+width-1 (inside the image), resized
 * to (out_h, out_w), 1 <= out_h, out_w <= 4096; c = 1 or 3. The others take RGB images (c = 3)
 * and write (n, h, w, 3). Factors: brightness, contrast, saturation >= 0; hue in [-0.5, 0.5];
 * kernel_size odd >= 1 and sigma > 0 (reflect padding); threshold in [0, 255]. */
int32_t dcl_augment_resized_crop(const uint8_t *images, int64_t n, int64_t h, int64_t w, int64_t c,
                                 int64_t top, int64_t left, int64_t height, int64_t width,
                                 int64_t out_h, int64_t out_w, uint8_t *output);
int32_t dcl_augment_hflip(const uint8_t *images, int64_t n, int64_t h, int64_t w, uint8_t *output);
int32_t dcl_augment_adjust_brightness(const uint8_t *images, int64_t n, int64_t h, int64_t w,
                                      double factor, uint8_t *output);
int32_t dcl_augment_adjust_contrast(const uint8_t *images, int64_t n, int64_t h, int64_t w,
                                    double factor, uint8_t *output);
int32_t dcl_augment_adjust_saturation(const uint8_t *images, int64_t n, int64_t h, int64_t w,
                                      double factor, uint8_t *output);
int32_t dcl_augment_adjust_hue(const uint8_t *images, int64_t n, int64_t h, int64_t w, double factor,
                               uint8_t *output);
int32_t dcl_augment_rgb_to_grayscale(const uint8_t *images, int64_t n, int64_t h, int64_t w,
                                     uint8_t *output);
int32_t dcl_augment_gaussian_blur(const uint8_t *images, int64_t n, int64_t h, int64_t w,
                                  int64_t kernel_size, double sigma, uint8_t *output);
int32_t dcl_augment_solarize(const uint8_t *images, int64_t n, int64_t h, int64_t w, double threshold,
                             uint8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* DCLKIT_H */
