"""dclkit.h documents every declaration, and the Python face reads its constants (status codes,
the augmentation parameter layout) as the header means them. That the library exports exactly the
header's functions, with the generated signatures, is test_bindings.py's."""
from __future__ import annotations

import re
from pathlib import Path

from dclkit import _native, augment
from dclkit.augment import _pipelines

HEADER = Path(__file__).resolve().parents[2] / "Sources" / "DCLKitABI" / "dclkit.h"


def _code() -> str:
    """The header without its comments."""
    return re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)


def _defines() -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"^#define (DCL_\w+) (-?\d+)\b", _code(), flags=re.M)}


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


def test_augment_parameter_layout_covers_the_array():
    d = _defines()
    position = 0
    for key, start, end in _pipelines._LAYOUT:
        assert start == position, key  # no gap and no overlap
        name = f"DCL_AUG_{key.upper()}"
        assert d.get(name, d.get(f"{name}_MIN")) == start, key
        if f"{name}_MAX" in d:
            assert end - start == 2 and d[f"{name}_MAX"] == start + 1, key
        position = end
    assert position == d["DCL_AUGMENT_PARAMETER_COUNT"]
    assert [(key, end - start) for key, start, end in _pipelines._LAYOUT if key in ("mean", "std")] == [("mean", 3), ("std", 3)]
    # The parameters read back through the layout are the pipeline's own.
    p = augment.SimCLR(size=24, scale=(0.3, 0.9), kernel_size=5, normalize=((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))).parameters
    assert (p["size"], p["scale"], p["kernel_size"], p["mean"], p["std"]) == (24, (0.3, 0.9), 5, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
