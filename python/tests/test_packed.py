"""Data sets larger than memory: ``pack`` converts a folder or a tar into a memory-mapped array
equal to what ``image_folder`` reads, with bounded memory, resumably after a hard kill and never
showing a half-written file under its name; training reads the memmap without copying it; STL-10's
binary files convert to NHWC from their column-major channel planes; broken files are clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dclkit
from dclkit.packed import labels_path, open_packed
from mpi_support import mpi  # noqa: F401  (the fixture)

Image = pytest.importorskip("PIL.Image")

PYTHONPATH = str(Path(dclkit.__file__).resolve().parents[1])


def make_folder(root: Path, classes: int, per_class: int, side: int = 12, flat: bool = False, seed: int = 0) -> Path:
    """Generated PNGs of varied sizes: ``root/<class>/<i>.png`` (or ``root/<i>.png`` with ``flat``)."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root if flat else root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (side + i % 3, side + (i + c) % 4, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{c}-{i:04d}.png")
    return root


def run_child(code: str, timeout: float = 120) -> str:
    done = subprocess.run(check=False, args=[sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": PYTHONPATH})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pack_equals_image_folder_and_reads_memory_mapped(tmp_path):
    source = make_folder(tmp_path / "src", classes=3, per_class=11)
    out = dclkit.pack(source, tmp_path / "data.npy", size=16, chunk=5, progress=False)
    images, labels = open_packed(out)
    expected = dclkit.datasets.image_folder(source, size=16)
    assert isinstance(images, np.memmap) and not images.flags.writeable
    np.testing.assert_array_equal(images, expected.x_train)
    np.testing.assert_array_equal(labels, expected.y_train)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.labels.npy", "data.npy", "src"]  # no partial left
    loaded = dclkit.datasets.load_packed(out)
    assert isinstance(loaded.x_train, np.memmap) and loaded.x_test.shape == (0, 16, 16, 3)


def test_pack_of_a_tar_and_of_a_flat_folder(tmp_path):
    source = make_folder(tmp_path / "src", classes=2, per_class=6)
    with tarfile.open(tmp_path / "src.tar", "w") as archive:
        archive.add(source, arcname="src")
    dclkit.pack(source, tmp_path / "a.npy", size=8, progress=False)
    dclkit.pack(tmp_path / "src.tar", tmp_path / "b.npy", size=8, progress=False)
    for a, b in zip(open_packed(tmp_path / "a.npy"), open_packed(tmp_path / "b.npy")):
        np.testing.assert_array_equal(a, b)
    flat = make_folder(tmp_path / "flat", classes=1, per_class=5, flat=True)
    images, labels = open_packed(dclkit.pack(flat, tmp_path / "flat.npy", size=8, progress=False))
    assert images.shape == (5, 8, 8, 3) and (labels == -1).all()


def test_cli_pack_then_train_and_embed_from_the_memmap(tmp_path):
    source = make_folder(tmp_path / "src", classes=2, per_class=40)
    done = subprocess.run(check=False, args=[sys.executable, "-m", "dclkit", "pack", str(source), "--size", "16", "--out",
                           str(tmp_path / "d.npy"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert labels_path(tmp_path / "d.npy").is_file()
    dclkit.pack(source, tmp_path / "t.npy", size=16, progress=False)
    data = f"{tmp_path / 'd.npy'}:{tmp_path / 't.npy'}"
    done = subprocess.run(check=False, args=[sys.executable, "-m", "dclkit", "train", "--data", data, "--out", str(tmp_path / "run"),
                           "--width", "0.0625", "--batch-size", "32", "--epochs", "1", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(check=False, args=[sys.executable, "-m", "dclkit", "embed", "--checkpoint",
                           str(tmp_path / "run" / "checkpoint.safetensors"), "--data", str(tmp_path / "d.npy"),
                           "--out", str(tmp_path / "f.npy")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "f.npy").shape[0] == 80


KILL_AFTER = """
import os, signal, sys
import dclkit
from dclkit import _files

calls = 0
original = _files.PartialFile.{method}

def {method}(self, *args):
    global calls
    calls += 1
    if calls == {after}:
        {before}
        os.kill(os.getpid(), signal.SIGKILL)  # a hard kill: no cleanup code runs
    return original(self, *args)

_files.PartialFile.{method} = {method}
dclkit.pack(sys.argv[1], sys.argv[2], size=16, chunk=7, progress=False)
"""


@pytest.mark.parametrize("method, after, before", [
    ("commit", 4, "pass"),                                  # between two chunks
    ("write", 3, "original(self, args[0], bytes(len(args[1]) // 2))"),  # mid-chunk, half of it written
])
def test_a_killed_pack_resumes_and_equals_an_uninterrupted_one(tmp_path, method, after, before):
    source = make_folder(tmp_path / "src", classes=3, per_class=20)
    target = tmp_path / "data.npy"
    code = KILL_AFTER.format(method=method, after=after, before=before)
    done = subprocess.run(check=False, args=[sys.executable, "-c", code, str(source), str(target)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": PYTHONPATH})
    assert done.returncode == -9, done.stderr
    assert not target.exists()  # nothing half-written under the final name
    partial = tmp_path / ".data.npy.partial"
    assert partial.is_file() and (tmp_path / ".data.npy.partial.json").is_file()
    resumed = []
    original = dclkit._files.PartialFile.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        resumed.append(self.done)

    dclkit._files.PartialFile.__init__ = spy
    try:
        dclkit.pack(source, target, size=16, chunk=7, progress=False)
    finally:
        dclkit._files.PartialFile.__init__ = original
    assert resumed == [7 * (after - 1 if method == "commit" else after - 2)]  # the header is write 1
    dclkit.pack(source, tmp_path / "whole.npy", size=16, progress=False)
    assert target.read_bytes() == (tmp_path / "whole.npy").read_bytes()
    assert labels_path(target).read_bytes() == labels_path(tmp_path / "whole.npy").read_bytes()
    assert not partial.exists() and not (tmp_path / ".data.npy.partial.json").exists()


def test_a_changed_source_starts_anew(tmp_path):
    source = make_folder(tmp_path / "src", classes=2, per_class=10)
    target = tmp_path / "d.npy"
    code = KILL_AFTER.format(method="commit", after=2, before="pass")
    subprocess.run(check=False, args=[sys.executable, "-c", code, str(source), str(target)], capture_output=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": PYTHONPATH})
    make_folder(tmp_path / "src", classes=2, per_class=10, seed=1)  # every file rewritten
    dclkit.pack(source, target, size=16, chunk=7, progress=False)
    np.testing.assert_array_equal(open_packed(target)[0], dclkit.datasets.image_folder(source, size=16).x_train)


RSS = """
import json, sys, threading, time
import numpy as np
import dclkit
from PIL import Image  # imported before the baseline: its own size is not the pack's

def status_kib(field):
    with open("/proc/self/status") as status:
        for row in status:
            if row.startswith(field + ":"):
                return int(row.split()[1])

peak = [0]
def watch():
    while True:
        peak[0] = max(peak[0], status_kib("RssAnon"))
        time.sleep(0.005)

{setup}
threading.Thread(target=watch, daemon=True).start()
time.sleep(0.05)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # resets the peak resident set (VmHWM) to the current one
start_rss, start_anon = status_kib("VmRSS"), status_kib("RssAnon")
{body}
time.sleep(0.05)
print(json.dumps({{"rss_growth": status_kib("VmHWM") - start_rss, "anon_growth": peak[0] - start_anon}}))
"""


def test_pack_memory_stays_below_the_packed_size(tmp_path):
    # 300 small PNGs resized to 256 x 256: 59 MB packed, written in chunks of 16 (3 MB). The peak
    # resident set (VmHWM, reset before the pack) grows by the chunk, the decoder and the listing.
    source = make_folder(tmp_path / "src", classes=3, per_class=100)
    body = f"dclkit.pack({str(source)!r}, {str(tmp_path / 'd.npy')!r}, size=256, chunk=16, progress=False)"
    grown = json.loads(run_child(RSS.format(setup="", body=body)).strip().splitlines()[-1])
    packed = 300 * 256 * 256 * 3 // 1024
    assert (tmp_path / "d.npy").stat().st_size // 1024 >= packed
    assert grown["rss_growth"] < packed // 2, (grown, packed)


def test_training_from_a_memmap_copies_nothing(tmp_path):
    # 12,000 images of 64 x 64 (147 MB) trained at 16 x 16 for one epoch: the pages the trainer
    # touches are the file's page cache (they count in VmHWM, but the kernel reclaims them under
    # pressure); the process's own anonymous memory must not grow by anything near the data
    # (np.load without mmap_mode, or any copy of the array, would grow it by 147 MB).
    count, side = 12_000, 64
    rng = np.random.default_rng(0)
    array = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint8, shape=(count, side, side, 3))
    for start in range(0, count, 1000):
        array[start:start + 1000] = rng.integers(0, 256, (1000, side, side, 3), dtype=np.uint8)
    array.flush()
    del array
    size_kib = count * side * side * 3 // 1024
    # A twin trainer first takes an epoch of 64 images in memory (and stays), so that OpenBLAS's
    # buffers and threads are in place before the baseline: what grows after it is the run's
    # own workspace (about 14 MB here, measured with 128 images in memory) and whatever the data
    # costs (about 6 MB more from the memmap).
    setup = """
import warnings
warnings.simplefilter("ignore")
dclkit.set_num_threads(2)
config = dclkit.TrainConfig(method="dcl", width=0.0625, image_size=16, batch_size=64, epochs=1, warmup_epochs=0)
twin = dclkit.Trainer(config)
twin.fit(np.random.default_rng(0).integers(0, 256, (64, 64, 64, 3), dtype=np.uint8), progress=False)
trainer = dclkit.Trainer(config)
"""
    body = f"""
x, _, _, _ = dclkit.datasets.load_packed({str(tmp_path / 'big.npy')!r})
assert isinstance(x, np.memmap)
trainer.fit(x, progress=False)
assert trainer.epoch == 1
feats = trainer.embed(x[:2000])
"""
    grown = json.loads(run_child(RSS.format(setup=setup, body=body), timeout=300).strip().splitlines()[-1])
    assert grown["anon_growth"] < size_kib // 3, (grown, size_kib)


# ---- STL-10 ----------------------------------------------------------------------------------------

def write_stl10(folder: Path, unlabeled: int = 50, train: int = 20, test: int = 10) -> dict[str, np.ndarray]:
    """Fake STL-10 binary files from NHWC images, written as the format describes: per image the
    red, green and blue planes, each column by column (element [c, x, y] at c·96² + x·96 + y)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    made = {}
    for split, count in (("unlabeled", unlabeled), ("train", train), ("test", test)):
        images = rng.integers(0, 256, (count, 96, 96, 3), dtype=np.uint8)
        planes = np.empty((count, 3, 96, 96), np.uint8)
        for c in range(3):
            for column in range(96):
                planes[:, c, column, :] = images[:, :, column, c]  # [row] runs fastest within a column
        (folder / f"{split}_X.bin").write_bytes(planes.tobytes())
        made[f"{split}_x"] = images
        if split != "unlabeled":
            labels = rng.integers(1, 11, count, dtype=np.uint8)
            (folder / f"{split}_y.bin").write_bytes(labels.tobytes())
            made[f"{split}_y"] = labels.astype(np.int64) - 1
    return made


def test_stl10_reads_the_binary_format_as_nhwc(tmp_path):
    made = write_stl10(tmp_path / "stl10_binary")
    data = dclkit.datasets.stl10(tmp_path)
    np.testing.assert_array_equal(data.x_train, made["train_x"])
    np.testing.assert_array_equal(data.y_train, made["train_y"])
    np.testing.assert_array_equal(data.x_test, made["test_x"])
    np.testing.assert_array_equal(data.y_test, made["test_y"])
    unlabeled = dclkit.datasets.stl10_unlabeled(tmp_path, progress=False)
    assert isinstance(unlabeled, np.memmap)
    np.testing.assert_array_equal(unlabeled, made["unlabeled_x"])
    cache = tmp_path / "stl10_binary" / "unlabeled_X.nhwc.npy"
    stamp = cache.stat().st_mtime_ns
    np.testing.assert_array_equal(dclkit.datasets.stl10_unlabeled(tmp_path / "stl10_binary", progress=False),
                                  made["unlabeled_x"])
    assert cache.stat().st_mtime_ns == stamp  # converted once


def test_stl10_known_pixel_layout(tmp_path):
    # One image whose red plane counts 0, 1, 2, ... in file order: file order is column-major, so
    # pixel (row r, column c) holds (c·96 + r) mod 256.
    folder = tmp_path / "stl"
    folder.mkdir()
    plane = (np.arange(96 * 96) % 256).astype(np.uint8)
    (folder / "unlabeled_X.bin").write_bytes(np.concatenate([plane, np.zeros(2 * 96 * 96, np.uint8)]).tobytes())
    image = dclkit.datasets.stl10_unlabeled(folder, progress=False)[0]
    rows, cols = np.meshgrid(np.arange(96), np.arange(96), indexing="ij")
    np.testing.assert_array_equal(image[:, :, 0], (cols * 96 + rows) % 256)
    assert not image[:, :, 1:].any()


def test_cli_stl10_pretrains_on_the_unlabeled_split(tmp_path):
    write_stl10(tmp_path / "stl10_binary", unlabeled=64, train=20, test=10)
    done = subprocess.run(check=False, args=[sys.executable, "-m", "dclkit", "train", "--data", f"stl10:{tmp_path}", "--out",
                           str(tmp_path / "run"), "--width", "0.0625", "--batch-size", "32", "--epochs", "1",
                           "--image-size", "16", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["images_per_s"] > 0 and "knn_top1" in history[0]
    assert (tmp_path / "stl10_binary" / "unlabeled_X.nhwc.npy").is_file()


@pytest.mark.usefixtures("mpi")
def test_cli_stl10_under_mpirun_converts_once_on_rank_zero(tmp_path):
    from mpi_support import mpirun_command

    write_stl10(tmp_path / "stl10_binary", unlabeled=64, train=20, test=10)
    command, env = mpirun_command(2, [sys.executable, "-m", "dclkit", "train", "--data", f"stl10:{tmp_path}",
                                      "--out", str(tmp_path / "run"), "--width", "0.0625", "--batch-size", "32",
                                      "--epochs", "1", "--image-size", "16", "--threads", "1", "--quiet"])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "history.json").is_file()
    assert sorted(p.name for p in (tmp_path / "stl10_binary").iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("broken, match", [
    ("unlabeled_X.bin", "not a positive multiple of 27648"),
    ("train_X.bin", "not a positive multiple of 27648"),
    ("train_y.bin", "holds 21 labels for the 20 images"),
])
def test_a_corrupt_stl10_file_is_a_format_error(tmp_path, broken, match):
    write_stl10(tmp_path / "stl10_binary", unlabeled=3, train=20, test=10)
    with open(tmp_path / "stl10_binary" / broken, "ab") as file:
        file.write(b"\x01")
    with pytest.raises(dclkit.DCLFormatError, match=match):
        if broken.startswith("unlabeled"):
            dclkit.datasets.stl10_unlabeled(tmp_path, progress=False)
        else:
            dclkit.datasets.stl10(tmp_path)


def test_stl10_labels_outside_1_to_10_are_a_format_error(tmp_path):
    write_stl10(tmp_path / "s", unlabeled=1, train=20, test=10)
    (tmp_path / "s" / "test_y.bin").write_bytes(bytes([0] * 10))
    with pytest.raises(dclkit.DCLFormatError, match="1..10"):
        dclkit.datasets.stl10(tmp_path / "s")


def test_broken_packed_files_are_clear_errors(tmp_path):
    np.save(tmp_path / "floats.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(dclkit.DCLFormatError, match="uint8 images"):
        open_packed(tmp_path / "floats.npy")
    np.save(tmp_path / "short.npy", np.zeros((20, 4, 4, 3), np.uint8))
    data = (tmp_path / "short.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(data[:-100])
    with pytest.raises(dclkit.DCLFormatError):
        open_packed(tmp_path / "short.npy")
    np.save(tmp_path / "ok.npy", np.zeros((3, 4, 4, 3), np.uint8))
    np.save(tmp_path / "ok.labels.npy", np.zeros(4, np.int64))
    with pytest.raises(dclkit.DCLFormatError, match="labels"):
        open_packed(tmp_path / "ok.npy")
    with pytest.raises(dclkit.DCLFileNotFoundError):
        open_packed(tmp_path / "none.npy")
    with pytest.raises(dclkit.DCLValueError, match=".npy"):
        dclkit.pack(tmp_path, tmp_path / "out.bin", size=8)


def test_sweep_reads_a_packed_pool(tmp_path):
    source = make_folder(tmp_path / "src", classes=2, per_class=12, side=8)
    dclkit.pack(source, tmp_path / "pool.npy", size=8, progress=False)
    from dclkit import sweep_data

    spec = sweep_data.DataSpec.from_table({"path": str(tmp_path / "pool.npy"), "eval_per_class": 2})
    loaded = sweep_data.load(spec)
    assert spec.name == "pool" and loaded.x_train.shape == (20, 8, 8, 3) and loaded.x_eval.shape == (4, 8, 8, 3)
    pool = dclkit.datasets.image_folder(source, size=8)
    np.testing.assert_array_equal(np.sort(loaded.y_eval), [0, 0, 1, 1])
    assert any((pool.x_train == loaded.x_eval[0]).all(axis=(1, 2, 3)))


def test_partial_file_refuses_a_planted_symlink_a_second_writer_and_a_foreign_marker(tmp_path):
    from dclkit._files import PartialFile

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / ".x.npy.partial").symlink_to(victim)
    with pytest.raises(dclkit.DCLIOError, match="symbolic link"):
        PartialFile(tmp_path / "x.npy", 10, {})
    assert victim.read_bytes() == b"keep"
    (tmp_path / ".x.npy.partial").unlink()
    first = PartialFile(tmp_path / "x.npy", 10, {"source": "a"})
    with pytest.raises(dclkit.DCLStateError, match="another process"):
        PartialFile(tmp_path / "x.npy", 10, {"source": "a"})
    first.write(0, b"abcde")
    first.commit(5)
    first.close()
    with PartialFile(tmp_path / "x.npy", 10, {"source": "a"}) as again:
        assert again.done == 5
    with PartialFile(tmp_path / "x.npy", 10, {"source": "b"}) as other:  # another source: from the start
        assert other.done == 0
        other.write(0, b"0123456789")
        with pytest.raises(dclkit.DCLIOError, match="beyond"):
            other.write(5, b"too long!")
        other.finish()
    assert (tmp_path / "x.npy").read_bytes() == b"0123456789"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim", "x.npy"]
