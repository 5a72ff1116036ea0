"""Trainer: fit lowers the loss, resume equals an uninterrupted run, embed, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import dclkit
from dclkit import TrainConfig, Trainer

# Tiny runs: a narrow ResNet-18 on 16x16 images keeps each test to a few seconds.
TINY = dict(arch="resnet18", stem="cifar", width=0.125, batch_size=32, image_size=16, warmup_epochs=0,
            lr=0.1, seed=3, augment={"pipeline": "simclr", "blur": 0.0})


@pytest.fixture(scope="module")
def digits():
    return dclkit.datasets.builtin("digits")


@pytest.mark.parametrize("method", ["dcl", "dclw", "simclr", "nnclr", "nnclr-dcl"])
def test_fit_lowers_the_loss(method, digits):
    x = digits.x_train[:256]
    tr = Trainer(TrainConfig(method=method, epochs=6, **TINY))
    history = tr.fit(x, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(h["images_per_s"] > 0 and h["seconds"] > 0 for h in history)


def test_resume_in_a_new_process_equals_an_uninterrupted_run(tmp_path, digits, run_isolated):
    x = digits.x_train[:128]
    straight = Trainer(TrainConfig(method="dcl", epochs=2, **TINY))
    straight.fit(x, progress=False)

    # The first epoch and the save happen in another process.
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_isolated(f"""
        import numpy as np, dclkit
        tr = dclkit.Trainer(dclkit.TrainConfig(method="dcl", epochs=2, **{TINY!r}))
        tr.fit(np.load({str(tmp_path / "x.npy")!r}), epochs=1, progress=False)
        tr.save({str(tmp_path / "ckpt.safetensors")!r})
        """)
    assert code == 0, err
    resumed = Trainer.resume(tmp_path / "ckpt.safetensors")
    assert resumed.epoch == 1 and len(resumed.history) == 1
    resumed.fit(x, progress=False)

    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    a, b = straight.encoder.state_dict(), resumed.encoder.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_fit_records_knn_and_writes_checkpoints(tmp_path, digits):
    x_train, y_train, x_test, y_test = digits
    tr = Trainer(TrainConfig(method="dcl", epochs=2, **TINY))
    tr.fit(x_train[:128], eval_data=(x_train[:200], y_train[:200], x_test[:100], y_test[:100]),
           checkpoint=tmp_path / "run.safetensors", progress=False)
    assert all(0.0 <= h["knn_top1"] <= 1.0 for h in tr.history)
    assert (tmp_path / "run.safetensors").exists()
    again = Trainer.resume(tmp_path / "run.safetensors")
    assert again.epoch == 2


def test_train_step_on_float_views(digits):
    tr = Trainer(TrainConfig(method="dcl", epochs=1, **TINY))
    rng = np.random.default_rng(0)
    v0 = rng.standard_normal((8, 16, 16, 3)).astype(np.float32)
    v1 = v0 + 0.1 * rng.standard_normal((8, 16, 16, 3)).astype(np.float32)
    loss = tr.train_step(v0, v1)
    assert np.isfinite(loss) and tr.step == 1
    with pytest.raises(ValueError):
        tr.train_step(v0, v1[:4])
    with pytest.raises(ValueError):
        tr.train_step(v0[..., :2], v1[..., :2])


def test_embed_gives_features_of_every_image(digits):
    tr = Trainer(TrainConfig(method="dcl", epochs=1, **TINY))
    feats = tr.embed(digits.x_test[:37], batch_size=16)
    assert feats.shape == (37, tr.encoder.feature_dim) and feats.dtype == np.float32
    again = tr.embed(digits.x_test[:37], batch_size=37)
    np.testing.assert_allclose(feats, again, rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise(digits):
    tr = Trainer(TrainConfig(method="dcl", epochs=1, **TINY))
    with pytest.raises(ValueError, match="fewer than batch_size"):
        tr.fit(digits.x_train[:10], progress=False)
    with pytest.raises(TypeError, match="uint8"):  # the same DCLTypeError as augment's for float images
        tr.fit(digits.x_train[:64].astype(np.float32), progress=False)
    with pytest.raises(ValueError):
        tr.fit(digits.x_train[:64, :, :, :2], progress=False)
    with pytest.raises(ValueError):
        tr.embed(np.zeros((4, 16, 16, 3), dtype=np.uint8), batch_size=0)
    with pytest.raises(TypeError):
        Trainer({"method": "dcl"})
    with pytest.raises(dclkit.DCLIOError):
        Trainer.resume("/nonexistent/ckpt.safetensors")
    with pytest.raises(TypeError):
        Trainer.resume(3.5)
    with pytest.raises(ValueError, match="NUL"):
        tr.save("/tmp/a\0b.safetensors")


def test_resume_rejects_files_that_are_not_checkpoints(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}              ")
    with pytest.raises(dclkit.DCLError):
        Trainer.resume(bad)
    bad.write_bytes(b"garbage")
    with pytest.raises(dclkit.DCLError):
        Trainer.resume(bad)


def test_killed_save_leaves_the_previous_checkpoint_loadable(tmp_path, digits):
    """A process killed with SIGKILL while saving over a checkpoint leaves a loadable file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "ckpt.safetensors"
    tr = Trainer(TrainConfig(method="dcl", epochs=2, **TINY))
    tr.fit(digits.x_train[:64], epochs=1, progress=False)
    tr.save(path)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import dclkit, sys\n"
        f"tr = dclkit.Trainer.resume({str(path)!r})\n"
        "print('ready', flush=True)\n"
        f"while True: tr.save({str(path)!r})\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # many saves have run by now; the kill lands in the middle of one
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    again = Trainer.resume(path)
    assert again.epoch == 1 and again.step == tr.step
    for name, value in tr.encoder.state_dict().items():
        np.testing.assert_array_equal(again.encoder.state_dict()[name], value, err_msg=name)


def test_encoder_is_a_view_of_the_trained_model(tmp_path, digits):
    """``tr.encoder`` is the trainer's own encoder: training changes it, and it is what the
    checkpoint holds."""
    tr = Trainer(TrainConfig(method="dcl", epochs=1, **TINY))
    before = tr.encoder.state_dict()["conv1.weight"].copy()
    tr.fit(digits.x_train[:64], progress=False)
    after = tr.encoder.state_dict()
    assert not np.array_equal(before, after["conv1.weight"])
    tr.save(tmp_path / "run.safetensors")
    again = Trainer.resume(tmp_path / "run.safetensors")
    for name, value in again.encoder.state_dict().items():
        np.testing.assert_array_equal(value, after[name], err_msg=name)
    # Loading weights through the view changes what the trainer embeds.
    features = tr.embed(digits.x_test[:8])
    tr.encoder.load_state_dict({name: (value * 0 if name.startswith("layer4") else value) for name, value in after.items()})
    assert not np.array_equal(tr.embed(digits.x_test[:8]), features)


def test_training_while_other_threads_use_the_encoder_keeps_the_heap_intact(run_isolated):
    """One thread trains while two others call ``tr.encoder.forward`` and ``tr.embed``: the trainer
    and its encoder share one lock, so the process neither crashes nor sees non-finite features."""
    code, out, err = run_isolated(f"""
        import threading, numpy as np, dclkit
        x = dclkit.datasets.builtin("digits").x_train[:128]
        tr = dclkit.Trainer(dclkit.TrainConfig(method="dcl", epochs=3, **{TINY!r}))
        stop = threading.Event()
        failures = []
        def forward():
            rng = np.random.default_rng(0)
            while not stop.is_set():
                h, z = tr.encoder.forward(rng.standard_normal((6, 16, 16, 3)).astype(np.float32), training=True)
                if not (np.isfinite(h).all() and np.isfinite(z).all()): failures.append("forward")
        def embed():
            while not stop.is_set():
                if not np.isfinite(tr.embed(x[:10])).all(): failures.append("embed")
        threads = [threading.Thread(target=forward), threading.Thread(target=embed)]
        for t in threads: t.start()
        try:
            tr.fit(x, progress=False)
        finally:
            stop.set()
            for t in threads: t.join()
        print(len(tr.history), failures, np.isfinite(tr.history[-1]["loss"]))
        """)
    assert code == 0, err
    assert out.split() == ["3", "[]", "True"]


@pytest.mark.parametrize("field,value,needle", [
    ("format", "dclkit.trainer/1", "not a dclkit trainer checkpoint"),
    ("config", '{"batch_size": 1}', "batch_size"),
    ("history", "[{", "history"),
    ("batch", "99", "batch"),
    ("epoch", "-1", "epoch"),
    ("step", "many", "step"),
])
def test_resume_refuses_checkpoints_with_bad_metadata(tmp_path, digits, field, value, needle):
    safetensors = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    path = tmp_path / "run.safetensors"
    tr = Trainer(TrainConfig(method="dcl", epochs=1, **TINY))
    tr.fit(digits.x_train[:64], progress=False)
    tr.save(path)
    with safe_open(str(path), framework="numpy") as f:
        metadata = dict(f.metadata())
    tensors = safetensors.load_file(str(path))
    metadata[field] = value
    safetensors.save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(dclkit.DCLFormatError, match=needle):
        Trainer.resume(path)
