"""Benchmark: the imc reference interpreter vs PyTorch eager (CPU), side by side.

For ResNet-18 (batch 1, 3x224x224) and BERT-base (sequence 128: transformers'
`BertModel(BertConfig())` when installed, else the zoo encoder at BERT-base
size) prints, measured in one run, the best of N warm calls (after one
warm-up call: weights decoded, crossbars programmed) of:

* eager: PyTorch eager CPU time (no_grad);
* linalg: the interpreter on the imported linalg-on-tensors IR;
* each pipeline (`imc-default`, `imc-tiled`, `imc-pipelined`) compiled with `imc.compile`, run
  in `ideal` precision;
* the precision modes `quantized` and `noisy` on the `imc-default` program
  (the same compiled module on a fresh chip per mode);

with the ratios to eager, to `imc-default` (ideal) and to `ideal` on the same
program, and the relative error max|y - eager| / max|eager|.  With
``--general`` it also times the `imc-default` program with the interpreter's
fast paths off (one step per op); with ``--trips-in-order``, each pipeline
with its loops run trip by trip (`Interpreter.distribute_loops` off; the
"vs ideal" column is then the ratio to the same program run distributed);
with ``--exact-trips``, each pipeline run distributed with each trip's rows
of a batched contraction multiplied on their own (`Interpreter.exact_trips`:
the trips in order's outputs bit for bit; the same ratio).

    python benchmarks/interpreter.py [--repeat N] [--only resnet18|bert]
        [--pipelines imc-default,imc-tiled,imc-pipelined] [--precisions ideal,quantized,noisy]
        [--no-linalg] [--general] [--trips-in-order] [--exact-trips]

The full run takes several minutes (`noisy` ResNet-18 calls take seconds
each); select a subset with the options.
"""

import argparse
import time
import warnings

import torch
from common import bert_base  # benchmarks/common.py

warnings.filterwarnings("ignore")

PIPELINES = ("imc-default", "imc-tiled", "imc-pipelined")
PRECISIONS = ("ideal", "quantized", "noisy")


def _best(fn, repeat):
    out = fn()  # warm-up (weights decoded, crossbars programmed)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _first(out):
    out = out[0] if isinstance(out, (tuple, list)) else out
    return getattr(out, "last_hidden_state", out)


def bench(name, model, inputs, args):
    """Rows (label, seconds, relative error or None, ratio to ideal or None)."""
    import imc
    from imc.sim.runtime import Runner

    with torch.no_grad():
        t_eager, ref = _best(lambda: model(*inputs), args.repeat)
    ref = _first(ref).numpy()
    arrays = [x.numpy() for x in inputs]

    def err(y):
        y = _first(y)
        y = y.numpy() if hasattr(y, "numpy") else y
        return float(abs(y - ref).max() / abs(ref).max())

    rows = [("eager", t_eager, None, None)]
    if args.linalg:
        from imc.frontend.importer import import_torch
        from imc.ir.context import make_context
        from imc.sim.interpreter import Interpreter

        with make_context() as context:
            interp = Interpreter(import_torch(model, inputs, context=context))
            t, y = _best(lambda: interp.run("main", arrays), args.repeat)
        rows.append(("linalg", t, err(y), None))

    t_ideal = {}
    default = None
    for pipeline in args.pipelines:
        compiled = imc.compile(model, inputs, pipeline=f"builtin.module({pipeline})")
        runner = Runner(compiled.module, compiled.hardware, precision="ideal")
        with compiled.context:
            t, y = _best(lambda: runner(*arrays), args.repeat)
        t_ideal[pipeline] = t
        rows.append((f"{pipeline} ideal", t, err(y), None))
        variants = [("trips in order", "distribute_loops", False)] if args.trips_in_order else []
        variants += [("exact trips", "exact_trips", True)] if args.exact_trips else []
        for label, setting, value in variants:  # (the same program, one interpreter setting changed)
            runner = Runner(compiled.module, compiled.hardware, precision="ideal")
            setattr(runner.interpreter, setting, value)
            with compiled.context:
                t_variant, y = _best(lambda: runner(*arrays), args.repeat)
            rows.append((f"{pipeline} ideal, {label}", t_variant, err(y), t_variant / t))
        if pipeline == "imc-default":
            default = compiled
    if default is not None and args.general:
        runner = Runner(default.module, default.hardware, precision="ideal")
        runner.interpreter.fast_paths = False
        with default.context:
            t, y = _best(lambda: runner(*arrays), args.repeat)
        rows.append(("imc-default ideal, fast paths off", t, err(y), t / t_ideal["imc-default"]))
    for precision in args.precisions:
        if default is None or precision == "ideal":
            continue  # the precision modes run on the imc-default program
        runner = Runner(default.module, default.hardware, precision=precision)
        with default.context:
            t, y = _best(lambda: runner(*arrays), args.repeat)
        rows.append((f"imc-default {precision}", t, err(y), t / t_ideal["imc-default"]))
    t_default = t_ideal.get("imc-default")
    for label, t, e, vs_ideal in rows:
        print(
            f"{name:<24} {label:<34} {t * 1e3:>10.1f} {t / t_eager:>9.2f}x "
            + (f"{t / t_default:>10.2f}x" if t_default else f"{'':>11}")
            + (f" {vs_ideal:>9.2f}x" if vs_ideal is not None else f" {'':>10}")
            + (f"   {e:.1e}" if e is not None else ""),
            flush=True,
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="timed warm calls per row (best of N; default 3)")
    p.add_argument("--only", choices=["resnet18", "bert"])
    p.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated, of: " + ", ".join(PIPELINES))
    p.add_argument(
        "--precisions",
        default=",".join(PRECISIONS),
        help="comma-separated, of: " + ", ".join(PRECISIONS) + " (quantized and noisy run on imc-default; "
        "every pipeline runs ideal)",
    )
    p.add_argument("--no-linalg", dest="linalg", action="store_false", help="skip the linalg-on-tensors row")
    p.add_argument("--general", action="store_true", help="also time imc-default with the fast paths off")
    p.add_argument(
        "--trips-in-order",
        action="store_true",
        help="also time each pipeline with its loops' trips run in order (not distributed)",
    )
    p.add_argument(
        "--exact-trips",
        action="store_true",
        help="also time each pipeline distributed with each trip's rows multiplied on their own",
    )
    args = p.parse_args(argv)
    args.pipelines = [s for s in args.pipelines.split(",") if s]
    args.precisions = [s for s in args.precisions.split(",") if s]
    for value, allowed, flag in ((args.pipelines, PIPELINES, "--pipelines"), (args.precisions, PRECISIONS, "--precisions")):
        bad = [v for v in value if v not in allowed]
        if bad:
            p.error(f"{flag}: unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
    from imc.frontend import models

    print(
        f"{'model':<24} {'run':<34} {'ms':>10} {'vs eager':>10} {'vs default':>11} {'vs ideal':>10}   rel err"
        "   (best of %d warm calls)" % args.repeat
    )
    if args.only in (None, "resnet18"):
        bench("resnet18", models.create("resnet18"), models.example_inputs("resnet18"), args)
    if args.only in (None, "bert"):
        name, model, inputs = bert_base()
        bench(name, model, inputs, args)


if __name__ == "__main__":
    main()
