"""``python -m dclkit demo``: DCL pretraining on the built-in data, judged against random init."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import datasets, evaluate, plot
from .config import TrainConfig
from .trainer import Trainer

# MNIST's pixel mean and standard deviation, the same for the three (identical) channels.
MNIST_STATISTICS = ((0.1307,) * 3, (0.3081,) * 3)

# A small ResNet-18 (a quarter of torchvision's widths) on 16x16 views of the 28x28 digits, sized
# so that pretraining and the evaluations finish within about three minutes on 2 cores. Digits
# are not mirror-symmetric, so the views are not flipped; crops keep at least 30% of the image.
DEMO_CONFIG: dict[str, Any] = dict(method="dcl", arch="resnet18", stem="cifar", width=0.25, batch_size=128, image_size=16,
                   temperature=0.1, optimizer="sgd", lr=0.3, weight_decay=5e-4, warmup_epochs=1, seed=0,
                   augment={"pipeline": "simclr", "blur": 0.0, "flip": 0.0, "scale": (0.3, 1.0),
                            "normalize": MNIST_STATISTICS})


def _scores(trainer: Trainer, data: datasets.Dataset) -> tuple[float, float]:
    train_feats, test_feats = trainer.embed(data.x_train), trainer.embed(data.x_test)
    knn = evaluate.knn(train_feats, data.y_train, test_feats, data.y_test)
    probe = evaluate.linear_probe(train_feats, data.y_train, test_feats, data.y_test)
    return knn, probe


def run_demo(out: Path, epochs: int, progress: bool = True) -> int:
    """Pretrains, evaluates, saves ``out/checkpoint.safetensors`` and ``out/history.png``, prints
    one summary line; returns the process exit code."""
    start = time.perf_counter()
    data = datasets.builtin()
    print(f"data: built-in MNIST sample, {len(data.x_train)} train / {len(data.x_test)} test images "
          f"of {data.x_train.shape[1]}x{data.x_train.shape[2]}")
    config = TrainConfig(epochs=epochs, **DEMO_CONFIG)
    trainer = Trainer(config)
    print(f"model: {config.arch} width {config.width} ({config.stem} stem), {config.method} loss, "
          f"batch {config.batch_size}, {epochs} epochs")
    random_knn, random_probe = _scores(trainer, data)
    out.mkdir(parents=True, exist_ok=True)
    trainer.fit(data.x_train, eval_data=tuple(data), eval_every=max(1, epochs // 5),
                checkpoint=out / "checkpoint.safetensors", progress=progress)
    knn, probe = _scores(trainer, data)
    plot.history(trainer.history, out / "history.png")
    print(f"saved {out / 'checkpoint.safetensors'} and {out / 'history.png'} "
          f"({time.perf_counter() - start:.0f} s in all)")
    print(f"demo: kNN top-1 {100 * knn:.1f}% (random init {100 * random_knn:.1f}%), "
          f"linear probe {100 * probe:.1f}% (random init {100 * random_probe:.1f}%)")
    return 0
