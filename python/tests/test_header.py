"""dclkit.h is the whole C ABI: it declares exactly the library's exported dcl_* functions, and
its constants (status codes, loss codes, parameter layouts) are the ones the Python face uses."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dclkit import _native, augment, losses
from dclkit.augment import _pipelines

HEADER = Path(__file__).resolve().parents[2] / "Sources" / "DCLKitABI" / "dclkit.h"


def _code() -> str:
    """The header without its comments."""
    return re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)


def _defines() -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"^#define (DCL_\w+) (-?\d+)\b", _code(), flags=re.M)}


def test_header_declares_exactly_the_exported_functions():
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    listing = subprocess.run(["nm", "-D", "--defined-only", _native.lib._name], capture_output=True, text=True, check=True)
    exported = {line.split()[-1] for line in listing.stdout.splitlines() if line.split() and line.split()[-1].startswith("dcl_")}
    declared = set(re.findall(r"\b(dcl_[a-z0-9_]+)\s*\(", _code()))
    assert exported, "the library exports no dcl_* symbol"
    assert exported - declared == set(), "exported but not declared"
    assert declared - exported == set(), "declared but not exported"


def test_every_declaration_is_documented():
    text = HEADER.read_text()
    for match in re.finditer(r"^[^\n/*#]*\b(dcl_[a-z0-9_]+)\s*\(", text, flags=re.M):
        before = text[:match.start()].rstrip()
        # The declaration follows a comment, or another declaration under the same comment.
        assert before.endswith("*/") or before.endswith(";"), f"{match.group(1)} has no comment above it"


def test_status_codes_match_the_python_errors():
    d = _defines()
    assert d["DCL_OK"] == 0
    expected = {d["DCL_INVALID_ARGUMENT"]: _native.DCLValueError, d["DCL_TYPE_ERROR"]: _native.DCLTypeError,
                d["DCL_IO_ERROR"]: _native.DCLIOError, d["DCL_FORMAT_ERROR"]: _native.DCLFormatError,
                d["DCL_STATE_ERROR"]: _native.DCLStateError, d["DCL_MEMORY_ERROR"]: _native.DCLMemoryError,
                d["DCL_COMM_ERROR"]: _native.DCLCommError}
    assert _native._STATUS_ERRORS == expected


def test_loss_codes_match():
    d = _defines()
    assert (losses._NTXENT, losses._DCL, losses._DCLW) == (d["DCL_LOSS_NTXENT"], d["DCL_LOSS_DCL"], d["DCL_LOSS_DCLW"])
    assert (losses._QUEUE_INFONCE, losses._QUEUE_DCL) == (d["DCL_QUEUE_LOSS_INFONCE"], d["DCL_QUEUE_LOSS_DCL"])


def test_augment_parameter_layout_matches():
    d = _defines()
    offsets, position = {}, 0
    for key, width in _pipelines._LAYOUT:
        offsets[key] = position
        position += width
    assert position == d["DCL_AUGMENT_PARAMETER_COUNT"]
    for key, offset in offsets.items():
        name = f"DCL_AUG_{key.upper()}"
        if name not in d:
            name += "_MIN"
        assert d[name] == offset, key
    # The parameters read back through the layout are the pipeline's own.
    p = augment.SimCLR(size=24, scale=(0.3, 0.9), kernel_size=5, normalize=((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))).parameters
    assert (p["size"], p["scale"], p["kernel_size"], p["mean"], p["std"]) == (24, (0.3, 0.9), 5, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
