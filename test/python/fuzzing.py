"""Mutation fuzzing of imc's tools: every input ends in clean success or a clean diagnostic.

A *case* is a tool (`imc-opt`, `imc-run`, `imc-compile` or the hardware loader),
a command line and the files it reads. Cases are generated from seeds:

- IR: the `.mlir` files under `test/` and `examples/`, split at `// -----`,
  mutated at token level (numbers to boundary values, types swapped, tensor
  shapes changed, attributes dropped, duplicated or replaced, op names and
  SSA values swapped, lines deleted/duplicated/swapped, truncation, bytes that
  are not UTF-8), then parsed, run through one imc pass (sometimes with odd
  options), the `imc-default`/`imc-tiled` pipelines, or `imc-run`;
- hardware: the presets and the `.toml` files under `test/`, with values,
  keys, sections and bytes mutated, read by `Hardware.from_file` and given to
  `imc-opt --hardware` / `imc-run --hardware`;
- command lines: random flags and values for the three tools (`imc-compile`
  mostly with arguments that fail before any compile).

Case `i` of seed `s` depends only on `(s, i)` and the seed files, so a case is
replayed with `python test/python/fuzzing.py --seed s --case i`.

Each case runs in-process (the tool's `main(argv)`, stdout and stderr
captured at the Python and file-descriptor level, stdin empty or given) in a
forked worker that runs many cases; a worker killed by a signal (a crash in
upstream MLIR) or stuck past the time limit is replaced, and the case
recorded. A case passes when it exits with status 0, 1 or 2, no exception
escapes `main`, and the output holds no `Traceback` and no `internal error`
(nor a `pass '...' crashed` message). Failures are grouped by class (the
exception type and where it was raised, the signal, ...); the first case of
each class is minimized (arguments, then lines of each file) while it keeps
its class, and printed as a reproducer: the files and the command.

    python test/python/fuzzing.py [--cases N] [--seed S] [--jobs J] [--timeout SEC] [--case I] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import io
import os
import random
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_PROJECT = tuple(str(REPO / d) + os.sep for d in ("tools", "python", "dialects", "passes"))

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
            cmd = f"python -c 'from imc.hardware import Hardware; Hardware.from_file({self.argv[0]!r})'"
        else:
            cmd = shlex.join([self.tool, *self.argv])
        if self.stdin:
            cmd += " < stdin.txt"
        return cmd


@dataclass
class Outcome:
    status: str  # ok | traceback | internal-error | bad-exit | crash | hang
    rc: int | None
    output: str
    signature: str = ""  # the failure class, "" when ok
    seconds: float = 0.0  # wall clock
    cpu: float = 0.0  # CPU time of the worker

    @property
    def failed(self) -> bool:
        return self.status != "ok"


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
    from imc.context import make_context
    from imc.hardware import Hardware

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
    "imc-place-crossbars": ["crossbars", "pack", "pool", "duplicate"],
    "imc-tile-rows": ["rows", "matmuls", "entry"],
    "imc-place-buffers": ["entry", "tile-bytes", "double-buffer"],
    "imc-check-buffers": [],
}
_OPTION_VALUES = ["0", "1", "2", "3", "7", "-1", "64", "129", "4097", "2147483648", "9223372036854775808",
                  "99999999999999999999", "-99999999999999999999", "18446744073709551616", "0x10", "1e3", "true", "false", "none", "", "abc", "main", "nosuch", "'a b'"]
_PRESETS = ["default", "isaac", "metis", "mythic", "puma"]
_PIPELINES = ["imc-default", "imc-tiled", "imc-map-to-crossbars", "imc-default,canonicalize,cse", "canonicalize",
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


# ---------------------------------------------------------------------------
# Running one case (in a worker)
# ---------------------------------------------------------------------------


def _hardware_loader(argv: list[str]) -> int:
    """`Hardware.from_file`, then a round trip through TOML that must agree."""
    from imc.hardware import Hardware, HardwareError

    try:
        hw = Hardware.from_file(argv[0])
    except HardwareError as exc:
        sys.stderr.write(f"hardware: error: {exc}\n")
        return 1
    again = Hardware.from_toml(hw.to_toml(), source="round trip")  # a valid chip must round-trip
    if again.to_dict() != hw.to_dict():
        raise AssertionError("Hardware.to_toml does not round-trip")
    hw.summary()
    return 0


def _selftest(argv: list[str]) -> int:
    """A tool that misbehaves on request: the harness's own tests."""
    what = argv[0] if argv else "ok"
    if what == "file":  # fails when its file holds a line 'BOOM'
        data = Path(argv[1]).read_bytes()
        if b"BOOM" in data.split(b"\n"):
            raise KeyError("BOOM")
        return 0
    if what == "raise":
        raise ZeroDivisionError("selftest")
    if what == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if what == "hang":
        while True:
            time.sleep(0.05)
    if what == "exit":
        sys.exit(int(argv[1]))
    if what == "internal":
        sys.stderr.write("selftest: internal error: please report\n")
        return 1
    if what == "print-traceback":
        sys.stderr.write('Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: v\n')
        return 1
    if what == "diagnostic":
        sys.stderr.write("selftest: error: a clean diagnostic\n")
        return 1
    if what == "memory":
        import numpy as np

        np.ones(2**47, np.uint8)
    return 0


def _tool_main(tool: str):
    if tool == "imc-opt":
        from imc.tools.imc_opt import main
    elif tool == "imc-run":
        from imc.tools.imc_run import main
    elif tool == "imc-compile":
        from imc.tools.imc_compile import main
    elif tool == "hardware-loader":
        main = _hardware_loader
    else:
        main = _selftest
    return main


def _site(frames) -> tuple[str, str]:
    """(where an exception escaped, where it was raised), as project `file:function`s.

    It escaped from the innermost project frame in another file than the one
    that raised it (`pipeline.py:hardware_for` for a `HardwareError` raised
    in `hardware.py`), or from the raising frame when no other file is on the
    stack.
    """
    frames = list(frames)
    ours = [f for f in frames if f.filename.startswith(_PROJECT)]
    ours = ours or [f for f in frames if f.filename == __file__ and f.name != "run_case"] or frames
    if not ours:
        return "?", "?"

    def rel(f) -> str:
        try:
            path = str(Path(f.filename).relative_to(REPO))
        except ValueError:
            path = os.path.basename(f.filename)
        return f"{path}:{f.name}"

    inner = ours[-1]
    outer = next((f for f in reversed(ours) if f.filename != inner.filename), None)
    return rel(outer or inner), rel(inner)


def _normalize(line: str) -> str:
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    return re.sub(r"\d+", "N", line).strip()[:160]


_PASS_CRASH = re.compile(r"pass '([^']+)' crashed: (\w[\w.]*)")
_PRINTED_TB = re.compile(r"Traceback \(most recent call last\):")


def classify(case: Case, rc: int | None, output: str, exc: BaseException | None) -> Outcome:
    """The oracle: clean success or a clean diagnostic, else a failure class."""
    if exc is not None:
        escaped, raised = _site(traceback.extract_tb(exc.__traceback__))
        output += f"{type(exc).__name__} raised in {raised}\n"
        return Outcome("traceback", rc, output, f"{type(exc).__name__} escapes {escaped}")
    if _PRINTED_TB.search(output):
        last = [l for l in output.splitlines() if re.match(r"^[\w.]+(Error|Exception|Warning)?\b.*:", l)]
        files = re.findall(r'File "([^"]+)", line \d+, in (\S+)', output)
        where = f"{os.path.basename(files[-1][0])}:{files[-1][1]}" if files else "?"
        kind = last[-1].split(":")[0] if last else "?"
        return Outcome("traceback", rc, output, f"{kind} traceback printed ({where})")
    m = _PASS_CRASH.search(output)
    if m:
        return Outcome("internal-error", rc, output, f"pass '{m.group(1)}' crashed: {m.group(2)}")
    for line in output.splitlines():
        if "internal error" in line.lower():
            return Outcome("internal-error", rc, output, f"internal error: {_normalize(line)}")
    if rc not in (0, 1, 2):
        return Outcome("bad-exit", rc, output, f"exit status {rc} from {case.tool}")
    return Outcome("ok", rc, output)


def _write_files(case: Case, root: Path) -> None:
    for d in case.dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_case(case: Case, sandbox: Path) -> Outcome:
    """Runs `case` in this process, in `sandbox` (emptied first; temporary files go there too)."""
    shutil.rmtree(sandbox, ignore_errors=True)
    (sandbox / ".tmp").mkdir(parents=True)
    tempfile.tempdir = str(sandbox / ".tmp")
    _write_files(case, sandbox)
    cwd = os.getcwd()
    os.chdir(sandbox)
    capture = tempfile.TemporaryFile()
    saved = (sys.stdin, sys.stdout, sys.stderr, os.dup(1), os.dup(2))
    out_bytes = io.BytesIO()
    stream = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    sys.stdin = io.TextIOWrapper(io.BytesIO(case.stdin), encoding="utf-8")
    sys.stdout = sys.stderr = stream
    rc, exc = None, None
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        rc = _tool_main(case.tool)(list(case.argv))
        rc = 0 if rc is None else rc
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            rc = e.code or 0
        else:
            stream.write(f"{e.code}\n")
            rc = 1
    except BaseException as e:  # noqa: BLE001 - any escape is what we look for
        exc = e
    finally:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.dup2(saved[3], 1)
        os.dup2(saved[4], 2)
        os.close(saved[3])
        os.close(saved[4])
        os.chdir(cwd)
    capture.seek(0)
    output = out_bytes.getvalue().decode("utf-8", "replace") + capture.read().decode("utf-8", "replace")
    capture.close()
    outcome = classify(case, rc, output, exc)
    outcome.seconds, outcome.cpu = seconds, cpu
    if exc is not None:
        outcome.output += "".join(traceback.format_exception(exc))
    outcome.output = outcome.output[-6000:]
    return outcome


def _worker_main(conn, log_path: str, sandbox: str, memory_bytes: int) -> None:
    import resource

    try:
        vm = int(re.search(r"VmSize:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
        limit = vm + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError, AttributeError):
        pass
    log = open(log_path, "w")
    faulthandler.enable(file=log, all_threads=False)
    while True:
        try:
            case = conn.recv()
        except (EOFError, OSError):
            return
        if case is None:
            return
        log.seek(0)
        log.truncate()
        conn.send(run_case(case, Path(sandbox)))


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------


class _Worker:
    def __init__(self, root: Path, n: int, memory_bytes: int):
        ctx = get_context("fork")
        self.log = root / f"worker-{n}.log"
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main, args=(child, str(self.log), str(root / f"sandbox-{n}"), memory_bytes), daemon=True
        )
        self.proc.start()
        child.close()
        self.case: Case | None = None
        self.started = 0.0

    def send(self, case: Case) -> None:
        self.case = case
        self.started = time.monotonic()
        self.conn.send(case)

    def python_stack(self) -> str:
        """The innermost Python frame faulthandler wrote when the worker died."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "?"
        frames = re.findall(r'File "([^"]+)", line \d+ in (\S+)', text)
        ours = [f for f in frames if f[0].startswith(_PROJECT)] or frames
        if not ours:
            return "?"
        path, name = ours[0]
        try:
            path = str(Path(path).relative_to(REPO))
        except ValueError:
            path = os.path.basename(path)
        return f"{path}:{name}"

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Pool:
    """Forked workers, each running many cases in-process; dead or stuck ones are replaced."""

    def __init__(self, jobs: int = 1, timeout: float = 10.0, memory_mb: int = 4096):
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.memory = memory_mb * 2**20
        self.root = Path(tempfile.mkdtemp(prefix="imc-fuzz-"))
        self._count = 0
        self.workers = [self._spawn() for _ in range(self.jobs)]

    def _spawn(self) -> _Worker:
        self._count += 1
        return _Worker(self.root, self._count, self.memory)

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _dead(self, w: _Worker, status: str) -> tuple[Outcome, _Worker]:
        """The outcome of the case that killed or stuck `w`, and the worker that replaces it."""
        if status == "hang" and w.proc.is_alive():
            try:
                os.kill(w.proc.pid, signal.SIGABRT)  # faulthandler writes the Python stack
            except ProcessLookupError:
                pass
            w.proc.join(2)
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join()
        where = w.python_stack()
        if status == "hang":
            out = Outcome("hang", None, "", f"no answer within {self.timeout:g} s (in {where})")
        else:
            code = w.proc.exitcode or 0
            name = signal.Signals(-code).name if code < 0 else f"exit {code}"
            out = Outcome("crash", None, "", f"worker died: {name} (in {where})")
        log = w.log.read_text(errors="replace") if w.log.exists() else ""
        stack = [l for l in log.split("\n\nExtension modules")[0].splitlines() if "fuzzing.py" not in l and "multiprocessing" not in l]
        out.output = "\n".join([out.signature, *stack[:12]])
        out.seconds = time.monotonic() - w.started
        w.conn.close()
        new = self._spawn()
        self.workers[self.workers.index(w)] = new
        return out, new

    def map(self, cases):
        """Yields (case, outcome) for every case, in completion order."""
        cases = iter(cases)
        idle = list(self.workers)
        busy: list[_Worker] = []
        while True:
            while idle:
                case = next(cases, None)
                if case is None:
                    break
                w = idle.pop()
                w.send(case)
                busy.append(w)
            if not busy:
                return
            deadline = min(w.started for w in busy) + self.timeout
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for w in list(busy):
                case = w.case
                if w.conn in ready:
                    try:
                        out = w.conn.recv()
                        fresh = w
                    except (EOFError, OSError):
                        out, fresh = self._dead(w, "crash")
                elif time.monotonic() - w.started > self.timeout:
                    out, fresh = self._dead(w, "hang")
                else:
                    continue
                busy.remove(w)
                fresh.case = None
                idle.append(fresh)
                yield case, out

    def run(self, case: Case) -> Outcome:
        for _, out in self.map([case]):
            return out
        raise RuntimeError("no outcome")


# ---------------------------------------------------------------------------
# Minimizing
# ---------------------------------------------------------------------------


class _Budget:
    def __init__(self, runs: int, seconds: float):
        self.runs, self.deadline = runs, time.monotonic() + seconds

    def take(self) -> bool:
        self.runs -= 1
        return self.runs >= 0 and time.monotonic() < self.deadline


def _ddmin(items: list, keeps, budget: _Budget) -> list:
    """The smallest sublist (by chunk removal) for which `keeps` holds."""
    n = 2
    while len(items) >= 2:
        size = -(-len(items) // n)
        for i in range(0, len(items), size):
            candidate = items[:i] + items[i + size :]
            if not budget.take():
                return items
            if keeps(candidate):
                items, n = candidate, max(n - 1, 2)
                break
        else:
            if n >= len(items):
                break
            n = min(2 * n, len(items))
    return items


def minimize(case: Case, signature: str, pool: Pool, *, runs: int = 200, seconds: float = 20.0) -> Case:
    """A smaller case (fewer arguments, fewer lines and files) in the same failure class."""
    budget = _Budget(runs, seconds)

    def keeps(candidate: Case) -> bool:
        return pool.run(candidate).signature == signature

    case = dataclasses.replace(case, files=dict(case.files), argv=list(case.argv))
    argv = _ddmin(case.argv, lambda a: keeps(dataclasses.replace(case, argv=a)), budget)
    case = dataclasses.replace(case, argv=argv)
    for name in sorted(case.files, key=lambda n: n not in " ".join(case.argv)):
        if name not in " ".join(case.argv + [case.command()]):
            candidate = dataclasses.replace(case, files={k: v for k, v in case.files.items() if k != name})
            if budget.take() and keeps(candidate):
                case = candidate
                continue
        lines = case.files[name].split(b"\n")

        def with_lines(ls, name=name):
            return dataclasses.replace(case, files={**case.files, name: b"\n".join(ls)})

        lines = _ddmin(lines, lambda ls: keeps(with_lines(ls)), budget)
        case = with_lines(lines)
    if case.stdin:
        lines = _ddmin(case.stdin.split(b"\n"), lambda ls: keeps(dataclasses.replace(case, stdin=b"\n".join(ls))), budget)
        case = dataclasses.replace(case, stdin=b"\n".join(lines))
    dirs = _ddmin(case.dirs + [None], lambda ds: keeps(dataclasses.replace(case, dirs=[d for d in ds if d])), budget)
    return dataclasses.replace(case, dirs=[d for d in dirs if d])


# ---------------------------------------------------------------------------
# A campaign
# ---------------------------------------------------------------------------


@dataclass
class FailureClass:
    signature: str
    status: str
    cases: list[int] = field(default_factory=list)
    phases: Counter = field(default_factory=Counter)
    first: Case | None = None
    outcome: Outcome | None = None
    reproducer: Case | None = None
    repro_outcome: Outcome | None = None
    repro_dir: Path | None = None


@dataclass
class Report:
    seed: int
    cases: int = 0
    seconds: float = 0.0
    jobs: int = 1
    statuses: Counter = field(default_factory=Counter)
    classes: dict[str, FailureClass] = field(default_factory=dict)
    slowest: tuple[float, int] = (0.0, -1)
    cpu_by_phase: Counter = field(default_factory=Counter)  # CPU seconds in the workers per tool and phase

    @property
    def passed(self) -> int:
        return self.statuses["ok"]

    @property
    def failed(self) -> int:
        return self.cases - self.passed

    def counts(self) -> str:
        s = self.statuses
        return (
            f"{self.cases} cases in {self.seconds:.1f} s ({self.jobs} worker(s), seed {self.seed}): "
            f"{self.passed} passed, {s['traceback']} tracebacks, {s['internal-error']} internal errors, "
            f"{s['bad-exit']} bad exit statuses, {s['crash']} crashes, {s['hang']} hangs"
        )

    def __str__(self) -> str:
        lines = [f"imc fuzz: {self.counts()}"]
        cpu = sum(self.cpu_by_phase.values())
        top = ", ".join(f"{p} {s:.1f}" for p, s in self.cpu_by_phase.most_common(5))
        lines.append(f"worker CPU time {cpu:.1f} s (most: {top}); slowest case #{self.slowest[1]} ({self.slowest[0]:.2f} s)")
        if self.classes:
            lines.append(f"{len(self.classes)} failure class(es), most frequent first:")
        for n, fc in enumerate(sorted(self.classes.values(), key=lambda c: -len(c.cases)), 1):
            phases = ", ".join(f"{p} x{k}" for p, k in fc.phases.most_common(6))
            lines.append("")
            lines.append(f"[{n}] {fc.status}: {fc.signature}")
            lines.append(f"    {len(fc.cases)} case(s), e.g. #{', #'.join(map(str, fc.cases[:5]))}; {phases}")
            lines.append(f"    replay: python test/python/fuzzing.py --seed {self.seed} --case {fc.cases[0]}")
            lines.append(f"    first case came from: {fc.first.origin[:300]}")
            repro = fc.reproducer or fc.first
            if fc.repro_dir:
                lines.append(f"    files in: {fc.repro_dir}")
            lines.append(f"    reproducer{' (minimized)' if fc.reproducer else ''}: {repro.command()}")
            for name in sorted(repro.files):
                data = repro.files[name]
                if name in " ".join(repro.argv) and len(data) < 4000:
                    lines.append(f"    --- {name} ---")
                    lines.extend("    " + l for l in _show_bytes(data).splitlines())
            for d in repro.dirs:
                lines.append(f"    (directory {d}/)")
            if repro.stdin:
                lines.append("    --- stdin.txt ---")
                lines.extend("    " + l for l in _show_bytes(repro.stdin).splitlines())
            out = (fc.repro_outcome or fc.outcome).output.strip().splitlines()
            lines.append("    --- output (last lines) ---")
            lines.extend("    " + l[:200] for l in out[-8:])
        return "\n".join(lines)


def _show_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(not UTF-8; Python bytes:) " + repr(data)


def _save(case: Case, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _write_files(case, root)
    if case.stdin:
        (root / "stdin.txt").write_bytes(case.stdin)
    (root / "command.sh").write_text(f"# {case.origin}\ncd \"$(dirname \"$0\")\" && {case.command()}\n")
    return root


def fuzz(
    cases: int,
    *,
    seed: int = 0,
    jobs: int = 1,
    timeout: float = 10.0,
    minimize_seconds: float = 60.0,
    out_dir: str | os.PathLike | None = None,
    corpus: Corpus | None = None,
    progress=None,
) -> Report:
    """Runs cases 0..cases-1 of campaign `seed`; minimizes the first case of each failure class."""
    corpus = corpus or Corpus.load()
    _warm_up()
    report = Report(seed, jobs=jobs)
    t0 = time.monotonic()
    with Pool(jobs, timeout) as pool:
        for case, out in pool.map(make_case(seed, i, corpus) for i in range(cases)):
            report.cases += 1
            report.statuses[out.status] += 1
            report.slowest = max(report.slowest, (out.seconds, case.index))
            report.cpu_by_phase[f"{case.tool} {case.phase}"] += out.cpu
            if out.failed:
                fc = report.classes.setdefault(out.signature, FailureClass(out.signature, out.status))
                fc.cases.append(case.index)
                fc.phases[f"{case.tool} {case.phase}"] += 1
                if fc.first is None or case.index < fc.first.index:
                    fc.first, fc.outcome = case, out
            report.seconds = time.monotonic() - t0
            if progress and report.cases % 500 == 0:
                progress(f"imc fuzz: {report.counts()}")
        report.seconds = time.monotonic() - t0
        deadline = time.monotonic() + minimize_seconds
        for fc in sorted(report.classes.values(), key=lambda c: c.first.index):
            fc.cases.sort()
            left = deadline - time.monotonic()
            if fc.status != "hang" and left > 1:
                fc.reproducer = minimize(fc.first, fc.signature, pool, seconds=min(left, 15.0))
                fc.repro_outcome = pool.run(fc.reproducer)
    if out_dir is not None:
        for n, fc in enumerate(sorted(report.classes.values(), key=lambda c: -len(c.cases)), 1):
            fc.repro_dir = _save(fc.reproducer or fc.first, Path(out_dir) / f"class-{n}")
    return report


def _warm_up() -> None:
    """Imports what the tools import, once, before the workers fork."""
    import numpy  # noqa: F401

    import imc.hardware  # noqa: F401
    import imc.runtime  # noqa: F401
    import imc.tools.imc_compile  # noqa: F401
    import imc.tools.imc_opt  # noqa: F401
    import imc.tools.imc_run  # noqa: F401
    from imc import passes

    for name in passes.pass_names():
        passes.get_pass_class(name)


def settings_from_env(environ=os.environ) -> dict:
    """The campaign's settings from IMC_FUZZ_* variables (the CI defaults otherwise)."""
    return {
        "cases": int(environ.get("IMC_FUZZ_CASES", "2000")),
        "seed": int(environ.get("IMC_FUZZ_SEED", "0")),
        "jobs": int(environ.get("IMC_FUZZ_JOBS", "1")),
        "timeout": float(environ.get("IMC_FUZZ_TIMEOUT", "10")),
        "minimize_seconds": float(environ.get("IMC_FUZZ_MINIMIZE_SECONDS", "60")),
        "out_dir": environ.get("IMC_FUZZ_OUT") or None,
    }


def main(argv: list[str] | None = None) -> int:
    env = settings_from_env()
    p = argparse.ArgumentParser(prog="fuzzing.py", description="Fuzz imc's tools (see the module docstring).")
    p.add_argument("--cases", type=int, default=env["cases"])
    p.add_argument("--seed", type=int, default=env["seed"])
    p.add_argument("--jobs", type=int, default=env["jobs"])
    p.add_argument("--timeout", type=float, default=env["timeout"], help="seconds per case")
    p.add_argument("--minimize-seconds", type=float, default=env["minimize_seconds"])
    p.add_argument("--out", default=env["out_dir"], help="write each class's reproducer files here")
    p.add_argument("--case", type=int, action="append", help="run only these cases and show them in full")
    args = p.parse_args(argv)
    if args.case:
        corpus = Corpus.load()
        _warm_up()
        with Pool(1, args.timeout) as pool:
            for i in args.case:
                case = make_case(args.seed, i, corpus)
                out = pool.run(case)
                print(f"case #{i}: {case.tool} [{case.phase}] from {case.origin}")
                print(f"command: {case.command()}")
                for name, data in sorted(case.files.items()):
                    if name in " ".join(case.argv):
                        print(f"--- {name} ---\n{_show_bytes(data)}")
                print(f"--- outcome: {out.status} {out.signature} (exit {out.rc}) ---\n{out.output}")
        return 0
    report = fuzz(args.cases, seed=args.seed, jobs=args.jobs, timeout=args.timeout,
                  minimize_seconds=args.minimize_seconds, out_dir=args.out,
                  progress=lambda s: print(s, file=sys.stderr, flush=True))
    print(report)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
