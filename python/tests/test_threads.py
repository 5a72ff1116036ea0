"""Public objects used from several Python threads at once: calls on one native object are
serialised by its lock, so every thread gets what one thread alone gets (ctypes releases the
GIL, so the threads really are inside the library together)."""
from __future__ import annotations

import threading

import numpy as np

import dclkit


def hammer(work, threads: int = 6, rounds: int = 5) -> list:
    """Runs ``work(t)`` ``rounds`` times in each of ``threads`` threads; returns every result."""
    results: list = []
    errors: list = []

    def run(t: int) -> None:
        try:
            for _ in range(rounds):
                results.append((t, work(t)))
        except BaseException as error:  # reported below, so a failing thread fails the test
            errors.append(error)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors
    return results


def test_one_encoder_and_one_pipeline_shared_by_threads_give_single_thread_results(tmp_path):
    encoder = dclkit.Encoder(width=0.0625, head="simclr", head_dims=(8, 4), seed=3)
    augment = dclkit.augment.SimCLR(size=8)
    images = np.random.default_rng(0).integers(0, 256, (4, 10, 10, 3), dtype=np.uint8)
    x = np.random.default_rng(1).random((4, 8, 8, 3), dtype=np.float32)

    def work(t: int):
        h, z = encoder.forward(x, training=False)
        v0, v1 = augment(images, seed=7, epoch=t % 2)
        encoder.save(tmp_path / "shared.safetensors")
        loaded = dclkit.Encoder.load(tmp_path / "shared.safetensors").state_dict()["conv1.weight"]
        loss, _, _ = dclkit.losses.dcl(z, z[::-1].copy(), 0.1)
        return h, z, v0, v1, loaded, loss

    expected = {e: work(e) for e in (0, 1)}
    for t, result in hammer(work):
        for got, want in zip(result, expected[t % 2]):
            np.testing.assert_array_equal(got, want)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.safetensors"], "no temporary left behind"


def test_training_forward_and_backward_from_threads_keep_each_call_whole():
    encoder = dclkit.Encoder(width=0.0625, head="moco", head_dims=(8, 4), seed=5)
    x = np.random.default_rng(2).random((4, 8, 8, 3), dtype=np.float32)

    def work(t: int):
        _, z = encoder.forward(x, training=True)
        grad_x = encoder.backward(grad_z=np.ones_like(z))
        return np.isfinite(grad_x).all() and grad_x.shape == x.shape

    assert all(ok for _, ok in hammer(work))
