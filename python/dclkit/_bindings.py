# generated from dclkit.h by python -m dclkit._generate_bindings; do not edit.
"""ctypes declarations of every constant, callback type and function of dclkit.h.

Loaded and bound by ``_native`` (``functions``); see ``_generate_bindings`` for the type rule.
"""
from __future__ import annotations

from ctypes import CFUNCTYPE, POINTER, c_char, c_char_p, c_double, c_float, c_int32, c_int64, c_uint8, c_uint64, c_void_p
from typing import Any

FLOAT_P = POINTER(c_float)
UINT8_P = POINTER(c_uint8)

# Integer constants (#define).
DCL_OK = 0
DCL_INVALID_ARGUMENT = 1
DCL_TYPE_ERROR = 2
DCL_IO_ERROR = 3
DCL_FORMAT_ERROR = 4
DCL_STATE_ERROR = 5
DCL_MEMORY_ERROR = 6
DCL_COMM_ERROR = 7
DCL_LOSS_NTXENT = 0
DCL_LOSS_DCL = 1
DCL_LOSS_DCLW = 2
DCL_QUEUE_LOSS_INFONCE = 0
DCL_QUEUE_LOSS_DCL = 1
DCL_PREDICTION_NEGATIVE_COSINE = 0
DCL_PREDICTION_BYOL = 1
DCL_DIAGNOSTIC_COUNT = 9
DCL_KNN_DEFAULT_K = 200
DCL_KNN_DEFAULT_TEMPERATURE_MILLI = 100
DCL_AUG_SIZE = 0
DCL_AUG_SCALE_MIN = 1
DCL_AUG_SCALE_MAX = 2
DCL_AUG_RATIO_MIN = 3
DCL_AUG_RATIO_MAX = 4
DCL_AUG_FLIP = 5
DCL_AUG_JITTER = 6
DCL_AUG_BRIGHTNESS_MIN = 7
DCL_AUG_BRIGHTNESS_MAX = 8
DCL_AUG_CONTRAST_MIN = 9
DCL_AUG_CONTRAST_MAX = 10
DCL_AUG_SATURATION_MIN = 11
DCL_AUG_SATURATION_MAX = 12
DCL_AUG_HUE_MIN = 13
DCL_AUG_HUE_MAX = 14
DCL_AUG_GRAYSCALE = 15
DCL_AUG_BLUR = 16
DCL_AUG_SIGMA_MIN = 17
DCL_AUG_SIGMA_MAX = 18
DCL_AUG_KERNEL_SIZE = 19
DCL_AUG_SOLARIZE = 20
DCL_AUG_SOLARIZE_THRESHOLD = 21
DCL_AUG_MEAN = 22
DCL_AUG_STD = 25
DCL_AUGMENT_PARAMETER_COUNT = 28
DCL_FLOAT32 = 0
DCL_FLOAT64 = 1
DCL_INT64 = 2

# Callback types: (restype, argtypes...).
dcl_allreduce_fn = CFUNCTYPE(
    c_int32, c_void_p, c_void_p, c_int64, c_int32, c_void_p, c_int64,
)
dcl_allgather_fn = CFUNCTYPE(
    c_int32, c_void_p, c_void_p, c_void_p, c_int64, c_int32, c_void_p, c_int64,
)
dcl_broadcast_fn = CFUNCTYPE(
    c_int32, c_void_p, c_void_p, c_int64, c_int32, c_int32, c_void_p, c_int64,
)

# Every exported function: name -> (restype, ((parameter name, argtype), ...)).
SIGNATURES: dict[str, tuple[Any, tuple[tuple[str, Any], ...]]] = {
    "dcl_version": (c_char_p, ()),
    "dcl_last_error": (c_char_p, ()),
    "dcl_native_info": (c_int32, (
        ("buffer", POINTER(c_char)), ("capacity", c_int64), ("needed", POINTER(c_int64)),
    )),
    "dcl_set_num_threads": (c_int32, (
        ("n", c_int32),
    )),
    "dcl_get_num_threads": (c_int32, ()),
    "dcl_set_matmul_precision": (c_int32, (
        ("precision", c_char_p),
    )),
    "dcl_pair_loss": (c_int32, (
        ("objective", c_int32), ("z0", FLOAT_P), ("z1", FLOAT_P), ("n", c_int64), ("d", c_int64),
        ("temperature", c_double), ("sigma", c_double), ("loss", POINTER(c_double)), ("grad_z0", FLOAT_P),
        ("grad_z1", FLOAT_P),
    )),
    "dcl_queue_loss": (c_int32, (
        ("objective", c_int32), ("q", FLOAT_P), ("k", FLOAT_P), ("n", c_int64), ("d", c_int64), ("queue", FLOAT_P),
        ("queue_size", c_int64), ("extra", FLOAT_P), ("extra_per_query", c_int64), ("temperature", c_double),
        ("loss", POINTER(c_double)), ("grad_q", FLOAT_P),
    )),
    "dcl_mochi_negatives": (c_int32, (
        ("q", FLOAT_P), ("n", c_int64), ("d", c_int64), ("queue", FLOAT_P), ("queue_size", c_int64),
        ("n_hard", c_int64), ("s", c_int64), ("s_prime", c_int64), ("seed", c_uint64), ("mixed", FLOAT_P),
        ("query_mixed", FLOAT_P),
    )),
    "dcl_nnclr_loss": (c_int32, (
        ("objective", c_int32), ("q", FLOAT_P), ("p", FLOAT_P), ("n", c_int64), ("d", c_int64),
        ("temperature", c_double), ("loss", POINTER(c_double)), ("grad_p", FLOAT_P),
    )),
    "dcl_prediction_loss": (c_int32, (
        ("form", c_int32), ("p", FLOAT_P), ("z", FLOAT_P), ("n", c_int64), ("d", c_int64),
        ("loss", POINTER(c_double)), ("grad_p", FLOAT_P),
    )),
    "dcl_symmetric_prediction_loss": (c_int32, (
        ("form", c_int32), ("p1", FLOAT_P), ("p2", FLOAT_P), ("z1", FLOAT_P), ("z2", FLOAT_P), ("n", c_int64),
        ("d", c_int64), ("loss", POINTER(c_double)), ("grad_p1", FLOAT_P), ("grad_p2", FLOAT_P),
    )),
    "dcl_barlow_twins_loss": (c_int32, (
        ("za", FLOAT_P), ("zb", FLOAT_P), ("n", c_int64), ("d", c_int64), ("lambda", c_double),
        ("loss", POINTER(c_double)), ("grad_za", FLOAT_P), ("grad_zb", FLOAT_P),
    )),
    "dcl_vicreg_loss": (c_int32, (
        ("za", FLOAT_P), ("zb", FLOAT_P), ("n", c_int64), ("d", c_int64), ("invariance", c_double),
        ("variance", c_double), ("covariance", c_double), ("loss", POINTER(c_double)), ("grad_za", FLOAT_P),
        ("grad_zb", FLOAT_P),
    )),
    "dcl_knn": (c_int32, (
        ("train_features", FLOAT_P), ("train_labels", POINTER(c_int64)), ("n_train", c_int64),
        ("test_features", FLOAT_P), ("test_labels", POINTER(c_int64)), ("n_test", c_int64), ("dim", c_int64),
        ("classes", c_int64), ("k", c_int64), ("temperature", c_double), ("top1", POINTER(c_double)),
        ("predictions", POINTER(c_int64)),
    )),
    "dcl_linear_probe": (c_int32, (
        ("train_features", FLOAT_P), ("train_labels", POINTER(c_int64)), ("n_train", c_int64),
        ("test_features", FLOAT_P), ("test_labels", POINTER(c_int64)), ("n_test", c_int64), ("dim", c_int64),
        ("classes", c_int64), ("l2", c_double), ("max_iter", c_int64), ("top1", POINTER(c_double)),
        ("predictions", POINTER(c_int64)), ("iterations", POINTER(c_int64)), ("converged", POINTER(c_int32)),
    )),
    "dcl_encoder_create": (c_int32, (
        ("arch", c_char_p), ("stem", c_char_p), ("width", c_double), ("head", c_char_p), ("head_hidden", c_int64),
        ("head_out", c_int64), ("zero_init_residual", c_int32), ("seed", c_uint64), ("out", POINTER(c_void_p)),
    )),
    "dcl_encoder_free": (None, (
        ("encoder", c_void_p),
    )),
    "dcl_encoder_describe": (c_int32, (
        ("encoder", c_void_p), ("buffer", POINTER(c_char)), ("capacity", c_int64), ("needed", POINTER(c_int64)),
    )),
    "dcl_encoder_forward": (c_int32, (
        ("encoder", c_void_p), ("x", FLOAT_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("c", c_int64),
        ("training", c_int32), ("features", FLOAT_P), ("projection", FLOAT_P),
    )),
    "dcl_encoder_backward": (c_int32, (
        ("encoder", c_void_p), ("grad_z", FLOAT_P), ("grad_h", FLOAT_P), ("n", c_int64), ("grad_x", FLOAT_P),
    )),
    "dcl_encoder_zero_grad": (c_int32, (
        ("encoder", c_void_p),
    )),
    "dcl_encoder_get": (c_int32, (
        ("encoder", c_void_p), ("name", c_char_p), ("which", c_int32), ("out", FLOAT_P), ("count", c_int64),
    )),
    "dcl_encoder_load_state": (c_int32, (
        ("encoder", c_void_p), ("count", c_int64), ("names", POINTER(c_char_p)), ("values", POINTER(FLOAT_P)),
        ("ranks", POINTER(c_int64)), ("dims", POINTER(c_int64)),
    )),
    "dcl_encoder_save": (c_int32, (
        ("encoder", c_void_p), ("path", c_char_p),
    )),
    "dcl_encoder_load": (c_int32, (
        ("path", c_char_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_config_schema": (c_int32, (
        ("buffer", POINTER(c_char)), ("capacity", c_int64), ("needed", POINTER(c_int64)),
    )),
    "dcl_config_resolve": (c_int32, (
        ("config", c_char_p), ("buffer", POINTER(c_char)), ("capacity", c_int64), ("needed", POINTER(c_int64)),
    )),
    "dcl_trainer_create": (c_int32, (
        ("config", c_char_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_trainer_resume": (c_int32, (
        ("path", c_char_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_trainer_free": (None, (
        ("trainer", c_void_p),
    )),
    "dcl_trainer_encoder": (c_int32, (
        ("trainer", c_void_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_trainer_config": (c_int32, (
        ("trainer", c_void_p), ("buffer", POINTER(c_char)), ("capacity", c_int64), ("needed", POINTER(c_int64)),
    )),
    "dcl_trainer_step": (c_int32, (
        ("trainer", c_void_p), ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("c", c_int64),
        ("loss", POINTER(c_double)), ("updated", POINTER(c_int32)), ("step", POINTER(c_int64)),
        ("lr", POINTER(c_double)), ("epoch", POINTER(c_int64)), ("record", POINTER(c_char)),
        ("record_capacity", c_int64), ("record_needed", POINTER(c_int64)),
    )),
    "dcl_trainer_step_views": (c_int32, (
        ("trainer", c_void_p), ("v0", FLOAT_P), ("v1", FLOAT_P), ("n", c_int64), ("size", c_int64),
        ("loss", POINTER(c_double)), ("updated", POINTER(c_int32)), ("step", POINTER(c_int64)),
        ("lr", POINTER(c_double)),
    )),
    "dcl_trainer_progress": (c_int32, (
        ("trainer", c_void_p), ("epoch", POINTER(c_int64)), ("batch", POINTER(c_int64)),
        ("steps_per_epoch", POINTER(c_int64)), ("step", POINTER(c_int64)), ("lr", POINTER(c_double)),
    )),
    "dcl_trainer_history": (c_int32, (
        ("trainer", c_void_p), ("buffer", POINTER(c_char)), ("capacity", c_int64), ("needed", POINTER(c_int64)),
    )),
    "dcl_projection_diagnostics": (c_int32, (
        ("z0", FLOAT_P), ("z1", FLOAT_P), ("n", c_int64), ("d", c_int64), ("temperature", c_double),
        ("queue", FLOAT_P), ("queue_size", c_int64), ("values", POINTER(c_double)), ("count", c_int64),
    )),
    "dcl_trainer_set_monitor": (c_int32, (
        ("trainer", c_void_p), ("train_images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64),
        ("c", c_int64), ("train_labels", POINTER(c_int64)), ("test_images", UINT8_P), ("m", c_int64),
        ("test_h", c_int64), ("test_w", c_int64), ("test_c", c_int64), ("test_labels", POINTER(c_int64)),
        ("k", c_int64), ("temperature", c_double), ("every", c_int64), ("last_epoch", c_int64),
    )),
    "dcl_trainer_steps_until": (c_int32, (
        ("trainer", c_void_p), ("n", c_int64), ("epochs", c_int64), ("steps", POINTER(c_int64)),
    )),
    "dcl_trainer_timings": (c_int32, (
        ("trainer", c_void_p), ("seconds", POINTER(c_double)),
    )),
    "dcl_trainer_embed": (c_int32, (
        ("trainer", c_void_p), ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("c", c_int64),
        ("features", FLOAT_P),
    )),
    "dcl_trainer_save": (c_int32, (
        ("trainer", c_void_p), ("path", c_char_p),
    )),
    "dcl_augment_create": (c_int32, (
        ("parameters", POINTER(c_double)), ("count", c_int64), ("pipeline", POINTER(c_void_p)),
    )),
    "dcl_augment_create_spec": (c_int32, (
        ("spec", c_char_p), ("size", c_int64), ("pipeline", POINTER(c_void_p)),
    )),
    "dcl_augment_parameters": (c_int32, (
        ("pipeline", c_void_p), ("parameters", POINTER(c_double)), ("count", c_int64),
    )),
    "dcl_augment_free": (None, (
        ("pipeline", c_void_p),
    )),
    "dcl_augment_views": (c_int32, (
        ("pipeline", c_void_p), ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("c", c_int64),
        ("indices", POINTER(c_int64)), ("seed", c_uint64), ("epoch", c_uint64), ("view0", FLOAT_P),
        ("view1", FLOAT_P),
    )),
    "dcl_augment_views_uint8": (c_int32, (
        ("pipeline", c_void_p), ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("c", c_int64),
        ("indices", POINTER(c_int64)), ("seed", c_uint64), ("epoch", c_uint64), ("view0", UINT8_P),
        ("view1", UINT8_P),
    )),
    "dcl_augment_resized_crop": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("c", c_int64), ("top", c_int64),
        ("left", c_int64), ("height", c_int64), ("width", c_int64), ("out_h", c_int64), ("out_w", c_int64),
        ("output", UINT8_P),
    )),
    "dcl_augment_hflip": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("output", UINT8_P),
    )),
    "dcl_augment_adjust_brightness": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("factor", c_double),
        ("output", UINT8_P),
    )),
    "dcl_augment_adjust_contrast": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("factor", c_double),
        ("output", UINT8_P),
    )),
    "dcl_augment_adjust_saturation": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("factor", c_double),
        ("output", UINT8_P),
    )),
    "dcl_augment_adjust_hue": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("factor", c_double),
        ("output", UINT8_P),
    )),
    "dcl_augment_rgb_to_grayscale": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("output", UINT8_P),
    )),
    "dcl_augment_gaussian_blur": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("kernel_size", c_int64),
        ("sigma", c_double), ("output", UINT8_P),
    )),
    "dcl_augment_solarize": (c_int32, (
        ("images", UINT8_P), ("n", c_int64), ("h", c_int64), ("w", c_int64), ("threshold", c_double),
        ("output", UINT8_P),
    )),
    "dcl_comm_create": (c_int32, (
        ("rank", c_int32), ("size", c_int32), ("allreduce", dcl_allreduce_fn), ("allgather", dcl_allgather_fn),
        ("broadcast", dcl_broadcast_fn), ("context", c_void_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_comm_create_single": (c_int32, (
        ("out", POINTER(c_void_p)),
    )),
    "dcl_comm_free": (None, (
        ("comm", c_void_p),
    )),
    "dcl_comm_allreduce_sum": (c_int32, (
        ("comm", c_void_p), ("element", c_int32), ("buffer", c_void_p), ("count", c_int64),
    )),
    "dcl_comm_allgather": (c_int32, (
        ("comm", c_void_p), ("element", c_int32), ("send", c_void_p), ("count", c_int64), ("receive", c_void_p),
    )),
    "dcl_comm_broadcast": (c_int32, (
        ("comm", c_void_p), ("element", c_int32), ("buffer", c_void_p), ("count", c_int64), ("root", c_int32),
    )),
    "dcl_comm_check_configuration": (c_int32, (
        ("comm", c_void_p), ("text", c_char_p),
    )),
    "dcl_comm_batch_share": (c_int32, (
        ("comm", c_void_p), ("global", c_int64), ("local", POINTER(c_int64)), ("offset", POINTER(c_int64)),
    )),
    "dcl_grad_allreduce_create": (c_int32, (
        ("comm", c_void_p), ("encoder", c_void_p), ("bucket_floats", c_int64), ("out", POINTER(c_void_p)),
    )),
    "dcl_grad_allreduce_bucket_count": (c_int32, (
        ("reducer", c_void_p), ("count", POINTER(c_int64)),
    )),
    "dcl_grad_allreduce_run": (c_int32, (
        ("reducer", c_void_p),
    )),
    "dcl_grad_allreduce_free": (None, (
        ("reducer", c_void_p),
    )),
    "dcl_projection_gather": (c_int32, (
        ("comm", c_void_p), ("local", FLOAT_P), ("rows", c_int64), ("dim", c_int64), ("gathered", FLOAT_P),
    )),
    "dcl_projection_gather_backward": (c_int32, (
        ("comm", c_void_p), ("grad_gathered", FLOAT_P), ("rows", c_int64), ("dim", c_int64),
        ("grad_local", FLOAT_P),
    )),
    "dcl_sync_bn_statistics": (c_int32, (
        ("comm", c_void_p), ("sum", POINTER(c_double)), ("sum_sq", POINTER(c_double)), ("count", c_int64),
        ("channels", c_int64), ("mean", POINTER(c_double)), ("var", POINTER(c_double)),
        ("global_count", POINTER(c_int64)),
    )),
    "dcl_sync_bn_gradient_sums": (c_int32, (
        ("comm", c_void_p), ("sum_dy", POINTER(c_double)), ("sum_dy_xhat", POINTER(c_double)),
        ("channels", c_int64), ("global_sum_dy", POINTER(c_double)), ("global_sum_dy_xhat", POINTER(c_double)),
    )),
    "dcl_key_shuffle": (c_int32, (
        ("comm", c_void_p), ("rows", FLOAT_P), ("n", c_int64), ("row_length", c_int64), ("seed", c_uint64),
        ("step", c_uint64), ("shuffled", FLOAT_P), ("permutation", POINTER(c_int64)),
    )),
    "dcl_key_unshuffle": (c_int32, (
        ("comm", c_void_p), ("keys", FLOAT_P), ("n", c_int64), ("dim", c_int64), ("permutation", POINTER(c_int64)),
        ("own_keys", FLOAT_P),
    )),
    "dcl_trainer_create_distributed": (c_int32, (
        ("config", c_char_p), ("comm", c_void_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_trainer_resume_distributed": (c_int32, (
        ("path", c_char_p), ("comm", c_void_p), ("out", POINTER(c_void_p)),
    )),
    "dcl_trainer_comm_seconds": (c_int32, (
        ("trainer", c_void_p), ("seconds", POINTER(c_double)),
    )),
    "dcl_trainer_state_hash": (c_int32, (
        ("trainer", c_void_p), ("prefix", c_char_p), ("hash", POINTER(c_uint64)),
    )),
}
