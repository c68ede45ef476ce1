"""Fuzz cases for imc's tools: the seeds, their mutations and the case generator (see fuzzing.py).

A case is a tool, a command line and the files it reads. Case `i` of campaign
`s` is `make_case(s, i, corpus)`: it depends only on `(s, i)` and the seed
files (the `.mlir` files under `test/` and `examples/`, the `.toml` presets
and test inputs), never on other cases.
"""

from __future__ import annotations

import io
import random
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------
# Cases and outcomes
# ---------------------------------------------------------------------------


@dataclass
class Case:
    """One run of one tool on files written into an empty sandbox directory."""

    index: int
    tool: str  # imc-opt | imc-run | imc-compile | hardware-loader | selftest
    phase: str  # what is exercised: parse, a pass name, a pipeline, run, hardware, cmdline
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    stdin: bytes = b""
    origin: str = ""  # the seed and the mutations applied

    def command(self) -> str:
        """The shell command that reproduces this case in its sandbox."""
        if self.tool == "hardware-loader":
            cmd = f"python -c 'from imc.ir.hardware import Hardware; Hardware.from_file({self.argv[0]!r})'"
        else:
            cmd = shlex.join([self.tool, *self.argv])
        if self.stdin:
            cmd += " < stdin.txt"
        return cmd

# ---------------------------------------------------------------------------
# The seeds
# ---------------------------------------------------------------------------

_SPLIT = re.compile(rb"^// -----\s*$", re.M)
_FUNC = re.compile(rb"func\.func\s+(?:public\s+|private\s+)?@([\w$.]+)")
_OP_NAME = re.compile(rb"\b(?:imc|linalg|arith|tensor|func|math|scf|bufferization|memref)\.[a-z_0-9]+\b")
_ATTR_KEY = re.compile(rb"(?<=[{,(<\s])([A-Za-z_][\w.]*)\s*=\s*(?=[^=\s])")


@dataclass
class Corpus:
    chunks: list[tuple[str, bytes]]  # (origin "path#k", text)
    files: list[tuple[str, bytes]]  # whole .mlir files that have chunks
    hardware: list[tuple[str, bytes]]  # .toml files
    op_names: list[bytes]
    attr_values: list[bytes]
    hardware_attrs: list[bytes] = field(default_factory=list)  # `imc.hardware` dictionaries of the presets

    @classmethod
    def load(cls, root: Path = REPO) -> "Corpus":
        paths = sorted(
            p
            for d in ("test", "examples")
            for p in (root / d).rglob("*.mlir")
            if "Output" not in p.relative_to(root).parts
        )
        chunks, files = [], []
        for p in paths:
            data = p.read_bytes()
            rel = str(p.relative_to(root))
            pieces = _SPLIT.split(data)
            if len(pieces) > 1:
                files.append((rel, data))
            chunks.extend((f"{rel}#{k}", piece) for k, piece in enumerate(pieces) if piece.strip())
        toml = sorted((root / "python" / "imc" / "presets").glob("*.toml")) + sorted((root / "test").rglob("*.toml"))
        hardware = [(str(p.relative_to(root)), p.read_bytes()) for p in toml if "Output" not in p.parts]
        op_names = sorted({m.group(0) for _, c in chunks for m in _OP_NAME.finditer(c)})
        values = set()
        for _, c in chunks:
            c = re.sub(rb"//[^\n]*", b"", c)  # not from comments
            for _, start, end in _attr_spans(c):
                if end - start <= 80:
                    values.add(c[start:end])
        return cls(chunks, files, hardware, op_names, sorted(values), _hardware_attrs())


def _hardware_attrs() -> list[bytes]:
    """The presets as `imc.hardware` attribute text (a context of its own, single-threaded: workers fork later)."""
    from imc.ir.context import make_context
    from imc.ir.hardware import Hardware

    context = make_context()
    context.enable_multithreading(False)
    with context:
        return [str(Hardware.preset(name).to_attr()).encode() for name in Hardware.presets()]


def _attr_spans(text: bytes) -> list[tuple[int, int, int]]:
    """(key start, value start, value end) of the entries `key = value` of attribute dictionaries."""
    spans = []
    for m in _ATTR_KEY.finditer(text):
        if text[m.start() - 1 : m.start()] == b"%" or m.group(1).startswith(b"%"):
            continue
        start = m.end()
        depth, i = 0, start
        while i < len(text):
            ch = text[i : i + 1]
            if ch in b"([{<":
                depth += 1
            elif ch in b")]}>":
                if depth == 0:
                    break
                depth -= 1
            elif ch == b'"':
                j = text.find(b'"', i + 1)
                i = j if j >= 0 else len(text)
            elif ch in b",\n" and depth == 0:
                break
            i += 1
        if i > start and depth == 0:
            spans.append((m.start(), start, i))
    return spans


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------

_BOUNDARY_INTS = [0, 1, 2, 3, 7, 8, 16, 17, 127, 128, 129, 255, 256, 1023, 65535, 65536, 2**31 - 1, 2**31,
                  2**32, 2**48, 2**63 - 1, 2**63, 2**64, 10**30, -1, -2, -128, -(2**31), -(2**63)]
_BOUNDARY_FLOATS = [b"0.0", b"-0.0", b"1.0e308", b"1.0e-320", b"-1.5", b"0.5", b"3.0e38", b"1.0e39",
                    b"0x7FF0000000000000", b"0xFFF0000000000000", b"0x7FF8000000000000", b"0x7FC00000"]
_TYPES = [b"f16", b"bf16", b"f32", b"f64", b"i1", b"i4", b"i8", b"i16", b"i32", b"i64", b"si32", b"ui8",
          b"index", b"complex<f32>", b"none", b"f8E4M3FN"]
_TYPE_RE = re.compile(rb"\b(?:bf16|f16|f32|f64|i1|i4|i8|i16|i32|i64|si32|si64|ui8|index)\b")
_NUMBER_RE = re.compile(
    rb"(?<![\w%@#$.\-])-?(?:0x[0-9A-Fa-f]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])|(?<=[<x])\d+(?=x)"
)
_SHAPE_RE = re.compile(rb"(?<=tensor<)((?:[\d?]+x)*)(?=[a-z*])")
_SSA_RE = re.compile(rb"%[\w$.#-]+")
_ATTR_REPLACEMENTS = [b"0 : i64", b"-1 : i64", b"true", b"unit", b'"x"', b'""', b"[]", b"[1, 2]", b"{}",
                      b"array<i64: 3, 3>", b"array<si32: 3, 3>", b"array<i64>", b"array<i64: -1, 0>",
                      b"dense<1.0> : tensor<2xf32>", b"0x7FF0000000000000 : f64", b"1.0e308 : f64",
                      b"9223372036854775807 : i64", b"affine_map<(d0) -> (d0)>", b"@main", b"f32", b"i4"]
_JUNK = [b"{", b"}", b"(", b")", b"<", b">", b",", b":", b'"', b"=", b"%", b"@", b"^bb0", b"\x00", b"// ", b"\\"]
_NOT_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xf4\x90\x80\x80"]


def _number(rng: random.Random) -> bytes:
    if rng.random() < 0.75:
        return str(rng.choice(_BOUNDARY_INTS)).encode()
    return rng.choice(_BOUNDARY_FLOATS)


def _sub_one(rng, text: bytes, pattern: re.Pattern, make) -> tuple[bytes, str] | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    m = rng.choice(matches)
    new = make(m.group(0))
    return text[: m.start()] + new + text[m.end() :], f"{m.group(0)[:30]!r}->{new[:30]!r}"


def _lines_op(rng, text: bytes, what: str) -> tuple[bytes, str] | None:
    lines = text.split(b"\n")
    if len(lines) < 2:
        return None
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if what == "delete":
        del lines[i]
    elif what == "duplicate":
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines), f"{what} line {i + 1}" + ("" if what == "delete" else f"/{j + 1}")


_IR_KINDS = ["number"] * 6 + ["type"] * 3 + ["shape"] * 2 + ["attr-drop", "attr-dup"] + ["attr-value"] * 3 + [
    "op-name", "ssa", "line-delete", "line-duplicate", "line-swap", "truncate", "junk", "not-utf8"]
_ATTR_KINDS = ["number"] * 4 + ["attr-drop", "attr-dup"] + ["attr-value"] * 3 + ["type"]


def mutate_ir(rng: random.Random, text: bytes, corpus: Corpus, *, kinds=_IR_KINDS) -> tuple[bytes, str]:
    """One token-level mutation of MLIR text; returns (text, what was done)."""
    for _ in range(8):
        kind = rng.choice(kinds)
        done = None
        if kind == "number":
            done = _sub_one(rng, text, _NUMBER_RE, lambda old: _number(rng))
        elif kind == "type":
            done = _sub_one(rng, text, _TYPE_RE, lambda old: rng.choice(_TYPES))
        elif kind == "shape":

            def reshape(old: bytes) -> bytes:
                dims = [d for d in old.split(b"x") if d]
                choice = rng.randrange(5)
                if choice == 0:
                    return b"*x"
                if choice == 1 and dims:
                    dims[rng.randrange(len(dims))] = b"?"
                elif choice == 2 and dims:
                    del dims[rng.randrange(len(dims))]
                elif choice == 3:
                    dims.insert(rng.randrange(len(dims) + 1), str(rng.choice([0, 1, 3, 65536, 2**40])).encode())
                else:
                    dims = [str(rng.choice([0, 1, 2, 5])).encode() for _ in range(rng.randrange(0, 9))]
                return b"".join(d + b"x" for d in dims)

            done = _sub_one(rng, text, _SHAPE_RE, reshape)
        elif kind.startswith("attr"):
            spans = _attr_spans(text)
            if spans:
                key_start, start, end = rng.choice(spans)
                entry = text[key_start:end]
                if kind == "attr-drop":
                    cut_end = end + 1 if text[end : end + 1] == b"," else end
                    done = text[:key_start] + text[cut_end:], f"drop {entry[:40]!r}"
                elif kind == "attr-dup":
                    done = text[:end] + b", " + entry.strip() + text[end:], f"duplicate {entry[:40]!r}"
                else:
                    pool = corpus.attr_values if rng.random() < 0.5 else _ATTR_REPLACEMENTS
                    new = rng.choice(pool)
                    done = text[:start] + new + text[end:], f"{entry[:40]!r} value->{new[:40]!r}"
        elif kind == "op-name":
            done = _sub_one(rng, text, _OP_NAME, lambda old: rng.choice(corpus.op_names))
        elif kind == "ssa":
            names = sorted(set(_SSA_RE.findall(text)))
            if len(names) > 1:
                done = _sub_one(rng, text, _SSA_RE, lambda old: rng.choice(names))
        elif kind.startswith("line-"):
            done = _lines_op(rng, text, kind[5:])
        elif kind == "truncate" and text:
            cut = rng.randrange(len(text))
            done = text[:cut], f"truncate at byte {cut}"
        elif kind in ("junk", "not-utf8") and text:
            at = rng.randrange(len(text) + 1)
            new = rng.choice(_JUNK if kind == "junk" else _NOT_UTF8)
            done = text[:at] + new + text[at:], f"insert {new!r} at byte {at}"
        if done is not None:
            return done[0], f"{kind}: {done[1]}"
    return text, "unchanged"


_TOML_LINE = re.compile(rb"^(\s*)([A-Za-z_][\w-]*)(\s*=\s*)(.*?)(\s*(?:#.*)?)$", re.M)
_TOML_SECTION = re.compile(rb"^\s*\[([^\]]*)\]\s*$", re.M)
_TOML_VALUES = [b"0", b"-1", b"1", b"2", b"3", b"7", b"65", b"4096", b"2147483648", b"281474976710656",
                b"9223372036854775807", b"18446744073709551616", b"100000000000000000000000000000", b"0.0", b"-0.0",
                b"0.5", b"-1.5", b"1e-300", b"1e308", b"inf", b"-inf", b"nan", b'"x"', b'""', b"true", b"false",
                b"[1, 2]", b"[]", b"{ a = 1 }", b"1979-05-27", b'"default"', b'"isaac"']
_BASES = [b'"default"', b'"nosuch"', b'""', b'"hw.toml"', b'"sub"', b'"other.toml"', b'"/proc/imc-fuzz.toml"',
          b"1", b"[]"]
_SECTIONS = [b"crossbar", b"chip", b"memory", b"noise", b"energy_pj", b"latency_ns", b"bogus", b"crossbar.x", b""]


def mutate_toml(rng: random.Random, text: bytes, keys: list[bytes]) -> tuple[bytes, str]:
    """One mutation of a hardware TOML file."""
    kinds = ["value"] * 8 + ["key"] * 2 + ["section", "section-delete", "line-delete", "line-duplicate",
                                            "line-swap", "truncate", "not-utf8", "base", "empty"]
    for _ in range(8):
        kind = rng.choice(kinds)
        done = None
        lines = list(_TOML_LINE.finditer(text))
        if kind in ("value", "key", "base") and lines:
            m = rng.choice(lines)
            if kind == "value":
                new = rng.choice(_TOML_VALUES) if rng.random() < 0.8 else str(rng.choice(_BOUNDARY_INTS)).encode()
                repl = m.group(1) + m.group(2) + m.group(3) + new + m.group(5)
            elif kind == "key":
                k = m.group(2)
                new = rng.choice([k[:-1] or b"k", k + b"s", rng.choice(keys), b"bogus", b"name", b"base"])
                repl = m.group(1) + new + m.group(3) + m.group(4) + m.group(5)
            else:
                new = rng.choice(_BASES)
                repl = m.group(0) + b"\nbase = " + new if m.group(2) != b"base" else m.group(1) + b"base = " + new
            done = text[: m.start()] + repl + text[m.end() :], f"{m.group(0)[:40]!r}->{repl[:40]!r}"
        elif kind.startswith("section"):
            sections = list(_TOML_SECTION.finditer(text))
            if sections:
                m = rng.choice(sections)
                repl = b"" if kind == "section-delete" else b"[" + rng.choice(_SECTIONS) + b"]"
                done = text[: m.start()] + repl + text[m.end() :], f"{m.group(0)!r}->{repl!r}"
        elif kind.startswith("line-"):
            done = _lines_op(rng, text, kind[5:])
        elif kind == "truncate" and text:
            cut = rng.randrange(len(text))
            done = text[:cut], f"truncate at byte {cut}"
        elif kind == "not-utf8":
            at = rng.randrange(len(text) + 1)
            new = rng.choice(_NOT_UTF8)
            done = text[:at] + new + text[at:], f"insert {new!r} at byte {at}"
        elif kind == "empty":
            done = rng.choice([b"", b"\n", b"# nothing\n", b"name = \"x\"\n"]), "replaced by a near-empty file"
        if done is not None:
            return done[0], f"{kind}: {done[1]}"
    return text, "unchanged"


# ---------------------------------------------------------------------------
# Case generation
# ---------------------------------------------------------------------------

_IMC_PASSES = ["imc-map-contractions", "imc-tile", "imc-place-crossbars", "imc-tile-rows", "imc-place-buffers",
               "imc-check-buffers"]
_PASS_OPTIONS = {
    "imc-map-contractions": ["map-activation-matmuls"],
    "imc-tile": ["rows", "cols", "cell-bits", "weight-bits", "input-bits", "dac-bits", "adc-bits"],
    "imc-place-crossbars": ["crossbars", "pack", "pool", "duplicate", "objective"],
    "imc-tile-rows": ["rows", "matmuls", "entry", "line-buffers"],
    "imc-place-buffers": ["entry", "tile-bytes", "double-buffer"],
    "imc-check-buffers": [],
}
_OPTION_VALUES = ["0", "1", "2", "3", "7", "-1", "64", "129", "4097", "2147483648", "9223372036854775808",
                  "99999999999999999999", "-99999999999999999999", "18446744073709551616", "0x10", "1e3", "true", "false", "none", "", "abc", "main", "nosuch", "'a b'", "latency", "energy"]
_PRESETS = ["default", "isaac", "metis", "mythic", "puma"]
_PIPELINES = ["imc-default", "imc-tiled", "imc-pipelined", "imc-map-to-crossbars", "imc-default,canonicalize,cse", "canonicalize",
              "imc-tile,imc-tile", "imc-place-buffers,imc-map-to-crossbars"]


def _pass_with_options(rng: random.Random, name: str) -> str:
    options = _PASS_OPTIONS[name]
    if not options or rng.random() < 0.6:
        return name
    chosen = rng.sample(options, rng.randint(1, min(3, len(options))))
    if rng.random() < 0.1:
        chosen.append(rng.choice(["bogus", "rows", "cols"]))
    return name + "{" + " ".join(f"{k}={rng.choice(_OPTION_VALUES)}" for k in chosen) + "}"


def _entry_of(text: bytes) -> str | None:
    m = _FUNC.search(text)
    return m.group(1).decode("utf-8", "replace") if m else None


def _ir_case(rng: random.Random, index: int, corpus: Corpus) -> Case:
    whole = rng.random() < 0.1 and corpus.files
    origin, text = rng.choice(corpus.files if whole else corpus.chunks)
    notes = []
    if not whole and corpus.hardware_attrs and rng.random() < 0.12:
        # A module carrying a mutated `imc.hardware` attribute.
        attr = rng.choice(corpus.hardware_attrs)
        for _ in range(1 + min(2, int(rng.expovariate(1.5)))):
            attr, what = mutate_ir(rng, attr, corpus, kinds=_ATTR_KINDS)
            notes.append(f"imc.hardware {what}")
        if b"module" in text:
            origin, text = "examples/linear.mlir", (REPO / "examples" / "linear.mlir").read_bytes()
        text = b"module attributes {imc.hardware = " + attr + b"} {\n" + text + b"\n}\n"
    else:
        for _ in range(1 + min(3, int(rng.expovariate(1.2)))):
            text, what = mutate_ir(rng, text, corpus)
            notes.append(what)
    argv = ["input.mlir"]
    pick = rng.random()
    if pick < 0.25:
        tool, phase = "imc-opt", "parse"
    elif pick < 0.55:
        name = rng.choice(_IMC_PASSES)
        tool, phase = "imc-opt", name
        argv += [f"--pass-pipeline=builtin.module({_pass_with_options(rng, name)})"]
    elif pick < 0.72:
        tool, phase = "imc-opt", rng.choice(["imc-default"] * 3 + ["imc-tiled"])
        argv += ["-p", phase]
    else:
        tool, phase = "imc-run", "run"
        argv += ["--random-inputs"]
        entry = _entry_of(text)
        if entry and entry != "main":
            argv += ["--entry", entry]
        if rng.random() < 0.3:
            argv += ["--precision", rng.choice(["quantized", "noisy"])]
    if tool == "imc-opt":
        if whole:
            argv.append("--split-input-file")
            if rng.random() < 0.5:
                argv.append("--verify-diagnostics")
        if rng.random() < 0.15:
            argv += ["--hardware", rng.choice(_PRESETS + ["Inputs/spad-1k.toml"])]
        if rng.random() < 0.05:
            argv.append(rng.choice(["--mlir-print-ir-after-all", "--mlir-print-op-generic", "--mlir-print-debuginfo",
                                    "--imc-remarks"]))
    files = {"input.mlir": text}
    if "--hardware" in argv and "Inputs/spad-1k.toml" in argv:
        files["Inputs/spad-1k.toml"] = (REPO / "test" / "Inputs" / "spad-1k.toml").read_bytes()
    if rng.random() < 0.05:  # the same through stdin
        argv[0] = "-"
        return Case(index, tool, phase, argv, {k: v for k, v in files.items() if k != "input.mlir"}, stdin=text,
                    origin=f"{origin}; stdin; " + "; ".join(notes))
    return Case(index, tool, phase, argv, files, origin=f"{origin}; " + "; ".join(notes))


def _hardware_case(rng: random.Random, index: int, corpus: Corpus) -> Case:
    origin, text = rng.choice(corpus.hardware)
    keys = sorted({m.group(2) for _, t in corpus.hardware for m in _TOML_LINE.finditer(t)})
    notes = []
    for _ in range(1 + min(3, int(rng.expovariate(1.2)))):
        text, what = mutate_toml(rng, text, keys)
        notes.append(what)
    files = {"hw.toml": text, "other.toml": (REPO / "test" / "Inputs" / "spad-1k.toml").read_bytes()}
    pick = rng.random()
    if pick < 0.4:
        tool, phase, argv = "hardware-loader", "hardware", ["hw.toml"]
    else:
        module_origin, module = ("examples/linear.mlir", (REPO / "examples" / "linear.mlir").read_bytes())
        if rng.random() < 0.3:
            module_origin, module = rng.choice(corpus.chunks)
        files["input.mlir"] = module
        origin += f" on {module_origin}"
        if pick < 0.55:
            tool, phase, argv = "imc-opt", "parse", ["input.mlir", "--hardware", "hw.toml"]
        elif pick < 0.75:
            tool, phase, argv = "imc-opt", "imc-default", ["input.mlir", "--hardware", "hw.toml", "-p", "imc-default"]
        else:
            tool, phase, argv = "imc-run", "run", ["input.mlir", "--hardware", "hw.toml", "--random-inputs"]
            entry = _entry_of(module)
            if entry and entry != "main":
                argv += ["--entry", entry]
            if rng.random() < 0.4:
                argv += ["--precision", rng.choice(["quantized", "noisy"])]
    return Case(index, tool, phase, argv, files, dirs=["sub"], origin=f"{origin}; " + "; ".join(notes))


def _npy(array) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _fixtures() -> tuple[dict[str, bytes], list[str]]:
    """Files every command-line case can name."""
    import numpy as np

    linear = (REPO / "examples" / "linear.mlir").read_bytes()
    npz = io.BytesIO()
    np.savez(npz, np.zeros(3))
    files = {
        "in.mlir": linear,
        "x.npy": _npy(np.ones((4, 256), np.float32)),
        "w.npy": _npy(np.ones((192, 256), np.float32)),
        "bad.npy": _npy(np.ones((3, 3), np.float64)),
        "int.npy": _npy(np.ones((4, 256), np.int64)),
        "empty.npy": b"",
        "x.npz": npz.getvalue(),
        "out.txt": b"existing\n",
        "latin1.mlir": b"// caf\xe9\n" + linear,
        "scalar.mlir": b"func.func @main(%a: f32) -> f32 {\n  return %a : f32\n}\n",
        "dynamic.mlir": b"func.func @main(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {\n  return %a : tensor<?x4xf32>\n}\n",
        "unranked.mlir": b"func.func @main(%a: tensor<*xf32>) -> tensor<*xf32> {\n  return %a : tensor<*xf32>\n}\n",
        "i4.mlir": b"func.func @main(%a: tensor<4xi4>) -> tensor<4xi4> {\n  return %a : tensor<4xi4>\n}\n",
        "huge.mlir": b"func.func @main(%a: tensor<4294967296x65536xf32>) -> tensor<4294967296x65536xf32> {\n"
        b"  return %a : tensor<4294967296x65536xf32>\n}\n",
        "private.mlir": linear.replace(b"func.func @main", b"func.func private @main"),
        "decl.mlir": b"func.func private @main(tensor<4xf32>) -> tensor<4xf32>\n",
        "empty.mlir": b"",
        "tiny.py": b"import torch\n\nclass Tiny(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        b"        self.fc = torch.nn.Linear(8, 4)\n\n    def forward(self, x):\n        return self.fc(x)\n",
        "broken.py": b"raise RuntimeError('model file fails on import')\n",
        "syntax.py": b"def (:\n",
    }
    return files, ["dir", "dir2/sub"]


_OUT_PATHS = ["out.mlir", "out.txt", "dir", "nosuch/deeper/out", "/proc/imc-fuzz/out", "", "-", "x.npy"]
_IN_MLIR = ["in.mlir", "latin1.mlir", "scalar.mlir", "dynamic.mlir", "unranked.mlir", "i4.mlir", "huge.mlir",
            "private.mlir", "decl.mlir", "empty.mlir", "dir", "nosuch.mlir", "x.npy", "-", ""]
_HW_SPECS = _PRESETS + ["", "nosuch", "dir", "in.mlir", "x.npy", "missing.toml", "/proc/imc-fuzz.toml", "default.toml",
                        "Default", " default"]
_INTS = ["0", "1", "-1", "3", "-5", "2147483648", "18446744073709551616", "1.5", "x", "", "0x10"]

_TOOL_FLAGS: dict[str, list[tuple[str, list[str] | None]]] = {
    "imc-opt": [
        ("-o", _OUT_PATHS), ("--pass-pipeline", _PIPELINES + ["imc-tile{rows=99999999999999999999}",
                                                              "imc-tile{rows=0}", "imc-tile{rows=-1}", "nosuch",
                                                              "builtin.module(", "builtin.module(imc-tile))",
                                                              "imc-tile{rows}", "func.func(canonicalize)", "",
                                                              "imc-place-buffers{tile-bytes=-1}", "'imc-tile'"]),
        ("-p", _PIPELINES), ("--split-input-file", None), ("--verify-diagnostics", None), ("--hardware", _HW_SPECS),
        ("--mlir-print-ir-after-all", None), ("--mlir-print-op-generic", None), ("--mlir-print-debuginfo", None),
        ("--imc-remarks", None), ("--allow-unregistered-dialect", None), ("--list-passes", None), ("--help", None),
        ("--nosuch", None), ("-x", None), ("--hardware=", None),
    ],
    "imc-run": [
        ("--entry", ["main", "nosuch", "", "@main", "linear"]), ("--hardware", _HW_SPECS),
        ("--precision", ["ideal", "quantized", "noisy", "exact", ""]), ("--seed", _INTS),
        ("--input", ["x.npy", "w.npy", "bad.npy", "int.npy", "empty.npy", "x.npz", "out.txt", "dir", "nosuch.npy", ""]),
        ("--input x.npy --input", ["w.npy", "bad.npy", "int.npy", "empty.npy", "x.npz", "dir"]),  # both of in.mlir's
        ("--random-inputs", None), ("--json", _OUT_PATHS), ("--output", _OUT_PATHS), ("--repeat", ["0", "1", "2", "-1", "x"]),
        ("--help", None), ("--nosuch", None),
    ],
    "imc-compile": [
        ("--hardware", _HW_SPECS), ("--precision", ["ideal", "quantized", "noisy", "exact"]),
        ("--input-shape", ["1,8", "0,8", "2,8", "1,9", "8", "a,b", "", "1,,8", "-1,8", "1,8,1,1,1"]),
        ("--seed", _INTS), ("--pipeline", ["imc-default", "imc-tiled", "nosuch", "builtin.module(", ""]),
        ("--calls", ["0", "1", "-1", "x"]), ("--out-dir", _OUT_PATHS), ("--json", _OUT_PATHS), ("--figure", _OUT_PATHS),
        ("--tolerance", ["nan", "-1", "inf", "x", "0"]), ("--remarks", None), ("--list-models", None), ("--help", None),
        ("--nosuch", None),
    ],
}
# Models that fail before anything is compiled; tiny.py:Tiny compiles for real and is drawn rarely.
_MODELS = ["", "nosuch", "dir", "tiny.py", "tiny.py:Nope", "missing.py:X", "broken.py:X", "syntax.py:X", "in.mlir:X",
           ":", "tiny.py:", "dir:Tiny", "x.npy:Tiny"]


def _cmdline_case(rng: random.Random, index: int, corpus: Corpus) -> Case:
    tool = rng.choices(["imc-opt", "imc-run", "imc-compile"], weights=[4, 4, 2])[0]
    flags = _TOOL_FLAGS[tool]
    argv: list[str] = []
    if tool == "imc-compile":
        model = "tiny.py:Tiny" if rng.random() < 0.03 else rng.choice(_MODELS)
        if model == "tiny.py:Tiny" and rng.random() < 0.7:
            argv += ["--input-shape", "1,8"]  # mostly a real compile with a good shape
        positional = [model]
    else:
        positional = [rng.choice(_IN_MLIR)] if rng.random() < 0.95 else []
        if tool == "imc-run" and rng.random() < 0.6:
            argv.append("--random-inputs")
    for _ in range(rng.randrange(0, 5)):
        flag, values = rng.choice(flags)
        if values is None:
            argv.append(flag)
        elif " " in flag:
            argv += [*flag.split(), rng.choice(values)]
        elif rng.random() < 0.15:
            argv.append(f"{flag}={rng.choice(values)}")
        else:
            argv += [flag, rng.choice(values)]
    if rng.random() < 0.05:
        argv.append(rng.choice(["extra.mlir", "--", "-", "--input"]))
    for p in positional:
        argv.insert(rng.randrange(len(argv) + 1) if rng.random() < 0.3 else 0, p)
    if tool == "imc-compile" and positional[0] != "tiny.py:Tiny":  # never a real compile by accident
        argv = [a for a in argv if a != "tiny.py:Tiny"]
    files, dirs = _fixtures()
    stdin = rng.choice([b"", files["in.mlir"], b"\xff\xfe"]) if "-" in argv else b""
    return Case(index, tool, "cmdline", argv, files, dirs, stdin=stdin, origin="command line")


def make_case(seed: int, index: int, corpus: Corpus) -> Case:
    """Case `index` of campaign `seed`: depends on nothing else."""
    rng = random.Random(f"imc-fuzz:{seed}:{index}")
    kind = rng.choices(["ir", "hardware", "cmdline"], weights=[60, 25, 15])[0]
    return {"ir": _ir_case, "hardware": _hardware_case, "cmdline": _cmdline_case}[kind](rng, index, corpus)
