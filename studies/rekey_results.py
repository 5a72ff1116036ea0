"""Re-keys a sweep's results file after a change in how configurations resolve (the run id is a
hash of the resolved configuration): each line's run is planned anew from the spec by its
overrides, and the line takes the new id and resolved configuration; every measured number is
kept as it was. The file is rewritten atomically.

    PYTHONPATH=python python3 studies/rekey_results.py studies/dcl_cifar10.toml results/dcl_cifar10.jsonl

Used once on 2026-12-07, when the completed configuration came to hold only the shared fields and
the method's own (the method registry): the 80 lines of the CIFAR-10 study were re-keyed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from dclkit._files import atomic_write
from dclkit.sweep import plan, read_results


def rekey(spec: str, results: str) -> int:
    """Rewrites ``results`` with the ids and configurations that ``spec`` plans now; returns the
    number of lines whose id changed. Raises ``ValueError`` when a line's overrides match no
    planned run."""
    planned = {json.dumps(run.overrides, sort_keys=True): run for run in plan(spec)}
    lines, changed = [], 0
    for line in read_results(results):
        key = json.dumps(line["overrides"], sort_keys=True)
        if key not in planned:
            raise ValueError(f"{results}: run {line['id']} ({key}) is not in {spec}")
        run = planned[key]
        changed += line["id"] != run.id
        lines.append({**line, "id": run.id, "config": run.config})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    atomic_write(Path(results), lambda file: file.write(text.encode()), "the results file")
    return changed


if __name__ == "__main__":
    print(f"{rekey(sys.argv[1], sys.argv[2])} lines re-keyed")
