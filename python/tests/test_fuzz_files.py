"""Property tests over crafted files: encoder files and trainer checkpoints (truncations, bit
flips, huge shapes, overflowing offsets, NaN payloads, tampered configuration metadata),
``.npz`` archives and images. Every load answers with a ``DCLError`` or a correct result, never
a signal, a hang or a foreign exception; each case runs in the worker process.
"""
from __future__ import annotations

import os
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dclkit
from fuzz_support import Worker, check, fuzz_settings, module_worker

# DCLKIT_FUZZ_SCALE multiplies every example count (and, when set, draws fresh examples).
SCALE = float(os.environ.get("DCLKIT_FUZZ_SCALE", "1"))
FUZZ = fuzz_settings(120, HealthCheck.function_scoped_fixture)
worker = pytest.fixture(scope="module")(module_worker)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The bytes of a valid encoder file and of a valid trainer checkpoint."""
    folder = tmp_path_factory.mktemp("originals")
    dclkit.Encoder(width=0.0625, head="simclr", head_dims=(8, 4)).save(folder / "encoder.safetensors")
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", width=0.0625, batch_size=4, epochs=1, image_size=8))
    trainer.save(folder / "trainer.safetensors")
    return {name: (folder / f"{name}.safetensors").read_bytes() for name in ("encoder", "trainer")}


def split(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def join(header: dict, payload: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


hostile_numbers = st.sampled_from([-1, 2**53, 2**63, 2**64, 2**64 + 8, 10**12, 1.5, 1e300, "7", None, [1]])


def mutate(data: bytes, draw, tensors_only: bool) -> bytes:
    """One hostile change of a safetensors file, drawn by Hypothesis."""
    header, payload = split(data)
    names = sorted(name for name in header if name != "__metadata__")
    how = draw(st.sampled_from(["truncate", "flip", "shape", "offsets", "dtype", "nan", "length", "metadata", "drop"]))
    if how == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if how == "flip":
        end = len(data) if not tensors_only else len(data)
        start = 8 + len(json.dumps(header)) if tensors_only else 0
        position = draw(st.integers(min(start, end - 1), end - 1))
        return data[:position] + bytes([data[position] ^ (1 << draw(st.integers(0, 7)))]) + data[position + 1:]
    if how == "length":
        return struct.pack("<Q", draw(st.sampled_from([0, 7, 2**40, 2**64 - 1, len(data)]))) + data[8:]
    name = draw(st.sampled_from(names))
    entry = header[name]
    if how == "shape":
        entry["shape"] = draw(st.one_of(st.lists(hostile_numbers, max_size=3),
                                        st.sampled_from([[2**32, 2**32], [2**62, 4], [3 * 10**9, 10**9], [2**61], [0], [], [10**9] * 2])))
    elif how == "offsets":
        entry["data_offsets"] = [draw(hostile_numbers), draw(hostile_numbers)]
    elif how == "dtype":
        entry["dtype"] = draw(st.sampled_from(["F64", "F16", "BF16", "I64", "U8", "BOOL", 7]))
    elif how == "nan":
        begin, end = entry["data_offsets"]
        if end > begin:
            bits = draw(st.sampled_from([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff", b"\x00\x00\x80\xbf"]))
            at = begin + 4 * draw(st.integers(0, (end - begin) // 4 - 1))
            payload = payload[:at] + bits + payload[at + 4:]
    elif how == "metadata" and not tensors_only:
        key = draw(st.sampled_from(sorted(header["__metadata__"])))
        header["__metadata__"][key] = draw(st.sampled_from(["16", "resnet50", "65536", "-1", "nan", "1e308", "", "none"]))
    elif how == "drop":
        del header[name]
    return join(header, payload)


@FUZZ
@given(data=st.data())
def test_crafted_encoder_files_load_or_fail_cleanly(worker, originals, tmp_path, data):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(mutate(originals["encoder"], data.draw, tensors_only=False))
    check(worker.run("load_encoder", str(path)))


@settings(FUZZ, max_examples=int(60 * SCALE))
@given(data=st.data())
def test_crafted_trainer_checkpoints_resume_or_fail_cleanly(worker, originals, tmp_path, data):
    # The checkpoint's configuration metadata is the trainer's to validate; here the tensors
    # and the file's structure are attacked.
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(mutate(originals["trainer"], data.draw, tensors_only=True))
    check(worker.run("resume", str(path)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The bytes of a checkpoint one epoch and one step into a run (every progress and
    diagnostics number set), and its configuration."""
    config = dclkit.TrainConfig(method="dcl", width=0.0625, head_dims=(16, 8), batch_size=4, epochs=3, image_size=8,
                                warmup_epochs=0)
    trainer = dclkit.Trainer(config)
    rng = np.random.default_rng(0)
    trainer.fit(rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), epochs=1, progress=False)
    trainer.train_step(rng.random((4, 8, 8, 3), dtype=np.float32), rng.random((4, 8, 8, 3), dtype=np.float32))
    path = tmp_path_factory.mktemp("trained") / "trainer.safetensors"
    trainer.save(path)
    return path.read_bytes()


#: Numbers as a checkpoint's metadata writes them, and the ones a hand or a bit flip writes instead.
metadata_numbers = st.one_of(
    st.sampled_from(["0", "1", "2", str(2**40 - 1), str(2**40), str(2**53), str(2**63 - 1), str(2**63), str(2**64), "-1", "-0",
                     "1.5", "1e3", "1e308", "1e309", "inf", "-inf", "nan", "NaN", "Infinity", "0x10", " 1", "1 ", "+1", "", "null"]),
    st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
#: Values of a history entry's field; the RAW ones are written into the JSON text as they are
#: (numbers beyond a double, and the non-finite literals Python's json writes), "3" as a string.
RAW = ("1e999", "-1e999", "NaN", "Infinity")
history_numbers = st.sampled_from([0, 1, 2, -1, 1.5, 2**40, 2**63, 1e308, *RAW, None, "3", [1]])


@st.composite
def tampered_metadata(draw, original: bytes) -> bytes:
    """``original`` with its metadata numbers replaced: the progress counters, the step, the
    diagnostics, numbers inside the history, or fields of the stored configuration."""
    header, payload = split(original)
    metadata = header["__metadata__"]
    where = draw(st.sampled_from(["number", "history", "config"]))
    if where == "number":
        for key in draw(st.lists(st.sampled_from(["step", "epoch", "batch", "steps_per_epoch", "epoch_updates", "epoch_loss_sum",
                                                  "epoch_seconds", "diagnostics_steps"]), min_size=1, max_size=3)):
            metadata[key] = draw(metadata_numbers)
        if draw(st.booleans()):
            sums = metadata["diagnostics_sums"].split(",")
            sums[draw(st.integers(0, len(sums) - 1))] = draw(metadata_numbers)
            metadata["diagnostics_sums"] = ",".join(sums)
    elif where == "history":
        text = metadata["history"]
        key = draw(st.sampled_from(["epoch", "loss", "lr", "seconds", "images_per_s", "npc_mean", "collapse_std"]))
        entry = json.loads(text)[0]
        value = draw(history_numbers)
        entry[key] = value
        rendered = json.dumps([entry])
        if value in RAW:
            rendered = rendered.replace(json.dumps(value), value)
        metadata["history"] = rendered
    else:
        config = json.loads(metadata["config"])
        key = draw(st.sampled_from(["lr", "weight_decay", "momentum", "temperature", "sigma", "width", "epochs", "warmup_epochs",
                                    "batch_size", "image_size", "seed"]))
        config[key] = draw(st.sampled_from([0, -1, 1e-300, 1e300, 1e308, 2**53, 2**63, 16, 1e4, 1.0000001e4, 0.999999, "NaN", None]))
        metadata["config"] = json.dumps(config)
    return join(header, payload)


@settings(FUZZ, max_examples=int(80 * SCALE))
@given(data=st.data())
def test_checkpoints_with_hostile_metadata_values_resume_and_train_or_fail_cleanly(worker, trained, tmp_path, data):
    """Every number of a checkpoint's metadata (progress counters, step, diagnostics, history,
    the stored configuration's fields) replaced by values near and beyond the limits: resuming
    and training an epoch either works, with a history that is finite JSON and a save that
    resumes, or is a DCLError; never a trap on an overflow, a hang or a foreign exception."""
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(data.draw(tampered_metadata(trained)))
    check(worker.run("resume_and_fit", str(path)))


def test_special_files_are_refused_without_hanging(worker, tmp_path):
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    assert check(worker.run("load_encoder", str(fifo))) == "dcl"
    assert check(worker.run("load_encoder", str(tmp_path))) == "dcl"
    assert check(worker.run("load_encoder", "/dev/zero")) == "dcl"


def test_the_harness_sees_signals_and_hangs():
    """The suite's net: a worker killed by a signal or stuck in a call fails the case."""
    quick = Worker(timeout=2)
    try:
        with pytest.raises(AssertionError, match="signal 4"):
            quick.run("selftest", "signal")
        with pytest.raises(AssertionError, match="hung"):
            quick.run("selftest", "hang")
        assert quick.run("selftest", "return") == ("ok", "selftest")
    finally:
        quick.close()


def sparse_checkpoint(path, original: bytes, extra_elements: int) -> None:
    """``original`` with one more F32 tensor of ``extra_elements`` values, written sparse (the file
    is that large, but takes no disk)."""
    header, payload = split(original)
    header["zz.huge"] = {"dtype": "F32", "shape": [extra_elements], "data_offsets": [len(payload), len(payload) + 4 * extra_elements]}
    with open(path, "wb") as file:
        file.write(join(header, payload))
        file.truncate(file.tell() + 4 * extra_elements)


@pytest.mark.parametrize("name, case", [("encoder", "load_encoder"), ("trainer", "resume")])
def test_a_64_gib_file_is_refused_without_reading_it(worker, originals, tmp_path, name, case):
    path = tmp_path / "huge.safetensors"
    sparse_checkpoint(path, originals[name], 2**34)
    assert path.stat().st_size > 64 * 2**30
    assert check(worker.run(case, str(path))) == "dcl"


def npz_bytes(arrays: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@settings(FUZZ, max_examples=int(60 * SCALE))
@given(how=st.sampled_from(["truncate", "flip", "huge", "object", "missing", "npy"]), cut=st.floats(0, 1), bit=st.integers(0, 7))
def test_crafted_npz_archives_load_or_fail_cleanly(worker, tmp_path, how, cut, bit):
    good = {"x_train": np.zeros((4, 8, 8, 3), np.uint8), "y_train": np.arange(4) % 2,
            "x_test": np.zeros((2, 8, 8, 3), np.uint8), "y_test": np.arange(2) % 2}
    path = tmp_path / "data.npz"
    if how in ("truncate", "flip"):
        data = npz_bytes(good)
        at = int(cut * (len(data) - 1))
        data = data[:at] if how == "truncate" else data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:]
    elif how == "huge":
        # A member whose .npy header declares 10^12 images but holds a few bytes.
        data = npz_bytes(good)
        import io
        import zipfile

        source = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for name in source.namelist():
                member = source.read(name)
                if name == "x_train.npy":
                    member = member.replace(b"(4, 8, 8, 3)", b"(1000000000000, 8, 8, 3)")
                target.writestr(name, member)
        data = out.getvalue()
    elif how == "object":
        buffer_arrays = dict(good, x_train=np.array([object()] * 2, dtype=object))
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **buffer_arrays)
        data = buffer.getvalue()
    elif how == "missing":
        data = npz_bytes({"x_train": good["x_train"]})
    else:
        import io

        buffer = io.BytesIO()
        np.save(buffer, good["x_train"])
        data = buffer.getvalue()
    path.write_bytes(data)
    check(worker.run("load_npz", str(path)), how)


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width × height pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(2, 2), (100_000, 100_000), (2**31 - 1, 2**31 - 1), (0, 5)])
def test_image_folders_with_bombs_and_broken_images_fail_cleanly(worker, tmp_path, size):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(png_with_size(*size))
    check(worker.run("image_folder", str(tmp_path)), size)


@settings(FUZZ, max_examples=int(60 * SCALE))
@given(target=st.sampled_from(["images", "labels"]), how=st.sampled_from(["truncate", "flip", "shape", "extend"]),
       cut=st.floats(0, 1), bit=st.integers(0, 7))
def test_crafted_packed_arrays_load_or_fail_cleanly(worker, tmp_path, target, how, cut, bit):
    """A packed DATA.npy or its DATA.labels.npy truncated, bit-flipped, declaring a huge shape or
    grown: open_packed maps it or raises a DCLError (its size checked before anything is read)."""
    import io

    arrays = {"images": np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3), "labels": np.arange(5) % 2}
    files = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        files[name] = buffer.getvalue()
    data = files[target]
    at = int(cut * (len(data) - 1))
    if how == "truncate":
        data = data[:at]
    elif how == "flip":
        data = data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:]
    elif how == "shape":
        old = b"(5, 4, 4, 3)" if target == "images" else b"(5,)"
        data = data.replace(old, b"(1000000000000, 4, 4, 3)" if target == "images" else b"(1000000000000,)")
    else:
        data = data + bytes(at % 97)
    files[target] = data
    (tmp_path / "d.npy").write_bytes(files["images"])
    (tmp_path / "d.labels.npy").write_bytes(files["labels"])
    check(worker.run("open_packed", str(tmp_path / "d.npy")), (target, how))


@settings(FUZZ, max_examples=int(30 * SCALE))
@given(name=st.sampled_from(["unlabeled_X.bin", "train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]),
       size=st.sampled_from([0, 1, 27647, 27649, 2 * 27648, 3 * 27648, 4]), value=st.integers(0, 255))
def test_crafted_stl10_files_load_or_fail_cleanly(worker, tmp_path, name, size, value):
    """STL-10 binary files of any size and any label bytes: NHWC arrays or a DCLError."""
    folder = tmp_path / "stl10_binary"
    folder.mkdir(exist_ok=True)
    for split, count in (("unlabeled", 2), ("train", 3), ("test", 2)):
        (folder / f"{split}_X.bin").write_bytes(bytes(count * 27648))
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes(bytes([1 + i % 10 for i in range(count)]))
    (folder / name).write_bytes(bytes([value]) * size)
    for stale in folder.glob("unlabeled_X.nhwc.npy"):
        stale.unlink()
    check(worker.run("stl10", str(tmp_path)), (name, size, value))
