#ifndef DCLKIT_KERNELS_H
#define DCLKIT_KERNELS_H

/// dclkit's hand-written SIMD kernels: the channel-wise loops of BatchNorm, ReLU, the residual
/// add and global average pooling, over row-major (rows, c) float32 data (NHWC activations
/// flattened to rows = N·H·W), the Winograd tile transforms over NHWC channels, and a direct 3×3
/// convolution for few input channels. Each kernel exists three times, compiled for the x86-64
/// baseline (SSE2), for AVX2 + FMA and for AVX-512 (F, VL, BW, DQ); the version run is chosen at run time from CPUID and XGETBV (see
/// `dclk_simd_level`), so the library loads and runs on any x86-64 and never executes an
/// instruction the CPU lacks. Pointers need no alignment. Unless a kernel says otherwise, an
/// output may be the same array as an input of the same shape (in place), never a partial overlap.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction sets the kernels can use.
typedef enum {
    /// SSE2 only (every x86-64, and the portable C on other CPUs).
    DCLK_SIMD_BASELINE = 0,
    /// AVX2 + FMA (256-bit vectors, fused multiply-add).
    DCLK_SIMD_AVX2_FMA = 1,
    /// AVX-512 F + VL + BW + DQ (512-bit vectors, masked tails), with AVX2 + FMA.
    DCLK_SIMD_AVX512 = 2,
} dclk_simd_level_t;

/// Bits of `dclk_cpu_features`: AVX2, FMA, AVX-512 Foundation, Vector Length, Byte/Word and
/// Doubleword/Quadword (the AVX-512 bits only when XCR0 enables the opmask and ZMM state).
#define DCLK_CPU_AVX2 1
#define DCLK_CPU_FMA 2
#define DCLK_CPU_AVX512F 4
#define DCLK_CPU_AVX512VL 8
#define DCLK_CPU_AVX512BW 16
#define DCLK_CPU_AVX512DQ 32
/// AVX-512 BF16 (VDPBF16PS: pairs of bfloat16 products summed into float32).
#define DCLK_CPU_AVX512BF16 64

/// The CPU's features that matter to the kernels (`DCLK_CPU_*` bits), from CPUID and XGETBV
/// (a feature counts only when the operating system saves its registers). 0 on non-x86 CPUs.
int dclk_cpu_features(void);

/// The address of `name` in the shared library that defines the function at `known`, or NULL
/// (not found, or `known` is not in a shared library). Unlike dlsym's global scope, this finds
/// the symbols of a dependency of a library loaded with RTLD_LOCAL (as Python's ctypes does).
void *dclk_symbol_beside(const void *known, const char *name);

/// The level the kernels run at: the best the CPU supports, or the lower one the environment
/// variable `DCLKIT_SIMD` ("baseline", "avx2", "avx512") names at the first call, or the one
/// `dclk_set_simd_level` chose. A level the CPU lacks is never used.
dclk_simd_level_t dclk_simd_level(void);

/// Runs the kernels at `level` when the CPU supports it, else at the best it does; returns the
/// level now in use. For tests and benchmarks that compare the two paths.
dclk_simd_level_t dclk_set_simd_level(dclk_simd_level_t level);

/// A short name for `level`: "baseline", "avx2+fma" or "avx512".
const char *dclk_simd_level_name(dclk_simd_level_t level);

/// y[r·c + j] = f(x[r·c + j]·scale[j] + shift[j] + skip[r·c + j]) for every row r < rows,
/// with f = max(·, 0) when `relu` is non-zero, else the identity; `skip` may be NULL (no add).
/// BatchNorm's normalisation fused with the residual add and the ReLU.
void dclk_scale_shift_rows(const float *x, const float *skip, float *y, size_t rows, size_t c,
                           const float *scale, const float *shift, int relu);

/// out[r·c + j] = a[j]·g'[r·c + j] + b[j]·x[r·c + j] + k[j]: BatchNorm's input gradient. g' is g,
/// or with `gate` (2·c values: scale, then shift) g masked by the ReLU recomputed from x: 0 wherever
/// x[r·c + j]·gate[j] + gate[c + j] ≤ 0, rounded as `dclk_scale_shift_rows` rounds it.
void dclk_affine2_rows(const float *g, const float *x, float *out, size_t rows, size_t c,
                       const float *a, const float *b, const float *k, const float *gate);

/// acc[j] += Σ_r (x[r·c + j] − shift[j]) and acc[c + j] += Σ_r (x[r·c + j] − shift[j])²:
/// the shifted first and second moments of each channel in one pass.
void dclk_moment_sums(const float *x, size_t rows, size_t c, const float *shift, float *acc);

/// BatchNorm's backward reductions in one pass: acc[j] += Σ_r g'[r·c + j] and
/// acc[c + j] += Σ_r g'[r·c + j]·(x[r·c + j] − mean[j]), with g' the ReLU-masked g when either
/// mask is given (at most one): with `y`, g' = 0 wherever y[r·c + j] ≤ 0, written back into g;
/// with `gate` (2·c values: scale, then shift), g' = 0 wherever x[r·c + j]·gate[j] + gate[c + j]
/// ≤ 0 (the mask recomputed from x as `dclk_affine2_rows` does), g left as it is.
void dclk_gradient_sums(float *g, const float *x, const float *y, const float *gate, size_t rows,
                        size_t c, const float *mean, float *acc);

/// y[i] = max(x[i], 0) for i < n.
void dclk_relu(const float *x, float *y, size_t n);

/// dx[i] = y[i] > 0 ? g[i] : 0 for i < n (ReLU's backward from its output y).
void dclk_relu_backward(const float *g, const float *y, float *dx, size_t n);

/// acc[j] += Σ_r x[r·c + j] for j < c: column sums (global average pooling). `acc` must not
/// overlap `x`.
void dclk_column_sums(const float *x, size_t rows, size_t c, float *acc);

/// out[r·c + j] = v[j]·s for every row r < rows: a scaled row broadcast (global average
/// pooling's backward). `out` must not overlap `v`.
void dclk_broadcast_rows(const float *v, float s, float *out, size_t rows, size_t c);

/// Winograd F(m×m, 3×3) tile transforms (m = 2 or 4, α = m + 2) over NHWC data, the transform
/// matrices Bᵀ, G, Aᵀ of `WinogradTiling` (Lavin & Gray 2016). A stride-1 3×3 convolution of an
/// (h, w) input with zero padding p has an (oh, ow) = (h + 2p − 2, w + 2p − 2) output, cut into
/// ⌈oh/m⌉·⌈ow/m⌉ tiles per sample, numbered sample by sample, row-major within a sample; tile
/// (ty, tx) reads the α×α input window at (ty·m − p, tx·m − p) (zero outside the image) and
/// writes the output's m×m block at (ty·m, tx·m) (clipped at the edges). Transform-point
/// matrices hold α² (T, c) matrices, point q's at q·point_stride, tile t's row at t·c.

/// Writes Bᵀ d B of every input tile of `samples` samples of `x` (samples, h, w, c) into `v`.
void dclk_winograd_input(int m, const float *x, size_t samples, size_t h, size_t w, size_t c, size_t padding, float *v,
                         size_t point_stride);

/// Writes Aᵀ M A of every tile of `samples` samples from `products` (α², T, c) into `y`
/// (samples, oh, ow, c), or adds it there when `accumulate` is non-zero.
void dclk_winograd_output(int m, const float *products, size_t point_stride, size_t samples, size_t oh, size_t ow, size_t c,
                          float *y, int accumulate);

/// The adjoint of `dclk_winograd_output`: writes A dY Aᵀ of every output tile of `samples`
/// samples of `dy` (samples, oh, ow, c) into `v` (α², T, c); outside the output dY counts as 0.
void dclk_winograd_output_gradient(int m, const float *dy, size_t samples, size_t oh, size_t ow, size_t c, float *v,
                                   size_t point_stride);

/// Writes G g Gᵀ of the kernels of output channels [first, last) of `weight` (cout, 3, 3, cin)
/// into `u`, (α², cout, cin), or (α², cin, cout) when `transposed` is non-zero: g[a][b] =
/// weight[o, a, b, i], or weight[o, 2 − a, 2 − b, i] when `flipped` is non-zero.
void dclk_winograd_kernel(int m, const float *weight, size_t first, size_t last, size_t cout, size_t cin, int flipped,
                          int transposed, float *u, size_t point_stride);

/// The adjoint of `dclk_winograd_kernel` (unflipped): adds Gᵀ dU G of output channels
/// [first, last) of `du` (α², cout, cin) to `weight_gradient` (cout, 3, 3, cin).
void dclk_winograd_kernel_gradient(int m, const float *du, size_t point_stride, size_t first, size_t last, size_t cin,
                                   float *weight_gradient);

/// C = A·B, or C += A·B when `accumulate` is non-zero, for small operands (Winograd's point
/// products on narrow layers): C is (m, n) row-major with row stride ldc, B (k, n) with row stride
/// ldb, and A's element (r, p) is a[r·a_row + p·a_k] (a_row = lda, a_k = 1 for A; a_row = 1,
/// a_k = lda for Aᵀ). Register-blocked, nothing packed; C must not overlap A or B.
void dclk_small_gemm(size_t m, size_t n, size_t k, const float *a, size_t a_row, size_t a_k, const float *b, size_t ldb,
                     float *c, size_t ldc, int accumulate);

/// Columns per panel of `dclk_pack_panels` (a constant of the layout, the same at every SIMD level).
#define DCLK_PANEL_COLUMNS 64

/// Packs B (k, n), element (p, j) at b[p·b_k + j·b_j], into panels of DCLK_PANEL_COLUMNS columns
/// (the last one narrower): panel q is its (k, w) block, row-major and contiguous, at
/// panels + q·DCLK_PANEL_COLUMNS·k. b_j = 1 packs a row-major B; b_k = 1 packs Bᵀ of a row-major
/// (n, k) matrix (a weight (Cout, K) as the forward's (K, Cout) operand). k·n floats.
void dclk_pack_panels(const float *b, size_t k, size_t n, size_t b_k, size_t b_j, float *panels);

/// `dclk_small_gemm` with B packed by `dclk_pack_panels`: C = A·B, or C += A·B when `accumulate`
/// is non-zero, in blocks of DCLK_PANEL_ROWS rows of A, each run against every panel. Every
/// element of C sums its k products in order of p, as `dclk_small_gemm` does, whatever m.
void dclk_panel_gemm(size_t m, size_t n, size_t k, const float *a, size_t a_row, size_t a_k, const float *panels, float *c,
                     size_t ldc, int accumulate);

/// Rows of A per block of `dclk_panel_gemm`.
#define DCLK_PANEL_ROWS 192

/// Direct stride-1 3×3 convolution for few input channels (the image stem's Cin = 3), NHWC,
/// without an im2col buffer: an input (h, w) with zero padding p ≤ 2 gives an (oh, ow) =
/// (h + 2p − 2, w + 2p − 2) output. The kernels are `weight` (cout, 3, 3, cin) rearranged into
/// ⌈cout/16⌉ blocks of 16 output channels, (⌈cout/16⌉, 3, 3, cin, 16), zero beyond cout, as
/// `dclk_direct_conv3x3_kernels` writes them. `scratch` holds (h + 2p)·(w + 2p)·cin floats (one
/// sample, zero-bordered). Output channels run across the vector lanes; Cin = 3 is specialised,
/// other counts take the same code with Cin a variable.

/// The floats of the direct convolution's kernels: ⌈cout/16⌉·16·9·cin.
size_t dclk_direct_conv3x3_kernels_count(size_t cin, size_t cout);

/// Writes `weight` (cout, 3, 3, cin) as the direct convolution's kernels into `kernels`
/// (`dclk_direct_conv3x3_kernels_count(cin, cout)` floats).
void dclk_direct_conv3x3_kernels(const float *weight, size_t cin, size_t cout, float *kernels);

/// Writes y[n, oy, ox, o] = Σ_{ky, kx, i} weight[o, ky, kx, i] · x[n, oy + ky − p, ox + kx − p, i]
/// (zero outside the image) for `samples` samples of `x` (samples, h, w, cin) into `y`
/// (samples, oh, ow, cout), from `kernels` as above.
void dclk_direct_conv3x3(const float *x, size_t samples, size_t h, size_t w, size_t cin, size_t padding, const float *kernels,
                         size_t cout, float *y, float *scratch);

/// Adds Σ_{n, oy, ox} dy[n, oy, ox, o] · x[n, oy + ky − p, ox + kx − p, i] (zero outside the
/// image) to weight_gradient[o, ky, kx, i] (cout, 3, 3, cin), for `samples` samples of `x`
/// (samples, h, w, cin) and `dy` (samples, oh, ow, cout): the direct convolution's dL/dW.
void dclk_direct_conv3x3_weight_gradient(const float *x, const float *dy, size_t samples, size_t h, size_t w, size_t cin,
                                         size_t padding, size_t cout, float *weight_gradient, float *scratch);

/// bfloat16 products with float32 sums: issue 24's opt-in experiment (Winograd's point products
/// of wide layers under `MatmulPrecision.bfloat16`). A bfloat16 keeps float32's exponent and 8 bits of its significand, so each
/// operand is rounded with a relative error up to 2⁻⁹; every product of two bfloat16 values is
/// exact in float32 and the sums are float32. The operands are packed in pairs along k, the
/// layout of VDPBF16PS; an odd k is padded with a zero.

/// Whether `dclk_bf16_gemm` runs the AVX-512 BF16 kernel (the CPU has AVX512_BF16 and the
/// kernels' level is AVX-512); otherwise it runs a portable loop with the same sums.
int dclk_bf16_available(void);

/// `x` rounded to bfloat16 (to nearest, ties to even; a NaN stays a NaN).
uint16_t dclk_bf16_from_float(float x);

/// Packs A (m, k), row stride `lda`, as m rows of ⌈k/2⌉ pairs: packed[r·⌈k/2⌉ + p] holds
/// bf16(a[r, 2p]) in its low half and bf16(a[r, 2p + 1]) in its high half. `packed` may be `a`
/// itself when lda = k (each word is written after the floats it covers were read).
void dclk_bf16_pack_rows(const float *a, size_t m, size_t k, size_t lda, uint32_t *packed);

/// Packs B (k, n), row stride `ldb`, as ⌈k/2⌉ rows of n pairs: packed[p·n + j] holds
/// bf16(b[2p, j]) low and bf16(b[2p + 1, j]) high. `packed` may be `b` itself when ldb = n.
void dclk_bf16_pack_columns(const float *b, size_t k, size_t n, size_t ldb, uint32_t *packed);

/// C (m, n), row stride `ldc`: C = A·B (or C += A·B when `accumulate`) from A and B packed as
/// above, each pair's products added odd first, then even, in float32.
void dclk_bf16_gemm(size_t m, size_t n, size_t k, const uint32_t *a, const uint32_t *b, float *c, size_t ldc, int accumulate);

/// Max pooling of one output pixel, NHWC: for each of the c channels, the maximum of `sample`
/// (rows of `width` pixels of c floats) over the window of pixels (y, x) with y_first ≤ y < y_end
/// and x_first ≤ x < x_end (not empty), into `out`, and the index y·width + x of its first
/// occurrence in row-major order into `winner` (a float; exact below 2^24). NaN never wins.
void dclk_max_pool_window(const float *sample, size_t width, size_t c, size_t y_first, size_t y_end, size_t x_first,
                          size_t x_end, float *out, float *winner);

#ifdef __cplusplus
}
#endif

#endif
