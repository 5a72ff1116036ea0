"""Command line: ``python -m dclkit {demo,train,eval,embed,sweep,report} ...``; ``--help`` on each."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn, Sequence

import numpy as np

from ._files import atomic_write
from .cli_data import DATA_HELP, load_data, output_folder

DEMO_EPOCHS = 10


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(out=Path(args.out), epochs=args.epochs, progress=not args.quiet)


def _train(args: argparse.Namespace) -> int:
    import dclkit

    data = load_data(args.data)
    out = output_folder(args.out)
    fields = {name: getattr(args, name) for name in _CONFIG_FLAGS if getattr(args, name) is not None}
    if args.threads is not None:
        dclkit.set_num_threads(args.threads)
    # Under `mpirun -n W` (W > 1) every rank runs this: one data-parallel run, rank 0 writes.
    comm = dclkit.distributed.world()
    if args.resume:
        if fields:
            flags = ", ".join("--" + name.replace("_", "-") for name in fields)
            raise dclkit.DCLValueError(f"--resume continues the saved run's configuration; drop {flags} "
                                       "(or start a new run without --resume)")
        trainer = dclkit.Trainer.resume(args.resume, comm=comm)
    else:
        fields.setdefault("image_size", int(data.x_train.shape[1]))
        trainer = dclkit.Trainer(dclkit.TrainConfig(**fields), comm=comm)
    eval_data = tuple(data) if len(data.x_test) else None
    trainer.fit(data.x_train, epochs=args.more_epochs, eval_data=eval_data, eval_every=args.eval_every,
                checkpoint=out / "checkpoint.safetensors", progress=not args.quiet)
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


def _report(args: argparse.Namespace) -> int:
    from .report import report

    print(report(args.results, out=args.out, baseline=args.baseline))
    return 0


_CONFIG_FLAGS = ("method", "arch", "stem", "width", "batch_size", "epochs", "image_size", "temperature", "sigma",
                 "optimizer", "lr", "momentum", "weight_decay", "warmup_epochs", "seed", "queue_size",
                 "momentum_encoder", "sync_bn")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``error: ...`` and exit status 2, like
    every other error of the command line (``--help`` still shows the usage)."""

    def error(self, message: str) -> "NoReturn":
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
    train.add_argument("--method", help="simclr | dcl | dclw | moco | moco-dcl | mochi (default: dcl)")
    train.add_argument("--arch", help="resnet18 | resnet34 | resnet50 (default: resnet18)")
    train.add_argument("--stem", help="cifar (3x3 conv, no max-pool) | imagenet (7x7/2 conv + max-pool)")
    train.add_argument("--width", type=float, help="channel width multiplier (default: 1.0)")
    train.add_argument("--batch-size", dest="batch_size", type=int, help="images per step (default: 256)")
    train.add_argument("--epochs", type=int, help="total epochs of the schedule (default: 100)")
    train.add_argument("--more-epochs", dest="more_epochs", type=int,
                       help="train this many more epochs (default: up to --epochs)")
    train.add_argument("--image-size", dest="image_size", type=int, help="side of the views (default: the data's)")
    train.add_argument("--temperature", type=float, help="tau (default: 0.1, MoCo family 0.2)")
    train.add_argument("--sigma", type=float, help="DCLW's sigma (default: 0.5)")
    train.add_argument("--optimizer", help="sgd | lars (default: sgd)")
    train.add_argument("--lr", type=float, help="absolute learning rate (default: base rate x batch/256)")
    train.add_argument("--momentum", type=float, help="optimiser momentum (default: 0.9)")
    train.add_argument("--weight-decay", dest="weight_decay", type=float, help="weight decay (default: 5e-4)")
    train.add_argument("--warmup-epochs", dest="warmup_epochs", type=int, help="linear warm-up epochs (default: 10)")
    train.add_argument("--seed", type=int, help="seed of initialisation, order and augmentation (default: 0)")
    train.add_argument("--queue-size", dest="queue_size", type=int, help="MoCo queue length K (default: 65536)")
    train.add_argument("--momentum-encoder", dest="momentum_encoder", type=float, help="MoCo's m (default: 0.999)")
    train.add_argument("--sync-bn", dest="sync_bn", action="store_true", default=None,
                       help="under mpirun: BatchNorm over the global batch of all ranks (default: each rank's own)")
    train.add_argument("--eval-every", dest="eval_every", type=int, default=1, help="kNN every N epochs (default: 1)")
    train.add_argument("--threads", type=int, help="native threads (default: all cores)")
    train.add_argument("--resume", help="continue from this checkpoint instead of starting anew")
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

    rp = commands.add_parser("report", help="tables (mean and 95%% CI over seeds) and plots of a sweep's results")
    rp.add_argument("results", help="a results file written by sweep")
    rp.add_argument("--out", help="folder for report.md and the PNG plots (default: the results file without .jsonl)")
    rp.add_argument("--baseline", default="simclr", help="method the differences are taken from (default: simclr)")
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
