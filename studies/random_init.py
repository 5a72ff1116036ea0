"""kNN and linear-probe top-1 of untrained encoders (seeds 0-2, the long study's model) on a spec's
held-out split, one JSON line per seed: the floor issue 20's learning check measures the baselines
against (at least 5 points above it).

    PYTHONPATH=python python3 studies/random_init.py studies/dcl_cifar10_long.toml ../shared/data/cifar10-train.tar
"""
from __future__ import annotations

import json
import sys
import time

import dclkit
from dclkit import sweep_data
from dclkit.sweep import load_spec


def main(spec_path: str, data_path: str) -> None:
    """Prints one line per seed: kNN and linear-probe top-1 of the untrained encoder."""
    spec = load_spec(spec_path, data=data_path)
    data = sweep_data.load(spec.data)
    dclkit.set_num_threads(1)
    for seed in (0, 1, 2):
        trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", arch="resnet18", stem="cifar", width=0.25, image_size=32,
                                                    seed=seed, batch_size=128, epochs=24))
        start = time.time()
        train, held_out = trainer.embed(data.x_train), trainer.embed(data.x_eval)
        print(json.dumps({"seed": seed, "knn_top1": dclkit.evaluate.knn(train, data.y_train, held_out, data.y_eval),
                          "linear_probe_top1": dclkit.evaluate.linear_probe(train, data.y_train, held_out, data.y_eval),
                          "train_images": len(train), "eval_images": len(held_out), "fingerprint": data.fingerprint,
                          "seconds": time.time() - start}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
