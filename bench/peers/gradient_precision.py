"""Gradient precision of dclkit's ResNet-18 (CIFAR stem, width 1, training mode) against PyTorch
in float64 on the same weights, beside PyTorch float32's own error, layer by layer: issue 24's
guard (within 3x of PyTorch float32 at batch >= 16, and at batch 4 where an algorithm can get
there; python/tests/test_gradient_precision.py is its torch-free test). Needs torch and
torchvision (the `.peers` venv of `make bench-peers`):

    DCLKIT_LIBRARY=.build/release/libdclkit.so PYTHONPATH=python .peers/bin/python bench/peers/gradient_precision.py

Prints, per batch, the relative L2 error of the features h, of the input gradient and of every
parameter's gradient of sum(r * h) (r standard normal), and the pre-activation nearest a ReLU's
kink (|v| / rms of its layer, in float64): a ReLU's gradient jumps at 0, so a value within
float32's forward error of 0 (about 1e-6 of the rms) may land on either side in any float32
evaluation, and one such element moves the gradients by up to 1e-2; those are the large errors,
of dclkit and PyTorch float32 alike, and no algorithm removes them (a more accurate forward only
makes them rarer).

2026-12-07, AMD EPYC Zen 4 (2 cores, shared). Before the planner's small-batch rule (Winograd
F(4x4, 3x3) at every batch): batch 4: input gradient dclkit 6.6e-3 (one element of layer3.1's
output at 2.1e-6 of its rms on the other side of 0; 1.1e-5 against the float64 gradient with that
element flipped), PyTorch float32 2.7e-6; batch 16: dclkit 5.1e-3, PyTorch float32 2.8e-3 (kink
flips both). After (F(2x2, 3x3) below 32 samples): batch 4: every gradient within 0.6-1.5x of
PyTorch float32's (input 2.2e-6 against 3.2e-6); batch 16 (nearest kink 1.0e-7 of the rms):
input 1.7e-3 against 2.8e-3, each a flip of its own (dclkit's in layer1, PyTorch's in layer4:
there dclkit 3e-6, PyTorch 2e-4 to 1e-3). Away from kinks F(4x4) leaves every gradient 3-7x
further from float64 than float32's own error, F(2x2) and im2col within 1.7x (the test).
"""
from __future__ import annotations

import numpy as np
import torch
import torchvision

import dclkit

torch.set_num_threads(2)


def torch_model(state: dict, dtype: torch.dtype) -> torch.nn.Module:
    """torchvision's resnet18 with the CIFAR stem, no classifier, holding `state` (dclkit's state dict)."""
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = torch.nn.Identity()
    m.fc = torch.nn.Identity()
    sd = {k: torch.tensor(v) for k, v in state.items() if not k.startswith("head.")}
    m.load_state_dict(sd, strict=False)
    return m.to(dtype).train()


def torch_gradients(m: torch.nn.Module, x: np.ndarray, r: np.ndarray, dtype: torch.dtype, kinks: list | None = None) -> dict:
    """h, the input gradient and every parameter's gradient of sum(r * h), as float64 NHWC / OIHW arrays;
    with `kinks`, appends each ReLU call's smallest |input| / rms."""
    hooks = []
    if kinks is not None:
        def record(module, inputs):  # before the call: torchvision's ReLUs work in place
            v = inputs[0].detach()
            kinks.append(float((v.abs().min() / v.pow(2).mean().sqrt()).item()))
        hooks = [mod.register_forward_pre_hook(record) for mod in m.modules() if isinstance(mod, torch.nn.ReLU)]
    xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=dtype, requires_grad=True)
    out = m(xt)
    (out * torch.tensor(r, dtype=dtype)).sum().backward()
    for hook in hooks:
        hook.remove()
    result = {"h": out.detach().double().numpy(), "input": xt.grad.detach().double().numpy().transpose(0, 2, 3, 1)}
    result.update({k: p.grad.detach().double().numpy() for k, p in m.named_parameters()})
    return result


def relative_error(a: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - reference) / np.linalg.norm(reference))


for batch in (4, 16):
    enc = dclkit.Encoder("resnet18", stem="cifar", width=1.0, head=None, seed=0)
    state = enc.state_dict()
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 32, 32, 3)).astype(np.float32)
    h, _ = enc.forward(x, training=True)
    r = rng.standard_normal(h.shape)
    enc.zero_grad()
    ours = {"h": h, "input": enc.backward(grad_h=r.astype(np.float32)), **enc.grads()}
    kinks: list = []
    ref = torch_gradients(torch_model(state, torch.float64), x, r, torch.float64, kinks)
    f32 = torch_gradients(torch_model(state, torch.float32), x, r, torch.float32)
    print(f"\nbatch {batch}: nearest pre-activation to a ReLU kink: {min(kinks):.1e} of its layer's rms")
    print(f"{'':32s} {'dclkit':>8s} {'torch f32':>9s} {'ratio':>6s}")
    ratios = []
    for name in ref:
        a, b = relative_error(ours[name], ref[name]), relative_error(f32[name], ref[name])
        ratios.append(a / b)
        print(f"{name:32s} {a:8.1e} {b:9.1e} {a / b:6.1f}")
    print(f"batch {batch}: largest ratio {max(ratios):.1f}, median {np.median(ratios):.1f}", flush=True)
