"""Copies of objects that own a native handle (issue 23, family 1).

``copy.copy`` of a Trainer, Encoder or augmentation pipeline used to share the handle, so
deleting both freed it twice (SIGSEGV). Each test runs in a child process, so a crash fails the
test instead of killing pytest.
"""
from __future__ import annotations

import inspect
import json

import dclkit
from dclkit._native import NativeObject

# Every public class that owns a native handle, with how to build a small one in a child process,
# and whether copies are real copies ("copy") or refused ("refuse").
BUILDERS = {
    "Encoder": ("dclkit.Encoder('resnet18', width=0.125)", "copy"),
    "TrainerEncoder": ("keep.append(dclkit.Trainer(small)); obj = keep[-1].encoder", "copy"),
    "SimCLR": ("dclkit.augment.SimCLR(size=16, blur=0.3, hue=0.1)", "copy"),
    "MoCoV2": ("dclkit.augment.MoCoV2(size=16, normalize=None)", "copy"),
    "TwoViewAugment": ("dclkit.augment.TwoViewAugment(16, {'pipeline': 'simclr', 'flip': 0.0})", "copy"),
    "Trainer": ("dclkit.Trainer(small)", "refuse"),
    "Communicator": ("dclkit.distributed.Communicator()", "refuse"),
    "GradientAllreduce": ("dclkit.distributed.GradientAllreduce(dclkit.distributed.Communicator(), "
                          "dclkit.Encoder('resnet18', width=0.125))", "refuse"),
}

CHILD = """
import copy, gc, json, pickle
import numpy as np
import dclkit

small = dclkit.TrainConfig(width=0.125, batch_size=8, image_size=16, epochs=1)
keep = []
images = np.random.default_rng(0).integers(0, 256, (4, 20, 20, 3), dtype=np.uint8)
x = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)

def same(a, b):
    if isinstance(a, dclkit.Encoder):
        state_a, state_b = a.state_dict(), b.state_dict()
        return (state_a.keys() == state_b.keys() and all(np.array_equal(state_a[k], state_b[k]) for k in state_a)
                and np.array_equal(a.forward(x, training=False)[0], b.forward(x, training=False)[0]))
    return (type(a) is type(b) and a.parameters == b.parameters
            and all(np.array_equal(u, v) for u, v in zip(a(images, seed=3), b(images, seed=3))))

out = {}
for name, (source, _) in BUILDERS.items():
    namespace = dict(globals())
    exec(source if source.startswith("keep") else "obj = " + source, namespace)
    obj = namespace["obj"]
    for how, make in (("copy", copy.copy), ("deepcopy", copy.deepcopy),
                      ("pickle", lambda o: pickle.loads(pickle.dumps(o)))):
        try:
            twin = make(obj)
        except dclkit.DCLTypeError as error:
            out[f"{name} {how}"] = "refused: " + str(error)
            continue
        if twin is obj:
            out[f"{name} {how}"] = "the same object"
            continue
        result = "equal" if same(obj, twin) else "different"
        if isinstance(obj, dclkit.Encoder):  # a copy is independent: changing it leaves the original
            state = twin.state_dict()
            state["conv1.weight"] = state["conv1.weight"] + 1
            twin.load_state_dict(state)
            result += ", independent" if not same(obj, twin) else ", shared"
        del twin
        gc.collect()
        out[f"{name} {how}"] = result
    del obj, namespace
    gc.collect()
keep.clear()
gc.collect()
print(json.dumps(out))
"""


def test_every_class_owning_a_native_handle_follows_the_one_copy_rule():
    """Every public class with a ``__del__`` (it frees a native handle) derives from
    NativeObject, the one place that defines copy, deepcopy and pickle, and is in BUILDERS."""
    owners = set()
    for module in (dclkit, dclkit.augment, dclkit.distributed, dclkit.encoder, dclkit.trainer, dclkit.losses,
                   dclkit.evaluate, dclkit.datasets):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__.startswith("dclkit") and "__del__" in vars(cls):
                owners.add(cls)
                assert issubclass(cls, NativeObject), f"{cls.__qualname__} frees a handle but has no copy rule"
    assert {cls.__name__ for cls in owners} <= set(BUILDERS)


def test_copy_deepcopy_and_pickle_copy_or_refuse_and_never_crash(run_isolated):
    """copy, deepcopy and pickle of every native class then deleting both: no crash; encoders
    and pipelines give equal, independent objects; trainers and communicators a DCLTypeError that
    says what to do instead."""
    code, stdout, stderr = run_isolated("BUILDERS = " + repr(BUILDERS) + "\n" + CHILD)
    assert code == 0, f"the child died (exit {code}):\n{stderr[-3000:]}"
    results = json.loads(stdout.strip().splitlines()[-1])
    for name, (_, expected) in BUILDERS.items():
        for how in ("copy", "deepcopy", "pickle"):
            result = results[f"{name} {how}"]
            if expected == "copy":
                wanted = "equal, independent" if "Encoder" in name else "equal"
                assert result == wanted, f"{name} {how}: {result}"
            else:
                assert result.startswith("refused: a "), f"{name} {how}: {result}"
    assert "save() it and Trainer.resume() the file" in results["Trainer copy"]


def test_a_closed_pipeline_cannot_be_copied():
    """A closed pipeline has no handle to copy: a DCLError, not a crash or a broken copy."""
    import copy

    pipeline = dclkit.augment.SimCLR(size=16)
    pipeline.close()
    for make in (copy.copy, copy.deepcopy):
        try:
            make(pipeline)
        except dclkit.DCLStateError as error:
            assert "closed" in str(error)
        else:
            raise AssertionError("a closed pipeline was copied")


def test_public_constructors_given_wrong_types_raise_dcl_type_errors():
    """Trainer({}) and friends: DCLTypeError (a TypeError too), never a bare TypeError or
    AttributeError."""
    cases = [
        lambda: dclkit.Trainer({}),
        lambda: dclkit.Trainer(None),
        lambda: dclkit.Trainer(dclkit.TrainConfig(width=0.125), comm="world"),
        lambda: dclkit.Encoder(arch=18),
        lambda: dclkit.Encoder(width="wide"),
        lambda: dclkit.augment.SimCLR(size="32"),
        lambda: dclkit.augment.TwoViewAugment(16, {1: 2}),
        lambda: dclkit.distributed.Communicator(comm=42),
        lambda: dclkit.distributed.GradientAllreduce(None, None),
        lambda: dclkit.distributed.GradientAllreduce(dclkit.distributed.Communicator(), "encoder"),
    ]
    for index, case in enumerate(cases):
        try:
            case()
        except dclkit.DCLTypeError:
            continue
        except Exception as error:  # pragma: no cover - the failure message
            raise AssertionError(f"case {index}: {type(error).__name__}: {error}") from None
        raise AssertionError(f"case {index} was accepted")
