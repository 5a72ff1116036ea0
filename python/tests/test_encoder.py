"""dclkit.Encoder against an independent float64 numpy implementation of torchvision's ResNet
and the projection heads, written here from their definitions; torchvision's names and shapes;
state dicts and safetensors files; bad inputs.

Every layer's forward is checked through small whole models chosen to cover each layer kind:
convolutions 3x3 stride 1 and 2, 1x1 stride 1 and 2, 7x7 stride 2; BatchNorm 2-D and 1-D in
training and evaluation; ReLU; max-pool; global average pooling; Linear with and without bias;
basic and bottleneck blocks with identity and projection shortcuts. A layer whose forward
disagrees with its definition makes the model's output disagree.
"""
from __future__ import annotations

import numpy as np
import pytest

import dclkit
from dclkit import Encoder
from dclkit._bindings import DCL_INVALID_ARGUMENT, DCL_OK, DCL_STATE_ERROR

EPS = 1e-5
STAGES = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3]}


def conv(x, w, stride, padding):
    """y[n, p, q, o] = sum_{i, ky, kx} w[o, i, ky, kx] x[n, p*s - pad + ky, q*s - pad + kx, i]; x NHWC, w OIHW."""
    n, h, wd, _ = x.shape
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    y = 0.0
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride, :]
            y = y + patch @ w[:, :, ky, kx].T
    return y


def max_pool(x):
    """3x3 window, stride 2, padding 1 (padding never wins)."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    oh, ow = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    y = np.full((n, oh, ow, c), -np.inf)
    for ky in range(3):
        for kx in range(3):
            y = np.maximum(y, xp[:, ky:ky + 2 * (oh - 1) + 1:2, kx:kx + 2 * (ow - 1) + 1:2, :])
    return y


def relu(x):
    return np.maximum(x, 0)


class Reference:
    """torchvision's ResNet (+ head) in float64 from a state dict. In training mode BatchNorm uses
    the batch mean and biased variance over all axes but the last, and records the running
    statistics PyTorch would store: 0.9 * old + 0.1 * (mean, unbiased variance)."""

    def __init__(self, state, arch, stem, head, training):
        self.s = {k: np.asarray(v, np.float64) for k, v in state.items()}
        self.arch, self.stem, self.head, self.training = arch, stem, head, training
        self.running = {}

    def bn(self, x, p):
        if self.training:
            axes = tuple(range(x.ndim - 1))
            mean, var = x.mean(axes), x.var(axes)
            m = x.size // x.shape[-1]
            self.running[p + "running_mean"] = 0.9 * self.s[p + "running_mean"] + 0.1 * mean
            self.running[p + "running_var"] = 0.9 * self.s[p + "running_var"] + 0.1 * var * m / (m - 1)
        else:
            mean, var = self.s[p + "running_mean"], self.s[p + "running_var"]
        return (x - mean) / np.sqrt(var + EPS) * self.s[p + "weight"] + self.s[p + "bias"]

    def block(self, x, p, stride):
        s = self.s
        if self.arch == "resnet50":
            y = relu(self.bn(conv(x, s[p + "conv1.weight"], 1, 0), p + "bn1."))
            y = relu(self.bn(conv(y, s[p + "conv2.weight"], stride, 1), p + "bn2."))
            y = self.bn(conv(y, s[p + "conv3.weight"], 1, 0), p + "bn3.")
        else:
            y = relu(self.bn(conv(x, s[p + "conv1.weight"], stride, 1), p + "bn1."))
            y = self.bn(conv(y, s[p + "conv2.weight"], 1, 1), p + "bn2.")
        if p + "downsample.0.weight" in s:
            x = self.bn(conv(x, s[p + "downsample.0.weight"], stride, 0), p + "downsample.1.")
        return relu(y + x)

    def forward(self, x):
        s = self.s
        if self.stem == "imagenet":
            y = max_pool(relu(self.bn(conv(x, s["conv1.weight"], 2, 3), "bn1.")))
        else:
            y = relu(self.bn(conv(x, s["conv1.weight"], 1, 1), "bn1."))
        for k, count in enumerate(STAGES[self.arch]):
            for b in range(count):
                y = self.block(y, f"layer{k + 1}.{b}.", 2 if k > 0 and b == 0 else 1)
        h = y.mean(axis=(1, 2))
        if self.head == "simclr":
            z = relu(self.bn(h @ s["head.0.weight"].T, "head.1.")) @ s["head.3.weight"].T + s["head.3.bias"]
        elif self.head == "moco":
            z = relu(h @ s["head.0.weight"].T + s["head.0.bias"]) @ s["head.2.weight"].T + s["head.2.bias"]
        else:
            z = None
        return h, z


# (arch, stem, width, head, head_dims, input shape): together every layer kind listed above.
MODELS = [
    ("resnet18", "cifar", 0.25, "simclr", (32, 16), (4, 16, 16, 3)),
    ("resnet34", "cifar", 0.125, "moco", None, (3, 8, 8, 3)),
    ("resnet50", "cifar", 1 / 16, None, None, (3, 16, 16, 3)),
    ("resnet18", "imagenet", 0.125, "moco", (24, 8), (2, 64, 64, 3)),
]
IDS = ["resnet18-cifar-simclr", "resnet34-cifar-moco", "resnet50-cifar-bare", "resnet18-imagenet-moco"]


def make(arch, stem, width, head, head_dims, seed=0):
    return Encoder(arch, stem=stem, width=width, head=head, head_dims=head_dims, seed=seed)


def moved_state(enc, shape, seed):
    """The encoder's state after a training forward on other images (running statistics moved)."""
    enc.forward(np.random.default_rng(seed + 100).standard_normal(shape), training=True)
    return enc.state_dict()


def assert_close(actual, expected, what):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-3 * scale, err_msg=what)


@pytest.mark.parametrize("arch,stem,width,head,head_dims,shape", MODELS, ids=IDS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_forward_matches_float64_reference(arch, stem, width, head, head_dims, shape, training):
    enc = make(arch, stem, width, head, head_dims)
    state = moved_state(enc, shape, 1)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    ref = Reference(state, arch, stem, head, training)
    ref_h, ref_z = ref.forward(x.astype(np.float64))
    h, z = enc.forward(x, training=training)
    # float32 through 20-50 layers against float64: agreement to ~1e-4 relative; 1e-3 leaves margin.
    assert_close(h, ref_h, "features")
    if head is None:
        assert z is None
    else:
        assert_close(z, ref_z, "projections")
    after = enc.state_dict()
    for name, value in after.items():
        if name.endswith("num_batches_tracked"):
            assert value == state[name] + (1 if training else 0), name
        elif training and name in ref.running:
            np.testing.assert_allclose(value, ref.running[name], rtol=1e-4, atol=1e-5, err_msg=name)
        elif not name.endswith(("running_mean", "running_var")) or not training:
            np.testing.assert_array_equal(value, state[name], err_msg=name)


@pytest.mark.parametrize("arch,stem,width,head,head_dims,shape", MODELS, ids=IDS)
def test_gradients_match_float64_directional_derivatives(arch, stem, width, head, head_dims, shape):
    """<grad, v> against (L(p + e v) - L(p - e v)) / 2e of the float64 reference, with
    L = sum r_h h + sum r_z z in training mode, along random directions for the input, for the
    convolution weights, for the BatchNorm parameters and for the head. e = 1e-8 keeps every
    ReLU input on its side (at e = 1e-6 a few of the ~1e5 ReLU inputs were seen to cross their
    kink and move the quotient by 0.1%); float64 rounding then costs ~1e-8 relative, so the
    float32 gradients set the tolerance: 1e-3 relative, and 3e-3 for the parameter groups,
    because float32 rounding order alone moves them by up to 0.2% on the smallest model (seen
    2026-12-01 on resnet34-cifar-moco's BatchNorm group, whose last stage normalises over 3
    values: 1773.4 and 1775.4 against 1772.2 for the same Winograd arithmetic with the two
    passes of its 2-D transforms in either order); a wrong gradient is off by O(1). BatchNorm
    biases start at 1, so that no channel dies (a dead channel reaches the next BatchNorm nearly
    constant, which then magnifies a step of 1e-8 to O(1)) while about one ReLU input in six
    stays negative."""
    enc = make(arch, stem, width, head, head_dims)
    initial = enc.state_dict()
    enc.load_state_dict({n: (np.ones_like(v) if n.endswith(".bias") and n[:-4] + "running_mean" in initial else v)
                         for n, v in initial.items()})
    state = moved_state(enc, shape, 3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    h, z = enc.forward(x, training=True)
    r_h = rng.standard_normal(h.shape)
    r_z = None if z is None else rng.standard_normal(z.shape)
    enc.zero_grad()
    grad_x = enc.backward(grad_z=r_z, grad_h=r_h)
    grads = enc.grads()

    def loss(state, images):
        ref_h, ref_z = Reference(state, arch, stem, head, training=True).forward(images)
        return (r_h * ref_h).sum() + (0.0 if ref_z is None else (r_z * ref_z).sum())

    e = 1e-8
    v = rng.standard_normal(shape)
    x64 = x.astype(np.float64)
    numeric = (loss(state, x64 + e * v) - loss(state, x64 - e * v)) / (2 * e)
    assert (grad_x * v).sum() == pytest.approx(numeric, rel=1e-3, abs=1e-4)
    groups = {
        "convolutions": [n for n in grads if n.endswith("weight") and len(grads[n].shape) == 4],
        "batchnorm": [n for n in grads if n.endswith(("weight", "bias")) and len(grads[n].shape) == 1 and not n.startswith("head.")],
        "head": [n for n in grads if n.startswith("head.")],
    }
    for group, names in groups.items():
        if not names:
            continue
        direction = {n: rng.standard_normal(grads[n].shape) for n in names}
        plus = {**state, **{n: state[n] + e * direction[n] for n in names}}
        minus = {**state, **{n: state[n] - e * direction[n] for n in names}}
        numeric = (loss(plus, x64) - loss(minus, x64)) / (2 * e)
        analytic = sum((grads[n].astype(np.float64) * direction[n]).sum() for n in names)
        assert analytic == pytest.approx(numeric, rel=3e-3, abs=1e-4), group


# torchvision.models.resnet18(): modules with state in state_dict order (fc excluded); convolutions
# with their OIHW weight shape, BatchNorms with their channel count.
RESNET18 = [("conv1", (64, 3, 7, 7)), ("bn1", 64)]
for _stage, (_planes, _inplanes) in enumerate([(64, 64), (128, 64), (256, 128), (512, 256)], start=1):
    RESNET18 += [
        (f"layer{_stage}.0.conv1", (_planes, _inplanes, 3, 3)), (f"layer{_stage}.0.bn1", _planes),
        (f"layer{_stage}.0.conv2", (_planes, _planes, 3, 3)), (f"layer{_stage}.0.bn2", _planes),
    ]
    if _stage > 1:
        RESNET18 += [(f"layer{_stage}.0.downsample.0", (_planes, _inplanes, 1, 1)), (f"layer{_stage}.0.downsample.1", _planes)]
    RESNET18 += [
        (f"layer{_stage}.1.conv1", (_planes, _planes, 3, 3)), (f"layer{_stage}.1.bn1", _planes),
        (f"layer{_stage}.1.conv2", (_planes, _planes, 3, 3)), (f"layer{_stage}.1.bn2", _planes),
    ]


def test_resnet18_state_dict_has_torchvision_names_shapes_and_order():
    expected = []
    for module, shape in RESNET18:
        if isinstance(shape, tuple):
            expected.append((module + ".weight", shape))
        else:
            expected += [(module + ".weight", (shape,)), (module + ".bias", (shape,)), (module + ".running_mean", (shape,)),
                         (module + ".running_var", (shape,)), (module + ".num_batches_tracked", ())]
    state = Encoder("resnet18", stem="imagenet", head=None).state_dict()
    assert [(name, value.shape) for name, value in state.items()] == expected
    assert len(state) == 120  # torchvision's 122 minus fc.weight and fc.bias
    assert state["bn1.num_batches_tracked"].dtype == np.int64
    assert all(v.dtype == np.float32 for n, v in state.items() if not n.endswith("num_batches_tracked"))
    cifar = Encoder("resnet18", stem="cifar", head="simclr").state_dict()
    assert cifar["conv1.weight"].shape == (64, 3, 3, 3)
    assert [(n, v.shape) for n, v in cifar.items() if n.startswith("head.")] == [
        ("head.0.weight", (512, 512)), ("head.1.weight", (512,)), ("head.1.bias", (512,)), ("head.1.running_mean", (512,)),
        ("head.1.running_var", (512,)), ("head.1.num_batches_tracked", ()), ("head.3.weight", (128, 512)), ("head.3.bias", (128,)),
    ]


def test_initialisation_is_torchvision_like_and_seeded():
    a, b, c = (Encoder("resnet18", width=0.5, head="moco", seed=s).state_dict() for s in (7, 7, 8))
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    w = a["layer4.1.conv2.weight"]  # (256, 256, 3, 3): Kaiming normal, fan_out = 256 * 9
    assert w.std() == pytest.approx(np.sqrt(2 / (256 * 9)), rel=0.02)
    assert np.all(a["layer2.0.bn1.weight"] == 1) and np.all(a["layer2.0.bn1.bias"] == 0)
    assert np.abs(a["head.0.weight"]).max() <= 1 / np.sqrt(256) and np.abs(a["head.0.bias"]).max() <= 1 / np.sqrt(256)
    zero = Encoder("resnet50", width=0.125, head=None, zero_init_residual=True).state_dict()
    assert all(np.all(v == 0) for n, v in zero.items() if n.endswith("bn3.weight"))


def test_grads_cover_parameters_only_and_zero_grad_clears_them():
    enc = Encoder("resnet18", width=0.125, head="simclr")
    h, z = enc.forward(np.random.default_rng(5).standard_normal((4, 8, 8, 3)))
    enc.backward(grad_z=np.ones_like(z))
    grads = enc.grads()
    assert set(grads) == {n for n in enc.state_dict() if not n.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert np.abs(grads["conv1.weight"]).sum() > 0
    first = {n: g.copy() for n, g in grads.items()}
    enc.backward(grad_z=np.ones_like(z))  # accumulates
    np.testing.assert_allclose(enc.grads()["layer1.0.conv1.weight"], 2 * first["layer1.0.conv1.weight"], rtol=1e-5, atol=1e-7)
    enc.zero_grad()
    assert all(np.all(g == 0) for g in enc.grads().values())


def test_state_dict_round_trip_reproduces_the_encoder():
    a = Encoder("resnet50", width=1 / 16, head="moco", seed=1)
    a.forward(np.random.default_rng(6).standard_normal((3, 16, 16, 3)))
    b = Encoder("resnet50", width=1 / 16, head="moco", seed=2)
    b.load_state_dict(a.state_dict())
    for (na, va), (nb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb
        np.testing.assert_array_equal(va, vb)
    x = np.random.default_rng(7).standard_normal((2, 16, 16, 3))
    for training in (False, True):
        np.testing.assert_array_equal(a.forward(x, training=training)[1], b.forward(x, training=training)[1])


def test_saved_file_is_read_back_by_the_safetensors_package(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    enc = Encoder("resnet18", width=0.25, head="simclr", head_dims=(64, 32), seed=3)
    enc.forward(np.random.default_rng(8).standard_normal((4, 8, 8, 3)))
    path = tmp_path / "encoder.safetensors"
    enc.save(path)
    tensors = load_file(str(path))
    state = enc.state_dict()
    assert set(tensors) == set(state)
    for name, value in state.items():
        assert tensors[name].dtype == np.float32 and tensors[name].shape == value.shape, name
        np.testing.assert_array_equal(tensors[name], value.astype(np.float32), err_msg=name)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    assert metadata["dclkit.arch"] == "resnet18" and metadata["dclkit.head"] == "simclr"
    assert (metadata["dclkit.head_hidden"], metadata["dclkit.head_out"]) == ("64", "32")
    loaded = Encoder.load(path)
    assert (loaded.arch, loaded.stem, loaded.width, loaded.head, loaded.head_dims) == ("resnet18", "cifar", 0.25, "simclr", (64, 32))
    for name, value in loaded.state_dict().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)


def test_file_written_by_the_safetensors_package_loads(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    enc = Encoder("resnet18", width=0.125, head=None, seed=4)
    state = {n: np.asarray(v) for n, v in enc.state_dict().items()}  # int64 num_batches_tracked, as PyTorch
    path = tmp_path / "external.safetensors"
    save_file(state, str(path), metadata={"dclkit.arch": "resnet18", "dclkit.stem": "cifar", "dclkit.width": "0.125",
                                           "dclkit.head": "none", "dclkit.head_hidden": "64", "dclkit.head_out": "128"})
    loaded = Encoder.load(str(path))
    for name, value in loaded.state_dict().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)


def test_forward_converts_float64_and_non_contiguous_input():
    enc = Encoder("resnet18", width=0.125, head="moco")
    big = np.random.default_rng(9).standard_normal((2, 8, 16, 3))
    view = big[:, :, ::2, :]
    h1, z1 = enc.forward(view, training=False)
    h2, z2 = enc.forward(np.ascontiguousarray(view, np.float32), training=False)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(z1, z2)


def test_whole_input_is_one_batchnorm_batch():
    enc = Encoder("resnet18", width=0.125, head="simclr")
    x = np.random.default_rng(10).standard_normal((4, 8, 8, 3))
    both = enc.forward(x, training=True)[0][:2]
    half = enc.forward(x[:2], training=True)[0]
    assert np.abs(both - half).max() > 1e-3
    # In eval mode a sample's features do not depend on its batch, up to float32 rounding: the GEMM
    # blocking follows the batch size, and Winograd F(4x4) rounds to about 4e-6 of the sum of |terms|
    # (WinogradConvolutionTests), ~1e-6 absolute here; 1e-5 stays 100x below the training effect above.
    np.testing.assert_allclose(enc.forward(x, training=False)[0][:2], enc.forward(x[:2], training=False)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,error,fragment",
    [
        ({"arch": "resnet19"}, ValueError, "architecture"),
        ({"stem": "tiny"}, ValueError, "stem"),
        ({"head": "byol"}, ValueError, "head"),
        ({"arch": 18}, TypeError, "arch"),
        ({"width": 0.0}, ValueError, "width"),
        ({"width": float("nan")}, ValueError, "width"),
        ({"width": 20.0}, ValueError, "width"),
        ({"head_dims": (0, 128)}, ValueError, "head_dims"),
        ({"head_dims": (128,)}, ValueError, "head_dims"),
        ({"head": None, "head_dims": (8, 8)}, ValueError, "head_dims"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_configurations_raise_named_errors(kwargs, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        Encoder(**kwargs)
    assert isinstance(caught.value, dclkit.DCLError)


@pytest.mark.parametrize(
    "x,training,fragment",
    [
        (np.zeros((8, 8, 3)), True, "4 dimensions"),
        (np.zeros((2, 8, 8, 1)), True, "3 channels"),
        (np.zeros((2, 7, 8, 3)), True, "at least 8"),
        (np.full((2, 8, 8, 3), np.nan), True, "NaN"),
        (np.zeros((0, 8, 8, 3)), True, "empty"),
        (np.zeros((1, 8, 8, 3)), True, "at least 2 values"),
    ],
)
def test_bad_inputs_raise_named_errors(x, training, fragment):
    enc = Encoder("resnet18", width=0.125, head="simclr")
    with pytest.raises(ValueError, match=fragment):
        enc.forward(x, training=training)


def test_bad_backward_calls_raise():
    enc = Encoder("resnet18", width=0.125, head=None)
    with pytest.raises(dclkit.DCLStateError, match="forward first"):
        enc.backward(grad_h=np.ones((2, 64)))
    enc.forward(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="grad_z, grad_h or both"):
        enc.backward()
    with pytest.raises(ValueError, match="no projection head"):
        enc.backward(grad_z=np.ones((2, 128)))
    with pytest.raises(ValueError, match=r"grad_h must have shape \(2, 64\)"):
        enc.backward(grad_h=np.ones((3, 64)))
    with pytest.raises(ValueError, match="grad_h"):
        enc.backward(grad_h=np.full((2, 64), np.inf))


def test_bad_state_dicts_raise_and_leave_the_encoder_unchanged():
    enc = Encoder("resnet18", width=0.125, head="moco", seed=1)
    before = enc.state_dict()
    good = Encoder("resnet18", width=0.125, head="moco", seed=2).state_dict()
    cases = [
        ({k: v for k, v in good.items() if k != "layer3.1.bn2.running_var"}, ValueError, "missing layer3.1.bn2.running_var"),
        ({**good, "fc.weight": np.zeros((10, 64))}, ValueError, "unexpected fc.weight"),
        ({**good, "conv1.weight": np.zeros((8, 3, 7, 7))}, ValueError, r"conv1.weight has shape \[8, 3, 7, 7\], expected \[8, 3, 3, 3\]"),
        ({**good, "head.2.bias": np.full(128, np.nan)}, ValueError, "head.2.bias"),
        ({**good, "head.2.bias": "abc"}, TypeError, "head.2.bias"),
        ([1, 2], TypeError, "mapping"),
    ]
    for state, error, fragment in cases:
        with pytest.raises(error, match=fragment):
            enc.load_state_dict(state)
    for name, value in enc.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_bad_files_raise_io_and_format_errors(tmp_path):
    with pytest.raises(dclkit.DCLIOError):
        Encoder.load(tmp_path / "absent.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(dclkit.DCLFormatError):
        Encoder.load(garbage)
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"conv1.weight": np.zeros((8, 3, 3, 3), np.float32)}, str(bare))
    with pytest.raises(dclkit.DCLFormatError, match="metadata"):
        Encoder.load(bare)
    with pytest.raises(dclkit.DCLIOError):
        Encoder("resnet18", width=0.125).save(tmp_path / "no-such-dir" / "x.safetensors")


def test_native_checks_hold_without_the_python_checks(run_isolated):
    """The C ABI validates on its own: null handles and pointers, bad sizes and unknown names
    give status codes and messages, not crashes."""
    code, out, err = run_isolated(
        """
        import ctypes
        import numpy as np
        import dclkit
        from dclkit._native import functions, lib
        create, forward = functions["dcl_encoder_create"], functions["dcl_encoder_forward"]
        backward, get = functions["dcl_encoder_backward"], functions["dcl_encoder_get"]
        load_state = functions["dcl_encoder_load_state"]
        handle = ctypes.c_void_p()
        buf = (ctypes.c_float * 100000)()
        def report(status):
            print(status, (lib.dcl_last_error() or b"").decode())
        report(create(None, b"cifar", 1.0, None, 0, 128, 0, 0, ctypes.byref(handle)))
        report(create(b"resnet18", b"cifar", 0.125, None, -1, 128, 0, 0, ctypes.byref(handle)))
        report(create(b"resnet18", b"cifar", 0.125, None, 0, 128, 0, 0, None))
        report(create(b"resnet18", b"cifar", 0.125, b"simclr", 0, 128, 0, 0, ctypes.byref(handle)))
        report(forward(None, buf, 2, 8, 8, 3, 1, buf, buf))
        report(forward(handle, None, 2, 8, 8, 3, 1, buf, buf))
        report(forward(handle, buf, 2, 8, 8, 3, 1, buf, None))
        report(forward(handle, buf, -2, 8, 8, 3, 1, buf, buf))
        report(forward(handle, buf, 2, 8, 8, 3, 7, buf, buf))
        report(forward(handle, buf, 2**40, 2**20, 8, 3, 1, buf, buf))
        report(backward(handle, buf, None, 2, None))
        report(forward(handle, buf, 2, 8, 8, 3, 1, buf, buf))
        report(backward(handle, buf, None, 3, None))
        report(get(handle, b"conv9.weight", 0, buf, 10))
        report(get(handle, b"conv1.weight", 0, buf, 10))
        report(get(handle, b"bn1.running_mean", 1, buf, 8))
        report(load_state(handle, 3, None, None, None, None))
        functions["dcl_encoder_free"](handle)
        functions["dcl_encoder_free"](None)
        """
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    statuses = [int(line.split()[0]) for line in lines]
    ok, bad = DCL_OK, DCL_INVALID_ARGUMENT
    assert statuses == [bad, bad, bad, ok, bad, bad, bad, bad, bad, bad, DCL_STATE_ERROR, ok, bad, bad, bad, bad, bad], out
    assert "arch is a null pointer" in lines[0]
    assert "head_hidden" in lines[1]
    assert "out is a null pointer" in lines[2]
    assert "encoder is a null pointer" in lines[4]
    assert "x is a null pointer" in lines[5]
    assert "projection is a null pointer" in lines[6]
    assert "N (images in x)" in lines[7]
    assert "training must be 0 or 1" in lines[8]
    assert "too large" in lines[9]
    assert "forward first" in lines[10]
    assert "does not match" in lines[12]
    assert "no state entry" in lines[13]
    assert "elements" in lines[14]
    assert "no gradient" in lines[15]
    assert "must not be null" in lines[16]
