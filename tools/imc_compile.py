"""`imc-compile`: the main job. Compile a PyTorch model for a chip, run it, check it, report.

    imc-compile MODEL [--hardware PRESET|FILE] [--precision ideal|quantized|noisy]
                [--input-shape 1,3,224,224 ...] [--seed N] [--calls N] [--pipeline NAME]
                [--out-dir DIR] [--json FILE] [--figure FILE]

MODEL is a zoo name (`imc-compile --list-models`) or `path/to/file.py:ClassName`
(built with no arguments; give its input shapes with --input-shape). The model
runs with seeded random inputs on the reference interpreter and is checked
against PyTorch eager; the per-layer report is printed and written as JSON,
and a PNG figure shows per-layer DRAM traffic and energy by event kind.
`--pipeline imc-tiled` also tiles convolution stages that do not fit the
scratchpad over output rows (slower to interpret: one step per tile).
"""

import argparse
import importlib.util
import os
import sys
import time


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"imc-compile: error: {message}\n")
        sys.exit(1)


def _arg_parser():
    p = _Parser(prog="imc-compile", description="Compile a PyTorch model for an IMC chip, run it and report.")
    p.add_argument("model", nargs="?", help="zoo model name or path/to/file.py:ClassName")
    p.add_argument("--hardware", default="default", help="preset name or .toml file (default: default)")
    p.add_argument("--precision", default="ideal", choices=["ideal", "quantized", "noisy"])
    p.add_argument("--input-shape", action="append", default=[], metavar="D0,D1,...", help="one per model input")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--pipeline",
        default="imc-default",
        help="named pipeline (imc-default, imc-tiled) or a pass pipeline 'builtin.module(...)' (default: imc-default)",
    )
    p.add_argument("--calls", type=int, default=1, help="run N times (weights stay programmed)")
    p.add_argument("--out-dir", default="imc-out", help="where the report and figure go (default: imc-out)")
    p.add_argument("--json", default=None, help="JSON report path (default: OUT_DIR/<model>.json)")
    p.add_argument("--figure", default=None, help="PNG figure path (default: OUT_DIR/<model>.png)")
    p.add_argument("--tolerance", type=float, default=None, help="max relative error vs PyTorch (default 1e-4 for ideal)")
    p.add_argument("--remarks", action="store_true", help="print every pass remark (default: the summaries)")
    p.add_argument("--list-models", action="store_true")
    return p


class _Progress:
    """Stage display on stderr: `[2/4] map to crossbars ... 1.2 s`."""

    STAGES = ["build model", "import", "map", "run", "check", "report"]

    def __init__(self):
        self.t0 = time.perf_counter()
        self.t = self.t0
        self.current = None

    def __call__(self, stage: str):
        self.done()
        self.current = stage
        self.t = time.perf_counter()
        index = self.STAGES.index(stage) + 1 if stage in self.STAGES else "?"
        sys.stderr.write(f"[{index}/{len(self.STAGES)}] {stage} ...")
        sys.stderr.flush()

    def done(self):
        if self.current is not None:
            sys.stderr.write(f" {time.perf_counter() - self.t:.1f} s\n")
            self.current = None

    @property
    def total(self):
        return time.perf_counter() - self.t0


def _load_user_model(spec: str, shapes):
    import torch

    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise ValueError(f"'{spec}' is neither a zoo model nor path/to/file.py:ClassName")
    if not os.path.exists(path):
        raise ValueError(f"model file '{path}' does not exist")
    module_spec = importlib.util.spec_from_file_location(f"_imc_user_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code failed: say where, in one line
        raise ValueError(f"model file {_user_error(exc, path)}") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise ValueError(f"'{path}' has no '{name}'")
    if not shapes:
        raise ValueError(f"give the input shape(s) of {name} with --input-shape D0,D1,...")
    try:
        model = cls().eval()
    except Exception as exc:
        raise ValueError(f"building {name}() failed: {_user_error(exc, path)}") from None
    return model, tuple(torch.randn(*s) for s in shapes)


def _user_error(exc: Exception, path: str) -> str:
    """`file.py:LINE: Type: message` for an exception raised by the user's model file."""
    import traceback

    if isinstance(exc, SyntaxError):
        line = exc.lineno
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
        line = frames[-1].lineno if frames else None
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"{path}{f':{line}' if line else ''}: {type(exc).__name__}: {message}"


def _figure(report, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.layers.values()]
    names = [r.name for r in rows]
    dram = [r.counters.dram_read_bytes + r.counters.dram_write_bytes for r in rows]
    bound = [r.lower_bound_bytes for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 0.35 * len(rows) + 3), 9))
    x = range(len(rows))
    ax1.bar([i - 0.2 for i in x], dram, width=0.4, label="DRAM bytes (measured)")
    if any(b is not None for b in bound):
        ax1.bar([i + 0.2 for i in x], [b or 0 for b in bound], width=0.4, label="I/O lower bound")
    ax1.set_xticks(list(x))
    ax1.set_xticklabels(names, rotation=90, fontsize=7)
    ax1.set_ylabel("bytes")
    ax1.set_yscale("symlog")
    ax1.set_title(f"{title}: DRAM traffic per layer")
    ax1.legend()
    energy = report.totals.energy_by_event
    kinds = sorted(energy, key=lambda k: -energy[k])
    ax2.bar(kinds, [energy[k] / 1e6 for k in kinds], color="tab:orange")
    ax2.set_ylabel("energy (uJ)")
    ax2.set_title("energy by event kind")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    args = _arg_parser().parse_args(argv)
    from imc import models

    if args.list_models:
        for name in sorted(models.ZOO):
            print(name)
        return 0
    if not args.model:
        sys.stderr.write("imc-compile: error: give a model (a zoo name or path/to/file.py:ClassName)\n")
        return 1

    import numpy as np
    import torch

    import imc
    from imc.hardware import HardwareError
    from imc.pipeline import PipelineError

    progress = _Progress()
    torch.manual_seed(args.seed)
    try:
        shapes = [tuple(int(d) for d in s.split(",")) for s in args.input_shape]
    except ValueError:
        sys.stderr.write(f"imc-compile: error: bad --input-shape {args.input_shape}: use D0,D1,...\n")
        return 1
    progress("build model")
    try:
        if args.model in models.ZOO:
            model = models.create(args.model)
            inputs = tuple(torch.randn(*s) for s in shapes) if shapes else models.example_inputs(args.model)
        else:
            model, inputs = _load_user_model(args.model, shapes)
    except ValueError as exc:
        progress.done()
        sys.stderr.write(f"imc-compile: error: {exc}\n")
        return 1

    try:
        pipeline = args.pipeline if args.pipeline.startswith("builtin.module(") else f"builtin.module({args.pipeline})"
        compiled = imc.compile(
            model, inputs, hardware=args.hardware, precision=args.precision, seed=args.seed, pipeline=pipeline, progress=progress
        )
    except HardwareError as exc:
        progress.done()
        sys.stderr.write(f"imc-compile: error: {exc}\n")
        return 1
    except PipelineError as exc:
        progress.done()
        sys.stderr.write(f"imc-compile: error: {exc}\n")
        return 1

    progress("run")
    for _ in range(max(1, args.calls)):
        outputs = compiled(*inputs)
    progress("check")
    with torch.no_grad():
        reference = model(*inputs)
    outs = outputs if isinstance(outputs, tuple) else (outputs,)
    refs = reference if isinstance(reference, tuple) else (reference,)
    errors = [
        float((o - r).abs().max() / r.abs().max().clamp_min(1e-12)) for o, r in zip(outs, refs)
    ]
    tolerance = args.tolerance if args.tolerance is not None else (1e-4 if args.precision == "ideal" else float("inf"))

    progress("report")
    name = os.path.splitext(os.path.basename(args.model.split(":")[0]))[0] if ":" in args.model else args.model
    os.makedirs(args.out_dir, exist_ok=True)
    json_path = args.json or os.path.join(args.out_dir, f"{name}.json")
    figure_path = args.figure or os.path.join(args.out_dir, f"{name}.png")
    compiled.lower_bounds()  # fills each row's lower_bound_bytes
    report = compiled.report
    report.extra["model"] = args.model
    report.extra["max_relative_error"] = max(errors)
    report.extra["compile_seconds"] = compiled.timings
    with open(json_path, "w", encoding="utf-8") as f:
        f.write(report.to_json())
    _figure(report, figure_path, name)
    progress.done()

    print(report)
    print()
    for r in compiled.remarks:
        if args.remarks:
            print(r)
        elif r.location == "loc(unknown)":  # whole-program summaries; per-layer ones with --remarks
            print(f"remark: [{r.pass_name}] {r.message}")
    print(
        f"\n{name} on '{compiled.hardware.name}' ({args.precision}): max relative error vs PyTorch "
        f"{max(errors):.2e} (tolerance {tolerance:g}); compile {sum(compiled.timings.values()):.1f} s; "
        f"total {progress.total:.1f} s"
    )
    measured = report.totals.dram_read_bytes + report.totals.dram_write_bytes
    bound = report.extra.get("lower_bound_bytes")
    if bound:
        print(f"DRAM traffic {measured:,} B vs I/O lower bound {bound:,} B (ratio {measured / bound:.2f})")
    print(f"wrote {json_path} and {figure_path}")
    if max(errors) > tolerance or not np.isfinite(max(errors)):
        sys.stderr.write("imc-compile: error: the compiled model does not match PyTorch\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
