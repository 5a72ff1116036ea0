"""Run under `mpirun -n W` by test_distributed_leaving.py: every rank builds one small
data-parallel trainer and trains one epoch together; then rank 1 leaves the run in one of the
ways a rank can leave while the others call `fit` again. A rank whose `fit` raises writes
OUT_DIR/rank{r}.json (the error, its message, the seconds `fit` ran) before the error goes on.
The collective time-out comes from DCLKIT_COLLECTIVE_TIMEOUT, set by the test.

Usage: python leave.py SCENARIO OUT_DIR
  raises   rank 1 passes a wrong eval_data to its second fit: it raises, nobody catches it
  exits    rank 1 skips the second fit and its program ends normally; the others catch their
           DCLCommError and end normally too
  early    rank 1 skips the second fit and stays busy (sleeps) far beyond the time-out; the
           others' DCLCommError is not caught
  slow     no one leaves: rank 1 starts its second fit 2 s late and rank 0 works 2 s more at
           the end, both within the time-out; every rank writes rank{r}.json with "ok"
  lingers  every rank trains to the end, then rank 0 stays busy (sleeps) far beyond the time-out
           while the others' programs end
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import dclkit
from dclkit import distributed

scenario, out = sys.argv[1], sys.argv[2]
world = distributed.world()
dclkit.set_num_threads(1)
rank = world.Get_rank()
images = np.random.default_rng(0).integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)  # 2 per rank per step
config = dclkit.TrainConfig(method="dcl", width=0.0625, image_size=8, batch_size=2 * world.Get_size(),
                            head_dims=(16, 8), sync_bn=True, warmup_epochs=0, lr=0.1, seed=3, epochs=50)
trainer = dclkit.Trainer(config, comm=world)
trainer.fit(images, epochs=1, progress=False)


def write(**record) -> None:
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)


if rank == 1 and scenario == "raises":
    trainer.fit(images, epochs=2, progress=False, eval_data=(images, np.zeros(16)))  # not 4 arrays
elif rank == 1 and scenario == "exits":
    pass
elif rank == 1 and scenario == "early":
    time.sleep(600)
else:
    if rank == 1 and scenario == "slow":
        time.sleep(2)
    start = time.monotonic()
    try:
        trainer.fit(images, epochs=2, progress=False)
    except dclkit.DCLError as error:
        write(error=type(error).__name__, message=str(error), seconds=time.monotonic() - start)
        if scenario != "exits":
            raise
    else:
        write(ok=True, epoch=trainer.epoch, seconds=time.monotonic() - start)
        if rank == 0 and scenario in ("slow", "lingers"):
            time.sleep(2 if scenario == "slow" else 600)
