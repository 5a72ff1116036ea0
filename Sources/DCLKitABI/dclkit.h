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
 * - Ownership. Input pointers (arrays, strings, paths) are borrowed for the duration of the call
 *   only: the library keeps no pointer into caller memory after it returns. Output arrays and text
 *   buffers are caller-allocated. Strings returned by the library (dcl_version, dcl_last_error)
 *   are owned by it and must not be freed. Text outputs follow one rule: the function writes
 *   the text NUL-terminated into buffer, truncated to capacity bytes (buffer may be NULL when
 *   capacity is 0), and sets *needed to the full length plus one, so a caller asks once with
 *   capacity 0 and again with a buffer of *needed bytes.
 * - Handles (opaque pointers) are created by a *_create / *_load / *_resume function (or
 *   dcl_trainer_encoder) into an out-parameter, which is set to NULL on failure; the caller owns
 *   each handle it receives and releases it exactly once with the matching *_free function;
 *   freeing NULL is a no-op; using a freed handle is undefined. Handles are reference-counted
 *   views of library objects: a handle from dcl_trainer_encoder keeps the trainer's encoder alive
 *   after dcl_trainer_free. A handle is not thread-safe: callers serialise calls on one object,
 *   and a trainer and the encoder handles taken from it are one object (the Python package holds
 *   one lock for both). Different objects may be used from different threads at once.
 * - Paths are NUL-terminated byte strings passed to the operating system as they are (they need
 *   not be UTF-8). Files read are validated against their real size before anything is
 *   allocated; FIFOs, devices and folders are refused without blocking. Every save is atomic.
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
#define DCL_MEMORY_ERROR 6     /* memory could not be allocated, or the request (a batch, the
                                  tensors of a file) exceeds the machine's physical memory */
#define DCL_COMM_ERROR 7       /* a collective across ranks failed (MPI error, a peer is gone) */

/* ---- Library ---------------------------------------------------------------------------- */

/* The library version ("0.1.0"); a static string. */
const char *dcl_version(void);

/* The calling thread's last error message, or NULL when its last call succeeded. */
const char *dcl_last_error(void);

/* Writes a JSON object {"version", "swift", "blas", "blas_config", "blas_core",
 * "blas_core_detected", "num_threads", "cpu_features", "simd", "matmul_precision"} into buffer (NUL-terminated,
 * truncated to capacity bytes; buffer may be NULL when capacity is 0) and sets *needed to the
 * full length plus one. */
int32_t dcl_native_info(char *buffer, int64_t capacity, int64_t *needed);

/* Sets the thread count of OpenBLAS and of the library's parallel loops, 1 <= n <= 4 x the online cores
 * (at most 256; "max_threads" in dcl_native_info); a larger n is DCL_VALUE_ERROR. */
int32_t dcl_set_num_threads(int32_t n);

/* The thread count in use. */
int32_t dcl_get_num_threads(void);

/* Sets the process-wide precision of the convolutions' large matrix products (issue 24's
 * experiment): "float32" (the default) or "bfloat16", under which the Winograd point products of
 * 3x3 layers with at least 32 input and output channels round both operands to bfloat16 and sum in
 * float32 (VDPBF16PS on AVX512_BF16; elsewhere a portable loop with the same sums, bit for bit, far
 * slower). Anything else is DCL_INVALID_ARGUMENT. Read once per layer pass: set it between steps.
 * "matmul_precision" in dcl_native_info reports it. */
int32_t dcl_set_matmul_precision(const char *precision);

/* ---- Losses ----------------------------------------------------------------------------- */

#define DCL_LOSS_NTXENT 0 /* SimCLR's NT-Xent / InfoNCE */
#define DCL_LOSS_DCL 1    /* decoupled contrastive loss */
#define DCL_LOSS_DCLW 2   /* DCL with the positive weighted by 2 - N softmax(s_jj'/sigma) */

/* Two-view contrastive loss over N images.
 * z0, z1: (n, d) raw projections of view 0 and view 1, 2 <= n <= 16384, d >= 1, n * d <= 2^28,
 * finite.
 * temperature > 0; sigma > 0 (read by DCL_LOSS_DCLW only).
 * Writes *loss (mean over the 2n anchors) and grad_z0, grad_z1 ((n, d) each, caller-allocated):
 * d loss / d z for the raw inputs. Rows are L2-normalised inside (norm clamped at 1e-12). */
int32_t dcl_pair_loss(int32_t objective, const float *z0, const float *z1, int64_t n, int64_t d,
                      double temperature, double sigma, double *loss, float *grad_z0, float *grad_z1);

/* ---- Queue losses and MoCHi (MoCo family) ----------------------------------------------- */

#define DCL_QUEUE_LOSS_INFONCE 0 /* MoCo: -log(exp(q.k+/t) / (exp(q.k+/t) + sum_queue exp(q.n/t))) */
#define DCL_QUEUE_LOSS_DCL 1     /* the positive removed: -q.k+/t + log sum_queue exp(q.n/t) */

/* Contrastive loss of N queries against their keys and a queue of negatives.
 * q, k: (n, d) raw queries and keys (row i of k is the positive of row i of q), finite;
 * they are L2-normalised inside (norm clamped at 1e-12). queue: (queue_size, d), every row a unit
 * vector (|norm - 1| <= 1e-3). extra: (n, extra_per_query, d) further negatives of each query
 * (MoCHi's synthetic ones), unit rows; may be NULL when extra_per_query is 0.
 * n >= 1, d >= 1, queue_size >= 1, n * queue_size <= 2^28; temperature > 0.
 * Writes *loss (mean over the n queries) and grad_q ((n, d), caller-allocated): d loss / d q for
 * the raw queries. Keys, queue and extra negatives get no gradient. */
int32_t dcl_queue_loss(int32_t objective, const float *q, const float *k, int64_t n, int64_t d,
                       const float *queue, int64_t queue_size, const float *extra, int64_t extra_per_query,
                       double temperature, double *loss, float *grad_q);

/* MoCHi's hard negative mixing (Kalantidis et al. 2020). For each query (q: (n, d) raw, finite,
 * normalised inside) the n_hard queue rows most similar to it are kept (1 <= n_hard <= queue_size;
 * queue rows unit vectors as above); writes s negatives normalize(a n_i + (1 - a) n_j), n_i, n_j
 * drawn from them, a ~ U(0, 1), into mixed ((n, s, d)), and s_prime negatives
 * normalize(b q + (1 - b) n_j), b ~ U(0, 0.5), into query_mixed ((n, s_prime, d)); s, s_prime >= 0,
 * and either output may be NULL when its count is 0. The draws depend on seed and the inputs
 * only (not on the thread count). */
int32_t dcl_mochi_negatives(const float *q, int64_t n, int64_t d, const float *queue, int64_t queue_size,
                            int64_t n_hard, int64_t s, int64_t s_prime, uint64_t seed,
                            float *mixed, float *query_mixed);

/* NNCLR's loss (Dwibedi et al. 2021), one direction, as the trainer computes it for the nnclr
 * methods: q (n, d) the nearest support-set neighbours of one view's projections, unit rows
 * (|norm - 1| <= 1e-3), no gradient; p (n, d) the raw predictions of the other view, finite,
 * normalised inside; 2 <= n <= 4096, 1 <= d <= 65536; temperature > 0. With
 * s_ik = q_i . p_k / (|p_k| t): l_i = -s_ii + log sum_{k in D_i} exp(s_ik), D_i every k
 * (objective DCL_QUEUE_LOSS_INFONCE) or k != i (DCL_QUEUE_LOSS_DCL). Writes *loss (mean over the
 * n rows) and grad_p ((n, d), caller-allocated): d loss / d p. */
int32_t dcl_nnclr_loss(int32_t objective, const float *q, const float *p, int64_t n, int64_t d, double temperature,
                       double *loss, float *grad_p);

/* ---- Non-contrastive losses (BYOL, SimSiam, Barlow Twins, VICReg) ---------------------- */

/* Shared by these functions: inputs are float32, row-major, finite; outputs are caller-allocated
 * and overwritten; *loss is written only on success. They allocate their work buffers per call
 * (the Swift core keeps them between a method's steps). */

#define DCL_PREDICTION_NEGATIVE_COSINE 0 /* SimSiam (Chen & He 2021): D(p, z) = -cos(p, z) */
#define DCL_PREDICTION_BYOL 1            /* BYOL (Grill et al. 2020): |p/|p| - z/|z||^2 = 2 - 2 cos(p, z) */

/* Prediction loss of a predictor against stop-gradient targets, one direction.
 * p: (n, d) raw predictions, z: (n, d) targets (BYOL's target network, SimSiam's sg(z)); n >= 1,
 * d >= 1, n * d <= 2^28. Rows are L2-normalised inside, norms clamped at 1e-12 (F.normalize), so
 * a zero row has cosine 0 (a zero target row gives its prediction no gradient).
 * Writes *loss = (1/n) sum_i l(p_i, z_i), l by form (DCL_PREDICTION_*), and grad_p ((n, d)):
 * d loss / d p. The targets get no gradient: there is no output for one. */
int32_t dcl_prediction_loss(int32_t form, const float *p, const float *z, int64_t n, int64_t d,
                            double *loss, float *grad_p);

/* The two-view symmetric prediction loss of BYOL and SimSiam: view 1's predictions against view 2's
 * targets and the reverse, *loss = 1/2 [L(p1, z2) + L(p2, z1)] with L as dcl_prediction_loss's.
 * This is SimSiam's formula; BYOL's paper sums the two terms (twice this value and gradient).
 * p1, p2, z1, z2: (n, d) each, shapes and checks as above. Writes grad_p1, grad_p2 ((n, d) each):
 * d loss / d p1 and d loss / d p2; z1 and z2 get no gradient. */
int32_t dcl_symmetric_prediction_loss(int32_t form, const float *p1, const float *p2, const float *z1,
                                      const float *z2, int64_t n, int64_t d, double *loss, float *grad_p1,
                                      float *grad_p2);

/* Barlow Twins (Zbontar et al. 2021). za, zb: (n, d) embeddings of the two views (row i of both
 * from image i), 2 <= n, 1 <= d <= 16384, n * d <= 2^28. Each is standardised per feature over the
 * batch as BatchNorm1d without affine: (z - mean) / sqrt(var + 1e-5), var biased (1/n). With
 * C = za_std^T zb_std / n (d x d): *loss = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2,
 * lambda >= 0 finite (the paper's 5e-3 for d = 8192; 1/d is a choice for small projectors).
 * Writes grad_za, grad_zb ((n, d) each): d loss / d za and d loss / d zb, through the
 * standardisation. A constant feature has C_ii = 0 (a term of 1) and finite gradients. */
int32_t dcl_barlow_twins_loss(const float *za, const float *zb, int64_t n, int64_t d, double lambda,
                              double *loss, float *grad_za, float *grad_zb);

/* VICReg (Bardes, Ponce & LeCun 2022), with the official code's reductions. za = Z, zb = Z': (n, d)
 * embeddings of the two views, shapes as dcl_barlow_twins_loss's. With s = mean over the n * d
 * elements of (Z - Z')^2, v(Z) = (1/d) sum_j max(0, 1 - sqrt(Var(z_j) + 1e-4)), Var unbiased
 * (1/(n - 1)), and c(Z) = (1/d) sum_{i != j} Cov(Z)_ij^2, Cov = (Z - mean)^T (Z - mean) / (n - 1):
 * *loss = invariance * s + variance * (v(Z) + v(Z')) / 2 + covariance * (c(Z) + c(Z')); the three
 * weights >= 0 finite (the paper's 25, 25, 1). Writes grad_za, grad_zb ((n, d) each): d loss / d za
 * and d loss / d zb. A constant feature adds (1 - 0.01) / d to v and gets no variance gradient. */
int32_t dcl_vicreg_loss(const float *za, const float *zb, int64_t n, int64_t d, double invariance, double variance,
                        double covariance, double *loss, float *grad_za, float *grad_zb);

/* ---- Evaluation ------------------------------------------------------------------------ */

/* Shared arguments of the evaluation functions:
 * train_features (n_train, dim), test_features (n_test, dim): float32, finite, row-major;
 * train_labels (n_train), test_labels (n_test): int64 in [0, classes);
 * n_train, n_test, dim >= 1; 1 <= classes <= 2^20; each array (and each work matrix named in an
 * error) at most 2^34 elements.
 * Outputs: *top1, the fraction of test rows predicted correctly, in [0, 1]; predictions
 * (n_test int64, caller-allocated) receives the predicted classes unless it is NULL. */

/* Weighted kNN classifier (InstDisc / MoCo's monitor). Rows are L2-normalised (norm clamped at
 * 1e-12); each test row's k most cosine-similar training rows (k >= 1, clamped to n_train; ties
 * to the lower index) vote with weight exp(s / temperature), temperature > 0; the class with the
 * largest summed weight wins (ties to the lower class). Test rows are processed in chunks, so the
 * extra memory is about the normalised training set plus 32 MB. */
int32_t dcl_knn(const float *train_features, const int64_t *train_labels, int64_t n_train,
                const float *test_features, const int64_t *test_labels, int64_t n_test,
                int64_t dim, int64_t classes, int64_t k, double temperature,
                double *top1, int64_t *predictions);

/* Linear probe: features standardised with the training set's mean and standard deviation
 * (constant features map to 0), then multinomial logistic regression minimising
 * mean cross-entropy + l2/2 * ||W||^2 (bias not penalised; l2 > 0; scikit-learn's C = 1/(l2 n_train))
 * by full-batch L-BFGS until the largest gradient entry is <= 1e-6, f stops decreasing, or
 * max_iter (1..1000000) iterations. *iterations and *converged (1 when stopped before max_iter)
 * are written unless NULL. */
int32_t dcl_linear_probe(const float *train_features, const int64_t *train_labels, int64_t n_train,
                         const float *test_features, const int64_t *test_labels, int64_t n_test,
                         int64_t dim, int64_t classes, double l2, int64_t max_iter,
                         double *top1, int64_t *predictions, int64_t *iterations, int32_t *converged);

/* ---- Encoder (ResNet + projection head) ------------------------------------------------- */

/* An encoder: torchvision's ResNet trunk f (conv1, bn1, layer1..layer4, global average pool; no fc)
 * giving features h (n, F), and optionally a projection head g giving z = g(h) (n, D).
 * Activations are float32 NHWC. Every BatchNorm (trunk and head) treats the whole input of one
 * forward as one batch: feed both views of N images as one batch of 2N to share statistics.
 * A handle is not thread-safe; dcl_encoder_free releases it. Using a freed handle is undefined. */
typedef struct dcl_encoder dcl_encoder;

/* Creates an encoder initialised as torchvision does (convolutions Kaiming normal, fan_out, ReLU
 * gain; BatchNorm weight 1, bias 0; head Linear layers uniform +-1/sqrt(fan_in)), every draw keyed
 * by seed.
 * arch: "resnet18" | "resnet34" | "resnet50"; stem: "cifar" (3x3 stride-1 conv, no max-pool) |
 * "imagenet" (7x7 stride-2 conv + 3x3 stride-2 max-pool); width in (0, 16] multiplies every
 * channel count (rounded, at least 1; F = 512*width or 2048*width for resnet50);
 * head: NULL (none) | "simclr" (Linear without bias -> BatchNorm1d -> ReLU -> Linear) |
 * "moco" (Linear -> ReLU -> Linear) | "barlowtwins" ((Linear without bias -> BatchNorm1d -> ReLU) x 2
 * -> Linear without bias) | "simsiam" (as "barlowtwins", then BatchNorm1d on the output); head_hidden: 0 for F, else 1..65536; head_out (D): 1..65536
 * (read only with a head); zero_init_residual: 1 zeroes the weight of each block's last BatchNorm.
 * On success *out receives the handle (on failure NULL). */
int32_t dcl_encoder_create(const char *arch, const char *stem, double width, const char *head,
                           int64_t head_hidden, int64_t head_out, int32_t zero_init_residual, uint64_t seed,
                           dcl_encoder **out);

/* Releases an encoder; NULL is a no-op. */
void dcl_encoder_free(dcl_encoder *encoder);

/* Writes a JSON object into buffer (NUL-terminated, truncated to capacity bytes; buffer may be
 * NULL when capacity is 0) and sets *needed to its full length plus one:
 * {"arch", "stem", "width", "head" (or null), "head_hidden", "head_out", "feature_dim" (F),
 *  "projection_dim" (D or null), "min_side" (smallest H and W accepted: 8 for the cifar stem,
 *  32 for imagenet), "entries": [{"name", "shape", "trainable"}, ...]}.
 * entries is the state dict in torchvision's order, names and PyTorch layouts (conv weights
 * OIHW, e.g. "conv1.weight", "layer1.0.bn1.running_mean", "layer2.0.downsample.0.weight"; the
 * head under "head.", numbered as a torch.nn.Sequential); trainable entries are the parameters,
 * the others BatchNorm buffers (running_mean, running_var, num_batches_tracked of shape []). */
int32_t dcl_encoder_describe(const dcl_encoder *encoder, char *buffer, int64_t capacity, int64_t *needed);

/* Forward pass. x: (n, h, w, c) float32 NHWC, finite, c = 3, h and w >= min_side, n >= 1; with
 * training = 1 BatchNorm uses batch statistics and updates its running statistics (momentum 0.1,
 * unbiased variance), which needs at least 2 values per channel at every BatchNorm (n >= 2 with
 * the simclr head); training = 0 uses the running statistics. Writes features ((n, F)) and, with
 * a head, projection ((n, D); ignored and may be NULL without a head). Keeps what backward needs. */
int32_t dcl_encoder_forward(dcl_encoder *encoder, const float *x, int64_t n, int64_t h, int64_t w, int64_t c,
                            int32_t training, float *features, float *projection);

/* Backward pass of the last forward (DCL_STATE_ERROR before any forward); n must be that
 * forward's batch size. grad_z ((n, D), needs a head) and grad_h ((n, F)) are d loss / d z and
 * d loss / d h, finite; either may be NULL but not both (with both, they add at h). Adds every
 * parameter's gradient to its accumulated gradient. Writes d loss / d x ((n, h, w, 3)) into grad_x
 * unless it is NULL (then the input gradient is not computed, which saves time). */
int32_t dcl_encoder_backward(dcl_encoder *encoder, const float *grad_z, const float *grad_h, int64_t n,
                             float *grad_x);

/* Sets every accumulated parameter gradient to zero. */
int32_t dcl_encoder_zero_grad(dcl_encoder *encoder);

/* Copies the state entry called name (which = 0: its value; which = 1: its accumulated gradient,
 * parameters only) in PyTorch's layout into out; count must equal its number of elements. */
int32_t dcl_encoder_get(const dcl_encoder *encoder, const char *name, int32_t which, float *out, int64_t count);

/* Loads a state dict: count entries, names[i] with values[i] (float32, finite, C order) of shape
 * dims[offset_i .. offset_i + ranks[i]) where offset_i is the sum of the earlier ranks (0 <= rank <= 8;
 * dims may be NULL when every rank is 0). The names must be exactly those of dcl_encoder_describe,
 * each with its shape; otherwise DCL_INVALID_ARGUMENT names the missing, unexpected or misshapen
 * entries and the encoder is unchanged. */
int32_t dcl_encoder_load_state(dcl_encoder *encoder, int64_t count, const char *const *names,
                               const float *const *values, const int64_t *ranks, const int64_t *dims);

/* Writes the state dict (float32) and the configuration (as metadata: "dclkit.arch", "dclkit.stem",
 * "dclkit.width", "dclkit.head" ("none" without a head), "dclkit.head_hidden", "dclkit.head_out")
 * to path in the safetensors format, atomically (temporary file, fsync, rename). */
int32_t dcl_encoder_save(const dcl_encoder *encoder, const char *path);

/* Rebuilds an encoder from a file written by dcl_encoder_save: *out receives the handle (NULL on
 * failure). DCL_IO_ERROR when the file cannot be read; DCL_FORMAT_ERROR when it is not a
 * safetensors file describing an encoder. */
int32_t dcl_encoder_load(const char *path, dcl_encoder **out);

/* ---- Configuration --------------------------------------------------------------------- */

/* A run configuration is one flat JSON object (UTF-8, NUL-terminated): the shared fields (method,
 * arch, stem, width, head, head_dims, batch_size, epochs, image_size, optimizer, lr, momentum,
 * weight_decay, warmup_epochs, augment, seed, sync_bn, view_batchnorm) and the chosen method's own settings (its
 * temperature, MoCo's queue_size, NNCLR's support_size, ...). Every field may be absent or null,
 * which takes its default; an unknown field is an error, and so is a value for a setting that
 * belongs to other methods only (the message names them). dcl_config_schema lists every field
 * with its type, range or choices, default (or the rule of a derived default, such as
 * lr = base * batch_size / 256), the methods that use it and a one-line doc, and every method
 * with its family defaults and checkpoint entries.
 * Integers are JSON numbers without a fraction. Numbers must be finite; the strings "NaN",
 * "Infinity", "-Infinity" are refused as non-finite values. A field of the wrong JSON type gives
 * DCL_TYPE_ERROR, any other broken rule DCL_INVALID_ARGUMENT; the message names the field. */

/* Writes the schema of the run configuration as a JSON object into buffer (the text-output rule
 * above): {"version": 1, "fields": [{"name", "type" ("integer" | "number" | "string" | "bool" |
 * "integer_pair" | "augmentation"), "range" or "choices", "default" or "default_rule",
 * "methods" (null: every method), "doc"}, ...], "methods": [{"name", "family", "label",
 * "summary", "paper", "defaults": {"head", "augment", "base_lr": {optimizer: rate per 256
 * images}}, "settings": [field names], "checkpoint": [tensor names or prefixes]}, ...]}. */
int32_t dcl_config_schema(char *buffer, int64_t capacity, int64_t *needed);

/* Writes the completed configuration of config (every shared field and the method's own present,
 * defaults filled in) as a JSON object into buffer (the text-output rule above), or fails with the first error. */
int32_t dcl_config_resolve(const char *config, char *buffer, int64_t capacity, int64_t *needed);

/* ---- Trainer --------------------------------------------------------------------------- */

/* A trainer owns a whole pretraining run: encoder and head (initialised from the seed),
 * augmentation pipeline, method (SimCLR family: both views through the encoder as one batch of
 * 2B and a two-view loss; MoCo family: key encoder, queue, shuffled BN groups, MoCHi; NNCLR:
 * support set, nearest neighbours, prediction head), optimiser,
 * warm-up + cosine schedule, the progress (epoch, position in the epoch, steps per epoch, the
 * epoch's permutation, history) and the checkpoint. */
typedef struct dcl_trainer dcl_trainer;

/* Creates a trainer from a configuration (see Configuration). *out receives the handle (NULL on
 * failure; release it with dcl_trainer_free). */
int32_t dcl_trainer_create(const char *config, dcl_trainer **out);

/* Creates a trainer from a checkpoint written by dcl_trainer_save: its configuration, weights,
 * optimiser and method state, step, epoch, position and history; stepping on goes on exactly as
 * the saved run would have. *out receives the handle (NULL on failure). DCL_IO_ERROR when the
 * file cannot be read, DCL_FORMAT_ERROR when it is not a dclkit trainer checkpoint. */
int32_t dcl_trainer_resume(const char *path, dcl_trainer **out);

/* Releases a trainer; NULL is a no-op. Encoder handles taken from it stay valid. */
void dcl_trainer_free(dcl_trainer *trainer);

/* *out receives a new encoder handle on the trainer's own encoder (a view, not a copy: what it
 * reads and writes is the model being trained). The caller releases it with dcl_encoder_free. */
int32_t dcl_trainer_encoder(dcl_trainer *trainer, dcl_encoder **out);

/* Writes the trainer's completed configuration (JSON, as dcl_config_resolve) into buffer. */
int32_t dcl_trainer_config(const dcl_trainer *trainer, char *buffer, int64_t capacity, int64_t *needed);

/* The run's next batch: images is the whole training set, uint8 (n, h, w, c), c = 1 or 3, the
 * same n on every call of a run. The first call fixes the epoch length to n / batch_size steps
 * (n >= batch_size; the last incomplete batch is dropped); each epoch visits the images in a
 * permutation keyed by (seed, epoch), and each image's two views are keyed by (seed, epoch, its
 * index in images, view). One step: gradients zeroed, forward, loss, backward, optimiser at the
 * schedule's rate, then the method's after-step work (MoCo: momentum update, enqueue). The
 * outputs, each of which may be NULL: *loss (before the update; NaN for a MoCo queue warm-up
 * step), *updated (1 when the weights were updated, 0 for a warm-up step), *step (optimiser steps
 * so far), *lr (the rate this step used), *epoch (epochs finished after this step: it grows by
 * one when the step closed an epoch, whose record is then the history's last). When the step
 * closes an epoch (after the kNN monitor ran, if due) its record (one object of
 * dcl_trainer_history) is written into record by the text-output rule with record_capacity and
 * *record_needed; *record_needed is 0 when the step closed none (record_needed may be NULL).
 * A record longer than record_capacity is truncated; it is whole in the history.
 * DCL_STATE_ERROR when the loss became non-finite. */
int32_t dcl_trainer_step(dcl_trainer *trainer, const uint8_t *images, int64_t n, int64_t h, int64_t w, int64_t c,
                         double *loss, int32_t *updated, int64_t *step, double *lr, int64_t *epoch, char *record,
                         int64_t record_capacity, int64_t *record_needed);

/* One step on already-augmented views v0, v1 (n, size, size, 3) float32 each, finite, n >= 2,
 * outside the epoch bookkeeping (the epoch and its position do not move; the schedule counts the
 * step). Outputs as dcl_trainer_step, each may be NULL. */
int32_t dcl_trainer_step_views(dcl_trainer *trainer, const float *v0, const float *v1, int64_t n, int64_t size,
                               double *loss, int32_t *updated, int64_t *step, double *lr);

/* The run's position, each output may be NULL: epochs finished, batches done in the current
 * epoch, steps per epoch (0 before the first dataset step), optimiser steps, next step's rate. */
int32_t dcl_trainer_progress(const dcl_trainer *trainer, int64_t *epoch, int64_t *batch, int64_t *steps_per_epoch,
                             int64_t *step, double *lr);

/* Writes the history into buffer: a JSON array with one object per finished epoch, {"epoch",
 * "loss" (mean over the epoch's updating steps; null when all were MoCo warm-up steps), "lr"
 * (of the next step), "seconds" (spent in the epoch's steps), "images_per_s", "warmup_steps"
 * (only when some steps were warm-up steps), then the diagnostics of the epoch's training batches
 * (each finite or left out): "npc_mean", "npc_p10", "npc_p50", "npc_p90" (InfoNCE's
 * negative-positive coupling multiplier q = 1 - exp(s_ii'/t) / (exp(s_ii'/t) + sum over the
 * negatives exp(s_ik/t)) with the run's t, whatever the loss; the queue form for the MoCo family;
 * absent for methods without t), "positive_cosine", "negative_cosine", "alignment"
 * (E|u - u'|^2), "uniformity" (log E exp(-2|u_i - u_k|^2)), "collapse_std" (the std of the
 * L2-normalised outputs over the batch, averaged over dimensions; about 1/sqrt(D) healthy, 0
 * collapsed), on several ranks the mean of the ranks' values; and "knn_top1" when the monitor
 * (dcl_trainer_set_monitor) ran at that epoch}. */
int32_t dcl_trainer_history(const dcl_trainer *trainer, char *buffer, int64_t capacity, int64_t *needed);

#define DCL_DIAGNOSTIC_COUNT 9 /* the values dcl_projection_diagnostics writes */

/* Writes the diagnostics a trainer records per epoch (dcl_trainer_history: npc_mean, npc_p10,
 * npc_p50, npc_p90, positive_cosine, negative_cosine, alignment, uniformity, collapse_std, in
 * that order; count must be DCL_DIAGNOSTIC_COUNT) of one batch: z0 and z1 (n, d) float32,
 * finite, n >= 2, row i of each a positive pair. temperature > 0 gives the multipliers (0:
 * none, NaN written); with queue_size > 0, queue (queue_size, d) holds unit negatives and the
 * multipliers and negative_cosine take the queue form (z0 the queries, z1 the keys). */
int32_t dcl_projection_diagnostics(const float *z0, const float *z1, int64_t n, int64_t d, double temperature,
                                   const float *queue, int64_t queue_size, double *values, int64_t count);

#define DCL_KNN_DEFAULT_K 200 /* InstDisc's k of the monitor and of dcl_knn's callers */
#define DCL_KNN_DEFAULT_TEMPERATURE_MILLI 100 /* InstDisc's vote temperature, 0.1, in thousandths */

/* Sets the kNN monitor the trainer runs when a dcl_trainer_step closes an epoch: the images
 * train_images (n, h, w, c) with train_labels (n int64 in [0, 2^20)) as the memory bank, and
 * test_images (m, test_h, test_w, test_c) with test_labels, embedded as dcl_trainer_embed does;
 * k >= 1 neighbours and temperature > 0 (DCL_KNN_DEFAULT_K, DCL_KNN_DEFAULT_TEMPERATURE_MILLI /
 * 1000). It runs when the finished epochs are a multiple of every >= 1, and at epoch last_epoch,
 * and adds "knn_top1" (a fraction) to that epoch's record. The images are copied. A NULL
 * train_images clears the monitor (the other arguments are then ignored). */
int32_t dcl_trainer_set_monitor(dcl_trainer *trainer, const uint8_t *train_images, int64_t n, int64_t h, int64_t w,
                                int64_t c, const int64_t *train_labels, const uint8_t *test_images, int64_t m,
                                int64_t test_h, int64_t test_w, int64_t test_c, const int64_t *test_labels, int64_t k,
                                double temperature, int64_t every, int64_t last_epoch);

/* *steps receives the dcl_trainer_step calls from the run's position until epochs epochs are
 * finished, on a training set of n images (n / batch_size per epoch; 0 when the run is there).
 * DCL_INVALID_ARGUMENT for n below batch_size or another epoch length than the run's. */
int32_t dcl_trainer_steps_until(const dcl_trainer *trainer, int64_t n, int64_t epochs, int64_t *steps);

/* Seconds spent so far in augmentation, forward (with the loss), backward (with zeroing the
 * gradients) and the optimiser (with MoCo's momentum update and enqueue): seconds[0..3]. */
int32_t dcl_trainer_timings(const dcl_trainer *trainer, double *seconds);

/* The encoder's pooled features, eval mode, of uint8 images (n, h, w, c), c = 1 or 3: each image
 * resized whole to the view size and normalised as the training views. features: (n, F). */
int32_t dcl_trainer_embed(dcl_trainer *trainer, const uint8_t *images, int64_t n, int64_t h, int64_t w, int64_t c,
                          float *features);

/* Writes the whole checkpoint to path in the safetensors format, atomically (temporary file,
 * fsync, rename): tensors "encoder.*" (the state dict), "optimizer.*" and the method's ("key_encoder.*",
 * "queue", "queue_ptr", "queue_filled" for MoCo); metadata "format" ("dclkit.trainer/2"),
 * "config", "step", "epoch", "batch", "steps_per_epoch", "history" and the current epoch's sums. */
int32_t dcl_trainer_save(const dcl_trainer *trainer, const char *path);

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

/* Creates a two-view pipeline for views of 1 <= size <= 4096 from spec, a JSON text: a preset
 * name ("simclr", "mocov2") or an object with an optional "pipeline" (default "simclr") and
 * overrides, exactly as the augment field of a run configuration takes it (strength, blur,
 * normalize, scale, ratio, flip, jitter, brightness, contrast, saturation, hue, grayscale,
 * sigma, kernel_size, solarize, solarize_threshold). A bad field gives DCL_INVALID_ARGUMENT (or
 * DCL_TYPE_ERROR for a wrong JSON type) and a message naming it. */
int32_t dcl_augment_create_spec(const char *spec, int64_t size, dcl_augment **pipeline);

/* Writes the pipeline's parameters (count = DCL_AUGMENT_PARAMETER_COUNT), laid out as for
 * dcl_augment_create. */
int32_t dcl_augment_parameters(dcl_augment *pipeline, double *parameters, int64_t count);

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

/* ==== Distributed training (MPI) ======================================================== */

/* Data-parallel training over W ranks. The core never links MPI: a communicator handle wraps
 * three collectives supplied by the host as C functions (the Python package installs ctypes
 * callbacks that run mpi4py; a C program can call its MPI directly), or is the one-process
 * communicator. Every rank must make the same collective calls in the same order with the same
 * counts; a collective that fails returns DCL_COMM_ERROR with the transport's message. */

#define DCL_FLOAT32 0 /* element codes of the collectives */
#define DCL_FLOAT64 1
#define DCL_INT64 2

typedef struct dcl_comm dcl_comm;

/* The host's collectives. Each receives the context given to dcl_comm_create, raw buffers, an
 * element count and an element code (DCL_FLOAT32, DCL_FLOAT64, DCL_INT64), and a message buffer
 * of capacity bytes; it returns 0 on success, or non-zero after writing a NUL-terminated
 * explanation into message (it may leave it empty).
 * allreduce: replaces buffer[0..count) by its element-wise sum over all ranks; every rank must
 *   receive the same bytes (a reduce-scatter followed by an all-gather guarantees that; plain
 *   MPI_Allreduce only recommends it).
 * allgather: writes every rank's send[0..count) into receive (size * count elements, rank order).
 * broadcast: replaces buffer[0..count) on every rank by rank root's.
 * A callback may give up on a collective that does not complete (a time-out, a rank that has
 * left) by returning non-zero; a trainer then refuses every later collective with that error.
 * The core may free or reuse the buffers once the callback returns, so a host whose transport
 * can still touch them later (a pending MPI request cannot be cancelled) must run the collective
 * on buffers of its own: the Python package copies into its own buffers, keeps those of a
 * given-up collective for good, and aborts the MPI job when the rank exits. */
typedef int32_t (*dcl_allreduce_fn)(void *context, void *buffer, int64_t count, int32_t element,
                                    char *message, int64_t capacity);
typedef int32_t (*dcl_allgather_fn)(void *context, const void *send, void *receive, int64_t count,
                                    int32_t element, char *message, int64_t capacity);
typedef int32_t (*dcl_broadcast_fn)(void *context, void *buffer, int64_t count, int32_t element,
                                    int32_t root, char *message, int64_t capacity);

/* Creates a communicator of size ranks (1 <= size <= 2^20) in which the caller is rank
 * (0 <= rank < size) over the three functions (none NULL); context is passed back to them
 * unchanged and must outlive the handle, as must the functions. *out receives the handle (NULL
 * on failure); release it with dcl_comm_free. */
int32_t dcl_comm_create(int32_t rank, int32_t size, dcl_allreduce_fn allreduce, dcl_allgather_fn allgather,
                        dcl_broadcast_fn broadcast, void *context, dcl_comm **out);

/* Creates the one-process communicator (rank 0 of 1): every collective is the identity. */
int32_t dcl_comm_create_single(dcl_comm **out);

/* Releases a communicator; NULL is a no-op. Handles that use it (dcl_grad_allreduce) keep it
 * alive until they are released. */
void dcl_comm_free(dcl_comm *comm);

/* The collectives themselves, on count (1 <= count <= 2^34) elements of code element; floating
 * point inputs must be finite. allreduce_sum: buffer summed over ranks in place (the same bytes
 * on every rank). allgather: every rank's send into receive (size * count elements, rank 0's
 * first). broadcast: rank root's buffer (0 <= root < size) on every rank. */
int32_t dcl_comm_allreduce_sum(dcl_comm *comm, int32_t element, void *buffer, int64_t count);
int32_t dcl_comm_allgather(dcl_comm *comm, int32_t element, const void *send, int64_t count, void *receive);
int32_t dcl_comm_broadcast(dcl_comm *comm, int32_t element, void *buffer, int64_t count, int32_t root);

/* Start-of-run check: every rank passes its resolved configuration text (NUL-terminated
 * UTF-8); the 64-bit FNV-1a hashes are all-gathered and, when any differs from rank 0's, every
 * rank gets DCL_INVALID_ARGUMENT with a message naming the ranks that differ. */
int32_t dcl_comm_check_configuration(dcl_comm *comm, const char *text);

/* This rank's share of a global batch of global (>= 1) rows: *local = global / size rows
 * starting at row *offset = rank * global / size. A global batch not divisible by size is
 * DCL_INVALID_ARGUMENT on every rank (no communication is needed to agree). */
int32_t dcl_comm_batch_share(dcl_comm *comm, int64_t global, int64_t *local, int64_t *offset);

/* Fused gradient allreduce over the parameters of an encoder (every rank holds the same
 * architecture). The gradients, last layer first (backward finishes those first), are laid end
 * to end and cut into buckets of at most bucket_floats (1 ... 2^34) floats; the buffers are
 * allocated at creation and reused. The handle keeps the encoder and the communicator alive. */
typedef struct dcl_grad_allreduce dcl_grad_allreduce;
int32_t dcl_grad_allreduce_create(dcl_comm *comm, dcl_encoder *encoder, int64_t bucket_floats,
                                  dcl_grad_allreduce **out);

/* The number of buckets (allreduce calls per run). */
int32_t dcl_grad_allreduce_bucket_count(const dcl_grad_allreduce *reducer, int64_t *count);

/* Replaces every accumulated gradient of the encoder by its mean over the ranks (one allreduce
 * per bucket, then / size): bitwise identical on every rank. With one rank nothing changes. */
int32_t dcl_grad_allreduce_run(dcl_grad_allreduce *reducer);

/* Releases a gradient allreduce; NULL is a no-op. */
void dcl_grad_allreduce_free(dcl_grad_allreduce *reducer);

/* Projection all-gather (SimCLR family: every view sees the negatives of the global batch).
 * Forward: local (rows, dim), finite, rows and dim >= 1, the same on every rank -> gathered
 * (size * rows, dim), rank 0's rows first. Backward (lightly's GatherLayer): grad_gathered
 * (size * rows, dim), the gradient of this rank's loss term with respect to all gathered rows,
 * summed over ranks; grad_local (rows, dim) receives this rank's rows of the sum. */
int32_t dcl_projection_gather(dcl_comm *comm, const float *local, int64_t rows, int64_t dim, float *gathered);
int32_t dcl_projection_gather_backward(dcl_comm *comm, const float *grad_gathered, int64_t rows, int64_t dim,
                                       float *grad_local);

/* SyncBN's reductions over channels (>= 1) channels, in float64.
 * statistics: from this rank's per-channel sum and sum_sq (finite) of count (0 ... 2^50) values
 * per channel, writes the global mean, the biased variance max(0, E[x^2] - mean^2) and
 * *global_count (the total count, >= 1, else DCL_INVALID_ARGUMENT).
 * gradient_sums: this rank's per-channel sum_dy and sum_dy_xhat (finite) summed over all ranks
 * into global_sum_dy and global_sum_dy_xhat (BatchNorm's backward needs both). */
int32_t dcl_sync_bn_statistics(dcl_comm *comm, const double *sum, const double *sum_sq, int64_t count,
                               int64_t channels, double *mean, double *var, int64_t *global_count);
int32_t dcl_sync_bn_gradient_sums(dcl_comm *comm, const double *sum_dy, const double *sum_dy_xhat,
                                  int64_t channels, double *global_sum_dy, double *global_sum_dy_xhat);

/* MoCo's shuffle-BN across ranks. dcl_key_shuffle: every rank's rows (n, row_length), finite,
 * the same n on every rank, are gathered; rank 0 draws a permutation of the size * n global rows
 * from (seed, step) and broadcasts it into permutation (size * n int64, the same on every rank);
 * shuffled (n, row_length) receives global rows permutation[rank * n + i]. dcl_key_unshuffle:
 * keys (n, dim), finite, computed on the shuffled rows, are gathered and own_keys (n, dim)
 * receives the keys of this rank's own rows in their original order; permutation must be the
 * one of the shuffle (a permutation of 0 .. size * n - 1). */
int32_t dcl_key_shuffle(dcl_comm *comm, const float *rows, int64_t n, int64_t row_length, uint64_t seed,
                        uint64_t step, float *shuffled, int64_t *permutation);
int32_t dcl_key_unshuffle(dcl_comm *comm, const float *keys, int64_t n, int64_t dim, const int64_t *permutation,
                          float *own_keys);

/* ---- Distributed trainer --------------------------------------------------------------- */

/* Creates a trainer (as dcl_trainer_create) whose run is spread over the ranks of comm, which
 * the trainer keeps alive (the host's callbacks and context must outlive it). Every rank calls
 * it with the same configuration and then the same trainer calls in the same order (steps on
 * the same whole dataset, saves). batch_size is the global batch B; each rank computes its
 * B / W slots of every global batch. The ranks first check that they resolved the same
 * configuration (else DCL_INVALID_ARGUMENT on every rank, naming the ranks that differ); B not
 * divisible by W is DCL_INVALID_ARGUMENT on every rank. In each step: the SimCLR family
 * gathers the projections (every anchor against the 2B - 2 negatives of the global batch; NNCLR
 * its predictions, and every rank's projections join one support set), the
 * MoCo family shuffles the key images over the ranks and gathers the keys before enqueueing
 * (the same queue everywhere), BatchNorm uses the global batch's statistics when sync_bn is
 * true, and the gradients are averaged in fused buckets with the same bytes on every rank, so
 * the weights stay bitwise identical. The step's loss is the global one, the same on every
 * rank. dcl_trainer_save writes on rank 0 only (every rank must call it; all return rank 0's
 * outcome). A failed collective is DCL_COMM_ERROR.
 * With the one-process communicator this is dcl_trainer_create. */
int32_t dcl_trainer_create_distributed(const char *config, dcl_comm *comm, dcl_trainer **out);

/* Resumes a checkpoint (as dcl_trainer_resume) on the ranks of comm: every rank reads path (a
 * shared file system or a copy per machine); W may differ from the run that wrote it, as long as
 * it divides the batch. */
int32_t dcl_trainer_resume_distributed(const char *path, dcl_comm *comm, dcl_trainer **out);

/* *seconds receives the wall time the trainer spent inside collectives so far (0 alone). */
int32_t dcl_trainer_comm_seconds(const dcl_trainer *trainer, double *seconds);

/* *hash receives a 64-bit FNV-1a hash of the names and float32 bytes of every checkpoint tensor
 * whose name starts with prefix ("" for all, "encoder." for the model, "queue" for MoCo's
 * queue), in checkpoint order: the same on every rank of a distributed run. */
int32_t dcl_trainer_state_hash(const dcl_trainer *trainer, const char *prefix, uint64_t *hash);

#ifdef __cplusplus
}
#endif

#endif /* DCLKIT_H */
