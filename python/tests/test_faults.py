"""Issue 23, families 1 and 3: construction under an address-space limit, checkpoints whose
stored numbers or configuration were tampered with, and values that were accepted and then
written where they could not be read back. Each example that trapped or wrote an unreadable
file now gives a DCLError (or the right result); the ones that trapped run in a child process."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import dclkit
from fuzz_support import module_worker

worker = pytest.fixture(scope="module")(module_worker)

TINY = dict(width=0.0625, head_dims=(16, 8), batch_size=4, image_size=8, epochs=2, warmup_epochs=0)


def images(count: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)


def read_header(path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def rewrite_metadata(source, target, **changes: str) -> None:
    """``source`` copied to ``target`` with metadata entries replaced (the tensors unchanged)."""
    header, payload = read_header(source)
    header["__metadata__"].update(changes)
    text = json.dumps(header).encode()
    target.write_bytes(struct.pack("<Q", len(text)) + text + payload)


@pytest.fixture
def checkpoint(tmp_path):
    """A DCL run saved after one epoch of two steps."""
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", **TINY))
    trainer.fit(images(), epochs=1, progress=False)
    path = tmp_path / "run.safetensors"
    trainer.save(path)
    return path


# ---- Family 1: crashes ----------------------------------------------------------------------------

CONSTRUCTIONS = [
    "dclkit.Encoder(width=16.0)",
    "dclkit.Encoder(width=16.0, head='simclr')",
    "dclkit.Encoder(arch='resnet50', width=4.0, head='barlowtwins')",
    "dclkit.Encoder(arch='resnet34', stem='imagenet', width=8.0, head='simsiam')",
] + [f"dclkit.Trainer(dclkit.TrainConfig(method={method!r}, width=4.0, batch_size=4, image_size=8, epochs=1))"
     for method in ("dcl", "moco", "mochi", "byol", "simsiam", "barlow-twins", "vicreg", "nnclr")]


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_construction_beyond_an_address_space_limit_is_a_memory_error_not_a_trap(run_isolated, construction):
    """Every allocation of building an encoder or a trainer (the key or target encoder, the
    predictor, the heads, the queue) is covered by the memory check made before building."""
    code, out, err = run_isolated(
        f"""
        import resource
        import dclkit
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
        try:
            {construction}
        except dclkit.DCLMemoryError as error:
            assert isinstance(error, MemoryError)
            print("refused")
        else:
            print("built")
        small = dclkit.Encoder(width=0.0625)
        print("then", small.forward(__import__("numpy").zeros((2, 8, 8, 3), "float32"))[0].shape)
        """
    )
    assert code == 0, f"exit {code}: {err[-2000:]}"
    assert out.split() == ["refused", "then", "(2,", "32)"], out


def test_a_trainer_that_fits_under_the_limit_is_still_built(run_isolated):
    code, out, err = run_isolated(
        """
        import resource
        import dclkit
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
        for method in ("dcl", "moco", "byol", "nnclr"):
            dclkit.Trainer(dclkit.TrainConfig(method=method, width=0.25, batch_size=4, image_size=8, epochs=1))
        print("built")
        """
    )
    assert code == 0 and out.strip() == "built", err[-2000:]


def test_saving_and_reading_state_beyond_an_address_space_limit_are_memory_errors(run_isolated, tmp_path):
    """A save copies the state into PyTorch's layout and state_dict fills new arrays: under
    RLIMIT_AS both raise DCLMemoryError (the file left as it was) instead of trapping."""
    code, out, err = run_isolated(
        f"""
        import resource
        import dclkit

        def address_space():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[0]) * resource.getpagesize()

        encoder = dclkit.Encoder(width=2.0, head="simclr")
        trainer = dclkit.Trainer(dclkit.TrainConfig(method="moco", width=2.0, batch_size=4, image_size=8, epochs=1, queue_size=8))
        path = {str(tmp_path / "run.safetensors")!r}
        open(path, "wb").write(b"previous")
        resource.setrlimit(resource.RLIMIT_AS, (address_space() + (60 << 20), resource.RLIM_INFINITY))
        refused = []
        for name, attempt in [("encoder.save", lambda: encoder.save(path)), ("trainer.save", lambda: trainer.save(path)),
                              ("state_dict", encoder.state_dict), ("trainer.encoder.state_dict", trainer.encoder.state_dict)]:
            try:
                attempt()
            except dclkit.DCLMemoryError:
                refused.append(name)
        assert open(path, "rb").read() == b"previous"
        print(refused)
        """
    )
    assert code == 0, f"exit {code}: {err[-2000:]}"
    assert out.strip() == "['encoder.save', 'trainer.save', 'state_dict', 'trainer.encoder.state_dict']", out


@pytest.mark.parametrize("step", [str(2**63 - 2), str(2**63), str(2**40), "-1", "1e3", "0x10", " 1"])
def test_a_checkpoint_step_beyond_its_range_is_a_format_error_not_an_overflow(worker, checkpoint, tmp_path, step):
    tampered = tmp_path / "tampered.safetensors"
    rewrite_metadata(checkpoint, tampered, step=step)
    kind, detail = worker.run("resume_and_fit", str(tampered))
    assert (kind, detail.split(":")[0]) == ("dcl", "DCLFormatError") and "step" in detail, detail


def test_the_largest_step_accepted_still_trains(checkpoint, tmp_path):
    tampered = tmp_path / "tampered.safetensors"
    rewrite_metadata(checkpoint, tampered, step=str(2**40 - 1))
    trainer = dclkit.Trainer.resume(tampered)
    trainer.fit(images(), progress=False)
    assert trainer.step == 2**40 + 1


@pytest.mark.parametrize("key, value", [("epoch_seconds", "inf"), ("epoch_loss_sum", "nan"), ("epoch_updates", str(2**63)),
                                        ("diagnostics_steps", str(2**63 - 1)), ("diagnostics_sums", "inf"),
                                        ("history", '[{"epoch":1,"loss":1e999,"lr":0.1,"seconds":1,"images_per_s":1}]'),
                                        ("history", '[{"epoch":1e300,"loss":1,"lr":0.1,"seconds":1,"images_per_s":1}]')])
def test_checkpoint_numbers_that_do_not_read_back_are_format_errors(worker, checkpoint, tmp_path, key, value):
    tampered = tmp_path / "tampered.safetensors"
    rewrite_metadata(checkpoint, tampered, **{key: value})
    kind, detail = worker.run("resume_and_fit", str(tampered))
    assert (kind, detail.split(":")[0]) == ("dcl", "DCLFormatError"), detail


@pytest.mark.parametrize("change, tensor", [({"width": 16.0}, "encoder.conv1.weight"), ({"arch": "resnet50"}, "encoder.layer1.0.conv1.weight"),
                                            ({"head_dims": [16, 4096]}, "encoder.head.3.weight")])
def test_a_stored_configuration_edited_to_another_model_is_refused_naming_the_tensor_before_building(worker, checkpoint, tmp_path,
                                                                                                     change, tensor):
    header, _ = read_header(checkpoint)
    config = json.loads(header["__metadata__"]["config"])
    config.update(change)
    tampered = tmp_path / "tampered.safetensors"
    rewrite_metadata(checkpoint, tampered, config=json.dumps(config))
    kind, detail = worker.run("resume_and_fit", str(tampered))
    assert (kind, detail.split(":")[0]) == ("dcl", "DCLFormatError") and tensor in detail, detail


def test_a_stored_queue_edited_larger_than_its_tensor_is_a_format_error(worker, tmp_path):
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="moco", queue_size=8, **TINY))
    path = tmp_path / "moco.safetensors"
    trainer.save(path)
    header, _ = read_header(path)
    config = json.loads(header["__metadata__"]["config"])
    config.update(queue_size=2**24 - 4)
    tampered = tmp_path / "tampered.safetensors"
    rewrite_metadata(path, tampered, config=json.dumps(config))
    kind, detail = worker.run("resume_and_fit", str(tampered))
    assert (kind, detail.split(":")[0]) == ("dcl", "DCLFormatError") and "queue" in detail, detail


# ---- Family 3: values accepted and then written where they cannot be read -------------------------

@pytest.mark.parametrize("field, value", [("lr", 1e308), ("lr", 1e5), ("weight_decay", 2.0), ("temperature", 1e-300),
                                          ("temperature", 1e300), ("sigma", 1e-30)])
def test_hyperparameters_whose_products_overflow_are_refused_naming_the_field(field, value):
    with pytest.raises(dclkit.DCLValueError, match=field):
        dclkit.TrainConfig(method="dclw", **{field: value})


@pytest.mark.parametrize("method, field, value", [("barlow-twins", "barlow_lambda", 1e300), ("vicreg", "variance_weight", 1e300),
                                                  ("vicreg", "covariance_weight", 1e5)])
def test_loss_weights_whose_products_overflow_are_refused_naming_the_field(method, field, value):
    with pytest.raises(dclkit.DCLValueError, match=field):
        dclkit.TrainConfig(method=method, **{field: value})


def test_a_run_of_extreme_but_accepted_values_writes_only_what_reads_back(tmp_path):
    """The largest values each field accepts: every history the run reports is JSON, every
    checkpoint it saves resumes, and a run that diverges raises and is never saved over a good
    checkpoint."""
    path = tmp_path / "run.safetensors"
    config = dclkit.TrainConfig(method="dcl", **{**TINY, "epochs": 3}, lr=1e4, weight_decay=1.0, momentum=0.999999,
                                temperature=1000.0, seed=2**53 - 1)
    trainer = dclkit.Trainer(config)
    trainer.save(path)
    saved = path.read_bytes()
    for _ in range(3):
        try:
            trainer.fit(images(), epochs=1, progress=False)
        except dclkit.DCLStateError:
            break
        assert all(np.isfinite(entry["lr"]) for entry in trainer.history)
        trainer.save(path)
        saved = path.read_bytes()
    try:
        trainer.save(path)
    except dclkit.DCLStateError as error:
        assert "would not resume" in str(error)
    assert path.read_bytes() == saved
    resumed = dclkit.Trainer.resume(path)
    assert resumed.config == trainer.config
    assert len(resumed.history) == resumed.epoch
