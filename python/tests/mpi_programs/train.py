"""Run by test_distributed_training.py, under `mpirun -n W` or alone (W = 1): a small
data-parallel pretraining run through `dclkit.Trainer(config, comm=world())`, writing what the
test compares into OUT_DIR/rank{r}.npz (losses, the last step's averaged gradients, the final
state dict, state hashes) or OUT_DIR/rank{r}.json (the error a rank raised).

Usage: python train.py SCENARIO OUT_DIR [CHECKPOINT]
  pairs        dcl with sync_bn: 2 epochs of one step on 8 images, global batch 8; the gradients
               and weights are also kept after the first epoch
  nnclr        nnclr-dcl with sync_bn (the predictor's BatchNorm synchronised too): as pairs
  byol, simsiam, barlow-twins, vicreg   that baseline with sync_bn: as pairs
  moco         mochi (MoCo + hard negative mixing, queue warm-up): 2 epochs of 4 steps
  mismatch     the last rank resolves another temperature
  data_mismatch  the last rank trains on other images
  indivisible  a global batch of 2W + 1
  fault        dcl, checkpoint after every epoch, 500 epochs (the test kills a rank)
  resume       resumes CHECKPOINT on this W and trains one more epoch
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

import dclkit
from dclkit import distributed

scenario, out = sys.argv[1], sys.argv[2]
world = distributed.world()
dclkit.set_num_threads(1)
W = 1 if world is None else world.Get_size()
rank = 0 if world is None else world.Get_rank()
count = {"moco": 32, "nnclr": 8, "pairs": 8, "byol": 8, "simsiam": 8, "barlow-twins": 8, "vicreg": 8}.get(scenario, 16)
images = np.random.default_rng(0).integers(0, 256, size=(count, 8, 8, 3), dtype=np.uint8)
tiny = dict(width=0.125, image_size=8, batch_size=8, head_dims=(16, 8), warmup_epochs=0, lr=0.1, seed=3)


def write_error(error: Exception) -> None:
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"error": type(error).__name__, "message": str(error)}, f)


def write_run(trainer: dclkit.Trainer, **extra) -> None:
    grads = trainer.encoder.grads()
    state = trainer.encoder.state_dict()
    np.savez(os.path.join(out, f"rank{rank}.npz"),
             losses=np.array([r["loss"] for r in trainer.history]), step=trainer.step, epoch=trainer.epoch,
             state_hash=np.uint64(trainer.state_hash("")), encoder_hash=np.uint64(trainer.state_hash("encoder.")),
             communication=trainer.timings()["communication"],
             **{f"grad/{k}": v for k, v in grads.items()}, **{f"state/{k}": v for k, v in state.items()},
             **extra)


SYNC_BN_RUNS = {"pairs": dict(method="dcl"), "nnclr": dict(method="nnclr-dcl", support_size=32),
                **{name: dict(method=name) for name in ("byol", "simsiam", "barlow-twins", "vicreg")}}

if scenario in SYNC_BN_RUNS:
    method = SYNC_BN_RUNS[scenario]
    trainer = dclkit.Trainer(dclkit.TrainConfig(sync_bn=True, epochs=2, **method, **tiny), comm=world)
    first: dict = {}
    trainer.fit(images, progress=False, epochs=1)
    first.update({f"first_grad/{k}": v for k, v in trainer.encoder.grads().items()})
    first.update({f"first_state/{k}": v for k, v in trainer.encoder.state_dict().items()})
    trainer.fit(images, progress=False)
    write_run(trainer, support_hash=np.uint64(trainer.state_hash("support_set")), **first)
elif scenario == "moco":
    config = dclkit.TrainConfig(method="mochi", queue_size=32, mochi_n_hard=8, mochi_s=4, mochi_s_prime=2,
                                mochi_start_epoch=0, epochs=2, **tiny)
    trainer = dclkit.Trainer(config, comm=world)
    start = trainer.state_hash("queue")
    trainer.fit(images, progress=False)
    write_run(trainer, queue_hash=np.uint64(trainer.state_hash("queue")), queue_start=np.uint64(start))
elif scenario == "mismatch":
    try:
        dclkit.Trainer(dclkit.TrainConfig(method="dcl", temperature=0.2 if rank == W - 1 else 0.1, **tiny), comm=world)
    except dclkit.DCLError as error:
        write_error(error)
elif scenario == "data_mismatch":
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", **tiny), comm=world)
    try:
        trainer.fit(255 - images if rank == W - 1 else images, progress=False)
    except dclkit.DCLError as error:
        write_error(error)
elif scenario == "indivisible":
    try:
        dclkit.Trainer(dclkit.TrainConfig(method="dcl", **dict(tiny, batch_size=2 * W + 1)), comm=world)
    except dclkit.DCLError as error:
        write_error(error)
elif scenario == "fault":
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", sync_bn=True, epochs=500, **tiny), comm=world)
    with open(os.path.join(out, f"pid{rank}"), "w") as f:
        f.write(str(os.getpid()))
    trainer.fit(images, progress=False, checkpoint=sys.argv[3])
elif scenario == "resume":
    trainer = dclkit.Trainer.resume(sys.argv[3], comm=world)
    before = trainer.epoch
    trainer.fit(images, epochs=1, progress=False)
    write_run(trainer, resumed_epoch=before)
else:
    raise SystemExit(f"unknown scenario {scenario}")
