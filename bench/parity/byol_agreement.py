"""Does dclkit's BYOL compute what a PyTorch BYOL computes, step for step?

Both engines start from the same weights (dclkit's trainer for the seed: encoder, projector,
predictor; the PyTorch target a copy of the online network), take the same views in the same
order (``engines.Views``) at the same rates (``engines.learning_rate``), SGD momentum 0.9 with
weight decay on conv and linear weights only, and update the target after every step with
τ_k = 1 − (1 − τ_base)(cos(πk/K) + 1)/2. The PyTorch side is written from the paper: online =
trunk + projector (Linear-BN-ReLU-Linear) + predictor (same form), target = trunk + projector in
training mode without gradients, loss ½[mean(2 − 2cos(q₁, z′₂)) + mean(2 − 2cos(q₂, z′₁))], both
views as one batch of 2N (as dclkit), or with ``--view-batchnorm per_view`` each network called
once per view (the paper's and lightly's code) against dclkit's ``view_batchnorm="per_view"``.

Training is chaotic (float32 rounding differences grow step by step), so a third engine is the
yardstick: the same PyTorch BYOL from the initial weights × (1 + ``--noise`` · standard normal).
Prints the losses of the three per step, then the relative L2 difference of every online,
predictor and target tensor after the steps (dclkit's read from its checkpoint), dclkit against
PyTorch beside the control against PyTorch; "the same math" is dclkit no farther from PyTorch
than the control, and both far below the distance between target and online networks.

Usage: byol_agreement.py --data cifar10-train.tar [--steps 40] [--total 40] [--warmup 4]
       [--lr 0.06] [--tau 0.9] [--images 2560] [--seed 0] [--threads 1] [--noise 1e-6]
       [--view-batchnorm joint|per_view]
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engines import Recipe, TorchModel, Views, learning_rate, relative  # noqa: E402


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a safetensors file (8-byte header length, JSON header, data)."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    base = 8 + length
    out = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue
        lo, hi = entry["data_offsets"]
        out[name] = np.frombuffer(raw[base + lo:base + hi], np.float32).reshape(entry["shape"]).copy()
    return out


def target_momentum(step: int, total: int, base: float) -> float:
    """BYOL's τ_k for step k (0-based) of K."""
    k = min(max(step, 0), total)
    return 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--total", type=int, default=40, help="K: the schedule's total steps")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.06)
    parser.add_argument("--tau", type=float, default=0.9)
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--noise", type=float, default=1e-6, help="the control's relative weight perturbation")
    parser.add_argument("--view-batchnorm", choices=["joint", "per_view"], default="joint",
                        help="BatchNorm over both views as one batch, or each network called once per view")
    args = parser.parse_args()

    import torch

    import dclkit
    import dclkit.sweep_data

    dclkit.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    spec = dclkit.sweep_data.DataSpec.from_table({"path": args.data, "image_size": 32, "seed": 0,
                                                  "eval_per_class": 500, "train_per_class": 1000})
    images = dclkit.sweep_data.load(spec).x_train[:args.images]
    recipe = Recipe(seed=args.seed, lr=args.lr, threads=args.threads)
    config = dclkit.TrainConfig(method="byol", arch="resnet18", stem="cifar", width=recipe.width, batch_size=recipe.batch,
                                image_size=32, optimizer="sgd", lr=args.lr, momentum=0.9, weight_decay=5e-4,
                                epochs=args.total, warmup_epochs=args.warmup, seed=args.seed, target_momentum=args.tau,
                                augment={"pipeline": "simclr", "blur": 0.0}, view_batchnorm=args.view_batchnorm)
    trainer = dclkit.Trainer(config)
    with tempfile.TemporaryDirectory() as folder:
        trainer.save(Path(folder) / "init.safetensors")
        initial = read_safetensors(Path(folder) / "init.safetensors")
    state = trainer.encoder.state_dict()
    reference = TorchBYOL(state, initial, args, noise=0.0)
    control = TorchBYOL(state, initial, args, noise=args.noise)
    views = Views(images, recipe)
    step = 0
    print(f"step  lr        tau       dclkit loss  torch loss   rel diff   | torch, weights x (1 + {args.noise:g} noise): "
          f"loss, rel diff", flush=True)
    epoch = 0
    while step < args.steps:
        for v0, v1 in views.epoch(epoch):
            if step == args.steps:
                break
            rate = learning_rate(step, args.lr, args.warmup, args.total)
            tau = target_momentum(step, args.total, args.tau)
            ours = trainer.train_step(v0, v1)
            theirs = reference.step(v0, v1, rate, tau)
            again = control.step(v0, v1, rate, tau)
            print(f"{step:4d}  {rate:.6f}  {tau:.6f}  {ours:.6f}     {theirs:.6f}     {abs(ours - theirs) / theirs:.1e}"
                  f"    | {again:.6f}  {abs(again - theirs) / theirs:.1e}", flush=True)
            step += 1
        epoch += 1

    with tempfile.TemporaryDirectory() as folder:
        trainer.save(Path(folder) / "after.safetensors")
        after = read_safetensors(Path(folder) / "after.safetensors")
    def prefixed(prefix: str) -> dict[str, np.ndarray]:
        return {k.removeprefix(prefix): v for k, v in after.items() if k.startswith(prefix)}

    ours_after = {"online": trainer.encoder.state_dict(), "predictor": prefixed("predictor.head."),
                  "target": prefixed("target_encoder.")}
    for label in ours_after:
        mine, ref, ctl = ours_after[label], reference.parameters(label), control.parameters(label)
        print(f"{label:>9} after {args.steps} steps, median (largest) relative difference over {len(ref)} tensors: "
              f"dclkit vs torch {spread({k: relative(ref[k], mine[k]) for k in ref})}; "
              f"torch control vs torch {spread({k: relative(ref[k], ctl[k]) for k in ref})}")
    online, target = reference.parameters("online"), reference.parameters("target")
    print(f"scale: torch target vs torch online {spread({k: relative(online[k], target[k]) for k in online})}; "
          f"torch target vs its start {spread({k: relative(initial['target_encoder.' + k], target[k]) for k in target})}")


def spread(differences: dict[str, float]) -> str:
    """Median and largest of per-tensor relative differences."""
    worst = max(differences, key=differences.get)
    return f"{np.median(list(differences.values())):.1e} ({differences[worst]:.1e} {worst})"


class TorchBYOL:
    """BYOL in PyTorch from the paper, from dclkit's initial weights (optionally each multiplied by
    1 + ``noise`` · standard normal, the control for float32 chaos)."""

    def __init__(self, state: dict, initial: dict, args: argparse.Namespace, noise: float) -> None:
        import torch
        from torch import nn

        self.torch = torch
        self.per_view = args.view_batchnorm == "per_view"
        rng = np.random.default_rng(1)

        def jitter(a: np.ndarray) -> np.ndarray:
            a = np.asarray(a, np.float32)
            if noise and a.dtype.kind == "f" and a.ndim > 0:
                return (a * (1 + noise * rng.standard_normal(a.shape))).astype(np.float32)
            return a

        self.online = TorchModel.build({k: jitter(v) if "running" not in k and "num_batches" not in k else v
                                        for k, v in state.items()}).train()
        self.target = copy.deepcopy(self.online).train()
        for p in self.target.parameters():
            p.requires_grad_(False)
        w0, w3 = initial["predictor.head.0.weight"], initial["predictor.head.3.weight"]
        self.predictor = nn.Sequential(nn.Linear(w0.shape[1], w0.shape[0], bias=False), nn.BatchNorm1d(w0.shape[0]),
                                       nn.ReLU(), nn.Linear(w3.shape[1], w3.shape[0], bias=True)).train()
        loaded = {k.removeprefix("predictor.head."): torch.from_numpy(jitter(v)) for k, v in initial.items()
                  if k.startswith("predictor.head.") and "running" not in k and "num_batches" not in k}
        missing, unexpected = self.predictor.load_state_dict(loaded, strict=False)
        assert not unexpected and all("running" in k or "num_batches" in k for k in missing), (missing, unexpected)
        trained = list(self.online.parameters()) + list(self.predictor.parameters())
        self.optimizer = torch.optim.SGD([{"params": [p for p in trained if p.ndim > 1], "weight_decay": 5e-4},
                                          {"params": [p for p in trained if p.ndim <= 1], "weight_decay": 0.0}],
                                         lr=args.lr, momentum=0.9)

    def step(self, v0: np.ndarray, v1: np.ndarray, rate: float, tau: float) -> float:
        """One BYOL step on the views (NHWC) at ``rate``, then the target update with ``tau``; the loss."""
        torch = self.torch
        import torch.nn.functional as F

        for group in self.optimizer.param_groups:
            group["lr"] = rate
        x = torch.from_numpy(np.concatenate([v0, v1])).permute(0, 3, 1, 2).contiguous()
        n = len(v0)
        if self.per_view:
            with torch.no_grad():
                zt = torch.cat([self.target(x[:n]), self.target(x[n:])])
            z0, z1 = self.online(x[:n]), self.online(x[n:])
            q = torch.cat([self.predictor(z0), self.predictor(z1)])
        else:
            with torch.no_grad():
                zt = self.target(x)
            q = self.predictor(self.online(x))

        def ell(a, b):
            return (2 - 2 * F.cosine_similarity(a, b, dim=1, eps=1e-12)).mean()

        loss = 0.5 * (ell(q[:n], zt[n:]) + ell(q[n:], zt[:n]))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for t, o in zip(list(self.target.parameters()) + list(self.target.buffers()),
                            list(self.online.parameters()) + list(self.online.buffers())):
                if t.dtype.is_floating_point:
                    t.mul_(tau).add_(o, alpha=1 - tau)
        return float(loss.detach())

    def parameters(self, which: str) -> dict[str, np.ndarray]:
        """The trainable tensors of the online network, the predictor or the target, as numpy."""
        module = {"online": self.online, "predictor": self.predictor, "target": self.target}[which]
        return {k: v.detach().numpy().copy() for k, v in module.named_parameters()}


if __name__ == "__main__":
    main()
