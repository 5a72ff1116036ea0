"""Command line: ``python -m dclkit demo``."""
from __future__ import annotations

import argparse
import sys

import numpy as np

import dclkit


def _demo(_: argparse.Namespace) -> int:
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((8, 16))
    z1 = z0 + 0.1 * rng.standard_normal((8, 16))
    print(f"dclkit {dclkit.__version__}: losses on a toy batch of 8 pairs (views 0.1 apart), tau = 0.1")
    for name in ("ntxent", "dcl", "dclw"):
        loss, _, _ = getattr(dclkit.losses, name)(z0, z1, temperature=0.1)
        print(f"  {name:7s} {loss:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m dclkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo").set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
