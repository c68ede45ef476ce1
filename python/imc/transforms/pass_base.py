"""What an imc pass is built from: the pass base class, its run state,
remarks and the errors a pipeline raises.

Passes (`passes/*.py`) import this module, and `imc.transforms.pipeline` (which runs
them) imports the pass registry and this module, so the import graph has no
cycle: pipeline -> passes -> pass_base.
"""

import dataclasses
import difflib
import math
import shlex
import typing
from dataclasses import dataclass
from typing import ClassVar

from torch_mlir import ir

from imc.ir.diagnostics import Diagnostic, format_location

__all__ = ["ImcPass", "PassFailure", "PipelineError", "CompileError", "PassState", "Remark", "format_location"]


class PassFailure(Exception):
    """Raised inside a pass after it reported its errors through `PassState.error`."""


class PipelineError(Exception):
    """A pipeline could not be built or failed while running.

    `diagnostics` are `imc.ir.diagnostics.Diagnostic`s (given as text, a line
    `file:line:col: error: message` is read into one); `source_name` names
    the input where a location says `-` (stdin); `repro` is a ready command
    line that reproduces the failure, when known.
    """

    def __init__(
        self, message: str, *, diagnostics=(), repro: str | None = None, source_name: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.diagnostics = [d if isinstance(d, Diagnostic) else Diagnostic.parse(d) for d in diagnostics]
        self.repro = repro
        self.source_name = source_name

    def diagnostic_lines(self) -> list[str]:
        """The diagnostics as `mlir-opt` prints them."""
        return [line for d in self.diagnostics for line in d.lines(self.source_name)]

    def __str__(self) -> str:
        lines = [self.message, *self.diagnostic_lines()]
        if self.repro:
            lines.append(f"reproduce with: {self.repro}")
        return "\n".join(lines)


class CompileError(PipelineError):
    """A model imc cannot compile: an op, dtype or shape it does not support.

    Raised at compile time (by the frontend, or when the compiled program
    holds an op the interpreter cannot execute), never at run time.
    `diagnostics` are `file:line:col: error: 'op' ...` lines that name the
    op and the user's source line; the message says what to do.
    """


@dataclass(frozen=True)
class Remark:
    """An optimization remark: what a pass did or could not do, and where."""

    pass_name: str
    location: str
    message: str

    def __str__(self) -> str:
        return str(Diagnostic("remark", f"[{self.pass_name}] {self.message}", self.location))


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

    A pass is a frozen dataclass (its object is its options; a run keeps its
    state in locals): `name` is its flag, `summary` one line for
    `--list-passes`, its dataclass fields are its options (typed, with a
    default and `metadata={"help": ..., "range": (lo, hi)}`; every integer
    option declares its inclusive range, checked where the option enters:
    `from_options` and the constructor), and its docstring states the
    contract. `run(module, state)` transforms the `builtin.module` operation in
    place; on failure it reports through `state.error` and raises `PassFailure`.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, module: ir.Operation, state: PassState) -> None:  # pragma: no cover
        raise NotImplementedError

    def __post_init__(self) -> None:
        for f in self.options():
            _check_range(self.name, f, getattr(self, f.name))

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
        try:
            items = shlex.split(text)
        except ValueError as exc:  # an unbalanced quote
            raise PipelineError(f"malformed options of pass '{cls.name}': {exc} in '{text}'") from None
        for item in items:
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
        from imc.ir.hardware import Hardware

        return Hardware.from_module(module, default="default")


def _check_range(pass_name: str, f: dataclasses.Field, value) -> None:
    """Raises `PipelineError` naming the pass and option when `value` is outside the option's range."""
    bounds = f.metadata.get("range")
    if bounds is None or value is None or isinstance(value, bool):
        return
    lo, hi = bounds
    if isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi:
        key = f.name.replace("_", "-")
        raise PipelineError(f"option '{key}' of pass '{pass_name}' = {value} is out of range [{lo}, {hi}]")


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


