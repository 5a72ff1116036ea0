"""The ctypes bindings are the header's: ``_bindings.py`` is what ``_generate_bindings`` makes of
dclkit.h today, the library exports exactly its functions, and every argument type agrees with
an independent C parser (cffi's), so a reordered or retyped argument cannot mis-call silently."""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dclkit import _bindings, _generate_bindings, _native

HEADER = Path(__file__).resolve().parents[2] / "Sources" / "DCLKitABI" / "dclkit.h"


def _module(text: str) -> dict:
    """The namespace of a generated bindings module's text."""
    namespace: dict = {}
    exec(compile(text, "<generated bindings>", "exec"), namespace)
    return namespace


def test_committed_bindings_are_what_the_header_generates():
    generated = _generate_bindings.generate(HEADER.read_text(), HEADER.name)
    committed = Path(_bindings.__file__).read_text()
    assert committed == generated, "python/dclkit/_bindings.py is stale: run python -m dclkit._generate_bindings"


def test_check_mode_reports_a_stale_file_and_writing_fixes_it(tmp_path, capsys):
    output = tmp_path / "_bindings.py"
    output.write_text("# stale\n")
    arguments = ["--header", str(HEADER), "--output", str(output)]
    assert _generate_bindings.main(["--check", *arguments]) == 1
    assert "stale" in capsys.readouterr().err
    assert _generate_bindings.main(arguments) == 0
    assert _generate_bindings.main(["--check", *arguments]) == 0
    assert output.read_text() == _generate_bindings.generate(HEADER.read_text(), HEADER.name)


def test_library_exports_exactly_the_header_functions():
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    listing = subprocess.run(["nm", "-D", "--defined-only", _native.lib._name], capture_output=True, text=True,
                             check=True)
    exported = {line.split()[-1] for line in listing.stdout.splitlines()
                if line.split() and line.split()[-1].startswith("dcl_")}
    declared = set(_bindings.SIGNATURES)
    assert exported, "the library exports no dcl_* symbol"
    assert exported - declared == set(), "exported but not declared in dclkit.h"
    assert declared - exported == set(), "declared in dclkit.h but not exported"


def test_every_function_is_bound_with_its_generated_signature():
    assert set(_native.functions) == set(_bindings.SIGNATURES)
    for name, (restype, parameters) in _bindings.SIGNATURES.items():
        function = _native.functions[name]
        assert function.restype is restype, name
        assert list(function.argtypes) == [ctype for _, ctype in parameters], name


def test_argument_counts_match_the_header_text():
    """Independent of both parsers: the commas of each prototype in the comment-free header."""
    code = re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)
    prototypes = dict(re.findall(r"\b(dcl_\w+)\s*\(([^()]*)\)\s*;", code))
    assert set(prototypes) == set(_bindings.SIGNATURES)
    for name, parameters in prototypes.items():
        count = 0 if parameters.strip() == "void" else parameters.count(",") + 1
        assert len(_bindings.SIGNATURES[name][1]) == count, name


# ---- The cross-check with cffi's C parser ---------------------------------------------------------

_PRIMITIVES = {"int8_t": ctypes.c_int8, "uint8_t": ctypes.c_uint8, "int16_t": ctypes.c_int16,
               "uint16_t": ctypes.c_uint16, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32,
               "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "float": ctypes.c_float,
               "double": ctypes.c_double, "char": ctypes.c_char}


def _cffi_declarations():
    """cffi's view of the header, loaded against the library: (ffi, lib). cffi drops ``const``,
    so ``const char`` is renamed to an opaque ``dcl_text`` first to keep strings (``c_char_p``)
    apart from buffers (``char *``)."""
    cffi = pytest.importorskip("cffi", reason="cffi is not installed (make deps installs it); the independent "
                                              "C-parser cross-check needs it")
    text = re.sub(r"#ifdef __cplusplus.*?#endif", "", HEADER.read_text(), flags=re.S)
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith("#") or re.match(r"#define DCL_\w+ ", line))
    text = "typedef struct dcl_text dcl_text;\n" + re.sub(r"\bconst\s+char\b", "dcl_text", text)
    ffi = cffi.FFI()
    ffi.cdef(text)
    return ffi, ffi.dlopen(_native.lib._name)


def _expected(ctype, in_callback: bool = False):
    """The ctypes type of a cffi type, by the rule written in ``_generate_bindings``'s notes."""
    if ctype.kind == "void":
        return None
    if ctype.kind == "primitive":
        return _PRIMITIVES[ctype.cname]
    if ctype.kind == "function":
        return ("callback", _expected(ctype.result), tuple(_expected(a, in_callback=True) for a in ctype.args))
    assert ctype.kind == "pointer", ctype
    if in_callback:
        return ctypes.c_void_p
    item = ctype.item
    if item.kind == "struct":
        return ctypes.c_char_p if item.cname == "dcl_text" else ctypes.c_void_p
    if item.kind == "void":
        return ctypes.c_void_p
    return ctypes.POINTER(_expected(item))


def _described(ctype):
    """A generated ctypes type in the shape ``_expected`` gives (callbacks as a tuple)."""
    if isinstance(ctype, type) and issubclass(ctype, ctypes._CFuncPtr):
        return ("callback", ctype._restype_, tuple(ctype._argtypes_))
    return ctype


def test_every_signature_matches_cffis_reading_of_the_header():
    ffi, library = _cffi_declarations()
    functions = {name for name in dir(library) if name.startswith("dcl_") and not name.isupper()}
    assert functions == set(_bindings.SIGNATURES)
    for name, (restype, parameters) in _bindings.SIGNATURES.items():
        declared = ffi.typeof(getattr(library, name))
        assert _described(restype) == _expected(declared.result), name
        assert len(parameters) == len(declared.args), name
        for position, ((parameter, argtype), c_argument) in enumerate(zip(parameters, declared.args)):
            assert _described(argtype) == _expected(c_argument), f"{name} argument {position} ({parameter})"


def test_every_constant_matches_cffis_reading_of_the_header():
    _, library = _cffi_declarations()
    constants = {name: getattr(library, name) for name in dir(library) if name.startswith("DCL_")}
    generated = {name: value for name, value in vars(_bindings).items() if name.startswith("DCL")}
    assert constants and generated == constants


# ---- The generator on synthetic headers ------------------------------------------------------------

def test_a_reordered_argument_changes_the_generated_signature():
    text = HEADER.read_text()
    original = "int32_t dcl_pair_loss(int32_t objective, const float *z0, const float *z1, int64_t n, int64_t d,"
    assert original in text
    reordered = text.replace(original, "int32_t dcl_pair_loss(int32_t objective, const float *z0, int64_t n, "
                                       "const float *z1, int64_t d,")
    before = _module(_generate_bindings.generate(text))["SIGNATURES"]
    after = _module(_generate_bindings.generate(reordered))["SIGNATURES"]
    assert {name for name in before if before[name] != after[name]} == {"dcl_pair_loss"}
    assert [ctype for _, ctype in after["dcl_pair_loss"][1]][2:4] == [ctypes.c_int64, _bindings.FLOAT_P]


def test_each_c_type_takes_its_ctypes_type():
    header = """
    #define DCL_A 7 /* a constant */
    #define DCL_B -0x10
    typedef struct dcl_thing dcl_thing;
    typedef int32_t (*dcl_fn)(void *context, const char *text, char *out, int64_t n);
    const char *dcl_name(void);
    void dcl_thing_free(dcl_thing *thing);
    int32_t dcl_f(const char *s, char *buffer, const char *const *names, const float *const *rows, float *x,
                  const uint8_t *images, const int64_t *labels, double *out, uint64_t seed, void *raw,
                  const dcl_thing *thing, dcl_thing **created, dcl_fn callback, int32_t);
    """
    module = _module(_generate_bindings.generate(header, "synthetic.h"))
    assert (module["DCL_A"], module["DCL_B"]) == (7, -16)
    fn = module["dcl_fn"]
    assert fn._restype_ is ctypes.c_int32
    assert fn._argtypes_ == (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    signatures = module["SIGNATURES"]
    assert signatures["dcl_name"] == (ctypes.c_char_p, ())
    assert signatures["dcl_thing_free"] == (None, (("thing", ctypes.c_void_p),))
    P = ctypes.POINTER
    assert signatures["dcl_f"] == (ctypes.c_int32, (
        ("s", ctypes.c_char_p), ("buffer", P(ctypes.c_char)), ("names", P(ctypes.c_char_p)),
        ("rows", P(P(ctypes.c_float))), ("x", P(ctypes.c_float)), ("images", P(ctypes.c_uint8)),
        ("labels", P(ctypes.c_int64)), ("out", P(ctypes.c_double)), ("seed", ctypes.c_uint64),
        ("raw", ctypes.c_void_p), ("thing", ctypes.c_void_p), ("created", P(ctypes.c_void_p)), ("callback", fn),
        ("", ctypes.c_int32),
    ))


@pytest.mark.parametrize("header, message", [
    ("struct dcl_s { int32_t x; };", "unsupported"),
    ("unsigned int dcl_f(void);", "unsupported type"),
    ("size_t dcl_f(void);", "unknown type"),
    ("int32_t dcl_f();", "empty parameter list"),
    ("int32_t dcl_f(void x);", "void"),
    ("#if FOO\n#endif", "preprocessor"),
    ("#define DCL_X 1.5", "not an integer"),
    ("int32_t dcl_f(void);\nint32_t dcl_f(void);", "twice"),
    ("int32_t dcl_f(void)", "after the last declaration"),
    ("typedef struct dcl_s dcl_s;\nint32_t dcl_f(dcl_s s);", "by value"),
])
def test_constructs_outside_the_subset_are_refused(header, message):
    with pytest.raises(_generate_bindings.HeaderError, match=message):
        _generate_bindings.generate(header)
