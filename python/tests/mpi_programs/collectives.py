"""Run under `mpirun -n W` by test_distributed.py: every collective piece of dclkit.distributed
on W ranks, measured against float64 numpy references computed here from the inputs of all
ranks (each rank regenerates every rank's inputs from their seeds, so no reference needs MPI).

Usage: python collectives.py OUT_DIR. Rank r writes OUT_DIR/rank{r}.json with one entry per
check (errors, byte hashes, messages); the test asserts on them."""
from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np

import dclkit
from dclkit import distributed

started = time.perf_counter()
world = distributed.world()
comm = distributed.Communicator(world)
W, r = comm.size, comm.rank
assert W == world.Get_size() > 1, "run me under mpirun with at least 2 ranks"
dclkit.set_num_threads(1)
results: dict = {"size": W, "rank": r}


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


# ---- the three collectives against numpy -------------------------------------------------------
def inputs(rank: int) -> dict:
    g = np.random.default_rng(10 + rank)
    return {"float32": g.normal(size=1003).astype(np.float32), "float64": g.normal(size=17),
            "int64": g.integers(-1000, 1000, size=9)}


mine, everyone = inputs(r), [inputs(k) for k in range(W)]
summed = {name: comm.allreduce_sum(mine[name]) for name in mine}
reference = {name: np.sum([e[name].astype(np.float64) for e in everyone], axis=0) for name in mine}
results["allreduce"] = {
    "float32_error": relative_error(summed["float32"], reference["float32"]),
    "float64_error": relative_error(summed["float64"], reference["float64"]),
    "int64_exact": bool(np.array_equal(summed["int64"], reference["int64"].astype(np.int64))),
    "float32_digest": digest(summed["float32"]),
}
gathered = comm.allgather(mine["float32"].reshape(17, 59))
results["allgather_exact"] = bool(np.array_equal(gathered, np.stack([e["float32"].reshape(17, 59) for e in everyone])))
results["broadcast_exact"] = bool(np.array_equal(comm.broadcast(mine["int64"], root=W - 1), everyone[W - 1]["int64"]))


# ---- projection gather: forward and backward against the float64 DCL loss of the global batch ---
def dcl_reference(z0: np.ndarray, z1: np.ndarray, anchors: np.ndarray, tau: float):
    """(1/2N) Σ_{i in anchors} l_i, l_i = -s_ip/τ + log Σ_{k∉{i,p}} exp(s_ik/τ), and its gradient
    with respect to the raw z0, z1, in float64 from the formula."""
    n = z0.shape[0]
    z = np.vstack([z0, z1]).astype(np.float64)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    u = z / norms
    s = u @ u.T / tau
    positive = (np.arange(2 * n) + n) % (2 * n)
    allowed = np.ones((2 * n, 2 * n), dtype=bool)
    allowed[np.arange(2 * n), np.arange(2 * n)] = False
    allowed[np.arange(2 * n), positive] = False
    masked = np.where(allowed, s, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(masked - top).sum(axis=1))
    terms = -s[np.arange(2 * n), positive] + lse
    weight = np.zeros(2 * n)
    weight[anchors] = 1.0 / (2 * n)
    softmax = np.where(allowed, np.exp(masked - lse[:, None]), 0.0)
    a = softmax.copy()
    a[np.arange(2 * n), positive] -= 1.0
    a *= weight[:, None]
    grad_u = (a + a.T) @ u / tau
    grad_z = (grad_u - u * (u * grad_u).sum(axis=1, keepdims=True)) / norms
    return float(weight @ terms), grad_z[:n], grad_z[n:]


b, d, tau = 3, 8, 0.2
N = W * b
views = [np.random.default_rng(300 + k).normal(size=(b, 2 * d)).astype(np.float32) for k in range(W)]
big = comm_gathered = distributed.gather_projections(comm, views[r])  # (N, 2D): [z0 | z1] of every rank
Z0, Z1 = big[:, :d], big[:, d:]
mine_rows = np.arange(r * b, (r + 1) * b)
_, g0, g1 = dcl_reference(Z0, Z1, np.concatenate([mine_rows, N + mine_rows]), tau)  # this rank's term
grad_local = distributed.gather_projections_backward(comm, np.hstack([g0, g1]).astype(np.float32))
loss_all, full0, full1 = dcl_reference(Z0, Z1, np.arange(2 * N), tau)
native_loss, native0, native1 = dclkit.losses.dcl(Z0, Z1, temperature=tau)
results["gather"] = {
    "forward_exact": bool(np.array_equal(big, np.vstack(views))),
    "backward_error": relative_error(grad_local, np.hstack([full0, full1])[mine_rows]),
    "reference_loss_error": abs(native_loss - loss_all) / abs(loss_all),
    "reference_gradient_error": relative_error(np.hstack([native0, native1]), np.hstack([full0, full1])),
}

# ---- fused gradient allreduce on a real encoder -------------------------------------------------
encoder = dclkit.Encoder("resnet18", "cifar", width=0.25, head="simclr", head_dims=(64, 16), seed=7)
g = np.random.default_rng(500 + r)
_, z = encoder.forward(g.normal(size=(4, 8, 8, 3)).astype(np.float32), training=True)
encoder.backward(grad_z=g.normal(size=z.shape).astype(np.float32))
names = sorted(encoder.grads())
before = np.concatenate([encoder.grads()[k].ravel() for k in names])
all_before = np.empty((W, before.size), dtype=np.float32)
world.Allgather(before, all_before)  # mpi4py directly: an independent path for the reference
reducer = distributed.GradientAllreduce(comm, encoder, bucket_floats=100_000)
reducer.run()
after = np.concatenate([encoder.grads()[k].ravel() for k in names])
results["fused"] = {
    "floats": int(before.size), "buckets": reducer.bucket_count,
    "error": relative_error(after, all_before.astype(np.float64).mean(axis=0)),
    "digest": digest(after),
    "ranks_differed_before": bool(not np.array_equal(all_before[0], all_before[-1])),
}

# ---- SyncBN: global statistics and the backward's reductions ------------------------------------
C, eps = 5, 1e-5
gamma = np.linspace(0.5, 2.0, C)
xs = [np.random.default_rng(600 + k).normal(size=(3 + k, C)) * 2.0 + 10.0 for k in range(W)]  # unequal counts
dys = [np.random.default_rng(700 + k).normal(size=(3 + k, C)) for k in range(W)]
x, dy = xs[r], dys[r]
mean, var, total = distributed.sync_bn_statistics(comm, x.sum(axis=0), (x * x).sum(axis=0), x.shape[0])
X, DY = np.vstack(xs), np.vstack(dys)
xhat = (x - mean) / np.sqrt(var + eps)
sum_dy, sum_dy_xhat = distributed.sync_bn_gradient_sums(comm, dy.sum(axis=0), (dy * xhat).sum(axis=0))
dx = gamma / np.sqrt(var + eps) * (dy - sum_dy / total - xhat * sum_dy_xhat / total)


def bn_objective(values: np.ndarray) -> float:
    """Σ DY ⊙ BatchNorm(values) over the concatenated batch, single process, float64."""
    m, v = values.mean(axis=0), values.var(axis=0)
    return float((DY * (gamma * (values - m) / np.sqrt(v + eps) + 0.3)).sum())


first = sum(len(a) for a in xs[:r])
fd = np.zeros_like(x)
for i in range(x.shape[0]):
    for c in range(C):
        plus, minus = X.copy(), X.copy()
        plus[first + i, c] += 1e-5
        minus[first + i, c] -= 1e-5
        fd[i, c] = (bn_objective(plus) - bn_objective(minus)) / 2e-5
results["sync_bn"] = {
    "count": int(total), "expected_count": int(X.shape[0]),
    "mean_error": relative_error(mean, X.mean(axis=0)), "var_error": relative_error(var, X.var(axis=0)),
    "backward_error": relative_error(dx, fd),
}

# ---- MoCo key shuffle across ranks ---------------------------------------------------------------
rows = [np.random.default_rng(800 + k).normal(size=(4, 6)).astype(np.float32) for k in range(W)]
shuffled, permutation = distributed.shuffle_keys(comm, rows[r], seed=11, step=3)
keys = shuffled[:, :3] * 2.0 + 1.0  # a row-wise "encoder", exact in float32
own = distributed.unshuffle_keys(comm, keys, permutation)
results["shuffle"] = {
    "is_permutation": bool(np.array_equal(np.sort(permutation), np.arange(4 * W))),
    "moves_rows": bool(not np.array_equal(permutation, np.arange(4 * W))),
    "rows_exact": bool(np.array_equal(shuffled, np.vstack(rows)[permutation[4 * r:4 * r + 4]])),
    "unshuffle_exact": bool(np.array_equal(own, rows[r][:, :3] * 2.0 + 1.0)),
    "permutation_digest": digest(permutation),
}

# ---- configuration agreement and the batch share -------------------------------------------------
def outcome(action) -> dict:
    try:
        value = action()
        return {"error": None, "value": value}
    except dclkit.DCLError as error:
        return {"error": type(error).__name__, "message": str(error)}


config = json.dumps({"method": "dcl", "batch_size": 256, "temperature": 0.1})
results["config_same"] = outcome(lambda: distributed.check_configuration(comm, config))
results["config_differs"] = outcome(
    lambda: distributed.check_configuration(comm, config.replace("0.1", "0.2") if r == W - 1 else config))
results["share"] = outcome(lambda: list(distributed.batch_share(comm, 3 * W)))
results["share_indivisible"] = outcome(lambda: distributed.batch_share(comm, 3 * W + 1))
results["seconds"] = time.perf_counter() - started

with open(f"{sys.argv[1]}/rank{r}.json", "w") as out:
    json.dump(results, out)
