"""The process the fuzz tests run their cases in, so a crash or a hang fails one case, not pytest.

Protocol on stdin/stdout: frames of a 4-byte little-endian length and a pickle. The parent
sends ``(case name, arguments)``; the worker runs ``CASES[name](*arguments)`` and answers
``("ok", summary)`` for a result that passed the case's own correctness checks,
``("dcl", "ClassName: message")`` for a ``dclkit.DCLError``, ``("wrong", message)`` for a result
that failed them, or ``("foreign", traceback)`` for any other exception. A signal or an exit
shows up in the parent as the end of the stream. Anything the library prints goes to stderr.
"""
from __future__ import annotations

import json
import os
import pickle
import struct
import sys
import traceback

import numpy as np

import dclkit


def _finite(*arrays: np.ndarray) -> None:
    for a in arrays:
        if not np.isfinite(a).all():
            raise AssertionError(f"a result of shape {a.shape} holds non-finite values")


def _loss(kind: str, z0, z1, temperature, sigma):
    function = getattr(dclkit.losses, kind)
    loss, g0, g1 = function(z0, z1, temperature, sigma) if kind == "dclw" else function(z0, z1, temperature)
    if not (isinstance(loss, float) and np.isfinite(loss)):
        raise AssertionError(f"loss {loss!r}")
    shape = np.shape(z0)
    if g0.shape != shape or g1.shape != shape:
        raise AssertionError(f"gradients {g0.shape}, {g1.shape} for inputs {shape}")
    _finite(g0, g1)
    return "loss"


def _queue_loss(kind: str, q, k, queue, temperature, extra):
    loss, grad = getattr(dclkit.losses, kind)(q, k, queue, temperature, extra_negatives=extra)
    if not np.isfinite(loss) or grad.shape != np.shape(q):
        raise AssertionError(f"loss {loss!r}, gradient {grad.shape}")
    _finite(grad)
    return "queue loss"


def _mochi(q, queue, n_hard, s, s_prime, seed):
    mixed, query_mixed = dclkit.losses.mochi_negatives(q, queue, n_hard, s, s_prime, seed=seed)
    n, d = np.shape(q)
    if mixed.shape != (n, s, d) or query_mixed.shape != (n, s_prime, d):
        raise AssertionError(f"shapes {mixed.shape}, {query_mixed.shape}")
    _finite(mixed, query_mixed)
    return "mochi"


def _augment(preset: str, parameters: dict, images, seed, epoch):
    maker = dclkit.augment.SimCLR if preset == "simclr" else dclkit.augment.MoCoV2
    pipeline = maker(**parameters)
    v0, v1 = pipeline(images, seed=seed, epoch=epoch)
    u0, _ = pipeline.views_uint8(images, seed=seed, epoch=epoch)
    n = np.shape(images)[0]
    want = (n, pipeline.size, pipeline.size, 3)
    if v0.shape != want or v1.shape != want or u0.shape != want:
        raise AssertionError(f"views {v0.shape}, {u0.shape}, expected {want}")
    _finite(v0, v1)
    return "augment"


def _augment_faces(preset: str, parameters: dict):
    """A pipeline and a run's augment field resolve the same parameters through the one core
    owner: both are accepted, or both raise the same DCLError with the same message."""
    outcomes = []
    maker = dclkit.augment.SimCLR if preset == "simclr" else dclkit.augment.MoCoV2
    method = "dcl" if preset == "simclr" else "moco"
    for build in (lambda: maker(size=16, **parameters),
                  lambda: dclkit.TrainConfig(method=method, image_size=16, augment={"pipeline": preset, **parameters})):
        try:
            build()
            outcomes.append("accepted")
        except dclkit.DCLError as error:
            outcomes.append(f"{type(error).__name__}: {error}")
    if outcomes[0] != outcomes[1]:
        raise AssertionError(f"pipeline: {outcomes[0]}; run configuration: {outcomes[1]}")
    return "faces"


def _functional(name: str, img, arguments: tuple):
    out = getattr(dclkit.augment.functional, name)(img, *arguments)
    if out.dtype != np.uint8:
        raise AssertionError(f"dtype {out.dtype}")
    if name != "resized_crop" and out.shape != np.shape(img):
        raise AssertionError(f"shape {out.shape} for {np.shape(img)}")
    return "functional"


def _encoder(arguments: dict, x, training):
    encoder = dclkit.Encoder(**arguments)
    h, z = encoder.forward(x, training=training)
    if h.shape != (np.shape(x)[0], encoder.feature_dim):
        raise AssertionError(f"features {h.shape}")
    _finite(h, *(() if z is None else (z,)))
    return "encoder"


def _encoder_state(state: dict):
    encoder = dclkit.Encoder(width=0.0625, head=None)
    encoder.load_state_dict(state)
    return "state"


def _datasets(x, y):
    images, labels = dclkit.datasets.from_arrays(x, y)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or labels.shape != (images.shape[0],):
        raise AssertionError(f"images {images.dtype} {images.shape}, labels {labels.shape}")
    return "datasets"


def _evaluate(kind: str, train, train_labels, test, test_labels, number, integer):
    if kind == "knn":
        top1 = dclkit.evaluate.knn(train, train_labels, test, test_labels, k=integer, temperature=number)
    else:
        top1 = dclkit.evaluate.linear_probe(train, train_labels, test, test_labels, l2=number, max_iter=integer)
    if not 0.0 <= top1 <= 1.0:
        raise AssertionError(f"top-1 {top1!r}")
    return "evaluate"


def _load_encoder(path: str):
    encoder = dclkit.Encoder.load(path)
    state = encoder.state_dict()
    for name, value in state.items():
        _finite(value)
        if name.endswith("running_var") and (value < 0).any():
            raise AssertionError(f"{name} loaded negative")
    return "encoder file"


def _resume(path: str):
    trainer = dclkit.Trainer.resume(path)
    _finite(trainer.embed(np.zeros((2, 8, 8, 3), np.uint8)))
    return "checkpoint"


def _resume_and_fit(path: str):
    """Resumes, trains one more epoch on 8 images (the checkpoints' epoch length at batch 4),
    and checks that everything the run reports or writes reads back: the history is finite JSON,
    and a save either resumes or is refused (``DCLStateError``) with the file it would replace intact."""
    trainer = dclkit.Trainer.resume(path)
    trainer.fit(np.zeros((8, 8, 8, 3), np.uint8), epochs=1, progress=False)
    for entry in trainer.history:
        json.dumps({key: value for key, value in entry.items() if key != "loss"}, allow_nan=False)
    again = path + ".again"
    try:
        trainer.save(again)
    except dclkit.DCLStateError:
        return "diverged, not saved"
    resumed = dclkit.Trainer.resume(again)
    if resumed.step != trainer.step or resumed.epoch != trainer.epoch:
        raise AssertionError(f"saved at step {trainer.step}, resumed at {resumed.step}")
    return "resumed and trained"


def _load_npz(path: str):
    data = dclkit.datasets.load_npz(path)
    if data.x_train.dtype != np.uint8 or data.x_train.shape[3] != 3:
        raise AssertionError(f"x_train {data.x_train.dtype} {data.x_train.shape}")
    return "npz"


def _image_folder(root: str):
    data = dclkit.datasets.image_folder(root, size=8)
    if data.x_train.shape[1:] != (8, 8, 3):
        raise AssertionError(f"x_train {data.x_train.shape}")
    return "folder"


def _open_packed(path: str):
    images, labels = dclkit.packed.open_packed(path)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or labels.shape != images.shape[:1]:
        raise AssertionError(f"images {images.dtype} {images.shape}, labels {labels.shape}")
    int(np.asarray(images[-1:]).sum()) if len(images) else None  # the last page reads
    return "packed"


def _stl10(root: str):
    data = dclkit.datasets.stl10(root)
    unlabeled = dclkit.datasets.stl10_unlabeled(root, progress=False)
    if data.x_train.shape[1:] != (96, 96, 3) or unlabeled.shape[1:] != (96, 96, 3) or not (0 <= data.y_train).all():
        raise AssertionError(f"{data.x_train.shape} {unlabeled.shape}")
    return "stl10"


def _spec(table, text, suffix: str, folder: str):
    """A sweep spec as a dict (``table``) or as a file's bytes (``text``): load_spec gives runs
    with unique ids, no more than MAX_RUNS, or a DCLError."""
    from dclkit.sweep import MAX_RUNS, load_spec

    if text is None:
        spec = load_spec(table)
    else:
        path = os.path.join(folder, "spec" + suffix)
        with open(path, "wb") as file:
            file.write(text)
        spec = load_spec(path)
    ids = [run.id for run in spec.runs]
    if not 0 < len(ids) <= MAX_RUNS or len(set(ids)) != len(ids):
        raise AssertionError(f"{len(ids)} runs, {len(set(ids))} distinct")
    return "spec"


def _results(data: bytes, folder: str, write_report: bool):
    """A results file's bytes: read_results gives checked lines and the report renders them, or
    a DCLError; with ``write_report`` the files are written too (atomically)."""
    from dclkit import report
    from dclkit.sweep import read_results

    path = os.path.join(folder, "results.jsonl")
    with open(path, "wb") as file:
        file.write(data)
    lines = read_results(path)
    if not all(isinstance(line, dict) and isinstance(line["id"], str) for line in lines):
        raise AssertionError("a line without a string id")
    if lines:
        text = report.report(path, out=os.path.join(folder, "report")) if write_report else report.markdown(lines)
        if not text.startswith("# Sweep"):
            raise AssertionError(text[:200])
    return "results"


def _cli(argv: list, folder: str):
    """``python -m dclkit`` in this process: exit 0, or exit 2 with exactly one line ``error: ...``
    on stderr (argparse's own errors included); anything else is wrong."""
    import contextlib
    import io

    from dclkit.__main__ import main

    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as stop:
                code = stop.code
    finally:
        os.chdir(cwd)
    text = err.getvalue()
    if code == 0:
        return "cli ok"
    if code != 2 or not text.startswith("error: ") or text.count("\n") != 1:
        raise AssertionError(f"exit {code!r}, stderr {text[-1000:]!r}")
    return "cli error"


def _selftest(what: str):
    """Proves the harness: a signal, a hang, or a plain result."""
    if what == "signal":
        os.kill(os.getpid(), 4)  # SIGILL, what a Swift trap raises
    if what == "hang":
        import time

        time.sleep(3600)
    return "selftest"


CASES = {
    "selftest": _selftest,
    "loss": _loss, "queue_loss": _queue_loss, "mochi": _mochi, "augment": _augment, "augment_faces": _augment_faces, "functional": _functional,
    "encoder": _encoder, "encoder_state": _encoder_state, "datasets": _datasets, "evaluate": _evaluate,
    "load_encoder": _load_encoder, "resume": _resume, "resume_and_fit": _resume_and_fit, "load_npz": _load_npz,
    "image_folder": _image_folder, "open_packed": _open_packed, "stl10": _stl10,
    "spec": _spec, "results": _results, "cli": _cli,
}


def _read(stream) -> object:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (length,) = struct.unpack("<I", head)
    return pickle.loads(stream.read(length))


def _write(stream, value: object) -> None:
    data = pickle.dumps(value)
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def main() -> None:
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints (progress bars, warnings) must not reach the protocol
    dclkit.set_num_threads(1)
    while True:
        request = _read(sys.stdin.buffer)
        if request is None:
            return
        name, arguments = request
        try:
            answer = ("ok", CASES[name](*arguments))
        except dclkit.DCLError as error:
            answer = ("dcl", f"{type(error).__name__}: {error}")
        except AssertionError as error:
            answer = ("wrong", str(error))
        except BaseException:  # everything else is what the suite looks for
            answer = ("foreign", traceback.format_exc())
        _write(channel, answer)


if __name__ == "__main__":
    main()
