"""Input-gradient precision of dclkit's ResNet-18 (CIFAR stem, width 1, training mode) against
PyTorch in float64 on the same weights, beside PyTorch float32's own error: issue 24's guard
(within 3x of PyTorch float32 at batch >= 16, and at batch 4 where an algorithm can get there).
Needs torch and torchvision (the `.peers` venv of `make bench-peers`):

    DCLKIT_LIBRARY=.build/release/libdclkit.so PYTHONPATH=python .peers/bin/python bench/peers/gradient_precision.py

2026-12-07, AMD EPYC Zen 4: batch 4: dclkit 6.6e-3, PyTorch float32 3.2e-6; batch 16: 5.1e-3 and 2.8e-3
(relative L2 error of the input gradient of sum(r * h), r standard normal; features agree to 5e-6).
"""
from __future__ import annotations

import dclkit
import numpy as np
import torch
import torchvision

torch.set_num_threads(2)

def torch_model(state: dict, dtype: torch.dtype) -> torch.nn.Module:
    """torchvision's resnet18 with the CIFAR stem, no classifier, holding `state` (dclkit's state dict)."""
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = torch.nn.Identity(); m.fc = torch.nn.Identity()
    sd = {k: torch.tensor(v) for k, v in state.items() if not k.startswith("head.")}
    m.load_state_dict(sd, strict=False)
    return m.to(dtype).train()


for batch in (4, 16):
    enc = dclkit.Encoder("resnet18", stem="cifar", width=1.0, head=None, seed=0)
    state = enc.state_dict()
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 32, 32, 3)).astype(np.float32)
    h, _ = enc.forward(x, training=True)
    r = rng.standard_normal(h.shape)
    enc.zero_grad()
    gx = enc.backward(grad_h=r.astype(np.float32))
    res = {}
    for name, dtype in (("f64", torch.float64), ("f32", torch.float32)):
        m = torch_model(state, dtype)
        xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=dtype, requires_grad=True)
        out = m(xt)
        (out * torch.tensor(r, dtype=dtype)).sum().backward()
        res[name] = xt.grad.detach().numpy().transpose(0, 2, 3, 1).astype(np.float64)
        if name == "f64": hf = out.detach().numpy()
    ref = res["f64"]
    rel = lambda a: np.linalg.norm(a - ref) / np.linalg.norm(ref)
    print(f"batch {batch}: features rel {np.linalg.norm(h - hf)/np.linalg.norm(hf):.2e}; input gradient rel error dclkit {rel(gx):.2e}, torch f32 {rel(res['f32']):.2e}", flush=True)
