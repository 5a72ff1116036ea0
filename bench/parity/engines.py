"""The two engines `bench_parity.py` trains, one pretraining run each, on the same recipe.

What both engines share (so a difference in kNN top-1 comes from the engines' math: model
forward and backward, the DCL loss, the optimiser, floating-point order):

- the initial weights: dclkit's ``Trainer`` for the seed builds them; the PyTorch engine loads
  ``trainer.encoder.state_dict()`` (torchvision names, OIHW, the head under ``head.``);
- the views: every step's two views come from dclkit's own SimCLR augmentation
  (``dclkit.augment.SimCLR(size=32, blur=0)``, keyed by (seed, epoch, image index)), handed as
  the same float32 arrays to both (NHWC to dclkit, transposed to NCHW for PyTorch). This
  isolates the engines from the augmentation implementations (torchvision's and dclkit's crops,
  jitter and their random streams differ by design; comparing those is another question);
- the batch order: a permutation per epoch from ``numpy.random.RandomState([seed, epoch])``,
  the last incomplete batch dropped;
- the schedule: dclkit's ``WarmupCosineSchedule`` per step (:func:`learning_rate`); dclkit gets it
  by counting steps as epochs (``train_step`` outside ``fit`` does not know the epoch length, so
  the trainer's config holds epochs = total steps and warmup_epochs = warm-up steps), PyTorch by
  setting each step's rate on its parameter groups; the dclkit run asserts ``trainer.lr`` equals
  the formula at every step;
- SGD with momentum 0.9 and weight decay 5e-4 on conv and linear weights only (dclkit exempts
  BatchNorm parameters and biases; PyTorch gets two parameter groups);
- the evaluation: pooled features in eval mode of the uint8 images scaled to [0, 1] and
  normalised with CIFAR-10's statistics, scored by the same ``dclkit.evaluate.knn``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
"""dclkit's ``Normalization.cifar10`` (Sources/DCLKit/Augment/Normalize.swift)."""


@dataclass(frozen=True)
class Recipe:
    """One run's recipe; everything but ``engine`` is the same for both engines."""

    seed: int
    width: float = 0.25
    batch: int = 128
    epochs: int = 10
    warmup_epochs: int = 1
    lr: float = 0.03
    temperature: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    threads: int = 1
    knn_k: int = 200
    knn_temperature: float = 0.1


def learning_rate(step: int, peak: float, warmup: int, total: int) -> float:
    """dclkit's ``WarmupCosineSchedule``: η·s/W in warm-up, then η·½(1 + cos(π(s − W)/(T − W))), 0 from T."""
    s = max(step, 0)
    if s >= total:
        return 0.0
    if s < warmup:
        return peak * s / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup)))


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's image order, shared by both engines."""
    return np.random.RandomState([seed, epoch]).permutation(count)


def dclkit_trainer(recipe: Recipe, steps_per_epoch: int):
    """dclkit's DCL trainer for ``recipe`` whose per-step schedule is the recipe's (see the module docstring)."""
    import dclkit

    config = dclkit.TrainConfig(method="dcl", arch="resnet18", stem="cifar", width=recipe.width,
                                batch_size=recipe.batch, image_size=32, temperature=recipe.temperature,
                                optimizer="sgd", lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, epochs=recipe.epochs * steps_per_epoch,
                                warmup_epochs=recipe.warmup_epochs * steps_per_epoch, seed=recipe.seed,
                                augment={"pipeline": "simclr", "blur": 0.0})
    return dclkit.Trainer(config)


def eval_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32, 3) → float32 NHWC scaled to [0, 1] and normalised (dclkit's eval transform)."""
    return ((images.astype(np.float32) / 255.0 - CIFAR10_MEAN) / CIFAR10_STD).astype(np.float32)


class Views:
    """Each step's two views from dclkit's SimCLR augmentation, keyed by (seed, epoch, image index)."""

    def __init__(self, images: np.ndarray, recipe: Recipe) -> None:
        import dclkit

        self.images = images
        self.seed = recipe.seed
        self.augment = dclkit.augment.SimCLR(size=32, blur=0.0)
        self.steps_per_epoch = len(images) // recipe.batch
        self.batch = recipe.batch

    def epoch(self, epoch: int):
        """Yields (v0, v1) float32 NHWC for every full batch of the epoch."""
        order = epoch_order(len(self.images), self.seed, epoch)
        for b in range(self.steps_per_epoch):
            index = order[b * self.batch:(b + 1) * self.batch]
            yield self.augment(self.images[index], seed=self.seed, epoch=epoch, indices=index)


class DclkitEngine:
    """dclkit: ``Trainer.train_step`` on the given views; ``embed`` for features."""

    name = "dclkit"

    def __init__(self, recipe: Recipe, steps_per_epoch: int) -> None:
        import dclkit

        dclkit.set_num_threads(recipe.threads)
        self.recipe = recipe
        self.total = recipe.epochs * steps_per_epoch
        self.warmup = recipe.warmup_epochs * steps_per_epoch
        self.trainer = dclkit_trainer(recipe, steps_per_epoch)
        self.steps = 0

    def step(self, v0: np.ndarray, v1: np.ndarray) -> float:
        """One step; checks first that the trainer's rate is the shared formula's."""
        expected = learning_rate(self.steps, self.recipe.lr, self.warmup, self.total)
        if abs(self.trainer.lr - expected) > 1e-9 * max(1.0, expected):
            raise RuntimeError(f"dclkit lr {self.trainer.lr!r} at step {self.steps}, formula {expected!r}")
        loss = self.trainer.train_step(v0, v1)
        self.steps += 1
        return loss

    def features(self, images: np.ndarray) -> np.ndarray:
        """Pooled features in eval mode (dclkit's own eval transform)."""
        return self.trainer.embed(images)

    def state(self) -> dict:
        """Parameters and buffers, torchvision names."""
        return self.trainer.encoder.state_dict()


class TorchModel:
    """Namespace for the PyTorch model: torchvision's ``BasicBlock`` trunk with the CIFAR stem and
    a width multiplier, then SimCLR's head, named like dclkit's state dict."""

    @staticmethod
    def build(state: dict):
        """The model with shapes read from ``state`` (dclkit's state dict), its values loaded (strict)."""
        import torch
        from torch import nn
        from torchvision.models.resnet import BasicBlock

        class ResNetSimCLR(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                stem = state["conv1.weight"].shape[0]
                self.conv1 = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(stem)
                self.relu = nn.ReLU(inplace=True)
                inplanes = stem
                for k in range(1, 5):
                    planes = state[f"layer{k}.0.conv1.weight"].shape[0]
                    blocks = []
                    for b in range(2):
                        stride = 2 if k > 1 and b == 0 else 1
                        downsample = None
                        if f"layer{k}.{b}.downsample.0.weight" in state:
                            downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                       nn.BatchNorm2d(planes))
                        blocks.append(BasicBlock(inplanes, planes, stride, downsample))
                        inplanes = planes
                    setattr(self, f"layer{k}", nn.Sequential(*blocks))
                self.pool = nn.AdaptiveAvgPool2d(1)
                hidden, features = state["head.0.weight"].shape
                projection = state["head.3.weight"].shape[0]
                self.head = nn.Sequential(nn.Linear(features, hidden, bias="head.0.bias" in state),
                                          nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                          nn.Linear(hidden, projection, bias="head.3.bias" in state))

            def features(self, x):
                x = self.relu(self.bn1(self.conv1(x)))
                x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
                return torch.flatten(self.pool(x), 1)

            def forward(self, x):
                return self.head(self.features(x))

        model = ResNetSimCLR()
        model.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in state.items()}, strict=True)
        return model


class TorchEngine:
    """PyTorch + torchvision's ``BasicBlock`` + lightly's ``DCLLoss`` + ``torch.optim.SGD``, NCHW,
    starting from dclkit's initial weights for the seed."""

    name = "pytorch"

    def __init__(self, recipe: Recipe, steps_per_epoch: int, initial_state: dict) -> None:
        import torch
        from lightly.loss import DCLLoss

        torch.set_num_threads(recipe.threads)
        self.torch = torch
        self.recipe = recipe
        self.total = recipe.epochs * steps_per_epoch
        self.warmup = recipe.warmup_epochs * steps_per_epoch
        self.model = TorchModel.build(initial_state)
        self.loss = DCLLoss(temperature=recipe.temperature)
        decay = [p for p in self.model.parameters() if p.ndim > 1]  # conv and linear weights
        rest = [p for p in self.model.parameters() if p.ndim <= 1]  # BatchNorm parameters, biases
        self.optimizer = torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                                          {"params": rest, "weight_decay": 0.0}],
                                         lr=recipe.lr, momentum=recipe.momentum)
        self.steps = 0

    def _nchw(self, x: np.ndarray):
        return self.torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    def step(self, v0: np.ndarray, v1: np.ndarray) -> float:
        """One step: both views as one batch of 2N (BatchNorm over both, as dclkit), DCL, backward, SGD."""
        rate = learning_rate(self.steps, self.recipe.lr, self.warmup, self.total)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.model.train()
        z0, z1 = self.model(self._nchw(np.concatenate([v0, v1]))).chunk(2)
        loss = self.loss(z0, z1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return float(loss.detach())

    def features(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Pooled features in eval mode, inputs normalised as dclkit's ``embed``."""
        self.model.eval()
        out = []
        with self.torch.no_grad():
            for lo in range(0, len(images), batch_size):
                out.append(self.model.features(self._nchw(eval_inputs(images[lo:lo + batch_size]))).numpy())
        return np.concatenate(out).astype(np.float32)

    def state(self) -> dict:
        """Parameters and buffers as numpy arrays, same names as dclkit's."""
        return {name: value.detach().numpy().copy() for name, value in self.model.state_dict().items()}


def relative(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖ / ‖a‖ in float64 (0 when both are zero)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    norm = float(np.linalg.norm(a))
    return float(np.linalg.norm(a - b)) / norm if norm > 0 else float(np.linalg.norm(b))


def _spread(differences: dict[str, float]) -> dict:
    """Median and largest of per-tensor relative differences, and the largest's name."""
    worst = max(differences, key=differences.get)
    return {"median": float(np.median(list(differences.values()))), "max": differences[worst], "max_name": worst}


def _torch_gradients(state: dict, v0: np.ndarray, v1: np.ndarray, recipe: Recipe, dtype_name: str,
                     noise: float = 0.0) -> dict:
    """PyTorch's parameter gradients of one training-mode DCL step at ``state`` on the views, in
    float32 or float64, the input optionally multiplied by (1 + ``noise`` · standard normal)."""
    import torch
    from lightly.loss import DCLLoss

    dtype = getattr(torch, dtype_name)
    model = TorchModel.build(state).to(dtype)
    model.train()
    x = np.concatenate([v0, v1]).astype(np.float64)
    if noise:
        x = x * (1 + noise * np.random.default_rng(12345).standard_normal(x.shape))
    z0, z1 = model(torch.from_numpy(x).to(dtype).permute(0, 3, 1, 2).contiguous()).chunk(2)
    DCLLoss(temperature=recipe.temperature)(z0, z1).backward()
    return {name: p.grad.double().numpy() for name, p in model.named_parameters()}


def agreement_check(recipe: Recipe, images: np.ndarray, probe: np.ndarray, steps: int = 3) -> dict:
    """Both engines from the same initial weights, on separate copies (run in the PyTorch child
    before its timed training):

    - eval features on ``probe`` at init (relative L2 difference);
    - the first step's parameter gradients of each engine in float32 against PyTorch in float64,
      beside PyTorch float32 against itself with its input multiplied by (1 + 1e-6 noise): the
      scale at which float32 rounding moves a BatchNorm + ReLU network's gradients;
    - the first ``steps`` steps' losses on the same views, then the parameters (median and largest
      relative difference over the trainable tensors) and eval features after them.
    """
    views = Views(images, recipe)
    ours = DclkitEngine(recipe, views.steps_per_epoch)
    initial = ours.state()
    theirs = TorchEngine(recipe, views.steps_per_epoch, initial)
    result: dict = {"features_at_init": relative(ours.features(probe), theirs.features(probe)),
                    "losses_dclkit": [], "losses_pytorch": []}
    for index, (v0, v1) in enumerate(views.epoch(0)):
        if index == steps:
            break
        result["losses_dclkit"].append(ours.step(v0, v1))
        result["losses_pytorch"].append(theirs.step(v0, v1))
        if index == 0:
            exact = _torch_gradients(initial, v0, v1, recipe, "float64")
            noisy = _torch_gradients(initial, v0, v1, recipe, "float32", 1e-6)
            dclkit_grads = ours.trainer.encoder.grads()
            torch_grads = {name: p.grad.double().numpy() for name, p in theirs.model.named_parameters()}
            result["gradients"] = {
                "dclkit_vs_float64": _spread({n: relative(exact[n], dclkit_grads[n]) for n in exact}),
                "pytorch_vs_float64": _spread({n: relative(exact[n], torch_grads[n]) for n in exact}),
                "pytorch_input_noise_1e-6": _spread({n: relative(torch_grads[n], noisy[n]) for n in exact}),
                "dclkit_vs_pytorch": _spread({n: relative(torch_grads[n], dclkit_grads[n]) for n in exact})}
    a, b = ours.state(), theirs.state()
    trainable = [name for name, _ in theirs.model.named_parameters()]
    result["parameters_after"] = _spread({name: relative(a[name], b[name]) for name in trainable})
    result["features_after"] = relative(ours.features(probe), theirs.features(probe))
    return result


def run(engine_name: str, recipe: Recipe, x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray,
        y_eval: np.ndarray, check: bool) -> dict:
    """One whole run of one engine: train over the epochs, then kNN top-1 on the held-out images."""
    import dclkit

    dclkit.set_num_threads(recipe.threads)
    result: dict = {"engine": engine_name, **asdict(recipe)}
    if check:
        start = time.perf_counter()
        result["check"] = agreement_check(recipe, x_train, x_eval[:256])
        result["check_seconds"] = time.perf_counter() - start
    views = Views(x_train, recipe)
    if engine_name == "dclkit":
        engine = DclkitEngine(recipe, views.steps_per_epoch)
    else:
        engine = TorchEngine(recipe, views.steps_per_epoch, dclkit_trainer(recipe, views.steps_per_epoch).encoder.state_dict())
    augment_seconds = step_seconds = 0.0
    losses: list[float] = []
    epoch_losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        batches = views.epoch(epoch)
        epoch_sum = 0.0
        while True:
            t0 = time.perf_counter()
            pair = next(batches, None)
            t1 = time.perf_counter()
            augment_seconds += t1 - t0
            if pair is None:
                break
            loss = engine.step(*pair)
            step_seconds += time.perf_counter() - t1
            if not math.isfinite(loss):
                raise RuntimeError(f"{engine_name}: non-finite loss at step {len(losses)}")
            losses.append(loss)
            epoch_sum += loss
        epoch_losses.append(epoch_sum / views.steps_per_epoch)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    bank, queries = engine.features(x_train), engine.features(x_eval)
    embed_seconds = time.perf_counter() - start
    top1 = dclkit.evaluate.knn(bank, y_train, queries, y_eval, k=recipe.knn_k, temperature=recipe.knn_temperature)
    result.update(knn_top1=float(top1), steps=len(losses), steps_per_epoch=views.steps_per_epoch,
                  train_seconds=train_seconds, step_seconds=step_seconds, augment_seconds=augment_seconds,
                  embed_seconds=embed_seconds, first_losses=losses[:3], epoch_losses=epoch_losses)
    return result
