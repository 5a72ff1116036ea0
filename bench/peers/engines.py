"""The two engines `bench_peers.py` compares, each set up for one whole pretraining step.

A :class:`Plan` names the method (dcl, byol, simsiam, barlow-twins, vicreg), the model and
batch, and the sizes and optimiser settings dclkit resolved for them (the parent resolves
them once through ``dclkit.TrainConfig`` and hands the same plan to both engines, so the
PyTorch side is built at dclkit's sizes). Models: ResNet-18 with the CIFAR stem (3×3 stride-1
conv1, no max-pool) and a channel width multiplier on 32×32 views, or ResNet-50 with the
ImageNet stem at a given side. One step: both views forward as one batch of 2N (both
networks, for BYOL), the method's loss, backward, SGD (momentum 0.9; dclkit's resolved rate
and weight decay).

- :class:`DclkitEngine`: ``dclkit.Trainer.train_step`` (the library found through
  ``DCLKIT_LIBRARY`` and ``PYTHONPATH``).
- :class:`TorchEngine`: the same model from torchvision's blocks (or ``resnet50``) with
  lightly's heads and losses for the method, ``torch.optim.SGD``, in PyTorch's NCHW layout.

An engine is built with ``(plan, threads)``; ``step()`` runs one step on fixed random views
drawn once at construction.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

TEMPERATURE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
TARGET_MOMENTUM = 0.996
METHODS = ("dcl", "byol", "simsiam", "barlow-twins", "vicreg")


@dataclasses.dataclass(frozen=True)
class Setup:
    """A model and batch: ``arch`` resnet18 (CIFAR stem, ``width``) or resnet50 (ImageNet stem),
    views of ``size``² pixels, ``batch`` images (N pairs) per step."""

    arch: str
    width: float
    size: int
    batch: int

    @property
    def stem(self) -> str:
        return "cifar" if self.arch == "resnet18" else "imagenet"

    @classmethod
    def parse(cls, text: str) -> "Setup":
        """"W:N" (ResNet-18, width W, 32×32, batch N) or "r50:S:N" (ResNet-50, S×S, batch N)."""
        parts = text.strip().split(":")
        if parts[0] == "r50" and len(parts) == 3:
            return cls("resnet50", 1.0, int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            return cls("resnet18", float(parts[0]), 32, int(parts[1]))
        raise ValueError(f"a configuration is W:N or r50:S:N, got {text!r}")

    def label(self) -> str:
        """"R18 ×0.25, 32 px" or "R50, 224 px"."""
        if self.arch == "resnet18":
            return f"R18 ×{self.width:g}, {self.size} px"
        return f"R50, {self.size} px"


@dataclasses.dataclass(frozen=True)
class Plan:
    """One row's method and setup with dclkit's resolved head and optimiser settings."""

    method: str
    setup: Setup
    head: str
    head_dims: tuple[int, int]
    lr: float
    weight_decay: float

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        fields = json.loads(text)
        return cls(fields["method"], Setup(**fields["setup"]), fields["head"], tuple(fields["head_dims"]),
                   fields["lr"], fields["weight_decay"])


# Steps of dclkit's schedule: `train_step` outside `fit` counts one step per epoch, so `epochs`
# steps make the cosine schedule (of the rate, and of BYOL's target momentum). 10,000 keeps both at
# their starting values for a benchmark's few steps, as PyTorch's constant rate and momentum; with
# one epoch the rate fell to 0 after the first step (the arithmetic, and so the timing, is the same,
# but the losses column compared one update with several).
SCHEDULE_STEPS = 10_000


def dclkit_config(method: str, setup: Setup, **overrides):
    """dclkit's resolved ``TrainConfig`` for ``method`` on ``setup`` (SGD, no warm-up, a schedule
    of `SCHEDULE_STEPS` steps)."""
    import dclkit

    settings = dict(method=method, arch=setup.arch, stem=setup.stem, width=setup.width, batch_size=setup.batch,
                    image_size=setup.size, optimizer="sgd", momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                    warmup_epochs=0, epochs=SCHEDULE_STEPS)
    if method == "dcl":
        settings.update(temperature=TEMPERATURE, lr=0.06 * setup.batch / 256)
    settings.update(overrides)
    return dclkit.TrainConfig(**settings)


def make_plan(method: str, setup: Setup) -> Plan:
    """The plan for ``method`` on ``setup``: head kind, sizes, rate and decay as dclkit resolves them."""
    config = dclkit_config(method, setup)
    return Plan(method, setup, config.head, tuple(config.head_dims), config.lr, config.weight_decay)


def channels(base: int, width: float) -> int:
    """A torchvision channel count scaled by ``width``, rounded half away from zero, at least 1."""
    return max(1, int(math.floor(base * width + 0.5)))


def random_views(batch: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 views (N, size, size, 3) of standard normal values (NHWC)."""
    rng = np.random.default_rng(seed)
    shape = (batch, size, size, 3)
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


class DclkitEngine:
    """dclkit's ``Trainer`` for the plan's method on ``threads`` threads."""

    name = "dclkit"

    def __init__(self, plan: Plan, threads: int) -> None:
        import dclkit

        self.dclkit = dclkit
        dclkit.set_num_threads(threads)
        if os.environ.get("DCLKIT_BENCH_MATMUL_PRECISION"):  # bench_matmul_precision.py's float32 / bfloat16 children
            dclkit.set_matmul_precision(os.environ["DCLKIT_BENCH_MATMUL_PRECISION"])
        config = dclkit_config(plan.method, plan.setup, lr=plan.lr, head_dims=plan.head_dims)
        if (config.head, tuple(config.head_dims)) != (plan.head, plan.head_dims):
            raise RuntimeError(f"dclkit resolved {config.head} {config.head_dims}, the plan says {plan.head} {plan.head_dims}")
        self.method = config.method
        self.trainer = dclkit.Trainer(config)
        self.v0, self.v1 = random_views(plan.setup.batch, plan.setup.size)

    def set_threads(self, threads: int) -> None:
        """dclkit's one knob (BLAS and its own loops)."""
        self.dclkit.set_num_threads(threads)

    def step(self) -> float:
        """One step; returns its loss."""
        return self.trainer.train_step(self.v0, self.v1)


class TorchEngine:
    """PyTorch + lightly: the same trunk, lightly's head(s) and loss for the plan's method."""

    name = "pytorch"

    def __init__(self, plan: Plan, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        trunk, features = _trunk(plan.setup)
        self.method = _TORCH_METHODS[plan.method](trunk, features, plan.head_dims)
        self.optimizer = torch.optim.SGD(self.method.parameters(), lr=plan.lr, momentum=MOMENTUM,
                                         weight_decay=plan.weight_decay)
        v0, v1 = random_views(plan.setup.batch, plan.setup.size)
        self.views = torch.cat([torch.from_numpy(v).permute(0, 3, 1, 2) for v in (v0, v1)]).contiguous()

    def set_threads(self, threads: int) -> None:
        self.torch.set_num_threads(threads)

    def step(self) -> float:
        """One step; returns its loss."""
        loss = self.method.loss(self.views)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.method.after_step()
        return float(loss.detach())


def _trunk(setup: Setup):
    """(trunk, F): torchvision's ResNet-18 blocks with the CIFAR stem and width, or ``resnet50``
    without its classifier; the trunk maps (2N, 3, S, S) to features (2N, F)."""
    from torch import nn

    if setup.arch == "resnet50":
        from torchvision.models import resnet50

        model = resnet50()
        features = model.fc.in_features
        model.fc = nn.Identity()
        return model, features
    from torchvision.models.resnet import BasicBlock

    stem = channels(64, setup.width)
    layers: list = [nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)]
    inplanes = stem
    for k in range(4):
        planes = channels(64 << k, setup.width)
        for b in range(2):
            stride = 2 if k > 0 and b == 0 else 1
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            layers.append(BasicBlock(inplanes, planes, stride, downsample))
            inplanes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), inplanes


class _TorchMethod:
    """A method on the PyTorch side: the trained modules, the loss of the 2N views, the after-step work."""

    trained: list

    def parameters(self):
        return [p for module in self.trained for p in module.parameters()]

    def after_step(self) -> None:
        pass


class _TorchDCL(_TorchMethod):
    """SimCLR's head (Linear without bias → BatchNorm1d → ReLU → Linear) and lightly's ``DCLLoss``."""

    def __init__(self, trunk, features: int, dims: tuple[int, int]) -> None:
        from lightly.loss import DCLLoss
        from torch import nn

        hidden, out = dims
        head = nn.Sequential(nn.Linear(features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, out))
        self.net = nn.Sequential(trunk, head).train()
        self.trained = [self.net]
        self.criterion = DCLLoss(temperature=TEMPERATURE)

    def loss(self, views):
        z0, z1 = self.net(views).chunk(2)
        return self.criterion(z0, z1)


class _TorchBYOL(_TorchMethod):
    """lightly's BYOL projector and predictor, a target copy without gradients that follows the
    online network by ``update_momentum`` (τ = 0.996), ``NegativeCosineSimilarity`` symmetrised."""

    def __init__(self, trunk, features: int, dims: tuple[int, int]) -> None:
        import copy

        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad
        from torch import nn

        hidden, out = dims
        self.online = nn.Sequential(trunk, BYOLProjectionHead(features, hidden, out)).train()
        self.predictor = BYOLPredictionHead(out, hidden, out).train()
        self.target = copy.deepcopy(self.online).train()
        deactivate_requires_grad(self.target)
        self.trained = [self.online, self.predictor]
        self.criterion = NegativeCosineSimilarity()

    def loss(self, views):
        import torch

        with torch.no_grad():
            t0, t1 = self.target(views).chunk(2)
        p0, p1 = self.predictor(self.online(views)).chunk(2)
        return 0.5 * (self.criterion(p0, t1) + self.criterion(p1, t0))

    def after_step(self) -> None:
        from lightly.models.utils import update_momentum

        update_momentum(self.online, self.target, m=TARGET_MOMENTUM)


class _TorchSimSiam(_TorchMethod):
    """lightly's SimSiam projector and predictor (bottleneck D/4), ``NegativeCosineSimilarity``
    against the detached projections, symmetrised."""

    def __init__(self, trunk, features: int, dims: tuple[int, int]) -> None:
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules.heads import SimSiamPredictionHead, SimSiamProjectionHead
        from torch import nn

        hidden, out = dims
        self.net = nn.Sequential(trunk, SimSiamProjectionHead(features, hidden, out)).train()
        self.predictor = SimSiamPredictionHead(out, max(1, out // 4), out).train()
        self.trained = [self.net, self.predictor]
        self.criterion = NegativeCosineSimilarity()

    def loss(self, views):
        z = self.net(views)
        p0, p1 = self.predictor(z).chunk(2)
        z0, z1 = z.detach().chunk(2)
        return 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))


class _TorchBarlowTwins(_TorchMethod):
    """lightly's ``BarlowTwinsProjectionHead`` and ``BarlowTwinsLoss`` (λ = 5e-3)."""

    def __init__(self, trunk, features: int, dims: tuple[int, int]) -> None:
        from lightly.loss import BarlowTwinsLoss
        from lightly.models.modules.heads import BarlowTwinsProjectionHead
        from torch import nn

        hidden, out = dims
        self.net = nn.Sequential(trunk, BarlowTwinsProjectionHead(features, hidden, out)).train()
        self.trained = [self.net]
        self.criterion = BarlowTwinsLoss(lambda_param=5e-3)

    def loss(self, views):
        z0, z1 = self.net(views).chunk(2)
        return self.criterion(z0, z1)


class _TorchVICReg(_TorchMethod):
    """lightly's three-layer ``VICRegProjectionHead`` and ``VICRegLoss`` (25, 25, 1)."""

    def __init__(self, trunk, features: int, dims: tuple[int, int]) -> None:
        from lightly.loss import VICRegLoss
        from lightly.models.modules.heads import VICRegProjectionHead
        from torch import nn

        hidden, out = dims
        self.net = nn.Sequential(trunk, VICRegProjectionHead(features, hidden, out, num_layers=3)).train()
        self.trained = [self.net]
        self.criterion = VICRegLoss(lambda_param=25.0, mu_param=25.0, nu_param=1.0)

    def loss(self, views):
        z0, z1 = self.net(views).chunk(2)
        return self.criterion(z0, z1)


_TORCH_METHODS = {"dcl": _TorchDCL, "byol": _TorchBYOL, "simsiam": _TorchSimSiam,
                  "barlow-twins": _TorchBarlowTwins, "vicreg": _TorchVICReg}
ENGINES = {engine.name: engine for engine in (DclkitEngine, TorchEngine)}
