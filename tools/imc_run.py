"""`imc-run`: execute an MLIR file on the reference interpreter and report.

    imc-run FILE.mlir [--entry main] [--hardware FILE|PRESET]
            [--precision ideal|quantized|noisy] [--seed N]
            [--input a.npy ...] [--random-inputs]
            [--json report.json] [--output out.npz] [--repeat N] [--debug]

Prints a summary of the results and the per-layer table. Errors (parse,
unsupported op, runtime check, bad inputs or output paths) are one line naming
the file, and for IR the op and its location; exit code 1 (2 for a bad command
line), no traceback (`tools/_errors.py`).
"""

import json
import math
import sys

import numpy as np
from torch_mlir import ir

from imc.ir.context import make_context
from imc.ir.diagnostics import Diagnostic
from imc.ir.utils import find_function
from imc.tools._errors import (
    MAX_GENERATED_BYTES,
    SEED,
    ArgumentParser,
    UserError,
    check_output_file,
    int_at_least,
    non_empty,
    open_output,
    phase,
    read_text,
    tool_main,
)


def _arg_parser():
    p = ArgumentParser(prog="imc-run", description="Execute an MLIR module on the imc reference interpreter.")
    p.add_argument("file", help="input .mlir file ('-' for stdin)")
    p.add_argument("--entry", default="main", help="function to run (default: main)")
    p.add_argument(
        "--hardware", default=None, type=non_empty, help="preset name or .toml file (default: the module's, else 'default')"
    )
    p.add_argument("--precision", default="ideal", choices=["ideal", "quantized", "noisy"])
    p.add_argument("--seed", type=SEED, default=0, help="seed for random inputs and noise (0 <= N < 2**63)")
    p.add_argument("--input", action="append", default=[], metavar="FILE.npy", help="one per entry argument, in order")
    p.add_argument("--random-inputs", action="store_true", help="seeded random inputs for every argument")
    p.add_argument("--json", default=None, metavar="FILE", help="write the JSON report")
    p.add_argument("--output", default=None, metavar="FILE.npz", help="write the results (to exactly FILE)")
    p.add_argument(
        "--repeat", type=int_at_least(1), default=1, help="run N >= 1 times on one chip (weights stay programmed)"
    )
    p.add_argument(
        "--timeline",
        action="store_true",
        help="also place every executed op on the chip's resources: latency of a cold and a warm call, "
        "throughput of a stream of calls, per layer (docs/interpreter.md, 'Timeline')",
    )
    p.add_argument(
        "--trace", default=None, metavar="FILE.json", help="write the warm call's timeline as a Chrome/Perfetto trace (implies --timeline)"
    )
    return p


def _random_input(source: str, entry: str, i: int, t: ir.Type, rng) -> np.ndarray:
    """A seeded random value for argument #i of type `t` (a 0-d array for a scalar)."""
    from imc.sim.interpreter import InterpreterError, element_dtype

    where = f"{source}: @{entry} argument #{i} ({t})"
    try:
        shaped = ir.ShapedType(t)
    except ValueError:
        shaped = None
    if shaped is not None and not shaped.has_rank:
        raise UserError(f"{where}: --random-inputs needs a ranked type; pass --input FILE.npy")
    if shaped is not None and not shaped.has_static_shape:
        raise UserError(f"{where}: --random-inputs needs a static shape; pass --input FILE.npy")
    try:
        dtype = np.dtype(element_dtype(shaped.element_type if shaped is not None else t))
    except (InterpreterError, TypeError, ValueError):
        raise UserError(f"{where}: the interpreter has no values of this element type") from None
    shape = list(shaped.shape) if shaped is not None else []
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_GENERATED_BYTES:
        raise UserError(
            f"{where}: a random input would take {nbytes / 2**30:.1f} GiB "
            f"(more than {MAX_GENERATED_BYTES >> 30} GiB); pass --input FILE.npy"
        )
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 10, shape).astype(dtype)


def _load_input(path: str) -> np.ndarray:
    """One `.npy` array; `UserError` naming the file for anything else."""
    try:
        value = np.load(path, allow_pickle=False)
    except IsADirectoryError:
        raise UserError(f"{path}: --input names a directory, expected a .npy file") from None
    except OSError as exc:
        if exc.strerror:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        raise UserError(f"{path}: not a .npy file ({exc})") from None
    except EOFError:
        raise UserError(f"{path}: not a .npy file (it is empty)") from None
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds on a malformed file
        reason = str(exc).split(". ")[0].rstrip(".")
        raise UserError(f"{path}: cannot load as a .npy array ({reason})") from None
    if isinstance(value, np.lib.npyio.NpzFile):
        value.close()
        raise UserError(f"{path}: is an .npz archive; --input takes one .npy file per argument")
    return value


def _run(argv: list[str]) -> int:
    args = _arg_parser().parse_args(argv)
    from imc.ir.hardware import Hardware, HardwareError
    from imc.sim.interpreter import InterpreterError
    from imc.sim.runtime import Runner

    for path, flag in ((args.json, "--json"), (args.output, "--output"), (args.trace, "--trace")):
        if path is not None:
            check_output_file(path, flag)  # before any work
    text = read_text(args.file)
    source = "<stdin>" if args.file == "-" else args.file
    context = make_context()
    with context, ir.Location.unknown():
        phase(f"parsing {source}")
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as exc:
            for d in exc.error_diagnostics:
                for line in Diagnostic.from_mlir(d).lines(source):
                    sys.stderr.write(line + "\n")
            return 1
        try:
            if args.hardware is not None:
                hw = Hardware.resolve(args.hardware)
            else:
                hw = Hardware.from_module(module.operation, default="default")
        except HardwareError as exc:
            raise UserError(str(exc)) from None

        func = find_function(module, args.entry)
        if func is None:
            raise UserError(f"{source}: no function '@{args.entry}'")
        if not func.regions[0].blocks:
            raise UserError(f"{source}: @{args.entry} is a declaration without a body; there is nothing to run")
        arg_types = list(ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).inputs)
        rng = np.random.default_rng(args.seed)
        if args.input:
            if len(args.input) != len(arg_types):
                raise UserError(
                    f"{source}: @{args.entry} takes {len(arg_types)} inputs, got {len(args.input)} --input files"
                )
            inputs = [_load_input(path) for path in args.input]
        elif args.random_inputs or not arg_types:
            inputs = [_random_input(source, args.entry, i, t, rng) for i, t in enumerate(arg_types)]
        else:
            raise UserError(
                f"{source}: @{args.entry} takes {len(arg_types)} inputs: "
                "pass --input FILE.npy for each, or --random-inputs"
            )

        phase(f"interpreting @{args.entry} of {source}")
        try:
            runner = Runner(module, hw, precision=args.precision, seed=args.seed, entry=args.entry)
            for _ in range(args.repeat):
                outputs = runner(*inputs)
            timeline = None
            if args.timeline or args.trace:
                from imc.sim.timeline import measure

                phase(f"tracing @{args.entry} of {source}")
                traced = Runner(module, hw, precision="ideal", seed=args.seed, entry=args.entry, trace=True)  # (the same timeline in every precision)
                timeline = measure(traced, inputs)
                runner.report.extra["timeline"] = timeline.to_dict()
        except InterpreterError as exc:
            d = exc.diagnostic
            if d.where(source) is None:  # no place in the program: the file is the place (the tools' form)
                message = f"{d.severity}: {source}: {d.message}"
            else:
                message = "\n".join(d.lines(source))
            sys.stderr.write(f"imc-run: {message}\n")
            return 1
        except ValueError as exc:
            raise UserError(f"{source}: {exc}") from None

    print(f"imc-run: @{args.entry} on '{hw.name}' ({args.precision}), {len(outputs)} result(s)")
    for i, out in enumerate(outputs):
        a = np.asarray(out)
        stats = f"min {a.min():.6g} max {a.max():.6g} mean {a.mean():.6g}" if a.size and a.dtype != np.bool_ else ""
        print(f"  result #{i}: {a.dtype}{list(a.shape)} {stats}")
        if a.size <= 16:
            print(f"    {np.array2string(a.reshape(-1), precision=6, separator=', ')}")
    print(runner.report)
    if timeline is not None:
        print(timeline.summary())
        print(timeline.table())
    if args.trace:
        with open_output(args.trace, "--trace") as f:
            json.dump(timeline.chrome_trace(), f)
    if args.json:
        with open_output(args.json, "--json") as f:
            f.write(runner.report.to_json())
    if args.output:
        with open_output(args.output, "--output", "wb") as f:  # exactly this path: savez adds .npz to a name
            np.savez(f, *outputs)
    return 0


main = tool_main("imc-run", _run)


if __name__ == "__main__":
    sys.exit(main())
