"""The defect families of issue 12, one test each: the example that crashed, hung, clobbered a
file or escaped as a foreign exception now gives a DCLError (or the right result). Cases that
crashed the interpreter before run in the fuzz worker process."""
from __future__ import annotations

import ctypes
import io
import os
import signal
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

import dclkit
from dclkit import encoder as encoder_module
from dclkit._native import call
from fuzz_support import Worker, check


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout=60)
    yield w
    w.close()


def small_encoder(**arguments) -> dclkit.Encoder:
    return dclkit.Encoder(width=0.0625, head="simclr", head_dims=(8, 4), **arguments)


# ---- Family 2: traps from arguments --------------------------------------------------------

def test_a_crop_ratio_the_image_cannot_hold_gives_views(worker):
    images = np.zeros((1, 8, 8, 3), np.uint8)
    assert check(worker.run("augment", "simclr", {"size": 8, "ratio": (20, 20)}, images, 0, 0)) == "ok"
    assert check(worker.run("augment", "simclr", {"size": 8, "ratio": (1e-300, 1e300)}, images, 0, 0)) == "ok"


def test_ints_beyond_their_c_type_are_refused_not_wrapped():
    handle = ctypes.c_void_p()
    with pytest.raises(dclkit.DCLValueError, match="outside the range"):
        call(encoder_module._create, b"resnet18", b"cifar", 1.0, None, 2**64 + 8, 128, 0, 0, ctypes.byref(handle))
    with pytest.raises(dclkit.DCLValueError, match="outside the range"):
        call(encoder_module._create, b"resnet18", b"cifar", 1.0, None, 0, 128, 0, -1, ctypes.byref(handle))
    with pytest.raises(dclkit.DCLValueError):
        dclkit.Encoder(seed=2**64)
    with pytest.raises(dclkit.DCLValueError):
        dclkit.augment.SimCLR(size=8)(np.zeros((1, 8, 8, 3), np.uint8), seed=2**64)


# ---- Family 4: out of memory ----------------------------------------------------------------

def test_a_model_the_machine_cannot_hold_is_a_memory_error():
    with pytest.raises(dclkit.DCLMemoryError) as caught:
        dclkit.Encoder("resnet50", width=16, head="simclr", head_dims=(65536, 128))
    assert isinstance(caught.value, MemoryError)


def test_a_run_whose_model_the_machine_cannot_hold_is_a_memory_error():
    config = dclkit.TrainConfig(arch="resnet50", width=16, head_dims=(65536, 128), batch_size=2, image_size=8)
    with pytest.raises(dclkit.DCLMemoryError):
        dclkit.Trainer(config)


def test_batches_beyond_an_address_space_limit_are_memory_errors_and_the_objects_stay_usable(run_isolated):
    """Under RLIMIT_AS, forwards, training steps, embeddings and a run whose batches need more
    than the limit raise DCLMemoryError before any layer allocates (no trap, no hang in a
    growing buffer or in OpenBLAS), batches growing towards the limit either run or raise it,
    and the objects give the results they gave before afterwards."""
    code, out, err = run_isolated(
        """
        import resource
        import numpy as np
        import dclkit

        def address_space():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[0]) * resource.getpagesize()

        rng = np.random.default_rng(0)
        enc = dclkit.Encoder(width=0.125, head="simclr", head_dims=(32, 8))
        small = rng.random((4, 16, 16, 3), dtype=np.float32)
        enc.forward(small, training=True)
        reference = enc.forward(small, training=False)[0]
        config = dict(method="dcl", width=0.125, head_dims=(32, 8), batch_size=4, image_size=16, epochs=1)
        tr = dclkit.Trainer(dclkit.TrainConfig(**config))
        tr.train_step(small, small[::-1].copy())
        pictures = (rng.random((8, 16, 16, 3)) * 255).astype(np.uint8)
        embedded = tr.embed(pictures)
        big = rng.random((2048, 16, 16, 3), dtype=np.float32)
        big_pictures = (rng.random((8192, 16, 16, 3)) * 255).astype(np.uint8)
        resource.setrlimit(resource.RLIMIT_AS, (address_space() + (300 << 20), resource.RLIM_INFINITY))

        refused = []
        for name, attempt in [
            ("forward", lambda: enc.forward(big, training=False)),
            ("train_step", lambda: tr.train_step(big, big)),
            ("embed", lambda: tr.embed(big_pictures, batch_size=8192)),
            ("trainer", lambda: dclkit.Trainer(dclkit.TrainConfig(**{**config, "batch_size": 4096}))),
        ]:
            try:
                attempt()
            except dclkit.DCLMemoryError as error:
                assert isinstance(error, MemoryError)
                refused.append(name)
        np.testing.assert_array_equal(enc.forward(small, training=False)[0], reference)
        np.testing.assert_array_equal(tr.embed(pictures), embedded)
        assert np.isfinite(tr.train_step(small, small[::-1].copy()))
        ran = []
        for n in (8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048):
            try:
                h, z = enc.forward(big[:n], training=True)
                enc.backward(grad_z=np.ones_like(z))
                ran.append(n)
            except dclkit.DCLMemoryError:
                break
        assert np.isfinite(enc.forward(small, training=False)[0]).all()
        assert np.isfinite(tr.embed(pictures)).all()
        print("refused", refused, "ran", ran)
        """
    )
    assert code == 0, err
    refused, ran = out.split(" ran ")
    assert refused == "refused ['forward', 'train_step', 'embed', 'trainer']"
    assert 16 in eval(ran) and 2048 not in eval(ran), ran


def test_losses_evaluation_and_augmentation_beyond_an_address_space_limit_are_memory_errors(run_isolated):
    """The same for the functions whose buffers grow inside the core: the pair loss's 2N × 2N
    similarities, the linear probe's logits and L-BFGS pairs, the views of a pipeline, a resize's
    and a blur's scratch. Each raises DCLMemoryError, and small calls still work afterwards."""
    code, out, err = run_isolated(
        """
        import resource
        import numpy as np
        import dclkit
        from dclkit import augment, evaluate, losses
        from dclkit.augment import functional as F

        rng = np.random.default_rng(0)
        z = rng.random((16384, 64), dtype=np.float32)
        features = rng.random((50000, 256), dtype=np.float32)
        labels = np.arange(50000) % 5000
        image = (rng.random((1, 4000, 4000, 3)) * 255).astype(np.uint8)
        tiny = (rng.random((2, 8, 8, 3)) * 255).astype(np.uint8)
        huge_views, small_views = augment.SimCLR(size=4096), augment.SimCLR(size=8)
        expected_loss = losses.dcl(z[:8], z[8:16])[0]
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (600 << 20), resource.RLIM_INFINITY))
        refused = []
        for name, attempt in [
            ("dcl", lambda: losses.dcl(z, z)),
            ("linear_probe", lambda: evaluate.linear_probe(features, labels, features[:10], labels[:10])),
            ("views", lambda: huge_views(tiny)),
            ("resized_crop", lambda: F.resized_crop(image, 0, 0, 4000, 4000, 4096)),
            ("gaussian_blur", lambda: F.gaussian_blur(image, 4001, 50.0)),
        ]:
            try:
                attempt()
            except dclkit.DCLMemoryError:
                refused.append(name)
        assert losses.dcl(z[:8], z[8:16])[0] == expected_loss
        assert small_views(tiny)[0].shape == (2, 8, 8, 3)
        assert F.gaussian_blur(tiny, 3, 1.0).shape == tiny.shape
        print(refused)
        """
    )
    assert code == 0, err
    assert out.strip() == "['dcl', 'linear_probe', 'views', 'resized_crop', 'gaussian_blur']"


def test_containers_that_hold_themselves_are_refused_not_a_recursion_error():
    loop: list = []
    loop.append(loop)
    cycle: dict = {}
    cycle["pipeline"] = cycle
    for attempt in (lambda: dclkit.augment.SimCLR(scale=loop), lambda: dclkit.TrainConfig(augment={"scale": loop}),
                    lambda: dclkit.TrainConfig(augment=cycle), lambda: dclkit.TrainConfig(head_dims=loop)):
        with pytest.raises(dclkit.DCLValueError, match="nested too deeply"):
            attempt()


# ---- Families 5, 6, 7: files and paths ---------------------------------------------------------

def test_load_of_a_fifo_does_not_hang(worker, tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    answer = worker.run("load_encoder", str(fifo))
    assert answer[0] == "dcl" and "not a regular file" in answer[1]


def test_save_does_not_follow_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "model.safetensors"
    os.symlink(victim, f"{target}.tmp-{os.getpid()}")
    small_encoder().save(target)
    assert victim.read_text() == "keep me"
    dclkit.Encoder.load(target)


def test_two_encoders_saving_to_one_path_never_tear_it(tmp_path):
    target = tmp_path / "shared.safetensors"
    encoders = [small_encoder(seed=s) for s in (1, 2)]
    weights = [e.state_dict()["conv1.weight"] for e in encoders]
    errors: list = []

    def save_and_load(e: dclkit.Encoder) -> None:
        try:
            for _ in range(15):
                e.save(target)
                loaded = dclkit.Encoder.load(target).state_dict()["conv1.weight"]
                assert any(np.array_equal(loaded, w) for w in weights)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=save_and_load, args=(e,)) for e in encoders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [p.name for p in tmp_path.iterdir()] == ["shared.safetensors"]


def test_a_killed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    small_encoder().save(target)
    before = target.read_bytes()
    script = (f"import dclkit\ne = dclkit.Encoder(width=1.0)\nprint('ready', flush=True)\n"
              f"while True:\n    e.save({str(target)!r})\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ)
    assert process.stdout.readline().strip() == b"ready"
    threading.Event().wait(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model.safetensors"], names
    assert target.read_bytes() == before or dclkit.Encoder.load(target).arch == "resnet18"


def test_nul_bytes_in_paths_and_names_are_refused(tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("keep me")
    encoder = small_encoder()
    with pytest.raises(dclkit.DCLValueError, match="NUL"):
        encoder.save(f"{keep}\0x")
    assert keep.read_text() == "keep me"
    state = encoder.state_dict()
    state["conv1.weight\0junk"] = state.pop("conv1.weight")
    with pytest.raises(dclkit.DCLValueError, match="NUL"):
        encoder.load_state_dict(state)
    with pytest.raises(dclkit.DCLValueError, match="NUL"):
        dclkit.Encoder("resnet18\0x")


def test_paths_that_are_not_utf8_save_and_load_by_their_real_name(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.safetensors"
    encoder = small_encoder(seed=4)
    encoder.save(raw)
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9.safetensors"]
    np.testing.assert_array_equal(dclkit.Encoder.load(os.fsdecode(raw)).state_dict()["conv1.weight"],
                                  encoder.state_dict()["conv1.weight"])


# ---- Family 8: values from files ----------------------------------------------------------------

@pytest.mark.parametrize("name, value", [("conv1.weight", np.nan), ("bn1.bias", np.inf), ("bn1.running_var", -1.0),
                                         ("bn1.num_batches_tracked", np.nan)])
def test_files_with_values_no_model_has_are_refused(tmp_path, name, value):
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "model.safetensors"
    small_encoder().save(path)
    tensors = load_file(str(path))
    tensors[name] = np.full_like(tensors[name], value)
    with open(path, "rb") as f:
        import json
        import struct

        (length,) = struct.unpack("<Q", f.read(8))
        metadata = json.loads(f.read(length))["__metadata__"]
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(dclkit.DCLFormatError):
        dclkit.Encoder.load(path)
    state = small_encoder().state_dict()
    state[name] = np.full(np.shape(state[name]), value)
    with pytest.raises(dclkit.DCLValueError):
        small_encoder().load_state_dict(state)


# ---- Families 9, 10: foreign exceptions and silent results --------------------------------------

@pytest.mark.parametrize("temperature", [1e-300, 1e300, 1e-30])
def test_temperatures_that_overflow_are_errors_not_nan(temperature):
    z = np.random.default_rng(0).normal(size=(4, 8))
    for loss in (dclkit.losses.ntxent, dclkit.losses.dcl, dclkit.losses.dclw):
        try:
            value, g0, g1 = loss(z, z[::-1].copy(), temperature)
        except dclkit.DCLValueError as error:
            assert "temperature" in str(error)
        else:
            assert np.isfinite(value) and np.isfinite(g0).all() and np.isfinite(g1).all()


@pytest.mark.parametrize("array", [np.arange(8, dtype="m8[s]").reshape(2, 4), np.full((2, 4), np.datetime64("2020-01-01")),
                                   np.ones((2, 4), complex), np.ones((2, 4), object), np.array([["a"] * 4] * 2)])
def test_arrays_that_are_not_real_numbers_are_type_errors(array):
    with pytest.raises(dclkit.DCLTypeError):
        dclkit.losses.dcl(array, array, 0.1)
    with pytest.raises(dclkit.DCLTypeError):
        dclkit.evaluate.knn(np.ones((2, 4)), array[0][:2], np.ones((2, 4)), [0, 1])


def test_scalars_where_arrays_are_expected_are_value_errors():
    for bad in (np.uint8(5), np.array(3.0), 5):
        with pytest.raises(dclkit.DCLValueError):
            small_encoder().forward(bad)
        with pytest.raises(dclkit.DCLValueError):
            dclkit.augment.SimCLR(size=8)(np.asarray(bad).astype(np.uint8))
        with pytest.raises(dclkit.DCLValueError):
            dclkit.datasets.from_arrays(bad, [0])


def test_one_image_checker_gives_the_same_error_everywhere():
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", width=0.0625, batch_size=4, epochs=1, image_size=8))
    floats = np.random.default_rng(0).random((4, 8, 8, 3))
    ambiguous = np.zeros((8, 8, 3), np.uint8)
    for run in (lambda x: dclkit.augment.SimCLR(size=8)(x), trainer.embed):
        with pytest.raises(dclkit.DCLTypeError, match="uint8"):
            run(floats)
        with pytest.raises(dclkit.DCLValueError, match="looks like one RGB image"):
            run(ambiguous)
    with pytest.raises(dclkit.DCLValueError, match="looks like one RGB image"):
        dclkit.datasets.from_arrays(ambiguous, [0] * 8)
    assert dclkit.datasets.from_arrays(floats, [0] * 4)[0].dtype == np.uint8  # datasets convert floats


def test_broken_npz_archives_are_format_errors(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x_train=np.zeros((4, 8, 8, 3), np.uint8), y_train=np.zeros(4, int),
             x_test=np.zeros((2, 8, 8, 3), np.uint8), y_test=np.zeros(2, int))
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(dclkit.DCLFormatError):
        dclkit.datasets.load_npz(path)
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        with zipfile.ZipFile(io.BytesIO(whole)) as source:
            for name in source.namelist():
                member = source.read(name)
                archive.writestr(name, member.replace(b"(4, 8, 8, 3)", b"(1000000000000, 8, 8, 3)"))
    with pytest.raises(dclkit.DCLFormatError, match="declares"):
        dclkit.datasets.load_npz(tmp_path / "huge.npz")


def test_a_decompression_bomb_image_is_a_format_error(tmp_path):
    from test_fuzz_files import png_with_size

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bomb.png").write_bytes(png_with_size(100_000, 100_000))
    with pytest.raises(dclkit.DCLFormatError, match="MAX_IMAGE_PIXELS"):
        dclkit.datasets.image_folder(tmp_path, size=8)


def test_cli_out_pointing_at_a_file_is_one_error_line(tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    done = subprocess.run([sys.executable, "-m", "dclkit", "train", "--data", "builtin:digits", "--out", str(out)],
                          capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "is a file" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
