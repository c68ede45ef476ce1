"""`imc-opt`: run pass pipelines on MLIR files, following mlir-opt's conventions.

    imc-opt [FILE|-] [-o OUT] [--pass-pipeline='builtin.module(...)' | -p ...]
            [--split-input-file] [--verify-diagnostics] [--hardware FILE|PRESET]
            [--mlir-print-ir-after-all] [--mlir-print-op-generic]
            [--mlir-print-debuginfo] [--imc-remarks] [--list-passes] [--debug]

Errors are one line each (`file:line:col: error: ...`), exit code 1 (2 for a
bad command line), no traceback; `tools/_errors.py` is the one error path.
`--debug` (or IMC_DEBUG=1) shows Python tracebacks of internal errors and of
crashing passes.
"""

import argparse
import re
import sys
from dataclasses import dataclass

from torch_mlir import ir

from imc import passes as registry
from imc.ir.context import make_context
from imc.ir.diagnostics import Diagnostic
from imc.tools._errors import (
    ArgumentParser,
    UserError,
    check_output_file,
    non_empty,
    open_output,
    phase,
    read_text,
    tool_main,
)
from imc.transforms.pipeline import (
    PipelineError,
    Remark,
    build_pass_manager,
    write_repro,
)

SPLIT_MARKER = re.compile(r"^// -----\s*$", re.M)


def _arg_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="imc-opt", description="Run imc and upstream MLIR passes on an MLIR file.")
    p.add_argument("input", nargs="?", default="-", help="input file ('-' for stdin)")
    p.add_argument("-o", dest="output", default="-", help="output file ('-' for stdout)")
    p.add_argument("--pass-pipeline", "-p", dest="pipeline", default=None, help="builtin.module(...) pipeline")
    p.add_argument("--split-input-file", action="store_true", help="split the input at '// -----' lines")
    p.add_argument("--verify-diagnostics", action="store_true", help="check expected-* diagnostics annotations")
    p.add_argument("--hardware", default=None, type=non_empty, help="a hardware preset name or a .toml file")
    p.add_argument("--mlir-print-ir-after-all", action="store_true", help="print the IR after every pass")
    p.add_argument("--mlir-print-op-generic", action="store_true", help="print ops in generic form")
    p.add_argument("--mlir-print-debuginfo", action="store_true", help="print locations")
    p.add_argument("--imc-remarks", action="store_true", help="print imc pass remarks to stderr")
    p.add_argument("--allow-unregistered-dialect", action="store_true")
    p.add_argument("--list-passes", action="store_true", help="list imc passes and pipelines with their options")
    return p


def list_passes() -> str:
    lines = ["imc passes:"]
    for name in registry.pass_names():
        cls = registry.get_pass_class(name)
        lines.append(f"  {name:<28} {cls.summary}")
        for f in cls.options():
            default = f.default if f.default is not None else "from hardware"
            help_ = f.metadata.get("help", "")
            if "range" in f.metadata:
                help_ += " [{}, {}]".format(*f.metadata["range"])
            option = f"{f.name.replace('_', '-')}={default!s}"
            lines.append(f"      {option:<36} {help_}")
    if registry.PIPELINES:
        lines.append("imc pipelines:")
        for name, (summary, body) in sorted(registry.PIPELINES.items()):
            lines.append(f"  {name:<28} {summary}")
            lines.append(f"      = {body}")
    lines.append("Upstream MLIR passes (canonicalize, cse, one-shot-bufferize, ...) mix freely in one pipeline.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# --verify-diagnostics
# ---------------------------------------------------------------------------

_EXPECTED = re.compile(
    r"expected-(error|warning|note|remark)\s*(@(?:[+-]\d+|above|below))?\s*\{\{(.*?)\}\}"
)


@dataclass
class _Expected:
    severity: str
    line: int
    text: str
    at: int  # the annotation's own line
    seen: bool = False


def _expectations(text: str, first_line: int) -> list[_Expected]:
    out = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        lineno = first_line + i
        for m in _EXPECTED.finditer(line):
            where = m.group(2)
            target = lineno
            if where in ("@above",):
                target = lineno - 1
            elif where in ("@below",):
                target = lineno + 1
            elif where:
                target = lineno + int(where[1:])
            out.append(_Expected(m.group(1), target, m.group(3), lineno))
    return out


def _diag_line(location: str) -> int | None:
    m = re.search(r'"[^"]*":(\d+):\d+', location)
    return int(m.group(1)) if m else None


def _check_diagnostics(diags: list[Diagnostic], expected: list[_Expected], source: str) -> list[str]:
    errors = []
    for d in diags:
        line = _diag_line(d.location)
        match = next(
            (e for e in expected if not e.seen and e.severity == d.severity and e.line == line and e.text in d.message),
            None,
        )
        if match is None:
            errors += Diagnostic("error", f"unexpected {d.severity}: {d.message}", d.location).lines(source)
        else:
            match.seen = True
    for e in expected:
        if not e.seen:
            errors.append(f'{source}:{e.at}:1: error: expected {e.severity} "{e.text}" was not produced')
    return errors


# ---------------------------------------------------------------------------
# Processing one buffer
# ---------------------------------------------------------------------------


def _process_chunk(text: str, first_line: int, args, source: str, out) -> tuple[bool, list[str]]:
    """Parses, transforms and prints one chunk. Returns (ok, error lines)."""
    padded = "\n" * (first_line - 1) + text  # keep the file's line numbers
    context = make_context(allow_unregistered=args.allow_unregistered_dialect)
    collected: list[Diagnostic] = []
    remarks: list[Remark] = []
    with context, ir.Location.unknown():
        if args.verify_diagnostics:

            def handler(diag):
                d = Diagnostic.from_mlir(diag)
                collected.append(d)
                collected.extend(d.notes)
                return True

            context.attach_diagnostic_handler(handler)

        errors: list[str] = []
        module = None
        phase(f"parsing {source}" + (f" (the chunk at line {first_line})" if first_line > 1 else ""))
        try:
            module = ir.Module.parse(padded)
        except ir.MLIRError as exc:
            if not args.verify_diagnostics:
                return False, [l for d in exc.error_diagnostics for l in Diagnostic.from_mlir(d).lines(source)]
            for d in exc.error_diagnostics:
                collected.append(Diagnostic.from_mlir(d))

        if module is not None and args.hardware_obj is not None:
            # Rules that depend on the chip (scratchpad capacity, ...) apply now.
            args.hardware_obj.attach(module.operation)
            phase(f"verifying {source} against hardware '{args.hardware_obj.name}'")
            try:
                module.operation.verify()
            except ir.MLIRError as exc:
                if not args.verify_diagnostics:
                    return False, [l for d in exc.error_diagnostics for l in Diagnostic.from_mlir(d).lines(source)]
                for d in exc.error_diagnostics:
                    collected.append(Diagnostic.from_mlir(d))
                module = None

        if module is not None and args.pipeline:
            try:
                pm = build_pass_manager(
                    args.pipeline,
                    context=context,
                    remarks=remarks,
                    print_ir_after_all=args.mlir_print_ir_after_all,
                    print_generic=args.mlir_print_op_generic,
                )
            except PipelineError as exc:
                return False, [f"imc-opt: error: {exc.message}"]
            snapshot = module.operation.clone(ip=False)
            phase(f"running pass pipeline '{args.pipeline}' on {source}")
            try:
                pm.run(module.operation)
            except ir.MLIRError as exc:
                if args.verify_diagnostics:
                    for d in exc.error_diagnostics:
                        collected.append(Diagnostic.from_mlir(d))
                else:
                    errors = [l for d in exc.error_diagnostics for l in Diagnostic.from_mlir(d).lines(source)]
                    errors.append(_repro(snapshot, args))
                    module = None

        if args.verify_diagnostics:
            for r in remarks:
                collected.append(Diagnostic("remark", r.message, r.location))
            return not (errs := _check_diagnostics(collected, _expectations(text, first_line), source)), errs

        if args.imc_remarks:
            for r in remarks:
                sys.stderr.write(Diagnostic("remark", f"[{r.pass_name}] {r.message}", r.location).lines(source)[0] + "\n")
        if module is None:
            return False, errors
        phase(f"printing the result for {source}")
        module.operation.print(
            file=out,
            print_generic_op_form=args.mlir_print_op_generic,
            enable_debug_info=args.mlir_print_debuginfo,
            assume_verified=True,
        )
        return True, []


def _repro(snapshot, args) -> str:
    import shlex

    path = write_repro(snapshot)
    return f"imc-opt: pass pipeline failed; reproduce with: imc-opt {path} --pass-pipeline={shlex.quote(args.pipeline)}"


def _run(argv: list[str]) -> int:
    args = _arg_parser().parse_args(argv)
    if args.list_passes:
        print(list_passes())
        return 0

    if not args.verify_diagnostics:
        check_output_file(args.output, "-o")  # before any work
    args.hardware_obj = None
    if args.hardware is not None:
        from imc.ir.hardware import Hardware, HardwareError

        try:
            args.hardware_obj = Hardware.resolve(args.hardware)
        except HardwareError as exc:
            raise UserError(str(exc)) from None

    if args.pipeline:  # a bad pipeline is one error, not one per --split-input-file chunk
        try:
            build_pass_manager(args.pipeline, context=make_context())
        except PipelineError as exc:
            raise UserError(exc.message) from None

    source = "<stdin>" if args.input == "-" else args.input
    text = read_text(args.input)

    if args.split_input_file:
        chunks, line, pos = [], 1, 0
        for m in SPLIT_MARKER.finditer(text):
            chunks.append((text[pos : m.start()], line))
            line += text.count("\n", pos, m.end())
            pos = m.end()
        chunks.append((text[pos:], line))
    else:
        chunks = [(text, 1)]

    import io

    buffer = io.StringIO()
    ok_all = True
    for i, (chunk, first_line) in enumerate(chunks):
        if i:
            buffer.write("// -----\n")
        ok, errors = _process_chunk(chunk, first_line, args, source, buffer)
        for e in errors:
            sys.stderr.write(e + "\n")
        ok_all &= ok

    if args.verify_diagnostics:
        return 0 if ok_all else 1
    if args.output == "-":
        sys.stdout.write(buffer.getvalue())
    else:
        with open_output(args.output, "-o") as f:
            f.write(buffer.getvalue())
    return 0 if ok_all else 1


main = tool_main("imc-opt", _run)


if __name__ == "__main__":
    sys.exit(main())
