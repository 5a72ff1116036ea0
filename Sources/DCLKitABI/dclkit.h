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

#ifdef __cplusplus
}
#endif

#endif /* DCLKIT_H */
