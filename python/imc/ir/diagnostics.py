"""One diagnostic type for everything imc reports about a place in a program.

A `Diagnostic` is what MLIR's diagnostics are (a severity, a message, the
location it is about and attached notes), kept as plain data: MLIR's own
are valid only inside a handler (`Diagnostic.from_mlir` copies one), and the
frontend, the passes, the pipeline, the interpreter and the tools make theirs
directly. Every one is rendered by `Diagnostic.lines` the way `mlir-opt`
prints: `file:line:col: error: message` (or `error: message` without a
place), then its notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch_mlir import ir

__all__ = ["Diagnostic", "format_location", "severity_name"]

_SEVERITY_NAMES: dict = {}
_FILE_LINE_COL = re.compile(r'"([^"]*)":(\d+):(\d+)')
_RENDERED = re.compile(r"^(?:(?P<where>.+?): )??(?P<severity>error|warning|note|remark): (?P<message>.*)$", re.S)


def severity_name(severity) -> str:
    """`error`, `warning`, `note` or `remark` for an `ir.DiagnosticSeverity`."""
    if not _SEVERITY_NAMES:
        _SEVERITY_NAMES.update(
            {
                ir.DiagnosticSeverity.ERROR: "error",
                ir.DiagnosticSeverity.WARNING: "warning",
                ir.DiagnosticSeverity.NOTE: "note",
                ir.DiagnosticSeverity.REMARK: "remark",
            }
        )
    return _SEVERITY_NAMES.get(severity, "error")


def format_location(loc: str, *, source_name: str | None = None) -> str:
    """`loc("f.mlir":3:5)` -> `f.mlir:3:5` (the `-` of stdin becomes `source_name`)."""
    m = _FILE_LINE_COL.search(loc)
    if not m:
        return loc[4:-1] if loc.startswith("loc(") else loc
    name = m.group(1)
    if name == "-" and source_name:
        name = source_name
    return f"{name}:{m.group(2)}:{m.group(3)}"


@dataclass(frozen=True)
class Diagnostic:
    """A severity (`error`, `warning`, `note`, `remark`), a message, the
    location it is about (MLIR's text of it, `loc(...)`, or an already
    rendered `file:line:col`; None: no place) and its notes."""

    severity: str
    message: str
    location: str | None = None
    notes: tuple[Diagnostic, ...] = ()

    @classmethod
    def from_mlir(cls, diag) -> Diagnostic:
        """A copy of an `ir.Diagnostic` (which is valid only in its handler)."""
        return cls(
            severity_name(diag.severity),
            diag.message,
            str(diag.location),
            tuple(cls.from_mlir(n) for n in diag.notes),
        )

    @classmethod
    def parse(cls, line: str) -> Diagnostic:
        """A diagnostic another tool printed (`where: error: message`); a line
        without a severity is an error's message."""
        m = _RENDERED.match(line.strip())
        if m is None:
            return cls("error", line.strip())
        return cls(m.group("severity"), m.group("message"), m.group("where"))

    def where(self, source_name: str | None = None) -> str | None:
        """`file:line:col` of the location, None without a known place."""
        if self.location is None:
            return None
        where = format_location(self.location, source_name=source_name)
        return None if where in ("", "unknown") else where

    def lines(self, source_name: str | None = None) -> list[str]:
        """The diagnostic as `mlir-opt` prints it, then its notes."""
        where = self.where(source_name)
        head = f"{where}: {self.severity}: {self.message}" if where else f"{self.severity}: {self.message}"
        return [head] + [line for note in self.notes for line in note.lines(source_name)]

    def __str__(self) -> str:
        return "\n".join(self.lines())
