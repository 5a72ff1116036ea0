"""The public API's array types as a caller sees them, checked by mypy in `make lint` (never run:
pytest collects only test_*.py). Array arguments take any ArrayLike (nested lists here); arrays
come back with their dtype in the type, so a regression to ``Any`` or ``np.ndarray`` fails."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from typing_extensions import assert_type

import dclkit
from dclkit import augment, datasets, distributed, evaluate, losses


def public_types(z: list[list[float]], labels: list[int], images: NDArray[np.uint8]) -> None:
    loss, grad_z0, grad_z1 = losses.dcl(z, z)
    assert_type(loss, float)
    assert_type(grad_z0, NDArray[np.float32])
    assert_type(losses.infonce_queue(z, z, z, extra_negatives=None), tuple[float, NDArray[np.float32]])
    assert_type(evaluate.knn(z, labels, z, labels), float)
    assert_type(evaluate.knn(z, labels, z, labels, return_predictions=True), tuple[float, NDArray[np.int64]])
    assert_type(evaluate.linear_probe(z, labels, z, labels, return_predictions=True), tuple[float, NDArray[np.int64]])
    assert_type(datasets.from_arrays(images, labels), tuple[NDArray[np.uint8], NDArray[np.int64]])
    assert_type(datasets.builtin().y_train, NDArray[np.int64])
    features, projections = dclkit.Encoder().forward(images)
    assert_type(features, NDArray[np.float32])
    trainer = dclkit.Trainer(dclkit.TrainConfig())
    assert_type(trainer.embed(images), NDArray[np.float32])
    assert_type(trainer.train_step(z, z), float)
    assert_type(augment.SimCLR(32)(images), tuple[NDArray[np.float32], NDArray[np.float32]])
    assert_type(augment.functional.hflip(images[0]), NDArray[np.uint8])
    assert_type(distributed.sync_bn_statistics(distributed.Communicator(), z[0], z[0], 2)[0], NDArray[np.float64])
