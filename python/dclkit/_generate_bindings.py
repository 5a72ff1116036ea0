"""Generates ``_bindings.py``, the ctypes declarations of the C ABI, from ``dclkit.h``.

``python -m dclkit._generate_bindings`` rewrites ``python/dclkit/_bindings.py`` from
``Sources/DCLKitABI/dclkit.h``; with ``--check`` it writes nothing and exits with status 1 when
the committed file differs from what the header gives. Standard library only. ``-m`` imports the
package, which loads the library; ``python python/dclkit/_generate_bindings.py`` runs the same
without it (before the library is built, or when it lacks a function the header gained).

The parser reads the subset of C the header is written in, and refuses anything else by naming
the statement, so a construct it does not understand never turns into a wrong binding:
``#define NAME <integer>`` constants, ``typedef struct x x;`` opaque handles, function-pointer
typedefs (callbacks) and function prototypes over the fixed-width integer types, ``float``,
``double``, ``char`` and ``void``. The C types become ctypes types by one rule:

======================================  =========================================
C                                       ctypes
======================================  =========================================
``int32_t``, ``int64_t``, ``double``..  ``c_int32``, ``c_int64``, ``c_double``..
``const char *`` (a string in)          ``c_char_p``
``char *`` (a text buffer out)          ``POINTER(c_char)``
``float *``, ``uint8_t *`` (const or    ``FLOAT_P``, ``UINT8_P`` (numpy's ``data_as``
not)                                    pointers, ``_arrays.pointer``)
``int64_t *``, ``double *``, ...        ``POINTER(c_int64)``, ``POINTER(c_double)``
``void *``                              ``c_void_p``
``dcl_x *`` (an opaque handle)          ``c_void_p``
``T **`` (an out-parameter)             ``POINTER(<T *>)``: ``dcl_x **`` -> ``POINTER(c_void_p)``
a callback typedef                      ``CFUNCTYPE(...)`` whose pointer parameters are all
                                        ``c_void_p``: Python receives addresses to view
``void`` (a result)                     ``None``
======================================  =========================================
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

HEADER = Path(__file__).resolve().parents[2] / "Sources" / "DCLKitABI" / "dclkit.h"
OUTPUT = Path(__file__).with_name("_bindings.py")
COMMAND = "python -m dclkit._generate_bindings"

# The C scalar types the header may use and their ctypes names.
_SCALARS = {
    "int8_t": "c_int8", "uint8_t": "c_uint8", "int16_t": "c_int16", "uint16_t": "c_uint16",
    "int32_t": "c_int32", "uint32_t": "c_uint32", "int64_t": "c_int64", "uint64_t": "c_uint64",
    "float": "c_float", "double": "c_double", "char": "c_char",
}
# Pointers the package names once (``_arrays`` re-exports them): numpy arrays pass as these.
_NAMED_POINTERS = {"float": "FLOAT_P", "uint8_t": "UINT8_P"}
_IDENTIFIER = r"[A-Za-z_]\w*"


class HeaderError(ValueError):
    """The header holds a construct the generator does not understand."""


@dataclass(frozen=True)
class CType:
    """A C type as the header spells it: a base name, whether the base is ``const``, and how
    many ``*`` follow it (qualifiers of the pointers themselves do not matter to ctypes)."""

    base: str
    const: bool
    pointers: int


@dataclass(frozen=True)
class Parameter:
    """One parameter of a function or callback (``name`` is empty when the header gives none)."""

    name: str
    type: CType


@dataclass(frozen=True)
class Function:
    """A prototype or a callback typedef: its name, result type and parameters in order."""

    name: str
    result: CType
    parameters: tuple[Parameter, ...]


@dataclass(frozen=True)
class Header:
    """What the header declares, each kind in the header's order."""

    constants: tuple[tuple[str, int], ...]
    handles: tuple[str, ...]
    callbacks: tuple[Function, ...]
    functions: tuple[Function, ...]


def _strip_comments(text: str) -> str:
    """``text`` without its comments; a block comment keeps its line breaks."""
    text = re.sub(r"/\*.*?\*/", lambda match: "\n" * match.group(0).count("\n") or " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _split_preprocessor(text: str) -> tuple[list[tuple[str, int]], str]:
    """The ``#define`` integer constants and the C code outside preprocessor lines. Code inside
    ``#ifdef __cplusplus`` is C++'s ``extern "C"`` wrapper and is dropped."""
    constants: list[tuple[str, int]] = []
    code: list[str] = []
    skipping = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            if not skipping:
                code.append(line)
            continue
        directive = stripped[1:].split()
        keyword = directive[0] if directive else ""
        if skipping:
            skipping = keyword != "endif"
        elif keyword == "ifdef" and directive[1:] == ["__cplusplus"]:
            skipping = True
        elif keyword == "define" and len(directive) == 3 and re.fullmatch(_IDENTIFIER, directive[1]):
            try:
                constants.append((directive[1], int(directive[2], 0)))
            except ValueError:
                raise HeaderError(f"line {number}: #define {directive[1]} is not an integer: {directive[2]}") from None
        elif keyword == "define" and len(directive) == 2:
            pass  # the include guard
        elif keyword not in ("ifndef", "endif", "include"):
            raise HeaderError(f"line {number}: unsupported preprocessor line: {stripped}")
    return constants, "\n".join(code)


def _parse_type(text: str, handles: set[str], callbacks: set[str], where: str) -> CType:
    """The C type spelled by ``text`` (qualifiers, one base name, stars)."""
    tokens = re.findall(r"\*|" + _IDENTIFIER + r"|\S", text)
    stars = [i for i, token in enumerate(tokens) if token == "*"]
    head = tokens[:stars[0]] if stars else tokens
    tail = tokens[stars[0]:] if stars else []
    names = [token for token in head if token != "const"]
    if len(names) != 1 or any(token not in ("*", "const") for token in tail):
        raise HeaderError(f"{where}: unsupported type {text.strip()!r}")
    base = names[0]
    if base not in _SCALARS and base not in handles and base not in callbacks and base != "void":
        raise HeaderError(f"{where}: unknown type {base!r}")
    return CType(base, "const" in head, len(stars))


def _parse_parameters(text: str, handles: set[str], callbacks: set[str], where: str) -> tuple[Parameter, ...]:
    """The parameters of a parameter list (``void`` alone is none)."""
    text = text.strip()
    if not text:
        raise HeaderError(f"{where}: an empty parameter list; write (void)")
    if text == "void":
        return ()
    parameters = []
    for position, piece in enumerate(text.split(",")):
        identifiers = [token for token in re.findall(_IDENTIFIER, piece) if token != "const"]
        named = len(identifiers) > 1 and re.search(_IDENTIFIER + r"\s*$", piece) is not None
        name = identifiers[-1] if named else ""
        type_text = piece[:piece.rstrip().rfind(name)] if named else piece
        ctype = _parse_type(type_text, handles, callbacks, f"{where}, parameter {position}")
        if ctype.base == "void" and ctype.pointers == 0:
            raise HeaderError(f"{where}: parameter {position} is void")
        parameters.append(Parameter(name, ctype))
    return tuple(parameters)


def parse(text: str) -> Header:
    """Everything ``text`` (a header in the subset described in the module's notes) declares.

    Raises
    ------
    HeaderError
        A construct outside that subset, or a name declared twice.
    """
    constants, code = _split_preprocessor(_strip_comments(text))
    statements = [" ".join(piece.split()) for piece in code.split(";")]
    if statements[-1]:
        raise HeaderError(f"text after the last declaration: {statements[-1]!r}")
    handles: list[str] = []
    callbacks: list[Function] = []
    functions: list[Function] = []
    seen = {name for name, _ in constants}
    if len(seen) != len(constants):
        raise HeaderError("a constant is defined twice")
    for statement in filter(None, statements):
        handle = re.fullmatch(rf"typedef struct ({_IDENTIFIER}) ({_IDENTIFIER})", statement)
        callback = re.fullmatch(rf"typedef (.+?)\( ?\* ?({_IDENTIFIER}) ?\) ?\((.*)\)", statement)
        function = re.fullmatch(rf"(.+?)\b({_IDENTIFIER}) ?\((.*)\)", statement)
        match = handle or callback or function
        if match is None or (handle and handle.group(1) != handle.group(2)):
            raise HeaderError(f"unsupported declaration: {statement}")
        name = match.group(2)
        if name in seen:
            raise HeaderError(f"{name} is declared twice")
        seen.add(name)
        if handle:
            handles.append(name)
            continue
        known_handles, known_callbacks = set(handles), {c.name for c in callbacks}
        result = _parse_type(match.group(1), known_handles, known_callbacks, name)
        parameters = _parse_parameters(match.group(3), known_handles, known_callbacks, name)
        (callbacks if callback else functions).append(Function(name, result, parameters))
    return Header(tuple(constants), tuple(handles), tuple(callbacks), tuple(functions))


def ctypes_name(ctype: CType, header: Header, in_callback: bool = False) -> str:
    """The ctypes expression of ``ctype`` by the rule in the module's notes (``in_callback``:
    a callback's parameter, whose pointers are all ``c_void_p``)."""
    handles = set(header.handles)
    callbacks = {c.name for c in header.callbacks}
    if ctype.pointers == 0:
        if ctype.base == "void":
            return "None"
        if ctype.base in handles:
            raise HeaderError(f"a handle ({ctype.base}) passed by value")
        return ctype.base if ctype.base in callbacks else _SCALARS[ctype.base]
    if ctype.base in callbacks:
        raise HeaderError(f"a pointer to a callback ({ctype.base} *)")
    if in_callback:
        return "c_void_p"
    if ctype.pointers > 1:
        return f"POINTER({ctypes_name(CType(ctype.base, ctype.const, ctype.pointers - 1), header)})"
    if ctype.base == "void" or ctype.base in handles:
        return "c_void_p"
    if ctype.base == "char":
        return "c_char_p" if ctype.const else "POINTER(c_char)"
    return _NAMED_POINTERS.get(ctype.base, f"POINTER({_SCALARS[ctype.base]})")


def _wrap(items: Sequence[str], indent: str, width: int = 116) -> list[str]:
    """``items`` joined by ", " into lines of at most ``width`` characters (each line ends
    with a comma)."""
    lines: list[str] = []
    line = ""
    for item in items:
        candidate = f"{line} {item}," if line else f"{indent}{item},"
        if line and len(candidate) > width:
            lines.append(line)
            candidate = f"{indent}{item},"
        line = candidate
    if line:
        lines.append(line)
    return lines


def generate(text: str, source: str = "dclkit.h") -> str:
    """The text of ``_bindings.py`` for the header ``text`` (named ``source`` in its comment)."""
    header = parse(text)
    out = [
        f"# generated from {source} by {COMMAND}; do not edit.",
        f'"""ctypes declarations of every constant, callback type and function of {source}.',
        "",
        "Loaded and bound by ``_native`` (``functions``); see ``_generate_bindings`` for the type rule.",
        '"""',
        "from __future__ import annotations",
        "",
        "{imports}",
        "from typing import Any",
        "",
        "FLOAT_P = POINTER(c_float)",
        "UINT8_P = POINTER(c_uint8)",
        "",
        "# Integer constants (#define).",
    ]
    out += [f"{name} = {value}" for name, value in header.constants]
    out += ["", "# Callback types: (restype, argtypes...)."]
    for callback in header.callbacks:
        types = [ctypes_name(callback.result, header)]
        types += [ctypes_name(p.type, header, in_callback=True) for p in callback.parameters]
        out.append(f"{callback.name} = CFUNCTYPE(")
        out += _wrap(types, "    ")
        out.append(")")
    out += [
        "",
        "# Every exported function: name -> (restype, ((parameter name, argtype), ...)).",
        "SIGNATURES: dict[str, tuple[Any, tuple[tuple[str, Any], ...]]] = {",
    ]
    for function in header.functions:
        parameters = [f'("{p.name}", {ctypes_name(p.type, header)})' for p in function.parameters]
        result = ctypes_name(function.result, header)
        if not parameters:
            out.append(f'    "{function.name}": ({result}, ()),')
            continue
        out.append(f'    "{function.name}": ({result}, (')
        out += _wrap(parameters, "        ")
        out.append("    )),")
    out.append("}")
    body = "\n".join(out) + "\n"
    used = set(re.findall(r"\b(?:CFUNCTYPE|POINTER|c_\w+)\b", body.split("{imports}", 1)[1]))
    return body.replace("{imports}", _wrap_import(sorted(used, key=_import_order)))


def _import_order(name: str) -> tuple[bool, list[Any]]:
    """isort's order of imported names (ruff's ``I`` rules): constants first, then the rest, each in
    natural order (``c_uint8`` before ``c_uint64``)."""
    return not name.isupper(), [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _wrap_import(names: Sequence[str], width: int = 130) -> str:
    """``from ctypes import ...`` of ``names``: one line when it fits in ``width`` (the package's line
    length), else one name per line in parentheses, as ruff's import sorting writes it."""
    line = "from ctypes import " + ", ".join(names)
    if len(line) <= width:
        return line
    return "from ctypes import (\n" + "".join(f"    {name},\n" for name in names) + ")"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Writes (or with ``--check`` compares) ``_bindings.py``; returns the exit status."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when _bindings.py is stale")
    parser.add_argument("--header", type=Path, default=HEADER, help="the C header (default: the repository's)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the module to write (default: _bindings.py)")
    args = parser.parse_args(argv)
    try:
        text = generate(args.header.read_text(), args.header.name)
    except (OSError, HeaderError) as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return 2
    current = args.output.read_text() if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is stale: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
