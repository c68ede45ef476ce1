"""Pass pipelines that mix upstream MLIR passes and imc's Python passes.

A textual pipeline such as
`builtin.module(convert-linalg-to-imc, canonicalize, imc-tile{rows=64})` is
split at its top level: imc passes join the pass manager through
`PassManager.add(fn, name)`, consecutive upstream pieces through
`PassManager.add(text)`. One pass manager runs them all, so the verifier runs
after every pass and `--mlir-print-ir-after-all` sees every pass.
"""

import dataclasses
import difflib
import os
import shlex
import tempfile
import traceback
import typing
from dataclasses import dataclass
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.passmanager import PassManager

from imc import passes as registry

__all__ = [
    "ImcPass",
    "PassFailure",
    "PipelineError",
    "PassState",
    "Remark",
    "parse_pipeline",
    "build_pass_manager",
    "run_pipeline",
    "upstream_pass_names",
]


class PassFailure(Exception):
    """Raised inside a pass after it reported its errors through `PassState.error`."""


class PipelineError(Exception):
    """A pipeline could not be built or failed while running.

    `diagnostics` are formatted lines (`file:line:col: error: message`);
    `repro` is a ready command line that reproduces the failure, when known.
    """

    def __init__(self, message: str, *, diagnostics: list[str] = (), repro: str | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics)
        self.repro = repro

    def __str__(self) -> str:
        lines = [self.message, *self.diagnostics]
        if self.repro:
            lines.append(f"reproduce with: {self.repro}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Remark:
    """An optimization remark: what a pass did or could not do, and where."""

    pass_name: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{format_location(self.location)}: remark: [{self.pass_name}] {self.message}"


class PassState:
    """What a running imc pass may use: hardware, diagnostics and remarks."""

    def __init__(self, pass_name: str, hardware, remarks: list[Remark]):
        self.pass_name = pass_name
        self.hardware = hardware
        self.remarks = remarks
        self.failed = False

    def error(self, op_or_loc, message: str) -> None:
        """Emits an error at an op (naming it) or a location."""
        if isinstance(op_or_loc, ir.Location):
            op_or_loc.emit_error(message)
        else:
            op = getattr(op_or_loc, "operation", op_or_loc)
            op.location.emit_error(f"'{op.name}' op {message}")
        self.failed = True

    def remark(self, op_or_loc, message: str) -> None:
        loc = op_or_loc if isinstance(op_or_loc, ir.Location) else op_or_loc.location
        self.remarks.append(Remark(self.pass_name, str(loc), message))


class ImcPass:
    """Base of imc passes.

    A pass is a dataclass: `name` is its flag, `summary` one line for
    `--list-passes`, its dataclass fields are its options (typed, with a
    default and `metadata={"help": ...}`), and its docstring states the
    contract. `run(module, state)` transforms the `builtin.module` operation in
    place; on failure it reports through `state.error` and raises `PassFailure`.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, module: ir.Operation, state: PassState) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- options -------------------------------------------------------------
    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def from_options(cls, text: str) -> "ImcPass":
        """Builds the pass from `key=value key2=value2` (the text inside `{}`)."""
        fields = {f.name.replace("_", "-"): f for f in cls.options()}
        hints = typing.get_type_hints(cls)
        values = {}
        for item in shlex.split(text):
            key, sep, raw = item.partition("=")
            key = key.strip()
            f = fields.get(key) or fields.get(key.replace("_", "-"))
            if f is None:
                raise PipelineError(_unknown("option", f"{cls.name}{{{key}}}", key, list(fields)))
            if not sep:
                raise PipelineError(f"option '{key}' of pass '{cls.name}' needs a value ({key}=...)")
            values[f.name] = _convert(cls.name, key, raw, hints[f.name])
        return cls(**values)

    def hardware_for(self, module: ir.Operation):
        """The module's hardware description (the default preset if none)."""
        from imc.hardware import Hardware

        return Hardware.from_module(module, default="default")


def _convert(pass_name: str, key: str, raw: str, hint):
    """Converts an option string to the option's declared type."""
    args = typing.get_args(hint)
    if args and type(None) in args:  # Optional[X]
        if raw.lower() in ("none", ""):
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if hint is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int:
            return int(raw, 0)
        if hint is float:
            return float(raw)
        return raw
    except ValueError:
        kind = getattr(hint, "__name__", str(hint))
        raise PipelineError(f"option '{key}' of pass '{pass_name}' expects {kind}, got '{raw}'") from None


def _unknown(what: str, shown: str, name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown {what} '{shown}'{hint}"


# ---------------------------------------------------------------------------
# Pipeline text
# ---------------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    """Splits `a, b{x=1}, c(d, e)` at commas outside (), {} and quotes."""
    parts, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
            if depth < 0:
                raise PipelineError(f"unbalanced '{ch}' in pass pipeline '{text}'")
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth != 0 or quote:
        raise PipelineError(f"unbalanced brackets in pass pipeline '{text}'")
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _head(element: str) -> str:
    for i, ch in enumerate(element):
        if ch in "{(":
            return element[:i].strip()
    return element.strip()


def _options_of(element: str) -> str:
    if "{" in element and element.rstrip().endswith("}"):
        return element[element.index("{") + 1 : element.rstrip().rindex("}")]
    return ""


def parse_pipeline(text: str) -> list[str]:
    """The top-level elements of a `builtin.module(...)` pipeline, named pipelines expanded.

    A string without the `builtin.module(...)` anchor is taken as its body.
    """
    text = text.strip()
    if text.startswith("builtin.module(") and text.endswith(")"):
        text = text[len("builtin.module(") : -1]
    elif _head(text) == "builtin.module":
        raise PipelineError(f"malformed pass pipeline '{text}'")
    elements = []
    for element in _split_top(text):
        name = _head(element)
        if name in registry.PIPELINES:
            elements.extend(parse_pipeline(registry.PIPELINES[name][1]))
        else:
            elements.append(element)
    return elements


_UPSTREAM: list[str] | None = None


def upstream_pass_names() -> list[str]:
    """Names of the upstream passes registered in these bindings (for suggestions)."""
    global _UPSTREAM
    if _UPSTREAM is None:
        import re
        import subprocess

        import torch_mlir

        names: set[str] = set()
        tool = os.path.join(os.path.dirname(torch_mlir._mlir_libs.__file__), "torch-mlir-opt")
        try:
            out = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=20).stdout
            names = set(re.findall(r"^\s{6,8}--([a-z0-9][a-z0-9-.]*)\s", out, re.M))
        except (OSError, subprocess.SubprocessError):
            pass
        names |= {"canonicalize", "cse", "one-shot-bufferize", "symbol-dce", "inline", "sccp"}
        _UPSTREAM = sorted(names)
    return _UPSTREAM


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def _python_pass(instance: ImcPass, remarks: list[Remark]):
    def run(op, pass_):
        from imc.hardware import HardwareError

        try:
            hardware = instance.hardware_for(op)
        except HardwareError as exc:  # a malformed `imc.hardware`: the module's error, not a crash
            op.location.emit_error(f"'{op.name}' op {exc}")
            pass_.signal_pass_failure()
            return
        state = PassState(instance.name, hardware, remarks)
        try:
            instance.run(op, state)
        except PassFailure:
            pass_.signal_pass_failure()
            return
        except Exception as exc:  # a bug in the pass: report it, do not crash
            detail = traceback.format_exc() if os.environ.get("IMC_DEBUG") else f"{type(exc).__name__}: {exc}"
            op.location.emit_error(f"pass '{instance.name}' crashed: {detail}")
            pass_.signal_pass_failure()
            return
        if state.failed:
            pass_.signal_pass_failure()

    run.__name__ = instance.name
    return run


def build_pass_manager(
    pipeline: str,
    *,
    context: ir.Context | None = None,
    remarks: list[Remark] | None = None,
    print_ir_after_all: bool = False,
    print_generic: bool = False,
) -> PassManager:
    """A pass manager running `pipeline` (imc and upstream passes mixed).

    Raises `PipelineError` naming an unknown pass or option, with close matches.
    """
    context = context or ir.Context.current
    remarks = remarks if remarks is not None else []
    pm = PassManager("builtin.module", context=context)
    if print_ir_after_all:
        pm.enable_ir_printing(print_after_all=True, print_generic_op_form=print_generic)
    upstream: list[str] = []

    def flush():
        if not upstream:
            return
        piece = ",".join(upstream)
        upstream.clear()
        try:
            pm.add(piece)
        except ValueError as exc:
            raise _upstream_error(piece, str(exc)) from None

    for element in parse_pipeline(pipeline):
        name = _head(element)
        if name in registry.PASSES:
            flush()
            cls = registry.get_pass_class(name)
            instance = cls.from_options(_options_of(element))
            pm.add(_python_pass(instance, remarks), instance.name, argument=name)
        else:
            upstream.append(element)
    flush()
    return pm


def _upstream_error(piece: str, message: str) -> PipelineError:
    import re

    m = re.search(r"'([^']+)' does not refer to a registered pass", message)
    if m:
        name = m.group(1)
        return PipelineError(_unknown("pass", name, name, registry.pass_names() + upstream_pass_names()))
    first = next((line.strip() for line in message.splitlines() if line.strip()), message)
    m = re.search(r"no such option (\S+)", message)
    if m:
        return PipelineError(f"unknown option '{m.group(1)}' in '{piece}'")
    return PipelineError(f"invalid pass pipeline '{piece}': {first}")


def format_location(loc: str, *, source_name: str | None = None) -> str:
    """`loc("f.mlir":3:5)` -> `f.mlir:3:5` (the `-` of stdin becomes `source_name`)."""
    import re

    m = re.search(r'"([^"]*)":(\d+):(\d+)', loc)
    if not m:
        return loc[4:-1] if loc.startswith("loc(") else loc
    name = m.group(1)
    if name == "-" and source_name:
        name = source_name
    return f"{name}:{m.group(2)}:{m.group(3)}"


def format_diagnostic(diag, *, source_name: str | None = None) -> list[str]:
    severity = {
        ir.DiagnosticSeverity.ERROR: "error",
        ir.DiagnosticSeverity.WARNING: "warning",
        ir.DiagnosticSeverity.NOTE: "note",
        ir.DiagnosticSeverity.REMARK: "remark",
    }.get(diag.severity, "error")
    lines = [f"{format_location(str(diag.location), source_name=source_name)}: {severity}: {diag.message}"]
    for note in diag.notes:
        lines.extend(format_diagnostic(note, source_name=source_name))
    return lines


def write_repro(snapshot: ir.Operation) -> str:
    """Writes an op (with locations) to a temporary .mlir file; returns its path."""
    fd, path = tempfile.mkstemp(prefix="imc-repro-", suffix=".mlir")
    with os.fdopen(fd, "w") as f:
        snapshot.print(file=f, enable_debug_info=True)
    return path


def run_pipeline(
    module: ir.Module | ir.Operation,
    pipeline: str,
    *,
    hardware=None,
    remarks: list[Remark] | None = None,
    print_ir_after_all: bool = False,
    source_name: str | None = None,
    verify_each: bool = True,
) -> list[Remark]:
    """Runs `pipeline` on `module` in place; returns the remarks.

    `hardware` (a `Hardware`), when given, is attached to the module first, so
    every pass and the repro file see it. On failure raises `PipelineError`
    with the diagnostics and a repro command (the input is saved first).
    The module is verified after every pass; `verify_each=False` verifies it
    once after the whole pipeline instead (mlir-opt's `-verify-each=0`).
    """
    op = module.operation if isinstance(module, ir.Module) else module
    if hardware is not None:
        hardware.attach(op)
    remarks = remarks if remarks is not None else []
    pm = build_pass_manager(pipeline, context=op.context, remarks=remarks, print_ir_after_all=print_ir_after_all)
    pm.enable_verifier(verify_each)
    snapshot = op.clone(ip=False)  # cheap: attributes (weights) are shared, not copied
    try:
        pm.run(op)
        if not verify_each:
            op.verify()
    except ir.MLIRError as exc:
        path = write_repro(snapshot)
        diagnostics = [line for d in exc.error_diagnostics for line in format_diagnostic(d, source_name=source_name)]
        repro = f"imc-opt {path} --pass-pipeline={shlex.quote('builtin.module(' + ','.join(parse_pipeline(pipeline)) + ')')}"
        raise PipelineError("pass pipeline failed", diagnostics=diagnostics, repro=repro) from None
    return remarks
