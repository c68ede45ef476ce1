"""Pass pipelines that mix upstream MLIR passes and imc's Python passes.

A textual pipeline such as
`builtin.module(imc-map-contractions, canonicalize, imc-tile{rows=64})` is
split at its top level: imc passes join the pass manager through
`PassManager.add(fn, name)`, consecutive upstream pieces through
`PassManager.add(text)`. One pass manager runs them all, so the verifier runs
after every pass and `--mlir-print-ir-after-all` sees every pass.
"""

import os
import shlex
import tempfile
import traceback

from torch_mlir import ir
from torch_mlir.passmanager import PassManager

from imc import passes as registry
from imc.ir.diagnostics import Diagnostic
from imc.transforms.pass_base import (  # re-exported: passes and tools import them from here too
    CompileError,
    ImcPass,
    PassFailure,
    PassState,
    PipelineError,
    Remark,
    _unknown,
    format_location,
)

__all__ = [
    "ImcPass",
    "PassFailure",
    "PipelineError",
    "CompileError",
    "PassState",
    "Remark",
    "parse_pipeline",
    "build_pass_manager",
    "run_pipeline",
    "upstream_pass_names",
    "format_location",
    "Diagnostic",
]


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
            if _options_of(element).strip() or "{" in element:
                raise PipelineError(
                    f"pipeline '{name}' takes no options (in '{element.strip()}'): spell out its passes, "
                    f"{registry.PIPELINES[name][1]}, and give the options to the pass they belong to"
                )
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
        from imc.ir.hardware import HardwareError

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
    # Diagnostics that the bindings' own capture misses (those emitted by
    # Python passes) would go to the context's default handler, i.e. stderr:
    # collect them here so that they travel with the exception instead.
    captured: list[Diagnostic] = []

    def collect(diag):
        captured.append(Diagnostic.from_mlir(diag))  # (an ir.Diagnostic is valid only inside the handler)
        return True

    handler = op.context.attach_diagnostic_handler(collect)
    try:
        pm.run(op)
        if not verify_each:
            op.verify()
    except ir.MLIRError as exc:
        path = write_repro(snapshot)
        diagnostics = [Diagnostic.from_mlir(d) for d in exc.error_diagnostics]
        diagnostics += [d for d in captured if d not in diagnostics]
        if not diagnostics:
            diagnostics = [Diagnostic("error", "a pass failed without emitting a diagnostic")]
        repro = f"imc-opt {path} --pass-pipeline={shlex.quote('builtin.module(' + ','.join(parse_pipeline(pipeline)) + ')')}"
        raise PipelineError(
            "pass pipeline failed", diagnostics=diagnostics, repro=repro, source_name=source_name
        ) from None
    finally:
        handler.detach()
    # A run that succeeded may still have warned: those become remarks.
    for d in captured:
        remarks.append(Remark("warning" if d.severity == "warning" else "diagnostic", d.location, d.message))
    return remarks
