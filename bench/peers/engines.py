"""The two engines `bench_peers.py` compares, each set up for one whole DCL pretraining step.

Both train ResNet-18 with the CIFAR stem (3×3 stride-1 conv1, no max-pool) and a channel
width multiplier, then SimCLR's projection head (Linear(F, hidden, no bias) → BatchNorm1d →
ReLU → Linear(hidden, 128)), on 32×32 views. One step: both views forward as one batch of 2N,
the DCL loss (τ = 0.1), backward, SGD (lr 0.06·N/256, momentum 0.9, weight decay 5e-4).

- :class:`DclkitEngine`: ``dclkit.Trainer.train_step`` (the library found through
  ``DCLKIT_LIBRARY`` and ``PYTHONPATH``).
- :class:`TorchEngine`: the same model built from torchvision's ``BasicBlock``, lightly's
  ``DCLLoss`` and ``torch.optim.SGD``, in PyTorch's default NCHW layout.

An engine is built with ``(width, batch, threads)``; ``step()`` runs one step on fixed random
views drawn once at construction.
"""
from __future__ import annotations

import math

import numpy as np

TEMPERATURE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
SIZE = 32
PROJECTION = 128


def channels(base: int, width: float) -> int:
    """A torchvision channel count scaled by ``width``, rounded half away from zero, at least 1."""
    return max(1, int(math.floor(base * width + 0.5)))


def learning_rate(batch: int) -> float:
    """SGD's 0.06·N/256 (dclkit's default for the SimCLR family)."""
    return 0.06 * batch / 256


def random_views(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 views (N, 32, 32, 3) of standard normal values (NHWC)."""
    rng = np.random.default_rng(seed)
    shape = (batch, SIZE, SIZE, 3)
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


class DclkitEngine:
    """dclkit's ``Trainer`` for method "dcl" at ``width`` and ``batch`` on ``threads`` threads."""

    name = "dclkit"

    def __init__(self, width: float, batch: int, threads: int) -> None:
        import dclkit

        dclkit.set_num_threads(threads)
        config = dclkit.TrainConfig(method="dcl", arch="resnet18", stem="cifar", width=width, batch_size=batch,
                                    image_size=SIZE, temperature=TEMPERATURE, optimizer="sgd",
                                    lr=learning_rate(batch), momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                    warmup_epochs=0, epochs=1)
        self.trainer = dclkit.Trainer(config)
        self.v0, self.v1 = random_views(batch)

    def step(self) -> float:
        """One DCL step; returns its loss."""
        return self.trainer.train_step(self.v0, self.v1)


class TorchEngine:
    """PyTorch + lightly's ``DCLLoss`` on the same model at ``width`` and ``batch``."""

    name = "pytorch"

    def __init__(self, width: float, batch: int, threads: int) -> None:
        import torch
        from lightly.loss import DCLLoss

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        self.model = _resnet18_simclr(width)
        self.model.train()
        self.loss = DCLLoss(temperature=TEMPERATURE)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=learning_rate(batch), momentum=MOMENTUM,
                                         weight_decay=WEIGHT_DECAY)
        v0, v1 = random_views(batch)
        self.v0 = torch.from_numpy(v0).permute(0, 3, 1, 2).contiguous()
        self.v1 = torch.from_numpy(v1).permute(0, 3, 1, 2).contiguous()

    def step(self) -> float:
        """One DCL step; returns its loss."""
        z0, z1 = self.model(self.torch.cat([self.v0, self.v1])).chunk(2)
        loss = self.loss(z0, z1)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _resnet18_simclr(width: float):
    """torchvision's ResNet-18 trunk with the CIFAR stem and ``width``, then SimCLR's head."""
    from torch import nn
    from torchvision.models.resnet import BasicBlock

    stem = channels(64, width)
    layers: list = [nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)]
    inplanes = stem
    for k in range(4):
        planes = channels(64 << k, width)
        for b in range(2):
            stride = 2 if k > 0 and b == 0 else 1
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            layers.append(BasicBlock(inplanes, planes, stride, downsample))
            inplanes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    hidden = channels(512, width)
    head = [nn.Linear(inplanes, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, PROJECTION)]
    return nn.Sequential(*layers, *head)


ENGINES = {engine.name: engine for engine in (DclkitEngine, TorchEngine)}
