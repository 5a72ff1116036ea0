"""Command line: ``python -m dclkit {demo,train,eval,embed,sweep,report,pack} ...``; ``--help`` on each."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, Optional

import numpy as np
from numpy.typing import ArrayLike

from ._files import atomic_write
from .cli_data import DATA_HELP, load_data, output_folder, pretraining_images

DEMO_EPOCHS = 10


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(out=Path(args.out), epochs=args.epochs, progress=not args.quiet)


def _train(args: argparse.Namespace) -> int:
    import dclkit

    data = load_data(args.data)
    out = output_folder(args.out)
    fields = {name: getattr(args, name) for name in args.configuration_fields if getattr(args, name) is not None}
    if args.threads is not None:
        dclkit.set_num_threads(args.threads)
    # Under `mpirun -n W` (W > 1) every rank runs this: one data-parallel run, rank 0 writes.
    comm = dclkit.distributed.world()
    images = pretraining_images(args.data, data, progress=not args.quiet, comm=comm)
    if args.resume:
        if fields:
            flags = ", ".join("--" + name.replace("_", "-") for name in fields)
            raise dclkit.DCLValueError(f"--resume continues the saved run's configuration; drop {flags} "
                                       "(or start a new run without --resume)")
        trainer = dclkit.Trainer.resume(args.resume, comm=comm)
    else:
        fields.setdefault("image_size", int(images.shape[1]))
        trainer = dclkit.Trainer(dclkit.TrainConfig(**fields), comm=comm)
    eval_data: Optional[Sequence[ArrayLike]] = tuple(data) if len(data.x_test) else None
    trainer.fit(images, epochs=args.more_epochs, eval_data=eval_data, eval_every=args.eval_every,
                checkpoint=out / "checkpoint.safetensors", progress=not args.quiet, tensorboard=args.tensorboard)
    if trainer.rank != 0:
        return 0
    history = json.dumps(trainer.history, indent=1).encode()
    atomic_write(out / "history.json", lambda file: file.write(history), "the history")
    dclkit.plot.history(trainer.history, out / "history.png")
    print(f"saved {out / 'checkpoint.safetensors'}, {out / 'history.json'}, {out / 'history.png'}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import dclkit

    data = load_data(args.data)
    if not len(data.x_test):
        raise dclkit.DCLValueError(f"eval needs data with a test split; --data {args.data} has none")
    trainer = dclkit.Trainer.resume(args.checkpoint)
    train_feats, test_feats = trainer.embed(data.x_train), trainer.embed(data.x_test)
    knn = dclkit.evaluate.knn(train_feats, data.y_train, test_feats, data.y_test, k=args.k)
    probe = dclkit.evaluate.linear_probe(train_feats, data.y_train, test_feats, data.y_test)
    print(json.dumps({"knn_top1": knn, "linear_probe_top1": probe}))
    return 0


def _embed(args: argparse.Namespace) -> int:
    import dclkit

    data = load_data(args.data)
    trainer = dclkit.Trainer.resume(args.checkpoint)
    images = data.x_train if args.split == "train" else data.x_test
    feats = trainer.embed(images)
    atomic_write(args.out, lambda file: np.save(file, feats), "--out")
    print(f"saved {args.out}: {feats.shape[0]} x {feats.shape[1]} float32")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import dclkit

    lines = dclkit.sweep(args.spec, jobs=args.jobs, results=args.results, data=args.data, progress=not args.quiet)
    print(f"{len(lines)} runs finished")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from .packed import labels_path, pack

    out = pack(args.source, args.out, size=args.size, chunk=args.chunk, progress=not args.quiet)
    print(f"saved {out} and {labels_path(out)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import DEFAULT_BASELINES, report

    print(report(args.results, out=args.out, baseline=args.baseline.split(",") if args.baseline else DEFAULT_BASELINES))
    return 0


def _augment_argument(text: str) -> object:
    """--augment: a preset name, or a JSON object of overrides."""
    return json.loads(text) if text.lstrip().startswith("{") else text


_ARGUMENT_TYPES: dict[str, Callable[[str], Any]] = {"integer": int, "number": float, "string": str,
                                                     "augmentation": _augment_argument}


def _add_configuration_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field of the core's configuration schema (``dclkit.config.schema()``), with
    the field's doc, choices or range and default as its help; ``--image-size`` defaults to the
    data's side."""
    from ._generate import describe
    from .config import schema

    described = schema()
    labels = {method["name"]: method["label"] for method in described["methods"]}
    for field in described["fields"]:
        name = field["name"]
        flag = "--" + name.replace("_", "-")
        help_text = describe(field).replace("%", "%%")
        if name == "method":
            help_text += " (" + "; ".join(f"{key}: {label}" for key, label in labels.items()) + ")"
        if name == "image_size":
            help_text += " Without the flag: the data's side."
        if field["type"] == "bool":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif field["type"] == "integer_pair":
            parser.add_argument(flag, dest=name, type=int, nargs=2, metavar=("HIDDEN", "OUT"), help=help_text)
        else:
            parser.add_argument(flag, dest=name, type=_ARGUMENT_TYPES[field["type"]], metavar=name.upper(), help=help_text)
    parser.set_defaults(configuration_fields=[field["name"] for field in described["fields"]])


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``error: ...`` and exit status 2, like
    every other error of the command line (``--help`` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dclkit``."""
    parser = _Parser(prog="python -m dclkit",
                     description="Contrastive self-supervised learning (DCL, DCLW, SimCLR, MoCo, MoCHi) on the CPU.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="pretrain with DCL on the built-in data and report what it learned")
    demo.add_argument("--out", default="dclkit-demo", help="folder for the checkpoint and the plot (default: dclkit-demo)")
    demo.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help=f"pretraining epochs (default: {DEMO_EPOCHS})")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)

    train = commands.add_parser("train", help="pretrain an encoder; writes checkpoint, history JSON and plot to --out "
                                "(`mpirun -n W python -m dclkit train ...` trains on W ranks)")
    train.add_argument("--data", required=True, help=DATA_HELP)
    train.add_argument("--out", required=True, help="output folder")
    _add_configuration_flags(train)
    train.add_argument("--more-epochs", dest="more_epochs", type=int,
                       help="train this many more epochs (default: up to --epochs)")
    train.add_argument("--eval-every", dest="eval_every", type=int, default=1, help="kNN every N epochs (default: 1)")
    train.add_argument("--threads", type=int, help="native threads (default: all cores)")
    train.add_argument("--resume", help="continue from this checkpoint instead of starting anew")
    train.add_argument("--tensorboard", metavar="DIR",
                       help="write TensorBoard event files to DIR: every epoch's numbers and, once, a grid of "
                            "augmented views (needs the tensorboard extra)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    ev = commands.add_parser("eval", help="kNN and linear-probe top-1 of a checkpoint's encoder")
    ev.add_argument("--checkpoint", required=True, help="a checkpoint written by train")
    ev.add_argument("--data", required=True, help=DATA_HELP + " (needs a test split)")
    ev.add_argument("--k", type=int, default=200, help="kNN neighbours (default: 200)")
    ev.set_defaults(run=_eval)

    em = commands.add_parser("embed", help="write a checkpoint encoder's features of a data set to .npy")
    em.add_argument("--checkpoint", required=True, help="a checkpoint written by train")
    em.add_argument("--data", required=True, help=DATA_HELP)
    em.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    em.add_argument("--out", required=True, help="output .npy file")
    em.set_defaults(run=_embed)

    sw = commands.add_parser("sweep", help="run every run of a sweep spec not yet in its results file (resumable)")
    sw.add_argument("spec", help="a .toml or .json sweep spec (see studies/dcl_cifar10.toml)")
    sw.add_argument("--jobs", type=int, default=1, help="runs at a time, each with cores/jobs threads (default: 1)")
    sw.add_argument("--results", help="JSON-lines results file (default: results/<spec name>.jsonl)")
    sw.add_argument("--data", help="replaces the spec's data.path: an image folder, a .tar of one, or an .npz")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(run=_sweep)

    pk = commands.add_parser("pack", help="convert an image folder (or a .tar of one) into a memory-mapped uint8 "
                             "array DATA.npy (N, S, S, 3) and its labels DATA.labels.npy, in chunks, resumably")
    pk.add_argument("source", help="a folder with one sub-folder of images per class, a flat folder of images, "
                    "or a .tar of either")
    pk.add_argument("--size", type=int, required=True, help="side S every image is resized to")
    pk.add_argument("--out", required=True, help="the .npy to write (DATA.labels.npy goes beside it)")
    pk.add_argument("--chunk", type=int, help="images converted and written at a time (default: about 32 MiB)")
    pk.add_argument("--quiet", action="store_true", help="no progress bar")
    pk.set_defaults(run=_pack)

    rp = commands.add_parser("report", help="tables (mean and 95%% CI over seeds) and plots of a sweep's results")
    rp.add_argument("results", help="a results file written by sweep")
    rp.add_argument("--out", help="folder for report.md and the PNG plots (default: the results file without .jsonl)")
    rp.add_argument("--baseline", help="comma-separated methods the paired differences are taken from, one table "
                                       "each (default: the InfoNCE form of each contrastive family, "
                                       "dclkit.report.DEFAULT_BASELINES)")
    rp.set_defaults(run=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``python -m dclkit``; errors in the input print one line and exit 2."""
    import dclkit

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (dclkit.DCLError, OSError, ValueError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    """An error's message on one line (a sweep's failures are listed one per line: joined)."""
    return "; ".join(part.strip() for part in str(error).splitlines() if part.strip()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
