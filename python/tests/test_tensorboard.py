"""TensorBoard logging: the event files hold every numeric field of every epoch record at step =
epoch, equal to the history (float32 rounding aside), and the views grid once; the command line's
--tensorboard, a sweep spec's tensorboard key (a sub-folder per run) and rank 0 only.

The events are read back with a reader written here from the TFRecord framing (length, masked
CRC-32C of the length, payload, masked CRC-32C of the payload) and tensorboardX's own protobuf
``Event`` message, so the test needs no TensorFlow and no tensorboard package."""
from __future__ import annotations

import io
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import dclkit
import numpy as np
import pytest

from mpi_support import mpi  # noqa: F401  (the fixture)

tensorboardX = pytest.importorskip("tensorboardX")
PIL_Image = pytest.importorskip("PIL.Image")

from tensorboardX.crc32c import crc32c  # noqa: E402  (after the skip)
from tensorboardX.proto.event_pb2 import Event  # noqa: E402

TINY = {"method": "dcl", "arch": "resnet18", "width": 0.0625, "image_size": 16, "batch_size": 32, "epochs": 2, "warmup_epochs": 0}


def _masked(crc: int) -> int:
    """TFRecord's CRC mask: rotate right by 15 bits, add 0xa282ead8 (mod 2^32)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(folder: Path) -> list[Any]:
    """Every Event of every event file under ``folder``, each record's checksums verified."""
    events = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("<Q", header)
            (header_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
            assert header_crc == _masked(crc32c(header)), f"{path}: corrupt record header at {offset}"
            payload = data[offset + 12:offset + 12 + length]
            (payload_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
            assert payload_crc == _masked(crc32c(payload)), f"{path}: corrupt record at {offset}"
            events.append(Event.FromString(payload))
            offset += 16 + length
    return events


def scalars(events: list[Any]) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of the scalar summaries."""
    out: dict[str, dict[int, float]] = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("simple_value"):
                assert event.step not in out.get(value.tag, {}), f"{value.tag} written twice at step {event.step}"
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def images(events: list[Any]) -> list[tuple[str, int, np.ndarray]]:
    """(tag, step, decoded uint8 pixels) of the image summaries."""
    out = []
    for event in events:
        for value in event.summary.value:
            if value.HasField("image"):
                pixels = np.asarray(PIL_Image.open(io.BytesIO(value.image.encoded_image_string)).convert("RGB"))
                out.append((value.tag, event.step, pixels))
    return out


def numeric_fields(record: dict) -> dict[str, float]:
    return {k: v for k, v in record.items() if k != "epoch" and not isinstance(v, bool) and isinstance(v, (int, float))}


def assert_scalars_equal_history(found: dict[str, dict[int, float]], history: list[dict]) -> None:
    expected: dict[str, dict[int, float]] = {}
    for record in history:
        for name, value in numeric_fields(record).items():
            expected.setdefault(name, {})[record["epoch"]] = value
    assert set(found) == set(expected)
    for name, steps in expected.items():
        assert set(found[name]) == set(steps), name
        for step, value in steps.items():
            want = np.float32(value)
            got = np.float32(found[name][step])
            assert (math.isnan(want) and math.isnan(got)) or got == want, (name, step, got, want)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = np.arange(128) % 4
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]])
    x = np.clip(colours[y][:, None, None, :] + rng.normal(0, 40, (128, 16, 16, 3)), 0, 255).astype(np.uint8)
    return x, y


def test_event_scalars_equal_the_history_and_the_views_are_written_once(tmp_path, data):
    x, y = data
    trainer = dclkit.Trainer(dclkit.TrainConfig(**TINY))
    history = trainer.fit(x, eval_data=(x[:64], y[:64], x[64:], y[64:]), tensorboard=tmp_path / "tb", progress=False)
    events = read_events(tmp_path / "tb")
    found = scalars(events)
    assert {"loss", "lr", "seconds", "images_per_s", "knn_top1", "npc_mean", "npc_p10", "npc_p50", "npc_p90",
            "positive_cosine", "negative_cosine", "alignment", "uniformity", "collapse_std"} <= set(found)
    assert_scalars_equal_history(found, history)
    written = images(events)
    assert [(tag, step) for tag, step, _ in written] == [("views", 0)]
    augment = dclkit.augment.SimCLR(size=16)
    expected = dclkit.augment.views_grid(x[:dclkit.tensorboard.VIEW_IMAGES], augment, seed=trainer.config.seed)
    np.testing.assert_array_equal(written[0][2], expected)


def test_a_resumed_fit_adds_the_later_epochs(tmp_path, data):
    x, _ = data
    trainer = dclkit.Trainer(dclkit.TrainConfig(**{**TINY, "epochs": 1}))
    trainer.fit(x, tensorboard=tmp_path / "tb", progress=False)
    history = trainer.fit(x, epochs=1, tensorboard=tmp_path / "tb", progress=False)
    events = read_events(tmp_path / "tb")
    assert_scalars_equal_history(scalars(events), history)
    assert sorted(step for _, step, _ in images(events)) == [0, 1]


def test_only_rank_zero_writes(tmp_path, data):
    x, _ = data
    trainer = dclkit.Trainer(dclkit.TrainConfig(**{**TINY, "epochs": 1}))
    trainer.rank = 1  # as on the other ranks of a distributed run
    trainer.fit(x, tensorboard=tmp_path / "tb", progress=False)
    assert not (tmp_path / "tb").exists()


@pytest.mark.usefixtures("mpi")
def test_under_mpirun_only_rank_zero_writes(tmp_path, data):
    from mpi_support import mpirun_command

    x, y = data
    np.savez(tmp_path / "d.npz", x_train=x[:96], y_train=y[:96], x_test=x[96:], y_test=y[96:])
    command, env = mpirun_command(2, [sys.executable, "-m", "dclkit", "train", "--data", str(tmp_path / "d.npz"),
                                      "--out", str(tmp_path / "out"), "--width", "0.0625", "--batch-size", "32",
                                      "--epochs", "1", "--warmup-epochs", "0", "--threads", "1",
                                      "--tensorboard", str(tmp_path / "tb"), "--quiet"])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "tb").iterdir())) == 1
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert_scalars_equal_history(scalars(read_events(tmp_path / "tb")), history)


def test_a_file_in_the_way_is_a_dcl_io_error(tmp_path, data):
    x, _ = data
    (tmp_path / "tb").write_text("x")
    trainer = dclkit.Trainer(dclkit.TrainConfig(**{**TINY, "epochs": 1}))
    with pytest.raises(dclkit.DCLIOError, match="not a folder"):
        trainer.fit(x, eval_data=(x[:64], np.arange(64) % 4, x[64:], np.arange(64) % 4), tensorboard=tmp_path / "tb",
                    progress=False)
    assert trainer.epoch == 0
    trainer.fit(x, progress=False)  # the trainer goes on after the refused fit
    assert "knn_top1" not in trainer.history[-1]


def test_cli_train_tensorboard_flag(tmp_path, data):
    x, y = data
    np.savez(tmp_path / "d.npz", x_train=x[:96], y_train=y[:96], x_test=x[96:], y_test=y[96:])
    done = subprocess.run(check=False, args=[sys.executable, "-m", "dclkit", "train", "--data", str(tmp_path / "d.npz"), "--out",
                           str(tmp_path / "out"), "--width", "0.0625", "--batch-size", "32", "--epochs", "1",
                           "--warmup-epochs", "0", "--tensorboard", str(tmp_path / "tb"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert_scalars_equal_history(scalars(read_events(tmp_path / "tb")), history)


def test_sweep_writes_a_folder_per_run(tmp_path, data):
    x, y = data
    np.savez(tmp_path / "pool.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    spec = {"base": {k: v for k, v in TINY.items() if k != "method"}, "cross": {"method": ["dcl", "simclr"]},
            "data": {"path": str(tmp_path / "pool.npz"), "eval_per_class": 4},
            "evaluation": {"knn_k": 5, "knn_every": 1, "linear_probe": False}, "tensorboard": str(tmp_path / "tb")}
    lines = dclkit.sweep(spec, results=tmp_path / "r.jsonl", progress=False)
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == sorted(line["id"] for line in lines)
    for line in lines:
        assert_scalars_equal_history(scalars(read_events(tmp_path / "tb" / line["id"])), line["history"])
    from dclkit.sweep import plan

    without = dict(spec)
    del without["tensorboard"]
    assert [run.id for run in plan(without)] == [line["id"] for line in lines]  # not part of a run's identity


@pytest.mark.parametrize("bad", ["", 3, "a\0b"])
def test_a_bad_sweep_tensorboard_key_is_refused(tmp_path, bad):
    from dclkit.sweep import load_spec

    with pytest.raises(dclkit.DCLValueError, match="tensorboard"):
        load_spec({"base": {}, "runs": [{"method": "dcl"}], "data": {"path": "x.npz"}, "tensorboard": bad})
