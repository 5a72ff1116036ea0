"""The per-epoch diagnostics against float64 numpy references written from their definitions
(Yeh et al. 2022's NPC multiplier, Wang & Isola 2020's alignment and uniformity, SimSiam's
collapse metric), and their place in every run's history."""
from __future__ import annotations

import math

import numpy as np
import pytest

import dclkit
from dclkit.diagnostics import NAMES, projection_diagnostics


def _unit(z):
    z = np.asarray(z, np.float64)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def _reference(z0, z1, tau=None, queue=None):
    u0, u1 = _unit(z0), _unit(z1)
    n = len(u0)
    u = np.concatenate([u0, u1])
    out = {"positive_cosine": np.mean(np.sum(u0 * u1, axis=1)),
           "alignment": np.mean(np.sum((u0 - u1) ** 2, axis=1))}
    distances = [np.sum((u[i] - u[k]) ** 2) for i in range(2 * n) for k in range(i + 1, 2 * n)]
    out["uniformity"] = math.log(np.mean(np.exp(-2 * np.array(distances))))
    out["collapse_std"] = np.mean(np.std(u, axis=0))
    q = []
    if queue is None:
        negatives = []
        for i in range(2 * n):
            partner = (i + n) % (2 * n)
            others = [u[i] @ u[k] for k in range(2 * n) if k not in (i, partner)]
            negatives += others
            if tau:
                positive = math.exp(u[i] @ u[partner] / tau)
                q.append(1 - positive / (positive + sum(math.exp(s / tau) for s in others)))
        out["negative_cosine"] = np.mean(negatives)
    else:
        similarities = u0 @ np.asarray(queue, np.float64).T
        out["negative_cosine"] = similarities.mean()
        for i in range(n):
            if tau:
                positive = math.exp(u0[i] @ u1[i] / tau)
                q.append(1 - positive / (positive + np.exp(similarities[i] / tau).sum()))
    if tau:
        out.update(npc_mean=np.mean(q), npc_p10=np.percentile(q, 10), npc_p50=np.percentile(q, 50),
                   npc_p90=np.percentile(q, 90))
    return out


@pytest.mark.parametrize("seed,n,d,tau", [(0, 8, 4, 0.1), (1, 16, 32, 0.5), (2, 5, 3, None), (3, 32, 16, 0.07)])
def test_pair_form_matches_the_float64_reference(seed, n, d, tau):
    rng = np.random.default_rng(seed)
    z0 = rng.normal(size=(n, d)).astype(np.float32)
    z1 = (z0 + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
    got, want = projection_diagnostics(z0, z1, temperature=tau), _reference(z0, z1, tau)
    assert set(got) == set(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=2e-5), name


def test_queue_form_matches_the_float64_reference():
    rng = np.random.default_rng(4)
    z0, z1 = rng.normal(size=(6, 8)).astype(np.float32), rng.normal(size=(6, 8)).astype(np.float32)
    queue = _unit(rng.normal(size=(40, 8))).astype(np.float32)
    got, want = projection_diagnostics(z0, z1, temperature=0.2, queue=queue), _reference(z0, z1, 0.2, queue)
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=2e-5), name


def test_a_collapsed_batch_reads_as_collapsed():
    z = np.ones((16, 8), np.float32)
    got = projection_diagnostics(z, z, temperature=0.1)
    assert got["collapse_std"] == pytest.approx(0, abs=1e-6) and got["alignment"] == pytest.approx(0, abs=1e-6)
    assert got["npc_mean"] == pytest.approx(1 - 1 / 31, abs=1e-5), "all logits equal: the positive is one of 31"


@pytest.mark.parametrize("kwargs", [dict(z0=np.ones((1, 4)), z1=np.ones((1, 4))), dict(z0=np.ones((4, 4)), z1=np.ones((4, 3))),
                                    dict(z0=np.ones((4, 4)), z1=np.ones((4, 4)), temperature=0),
                                    dict(z0=np.ones((4, 4)), z1=np.ones((4, 4)), queue=np.ones((3, 5))),
                                    dict(z0=np.full((4, 4), np.nan), z1=np.ones((4, 4)))])
def test_bad_inputs_raise(kwargs):
    with pytest.raises(dclkit.DCLValueError):
        projection_diagnostics(**kwargs)


@pytest.mark.parametrize("method,has_npc", [("dcl", True), ("moco", True), ("nnclr", True), ("byol", False), ("simsiam", False),
                                            ("barlow-twins", False), ("vicreg", False)])
def test_every_epoch_record_carries_the_diagnostics_and_the_monitor(method, has_npc):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    y = np.arange(32) % 2
    extra = {"queue_size": 16, "queue_warmup": False} if method == "moco" else {}
    trainer = dclkit.Trainer(dclkit.TrainConfig(method=method, width=0.0625, head_dims=(16, 8), batch_size=8, image_size=8,
                                                epochs=2, warmup_epochs=0, **extra))
    assert all(method in f["methods"] for f in dclkit.config.schema()["fields"] if f["name"] in extra)
    seen = []
    history = trainer.fit(x, eval_data=(x, y, x[:8], y[:8]), eval_every=2, progress=False,
                          callbacks=[lambda tr, record: seen.append(record)])
    assert seen == history
    names = [name for name in NAMES if has_npc or not name.startswith("npc")]
    for record in history:
        assert all(math.isfinite(record[name]) for name in names)
        assert has_npc == ("npc_mean" in record)
        if has_npc:
            assert 0 <= record["npc_p10"] <= record["npc_p50"] <= record["npc_p90"] <= 1
    assert "knn_top1" not in history[0] and 0 <= history[1]["knn_top1"] <= 1
    assert history[1]["knn_top1"] == trainer.knn(x, y, x[:8], y[:8])


def test_a_collapsed_run_warns():
    same = np.full((16, 8, 8, 3), 128, np.uint8)  # one image, views without randomness: one output
    augment = {"flip": 0, "jitter": 0, "grayscale": 0, "blur": 0, "scale": [1, 1], "ratio": [1, 1]}
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="simsiam", width=0.0625, head_dims=(16, 8), batch_size=8,
                                                image_size=8, epochs=1, warmup_epochs=0, augment=augment))
    with pytest.warns(dclkit.trainer.CollapseWarning, match="collapse_std"):
        history = trainer.fit(same, progress=False)
    assert history[0]["collapse_std"] < dclkit.trainer.COLLAPSE_RATIO / math.sqrt(8)


def test_a_healthy_run_does_not_warn(recwarn):
    rng = np.random.default_rng(1)
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", width=0.0625, head_dims=(16, 8), batch_size=8, image_size=8,
                                                epochs=1, warmup_epochs=0))
    trainer.fit(rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), progress=False)
    assert not [w for w in recwarn if issubclass(w.category, dclkit.trainer.CollapseWarning)]


def test_the_monitor_embeds_in_chunks(run_isolated):
    """The kNN monitor's memory does not grow with the evaluation set: 4,096 images of 32x32
    embedded at once took about 3 GB; in chunks of 256 the peak grows by far less."""
    code, out, err = run_isolated("""
        import resource, numpy as np, dclkit
        x = np.random.default_rng(0).integers(0, 256, (4096, 32, 32, 3), dtype=np.uint8)
        y = np.arange(4096) % 10
        trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", width=0.25, batch_size=64, epochs=1, warmup_epochs=0))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        history = trainer.fit(x[:128], eval_data=(x, y, x[:512], y[:512]), progress=False)
        print(history[-1]["knn_top1"], (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    assert code == 0, err
    top1, grown_mib = out.split()
    assert 0 <= float(top1) <= 1 and int(grown_mib) < 600, out
