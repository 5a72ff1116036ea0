"""Augmentations: every functional op against an independent float64 numpy reference of the
published formula (torchvision's functional arithmetic on uint8 tensors), the two-view pipelines,
the contact sheet, and bad inputs."""
from __future__ import annotations

import colorsys

import numpy as np
import pytest
from PIL import Image

import dclkit
from dclkit import augment
from dclkit._bindings import DCL_AUGMENT_PARAMETER_COUNT, DCL_INVALID_ARGUMENT, DCL_OK
from dclkit.augment import functional as F

# Tolerance of the contract: within 2 uint8 levels everywhere, mean absolute difference <= 0.5.
# The core computes in float32 and the references in float64, so a value that lands within
# float32 noise of a rounding boundary may come out one level apart; nothing else differs.


def assert_levels_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.uint8 and actual.shape == expected.shape
    diff = np.abs(actual.astype(np.int64) - np.asarray(expected).astype(np.int64))
    assert diff.max() <= 2, f"max level difference {diff.max()}"
    assert diff.mean() <= 0.5, f"mean level difference {diff.mean()}"


def random_images(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---- References (float64, from the formulas) ------------------------------------------------

def luma(img: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma with torchvision's weights, truncated to a level."""
    x = img.astype(np.float64)
    return np.floor(0.2989 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])


def blend(img: np.ndarray, other: np.ndarray, f: float) -> np.ndarray:
    """torchvision's _blend on uint8: floor(clip(f·img + (1 − f)·other, 0, 255))."""
    return np.floor(np.clip(f * img.astype(np.float64) + (1 - f) * other, 0, 255))


def antialias_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of PIL's / PyTorch's antialiased bilinear (triangle) filter:
    centre c = s(i + ½), support σ = max(s, 1), weight max(0, 1 − |j + ½ − c|/σ), normalised."""
    s = n_in / n_out
    support = max(s, 1.0)
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = s * (i + 0.5)
        lo, hi = max(int(c - support + 0.5), 0), min(int(c + support + 0.5), n_in)
        j = np.arange(lo, hi)
        w[i, lo:hi] = np.maximum(0, 1 - np.abs(j + 0.5 - c) / support)
        w[i] /= w[i].sum()
    return w


def reference_resized_crop(img, top, left, height, width, out_h, out_w):
    crop = img[top:top + height, left:left + width].astype(np.float64)
    wy, wx = antialias_weights(height, out_h), antialias_weights(width, out_w)
    out = np.einsum("yi,ijc,xj->yxc", wy, crop, wx)
    return np.clip(np.round(out), 0, 255)


def reference_hue(img: np.ndarray, f: float) -> np.ndarray:
    """HSV round trip with Python's colorsys (the standard formulas), hue shifted by f turns,
    quantised as convert_image_dtype: floor(x · 255.999)."""
    out = np.empty(img.shape)
    for index in np.ndindex(img.shape[:-1]):
        r, g, b = (img[index] / 255.0).tolist()
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        out[index] = colorsys.hsv_to_rgb((h + f) % 1.0, s, v)
    return np.floor(out * 255.999)


def reference_blur(img: np.ndarray, k: int, sigma: float) -> np.ndarray:
    x = np.arange(k) - (k - 1) / 2
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    r = k // 2
    padded = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    rows = sum(kernel[t] * padded[:, t:t + w] for t in range(k))
    out = sum(kernel[t] * rows[t:t + h] for t in range(k))
    return np.round(out)


# ---- Functional ops against the references ---------------------------------------------------

@pytest.mark.parametrize(
    "shape,crop,size",
    [
        ((12, 14, 3), (1, 2, 5, 6), (9, 11)),     # enlarging
        ((30, 25, 3), (3, 1, 20, 17), (7, 5)),    # shrinking: antialiased
        ((16, 16, 3), (0, 0, 16, 16), (16, 16)),  # the whole image at its size: identity
        ((20, 18, 3), (4, 0, 8, 18), (12, 6)),    # enlarging one axis, shrinking the other
    ],
)
def test_resized_crop_matches_antialiased_bilinear_reference(shape, crop, size):
    img = random_images(shape, seed=1)
    out = F.resized_crop(img, *crop, size)
    assert_levels_close(out, reference_resized_crop(img, *crop, *size))


def test_resized_crop_of_whole_image_at_same_size_is_exact_identity():
    img = random_images((9, 13, 3), seed=2)
    np.testing.assert_array_equal(F.resized_crop(img, 0, 0, 9, 13, (9, 13)), img)


def test_hflip_mirrors_columns():
    img = random_images((3, 5, 7, 3), seed=3)
    np.testing.assert_array_equal(F.hflip(img), img[:, :, ::-1])


@pytest.mark.parametrize("f", [0.0, 0.37, 1.0, 1.8, 3.0])
def test_adjust_brightness_matches_blend_with_black(f):
    img = random_images((11, 9, 3), seed=4)
    assert_levels_close(F.adjust_brightness(img, f), blend(img, 0.0, f))


@pytest.mark.parametrize("f", [0.0, 0.5, 1.0, 1.6])
def test_adjust_contrast_matches_blend_with_grayscale_mean(f):
    img = random_images((4, 10, 12, 3), seed=5)
    expected = np.stack([blend(im, luma(im).mean(), f) for im in img])
    assert_levels_close(F.adjust_contrast(img, f), expected)


@pytest.mark.parametrize("f", [0.0, 0.3, 1.0, 1.7])
def test_adjust_saturation_matches_blend_with_pixel_grayscale(f):
    img = random_images((10, 13, 3), seed=6)
    assert_levels_close(F.adjust_saturation(img, f), blend(img, luma(img)[..., None], f))


@pytest.mark.parametrize("f", [-0.5, -0.23, 0.0, 0.1, 1 / 3, 0.5])
def test_adjust_hue_matches_colorsys_round_trip(f):
    img = random_images((12, 12, 3), seed=7)
    img[0, :4] = [[255, 0, 0], [0, 0, 0], [128, 128, 128], [255, 255, 255]]   # primaries and grays
    assert_levels_close(F.adjust_hue(img, f), reference_hue(img, f))


def test_rgb_to_grayscale_matches_truncated_luma_in_three_channels():
    img = random_images((2, 8, 9, 3), seed=8)
    expected = np.repeat(luma(img)[..., None], 3, axis=-1)
    assert_levels_close(F.rgb_to_grayscale(img), expected)
    out = F.rgb_to_grayscale(img)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


@pytest.mark.parametrize("k,sigma", [(3, 0.8), (5, 1.7), (9, 2.0), (1, 1.0)])
def test_gaussian_blur_matches_reflect_padded_convolution(k, sigma):
    img = random_images((13, 11, 3), seed=9)
    assert_levels_close(F.gaussian_blur(img, k, sigma), reference_blur(img, k, sigma))


@pytest.mark.parametrize("threshold", [0, 100, 128, 255])
def test_solarize_inverts_levels_at_or_above_threshold(threshold):
    img = random_images((6, 7, 3), seed=10)
    expected = np.where(img >= threshold, 255 - img, img)
    np.testing.assert_array_equal(F.solarize(img, threshold), expected)


def test_batch_form_equals_per_image_calls():
    img = random_images((3, 10, 10, 3), seed=11)
    batch = F.adjust_contrast(img, 0.6)
    for i in range(3):
        np.testing.assert_array_equal(batch[i], F.adjust_contrast(img[i], 0.6))


# ---- Pipelines --------------------------------------------------------------------------------

def test_simclr_views_have_the_documented_shape_and_dtype():
    aug = augment.SimCLR(size=16, strength=1.0, blur=0.5, normalize="cifar10")
    v0, v1 = aug(random_images((5, 20, 24, 3)), seed=0, epoch=0)
    assert v0.shape == v1.shape == (5, 16, 16, 3) and v0.dtype == np.float32
    assert not np.array_equal(v0, v1)


def test_views_are_identical_for_any_thread_count():
    aug = augment.MoCoV2(size=12)
    images = random_images((7, 18, 18, 3), seed=12)
    before = dclkit.get_num_threads()
    try:
        dclkit.set_num_threads(1)
        a = aug(images, seed=5, epoch=2)
        dclkit.set_num_threads(3)
        b = aug(images, seed=5, epoch=2)
    finally:
        dclkit.set_num_threads(before)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_seed_epoch_and_indices_key_the_views():
    aug = augment.SimCLR(size=8)
    images = random_images((4, 10, 10, 3), seed=13)
    base = aug(images, seed=1, epoch=0)
    assert not np.array_equal(base[0], aug(images, seed=2, epoch=0)[0])
    assert not np.array_equal(base[0], aug(images, seed=1, epoch=1)[0])
    reversed_rows = aug(images[::-1], seed=1, epoch=0, indices=np.arange(4)[::-1])
    np.testing.assert_array_equal(reversed_rows[0], base[0][::-1])


def test_uint8_views_are_the_float_views_before_normalisation():
    aug = augment.SimCLR(size=10, normalize="imagenet")
    images = random_images((3, 14, 14, 3), seed=14)
    f0, _ = aug(images, seed=3)
    u0, _ = aug.views_uint8(images, seed=3)
    mean, std = augment.NORMALIZATIONS["imagenet"]
    np.testing.assert_allclose(f0, (u0 / 255.0 - np.array(mean)) / np.array(std), atol=1e-5)


def test_pipeline_without_random_operations_returns_the_normalised_image():
    images = random_images((2, 9, 9, 3), seed=15)
    aug = augment.SimCLR(size=9, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale=0.0, blur=0.0,
                         normalize=((0.5, 0.25, 0.0), (0.5, 0.5, 1.0)))
    v0, v1 = aug(images)
    expected = (images / 255.0 - np.array([0.5, 0.25, 0.0])) / np.array([0.5, 0.5, 1.0])
    np.testing.assert_allclose(v0, expected, atol=1e-5)
    np.testing.assert_array_equal(v0, v1)


def test_grayscale_batches_are_replicated_to_rgb():
    aug = augment.SimCLR(size=8)
    gray = random_images((3, 12, 12), seed=16)
    from_gray = aug(gray, seed=4)
    from_rgb = aug(np.repeat(gray[..., None], 3, axis=-1), seed=4)
    np.testing.assert_array_equal(from_gray[0], from_rgb[0])
    np.testing.assert_array_equal(from_gray[1], from_rgb[1])


def test_every_parameter_can_be_overridden():
    aug = augment.SimCLR(size=8, grayscale=1.0, jitter=0.0, blur=0.0, normalize=None)
    u0, u1 = aug.views_uint8(random_images((4, 10, 10, 3), seed=17))
    assert (u0[..., 0] == u0[..., 1]).all() and (u1[..., 1] == u1[..., 2]).all()
    moco = augment.MoCoV2(size=32, hue=(-0.05, 0.05), brightness=(0.9, 1.1), kernel_size=5, solarize=0.2)
    p = moco.parameters
    assert p["hue"] == (-0.05, 0.05) and p["brightness"] == (0.9, 1.1) and p["kernel_size"] == 5
    assert p["scale"] == (0.2, 1.0) and p["contrast"] == (0.6, 1.4) and p["solarize"] == 0.2


def test_simclr_strength_sets_the_jitter_ranges():
    p = augment.SimCLR(size=32, strength=0.5).parameters
    assert p["brightness"] == pytest.approx((0.6, 1.4)) and p["hue"] == pytest.approx((-0.1, 0.1))
    assert p["mean"] == augment.NORMALIZATIONS["cifar10"][0]


def test_a_closed_pipeline_refuses_calls():
    aug = augment.SimCLR(size=8)
    aug.close()
    aug.close()
    with pytest.raises(dclkit.DCLStateError, match="closed"):
        aug(random_images((2, 8, 8, 3)))


def test_contact_sheet_is_written_and_decodes(tmp_path):
    images = random_images((5, 32, 32, 3), seed=18)
    path = augment.contact_sheet(images, tmp_path / "sheet.png", aug=augment.SimCLR(size=32), seed=1)
    with Image.open(path) as sheet:
        sheet.load()
        assert sheet.format == "PNG" and sheet.mode == "RGB"
        # 96-pixel tiles (32 enlarged 3x) plus 4-pixel gaps: 1 triplet per row for 5 images.
        assert sheet.size == (4 + 3 * 100, 4 + 5 * 100)
        pixels = np.asarray(sheet)
    # The first tile is the first original, enlarged.
    np.testing.assert_array_equal(pixels[4:100:3, 4:100:3], images[0])


def test_contact_sheet_accepts_grayscale_and_default_pipeline(tmp_path):
    path = augment.contact_sheet(random_images((2, 20, 20), seed=19), tmp_path / "gray.png")
    with Image.open(path) as sheet:
        assert sheet.size[0] > 0


# ---- Bad inputs ---------------------------------------------------------------------------------

IMG = np.zeros((8, 8, 3), np.uint8)


@pytest.mark.parametrize(
    "call,error,fragment",
    [
        (lambda: F.hflip(IMG.astype(np.float32)), TypeError, "uint8"),
        (lambda: F.hflip(np.zeros((8, 8), np.uint8)), ValueError, "shape"),
        (lambda: F.hflip(np.zeros((2, 8, 8, 4), np.uint8)), ValueError, "shape"),
        (lambda: F.hflip(np.zeros((0, 8, 3), np.uint8)), ValueError, "empty"),
        (lambda: F.adjust_brightness(IMG, -0.1), ValueError, "f"),
        (lambda: F.adjust_contrast(IMG, float("nan")), ValueError, "f"),
        (lambda: F.adjust_saturation(IMG, "a lot"), TypeError, "f"),
        (lambda: F.adjust_hue(IMG, 0.6), ValueError, "f"),
        (lambda: F.gaussian_blur(IMG, 4, 1.0), ValueError, "kernel_size"),
        (lambda: F.gaussian_blur(IMG, 0, 1.0), ValueError, "kernel_size"),
        (lambda: F.gaussian_blur(IMG, 3, 0.0), ValueError, "sigma"),
        (lambda: F.solarize(IMG, 300), ValueError, "threshold"),
        (lambda: F.resized_crop(IMG, 0, 0, 9, 4, 4), ValueError, "crop"),
        (lambda: F.resized_crop(IMG, -1, 0, 4, 4, 4), ValueError, "crop"),
        (lambda: F.resized_crop(IMG, 0, 0, 4, 4, 0), ValueError, "size"),
        (lambda: augment.SimCLR(size=0), ValueError, "size"),
        (lambda: augment.SimCLR(size=-3), ValueError, "size"),
        (lambda: augment.SimCLR(flip=1.5), ValueError, "flip"),
        (lambda: augment.SimCLR(blur=-0.1), ValueError, "blur"),
        (lambda: augment.MoCoV2(jitter=2), ValueError, "jitter"),
        (lambda: augment.SimCLR(scale=(1.0, 0.5)), ValueError, "scale"),
        (lambda: augment.SimCLR(scale=(0.0, 0.5)), ValueError, "scale"),
        (lambda: augment.SimCLR(ratio=(4 / 3, 3 / 4)), ValueError, "ratio"),
        (lambda: augment.SimCLR(sigma=(2.0, 0.1)), ValueError, "sigma"),
        (lambda: augment.SimCLR(hue=0.7), ValueError, "hue"),
        (lambda: augment.SimCLR(brightness=(1.2, 0.8)), ValueError, "brightness"),
        (lambda: augment.SimCLR(kernel_size=4), ValueError, "kernel_size"),
        (lambda: augment.SimCLR(kernel_size=-1), ValueError, "kernel_size"),
        (lambda: augment.SimCLR(strength=3), ValueError, "strength"),
        (lambda: augment.SimCLR(normalize="mnist"), ValueError, "normalize"),
        (lambda: augment.SimCLR(normalize=((0, 0, 0), (1, 0, 1))), ValueError, "std"),
        (lambda: augment.SimCLR(colour=0.5), ValueError, "augment.colour"),
        (lambda: augment.SimCLR(size=8)(IMG), ValueError, "images"),
        (lambda: augment.SimCLR(size=8)(np.zeros((2, 8, 8, 3), np.int64)), TypeError, "uint8"),
        (lambda: augment.SimCLR(size=8)(np.zeros((2, 8, 8, 2), np.uint8)), ValueError, "images"),
        (lambda: augment.SimCLR(size=8)(np.zeros((2, 8, 8, 3), np.uint8), seed=-1), ValueError, "seed"),
        (lambda: augment.SimCLR(size=8)(np.zeros((2, 8, 8, 3), np.uint8), indices=[1]), ValueError, "indices"),
    ],
)
def test_bad_inputs_raise_named_errors(call, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        call()
    assert isinstance(caught.value, (dclkit.DCLError, TypeError))


def test_native_checks_hold_without_the_python_checks(run_isolated):
    """The C ABI validates on its own: null pointers, bad sizes and bad parameters give status
    codes and named messages, never a crash."""
    code, out, err = run_isolated(
        """
        import ctypes
        import dclkit
        from dclkit import _bindings as B
        from dclkit._native import functions, lib
        D, COUNT = ctypes.c_double, B.DCL_AUGMENT_PARAMETER_COUNT
        create, views = functions["dcl_augment_create"], functions["dcl_augment_views"]
        blur, crop = functions["dcl_augment_gaussian_blur"], functions["dcl_augment_resized_crop"]
        good = [8, 0.08, 1, 0.75, 1.33, 0.5, 0.8, 0.2, 1.8, 0.2, 1.8, 0.2, 1.8, -0.2, 0.2, 0.2, 0.5, 0.1, 2, 0, 0, 128,
                0, 0, 0, 1, 1, 1]
        assert len(good) == COUNT
        def params(**changes):  # changes by the DCL_AUG_* name of the entry
            values = list(good)
            for name, value in changes.items():
                values[getattr(B, name)] = value
            return (D * COUNT)(*values)
        handle = ctypes.c_void_p()
        def report(status):
            message = lib.dcl_last_error()
            print(status, message.decode() if message else "-")
        report(create(params(), COUNT - 1, ctypes.byref(handle)))
        report(create(params(DCL_AUG_SCALE_MIN=0.9, DCL_AUG_SCALE_MAX=0.5), COUNT, ctypes.byref(handle)))
        report(create(params(DCL_AUG_FLIP=float("nan")), COUNT, ctypes.byref(handle)))
        report(create(params(DCL_AUG_KERNEL_SIZE=4), COUNT, ctypes.byref(handle)))
        report(create(params(DCL_AUG_SIZE=0), COUNT, ctypes.byref(handle)))
        report(create(None, COUNT, ctypes.byref(handle)))
        report(create(params(), COUNT, ctypes.byref(handle)))
        buf = (ctypes.c_uint8 * 300)(); out = (ctypes.c_float * 600)()
        report(views(None, buf, 1, 10, 10, 3, None, 0, 0, out, out))
        report(views(handle, None, 1, 10, 10, 3, None, 0, 0, out, out))
        report(views(handle, buf, 1, 10, 10, 2, None, 0, 0, out, out))
        report(views(handle, buf, 0, 10, 10, 3, None, 0, 0, out, out))
        report(views(handle, buf, 1 << 62, 10, 10, 3, None, 0, 0, out, out))
        report(views(handle, buf, 1, 10, 10, 3, None, 0, 0, out, None))
        report(blur(buf, 1, 10, 10, 4, 1.0, buf))
        report(blur(buf, 1, 10, 10, 3, -1.0, buf))
        report(crop(buf, 1, 10, 10, 3, 5, 5, 6, 2, 4, 4, buf))
        report(views(handle, buf, 1, 10, 10, 3, None, 0, 0, out, out))
        functions["dcl_augment_free"](handle)
        functions["dcl_augment_free"](None)
        """
    )
    assert code == 0, err
    lines = [line.split(" ", 1) for line in out.strip().splitlines()]
    statuses = [int(status) for status, _ in lines]
    messages = [message for _, message in lines]
    ok, bad = DCL_OK, DCL_INVALID_ARGUMENT
    assert statuses == [bad] * 6 + [ok] + [bad] * 9 + [ok]
    assert str(DCL_AUGMENT_PARAMETER_COUNT) in messages[0]
    assert "scale" in messages[1]
    assert "non-finite" in messages[2]
    assert "kernel_size" in messages[3]
    assert "size" in messages[4]
    assert "parameters is a null pointer" in messages[5]
    assert "pipeline" in messages[7]
    assert "images is a null pointer" in messages[8]
    assert "channels" in messages[9]
    assert "at least one image" in messages[10]
    assert "too large" in messages[11]
    assert "view1" in messages[12]
    assert "kernel_size" in messages[13]
    assert "sigma" in messages[14]
    assert "crop" in messages[15]


@pytest.mark.parametrize(
    "overrides, field",
    [({"flip": 1.5}, "flip"), ({"jitter": -0.1}, "jitter"), ({"grayscale": 2}, "grayscale"), ({"blur": -1}, "blur"),
     ({"scale": (0.0, 0.5)}, "scale"), ({"scale": (1.0, 0.5)}, "scale"), ({"ratio": (0, 1)}, "ratio"),
     ({"sigma": (2.0, 0.1)}, "sigma"), ({"sigma": (0, 1)}, "sigma"), ({"brightness": -1}, "brightness"),
     ({"contrast": (1.2, 0.8)}, "contrast"), ({"saturation": "a lot"}, "saturation"), ({"hue": 0.7}, "hue"),
     ({"hue": (-0.6, 0.2)}, "hue"), ({"kernel_size": 4}, "kernel_size"), ({"kernel_size": 0}, "kernel_size"),
     ({"solarize": 1.5}, "solarize"), ({"solarize_threshold": 300}, "solarize_threshold"), ({"strength": 3}, "strength"),
     ({"normalize": "mnist"}, "normalize"), ({"normalize": ((0, 0, 0), (1, 0, 1))}, "normalize std"),
     ({"mean": (0, 0, 0)}, "mean")],
)
def test_pipeline_rules_are_the_cores_and_errors_name_the_field(overrides, field):
    """The pipelines pass their parameters through: the Swift core resolves them exactly as a
    run's augment field, so both faces give the same error, naming the field."""
    with pytest.raises(dclkit.DCLError) as direct:
        augment.SimCLR(size=32, **overrides)
    with pytest.raises(dclkit.DCLError) as configured:
        dclkit.TrainConfig(image_size=32, augment={"pipeline": "simclr", **overrides})
    assert field in str(direct.value)
    assert str(direct.value) == str(configured.value)
    assert type(direct.value) is type(configured.value)
