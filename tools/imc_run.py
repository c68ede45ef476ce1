"""`imc-run`: execute an MLIR file on the reference interpreter and report.

    imc-run FILE.mlir [--entry main] [--hardware FILE|PRESET]
            [--precision ideal|quantized|noisy] [--seed N]
            [--input a.npy ...] [--random-inputs]
            [--json report.json] [--output out.npz] [--repeat N]

Prints a summary of the results and the per-layer table. Errors (parse,
unsupported op, runtime check) are one line naming the op and its location,
exit code 1, no traceback.
"""

import argparse
import sys

import numpy as np
from torch_mlir import ir

from imc.context import make_context
from imc.ir_utils import find_function
from imc.pipeline import format_diagnostic, format_location


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"imc-run: error: {message}\n")
        sys.exit(1)


def _arg_parser():
    p = _Parser(prog="imc-run", description="Execute an MLIR module on the imc reference interpreter.")
    p.add_argument("file", help="input .mlir file ('-' for stdin)")
    p.add_argument("--entry", default="main", help="function to run (default: main)")
    p.add_argument("--hardware", default=None, help="preset name or .toml file (default: the module's, else 'default')")
    p.add_argument("--precision", default="ideal", choices=["ideal", "quantized", "noisy"])
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs and noise")
    p.add_argument("--input", action="append", default=[], metavar="FILE.npy", help="one per entry argument, in order")
    p.add_argument("--random-inputs", action="store_true", help="seeded random inputs for every argument")
    p.add_argument("--json", default=None, metavar="FILE", help="write the JSON report")
    p.add_argument("--output", default=None, metavar="FILE.npz", help="write the results")
    p.add_argument("--repeat", type=int, default=1, help="run N times on one chip (weights stay programmed)")
    return p


def _random_input(t: ir.Type, rng) -> np.ndarray:
    from imc.interpreter import element_dtype

    shaped = ir.ShapedType(t)
    dtype = element_dtype(shaped.element_type)
    shape = list(shaped.shape)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 10, shape).astype(dtype)


def main(argv=None) -> int:
    args = _arg_parser().parse_args(argv)
    from imc.hardware import Hardware, HardwareError
    from imc.interpreter import InterpreterError
    from imc.runtime import Runner

    try:
        text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
    except OSError as exc:
        sys.stderr.write(f"imc-run: error: cannot read '{args.file}': {exc.strerror}\n")
        return 1
    source = "<stdin>" if args.file == "-" else args.file
    context = make_context()
    with context, ir.Location.unknown():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as exc:
            for d in exc.error_diagnostics:
                for line in format_diagnostic(d, source_name=source):
                    sys.stderr.write(line + "\n")
            return 1
        try:
            hw = Hardware.resolve(args.hardware) if args.hardware else Hardware.from_module(module.operation, default="default")
        except HardwareError as exc:
            sys.stderr.write(f"imc-run: error: {exc}\n")
            return 1

        func = find_function(module, args.entry)
        if func is None:
            sys.stderr.write(f"imc-run: error: no function '@{args.entry}' in {source}\n")
            return 1
        arg_types = list(ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).inputs)
        rng = np.random.default_rng(args.seed)
        if args.input:
            if len(args.input) != len(arg_types):
                sys.stderr.write(f"imc-run: error: @{args.entry} takes {len(arg_types)} inputs, got {len(args.input)} --input files\n")
                return 1
            try:
                inputs = [np.load(path) for path in args.input]
            except (OSError, ValueError) as exc:
                sys.stderr.write(f"imc-run: error: cannot load input: {exc}\n")
                return 1
        elif args.random_inputs or not arg_types:
            inputs = [_random_input(t, rng) for t in arg_types]
        else:
            sys.stderr.write(f"imc-run: error: @{args.entry} takes {len(arg_types)} inputs: pass --input FILE.npy for each, or --random-inputs\n")
            return 1

        try:
            runner = Runner(module, hw, precision=args.precision, seed=args.seed, entry=args.entry)
            for _ in range(max(1, args.repeat)):
                outputs = runner(*inputs)
        except InterpreterError as exc:
            message = str(exc)
            if exc.loc:
                message = message.replace(f" at {exc.loc}", "")
                message = f"{format_location(exc.loc, source_name=source)}: {message}"
            sys.stderr.write(f"imc-run: {message}\n")
            return 1
        except ValueError as exc:
            sys.stderr.write(f"imc-run: error: {exc}\n")
            return 1

    print(f"imc-run: @{args.entry} on '{hw.name}' ({args.precision}), {len(outputs)} result(s)")
    for i, out in enumerate(outputs):
        a = np.asarray(out)
        stats = f"min {a.min():.6g} max {a.max():.6g} mean {a.mean():.6g}" if a.size and a.dtype != np.bool_ else ""
        print(f"  result #{i}: {a.dtype}{list(a.shape)} {stats}")
        if a.size <= 16:
            print(f"    {np.array2string(a.reshape(-1), precision=6, separator=', ')}")
    print(runner.report)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(runner.report.to_json())
    if args.output:
        np.savez(args.output, *outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
