"""`imc-compile`: the main job. Compile a PyTorch model for a chip, run it, check it, report.

    imc-compile MODEL [--hardware PRESET|FILE] [--precision ideal|quantized|noisy]
                [--input-shape 1,3,224,224 ...] [--seed N] [--calls N] [--pipeline NAME]
                [--out-dir DIR] [--json FILE] [--figure FILE] [--debug]

MODEL is a zoo name (`imc-compile --list-models`) or `path/to/file.py:ClassName`
(built with no arguments; give its input shapes with --input-shape). The model
runs with seeded random inputs on the reference interpreter and is checked
against PyTorch eager; the per-layer report is printed and written as JSON,
and a PNG figure shows per-layer DRAM traffic next to the floor and bounds,
latency next to its bound, and energy by event kind.
The default pipeline, `imc-tiled`, tiles convolution stages that do not fit
the scratchpad over output rows, running a pooling or convolution that reads
one in its loop through a line buffer, and copies layers onto spare
crossbars where that shortens them; `--pipeline imc-default` runs one layer
at a time on whole tensors without copies.
Mistakes (a bad model file, a model that fails on the given input shapes,
unwritable outputs) are one-line errors naming the file, exit 1 (2 for a bad
command line); `tools/_errors.py` is the one error path.
"""

import argparse
import importlib.machinery
import importlib.util
import json
import math
import os
import sys
import time
import traceback

from imc.tools._errors import (
    MAX_GENERATED_BYTES,
    SEED,
    ArgumentParser,
    UserError,
    check_output_dir,
    check_output_file,
    int_at_least,
    non_empty,
    non_negative_float,
    open_output,
    phase,
    tool_main,
)


def _input_shape(text: str) -> tuple[int, ...]:
    """An argparse type: `D0,D1,...` of positive sizes, at most MAX_GENERATED_BYTES of float32."""
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': use D0,D1,... (integers)") from None
    if any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"'{text}': every dimension must be positive (empty tensors cannot be checked)")
    if math.prod(dims) * 4 > MAX_GENERATED_BYTES:
        raise argparse.ArgumentTypeError(f"'{text}': more than {MAX_GENERATED_BYTES >> 30} GiB of float32 inputs")
    return dims


def _calibration_policy(text: str):
    """`--calibrate`: a policy of `imc.sim.calibration`, or False for 'off'."""
    from argparse import ArgumentTypeError

    from imc.sim.calibration import POLICY_HELP, check_policy

    if text == "off":
        return False
    try:
        check_policy(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not 'off' or {POLICY_HELP}") from None
    return text


def _arg_parser():
    p = ArgumentParser(prog="imc-compile", description="Compile a PyTorch model for an IMC chip, run it and report.")
    p.add_argument("model", nargs="?", help="zoo model name or path/to/file.py:ClassName")
    p.add_argument("--hardware", default="default", type=non_empty, help="preset name or .toml file (default: default)")
    p.add_argument("--precision", default="ideal", choices=["ideal", "quantized", "noisy"])
    p.add_argument(
        "--input-shape", action="append", default=[], type=_input_shape, metavar="D0,D1,...", help="one per model input"
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument(
        "--calibrate",
        default=None,
        type=_calibration_policy,
        metavar="POLICY",
        help="ADC calibration on the example inputs for quantized/noisy: max (default), pNN.N (a percentile, "
        "e.g. p99.9) or off",
    )
    p.add_argument(
        "--pipeline",
        default="imc-tiled",
        help="named pipeline (imc-tiled: row tiles and line buffers; imc-default: one layer at a time, whole tensors) "
        "or a pass pipeline 'builtin.module(...)' (default: imc-tiled)",
    )
    p.add_argument(
        "--no-fold-batchnorm",
        dest="fold_batchnorm",
        action="store_false",
        help="keep each convolution's BatchNorm as digital ops (default: folded into its weights and bias)",
    )
    p.add_argument("--calls", type=int_at_least(1), default=1, help="run N >= 1 times (weights stay programmed)")
    p.add_argument("--out-dir", default="imc-out", help="where the report and figure go (default: imc-out)")
    p.add_argument("--json", default=None, help="JSON report path (default: OUT_DIR/<model>.json)")
    p.add_argument("--figure", default=None, help="PNG figure path (default: OUT_DIR/<model>.png)")
    p.add_argument("--tolerance", type=non_negative_float, default=None, help="max relative error vs PyTorch (default 1e-4 for ideal)")
    p.add_argument("--remarks", action="store_true", help="print every pass remark (default: the summaries)")
    p.add_argument(
        "--no-timeline",
        dest="timeline",
        action="store_false",
        help="skip the timeline (latency of a cold and a warm call and throughput on the chip's parallel "
        "resources: extra traced runs; docs/interpreter.md, 'Timeline')",
    )
    p.add_argument("--trace", default=None, metavar="FILE.json", help="write the warm call's timeline as a Chrome/Perfetto trace")
    p.add_argument("--list-models", action="store_true")
    return p


class _Progress:
    """Stage display on stderr: `[2/4] map to crossbars ... 1.2 s`."""

    STAGES = ["build model", "import", "map", "run", "check", "timeline", "report"]

    def __init__(self, model: str):
        self.model = model
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
        phase(f"stage '{stage}' of {self.model}")

    def done(self):
        if self.current is not None:
            sys.stderr.write(f" {time.perf_counter() - self.t:.1f} s\n")
            self.current = None

    def failed(self):
        if self.current is not None:
            sys.stderr.write(" failed\n")
            self.current = None

    @property
    def total(self):
        return time.perf_counter() - self.t0


def _user_code_error(where: str, doing: str, exc: BaseException, *, path: str | None = None) -> UserError:
    """`where[:line]: <doing> raised Type: message`; the line is the deepest frame in `path`."""
    line = ""
    for frame in traceback.extract_tb(exc.__traceback__) if path else ():
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = f":{frame.lineno}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return UserError(f"{where}{line}: {doing} raised {type(exc).__name__}: {first}")


def _load_user_model(spec: str, shapes):
    import torch

    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise UserError(f"{spec}: neither a zoo model (imc-compile --list-models) nor path/to/file.py:ClassName")
    if not os.path.exists(path):
        raise UserError(f"{path}: model file does not exist")
    if not os.path.isfile(path):
        raise UserError(f"{path}: is a directory; give path/to/file.py:ClassName")
    loader = importlib.machinery.SourceFileLoader(f"_imc_user_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    try:
        loader.exec_module(module)
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else path
        raise UserError(f"{where}: not a Python file: {exc.msg}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module code
        raise _user_code_error(path, "loading the model file", exc, path=path) from None
    cls = getattr(module, name, None)
    if cls is None:
        raise UserError(f"{path}: has no '{name}'")
    if not shapes:
        raise UserError(f"{path}: give the input shape(s) of {name} with --input-shape D0,D1,...")
    try:
        model = cls()
    except Exception as exc:  # noqa: BLE001 - the user's constructor
        raise _user_code_error(path, f"{name}()", exc, path=path) from None
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"{path}: {name}() is a {type(model).__name__}, not a torch.nn.Module")
    return model.eval(), tuple(torch.randn(*s) for s in shapes)


def _reference(model, inputs, where: str, path: str | None):
    """PyTorch's outputs on `inputs`: a model that cannot run them is the user's mistake, found before compiling."""
    import torch

    try:
        with torch.no_grad():
            return model(*inputs)
    except Exception as exc:  # noqa: BLE001 - the model's forward
        shapes = ", ".join(str(list(x.shape)) for x in inputs)
        raise _user_code_error(path or where, f"the model on inputs of shape {shapes}", exc, path=path) from None


def _relative_error(out, ref) -> float:
    """max |out - ref| / max |ref|; inf when the shapes differ, 0 for equal empty tensors."""
    if tuple(out.shape) != tuple(ref.shape):
        return float("inf")
    if ref.numel() == 0:
        return 0.0
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


_RESOURCE_LABELS = {"crossbars": "xbar", "scratchpad": "spad", "digital": "dig", "dram": "dram", "programming": "prog"}


def _figure(report, path: str, title: str, timeline=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.layers.values()]
    names = [r.name for r in rows]
    dram = [r.counters.dram_read_bytes + r.counters.dram_write_bytes for r in rows]
    panels = 3 if timeline is None else 4
    fig, axes = plt.subplots(panels, 1, figsize=(max(8, 0.35 * len(rows) + 3), 4.3 * panels))
    ax1, ax3, ax2 = axes[:3]
    if timeline is not None:
        _timeline_panel(axes[3], timeline)
    x = range(len(rows))
    columns = [("DRAM bytes (measured)", dram)]
    for label, attr in (
        ("physical floor", "floor_bytes"),
        ("bound, all schedules", "bound_bytes"),
        ("bound, layer at a time", "layer_bound_bytes"),
    ):
        values = [getattr(r, attr) for r in rows]
        if any(v is not None for v in values):
            columns.append((label, [v or 0 for v in values]))
    width = 0.8 / len(columns)
    for k, (label, values) in enumerate(columns):
        ax1.bar([i - 0.4 + (k + 0.5) * width for i in x], values, width=width, label=label)
    ax1.set_xticks(list(x))
    ax1.set_xticklabels(names, rotation=90, fontsize=7)
    ax1.set_ylabel("bytes")
    ax1.set_yscale("symlog")
    ax1.set_title(f"{title}: DRAM traffic per layer")
    ax1.legend()
    counters = [r.counters for r in rows]
    ax3.bar([i - 0.2 for i in x], [c.latency_ns / 1e3 for c in counters], width=0.4, label="latency, serialized")
    ax3.bar([i + 0.2 for i in x], [c.latency_bound_ns / 1e3 for c in counters], width=0.4, label="latency bound")
    for i, c in zip(x, counters):
        if c.latency_bound_ns:
            label = _RESOURCE_LABELS.get(c.bounding_resource, c.bounding_resource)
            ax3.annotate(label, (i + 0.2, c.latency_bound_ns / 1e3), ha="center", va="bottom", fontsize=6)
    ax3.set_xticks(list(x))
    ax3.set_xticklabels(names, rotation=90, fontsize=7)
    ax3.set_ylabel("us")
    ax3.set_yscale("symlog", linthresh=1.0)
    ax3.set_title("latency per layer (bound labelled with its resource)")
    ax3.legend()
    energy = report.totals.energy_by_event
    kinds = sorted(energy, key=lambda k: -energy[k])
    ax2.bar(kinds, [energy[k] / 1e6 for k in kinds], color="tab:orange")
    ax2.set_ylabel("energy (uJ)")
    ax2.set_title("energy by event kind")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _timeline_panel(ax, timeline) -> None:
    """When each layer of the warm call had a step running (what overlaps,
    what waits)."""
    spans = [s for s in timeline.layers if s.busy_ns]
    for i, s in enumerate(spans):
        ax.broken_barh([(a / 1e3, (b - a) / 1e3) for a, b in s.intervals], (i - 0.35, 0.7), color="tab:blue")
    ax.set_yticks(range(len(spans)))
    ax.set_yticklabels([s.name for s in spans], fontsize=6)
    ax.invert_yaxis()
    ax.axvline(timeline.bound_ns / 1e3, color="tab:red", linestyle="--", label=f"resource bound ({timeline.bounding_resource})")
    ax.axvline(timeline.chain_ns / 1e3, color="tab:green", linestyle=":", label="longest dependency chain")
    joined = timeline.head_body_tail
    if joined is not None:
        ax.axvline(joined.bound_ns / 1e3, color="tab:purple", linestyle="-.", label=f"head-body-tail bound ({joined.resource})")
    ax.set_xlabel("us")
    ax.set_title(
        f"timeline of a warm call: {timeline.warm_makespan_ns / 1e3:,.1f} us "
        f"({timeline.warm_makespan_ns / timeline.latency_bound_ns:.2f}x the largest bound); a call every "
        f"{timeline.interval_ns / 1e3:,.1f} us in a stream"
    )
    ax.legend(loc="lower right")


def _print_largest_errors(errors: dict, precision: str, count: int = 5) -> None:
    """The layers whose stored outputs drift most from `ideal` (all of them are in the JSON)."""
    if not errors:
        return
    print(f"relative L2 error vs ideal of what each layer stores ({precision}; largest {min(count, len(errors))} "
          f"of {len(errors)}, all in the JSON's layer_rel_l2_error):")
    for name, e in sorted(errors.items(), key=lambda kv: -kv[1])[:count]:
        print(f"  {name[:40]:<40} {e:.4f}")


def _print_largest_excess(report, count: int = 3) -> None:
    """The layers that move the most bytes beyond their physical floor, and why."""
    def excess(r):
        c = r.counters
        return c.dram_read_bytes + c.dram_write_bytes - (r.floor_bytes or 0)

    rows = sorted((r for r in report.layers.values() if r.remark and excess(r) > 0), key=excess, reverse=True)
    if rows:
        print("largest excess over the physical floor:")
    for r in rows[:count]:
        print(f"  {r.name}: {r.remark}")


def _run(argv: list[str]) -> int:
    parser = _arg_parser()
    args = parser.parse_args(argv)
    from imc.frontend import models

    if args.list_models:
        for name in sorted(models.ZOO):
            print(name)
        return 0
    if not args.model:
        parser.error("give a model (a zoo name or path/to/file.py:ClassName)")

    # Everything that can be checked without work is checked first.
    name = os.path.splitext(os.path.basename(args.model.split(":")[0]))[0] if ":" in args.model else args.model
    json_path = args.json or os.path.join(args.out_dir, f"{name}.json")
    figure_path = args.figure or os.path.join(args.out_dir, f"{name}.png")
    if args.json is None or args.figure is None:
        check_output_dir(args.out_dir, "--out-dir")
    if args.trace and not args.timeline:
        parser.error("--trace needs the timeline (drop --no-timeline)")
    for path, flag in ((args.json, "--json"), (args.figure, "--figure"), (args.trace, "--trace")):
        if path is not None:
            check_output_file(path, flag)
    from imc.ir.hardware import Hardware, HardwareError

    try:
        hardware = Hardware.resolve(args.hardware)
    except HardwareError as exc:
        raise UserError(str(exc)) from None

    progress = _Progress(args.model)
    try:
        return _compile_and_check(args, hardware, name, json_path, figure_path, progress)
    except BaseException:
        progress.failed()
        raise


def _compile_and_check(args, hardware, name: str, json_path: str, figure_path: str, progress) -> int:
    import numpy as np
    import torch

    import imc
    from imc.frontend import models
    from imc.ir.hardware import HardwareError
    from imc.transforms.pipeline import PipelineError

    torch.manual_seed(args.seed)
    shapes = args.input_shape
    progress("build model")
    path = None
    if args.model in models.ZOO:
        model = models.create(args.model)
        inputs = tuple(torch.randn(*s) for s in shapes) if shapes else models.example_inputs(args.model)
    else:
        model, inputs = _load_user_model(args.model, shapes)
        path = args.model.rpartition(":")[0]
    reference = _reference(model, inputs, args.model, path)

    try:
        pipeline = args.pipeline if args.pipeline.startswith("builtin.module(") else f"builtin.module({args.pipeline})"
        compiled = imc.compile(
            model,
            inputs,
            hardware=hardware,
            precision=args.precision,
            seed=args.seed,
            pipeline=pipeline,
            progress=progress,
            calibrate=args.calibrate,
            fold_batchnorm=args.fold_batchnorm,
        )
    except (HardwareError, PipelineError) as exc:
        progress.failed()
        sys.stderr.write(f"imc-compile: error: {exc}\n")
        return 1

    progress("run")
    for _ in range(args.calls):
        outputs = compiled(*inputs)
    progress("check")
    outs = outputs if isinstance(outputs, tuple) else (outputs,)
    refs = reference if isinstance(reference, tuple) else (reference,)
    errors = [_relative_error(o, r) for o, r in zip(outs, refs)]
    tolerance = args.tolerance if args.tolerance is not None else (1e-4 if args.precision == "ideal" else float("inf"))

    layer_errors = {}
    if args.precision != "ideal":
        progress("layer errors")
        layer_errors = compiled.layer_errors(inputs)
    timeline = None
    if args.timeline:
        progress("timeline")
        timeline = compiled.timeline(inputs)
    if args.trace:
        with open_output(args.trace, "--trace") as f:
            json.dump(timeline.chrome_trace(), f)
    progress("report")
    compiled.lower_bounds()  # fills each row's floor and bounds
    report = compiled.report
    report.extra["model"] = args.model
    report.extra["max_relative_error"] = max(errors)
    report.extra["compile_seconds"] = compiled.timings
    if args.json is None or args.figure is None:
        try:
            os.makedirs(args.out_dir, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{args.out_dir}: --out-dir: cannot create: {exc.strerror}") from None
    with open_output(json_path, "--json") as f:
        f.write(report.to_json())
    try:
        _figure(report, figure_path, name, timeline)
    except OSError as exc:
        raise UserError(f"{figure_path}: --figure: cannot write: {exc.strerror or exc}") from None
    progress.done()

    print(report)
    if timeline is not None:
        print(timeline.summary())
    _print_largest_excess(report)
    _print_largest_errors(layer_errors, args.precision)
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
    print(f"wrote {json_path} and {figure_path}")
    if max(errors) > tolerance or not np.isfinite(max(errors)):
        sys.stderr.write("imc-compile: error: the compiled model does not match PyTorch\n")
        return 1
    return 0


main = tool_main("imc-compile", _run)


if __name__ == "__main__":
    sys.exit(main())
