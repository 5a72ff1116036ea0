"""The demo encoder's parameter gradients for one training-mode forward and backward, from whichever
dclkit build PYTHONPATH and DCLKIT_LIBRARY point at (a child process of ``compare_builds.py``).

The encoder is the one ``Trainer`` builds from the build's demo configuration (seed 0, so both
builds start from the same weights); the input is a seeded standard-normal batch of both views'
size (2 x batch_size, image_size x image_size x 3), optionally multiplied by
(1 + perturbation * noise) with seeded standard-normal noise; the gradient reaching the projections
is seeded standard normal. Writes the features h (as ``features``) and every parameter gradient
(as ``grad.<name>``) to the .npz file given.
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help=".npz file for the gradients")
    parser.add_argument("--perturbation", type=float, default=0.0, help="relative size of the input noise (default 0)")
    args = parser.parse_args()

    import dclkit
    from dclkit.demo import DEMO_CONFIG

    dclkit.set_num_threads(1)
    if os.environ.get("DCLKIT_BENCH_MATMUL_PRECISION"):  # compare_builds.py --old/--new-matmul-precision
        dclkit.set_matmul_precision(os.environ["DCLKIT_BENCH_MATMUL_PRECISION"])
    config = dclkit.TrainConfig(**{**DEMO_CONFIG, "seed": 0})
    encoder = dclkit.Trainer(config).encoder
    rng = np.random.default_rng(1)
    shape = (2 * config.batch_size, config.image_size, config.image_size, 3)
    x = rng.standard_normal(shape)
    x *= 1 + args.perturbation * np.random.default_rng(2).standard_normal(shape)
    h, z = encoder.forward(x.astype(np.float32), training=True)
    encoder.zero_grad()
    encoder.backward(grad_z=rng.standard_normal(z.shape).astype(np.float32))
    np.savez(args.out, features=h, **{"grad." + name: value for name, value in encoder.grads().items()})


if __name__ == "__main__":
    main()
