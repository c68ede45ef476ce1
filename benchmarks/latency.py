"""Benchmark: serialized latency per warm call next to the latency bound.

For ResNet-18 (3x224x224) and BERT-base (sequence 128), batch 1, on the
`default`, `isaac` and `metis` presets: compiles with `imc.compile`
(`imc-default`, and the same with `imc-place-crossbars{duplicate=true}`,
which copies the busiest layers onto spare crossbars), runs a cold and a
warm call, and prints for the warm call
the serialized latency (`latency_ns`: one layer after another, one digital
unit), the latency bound (`latency_bound_ns`: no schedule of the same events
on the chip is faster; docs/interpreter.md, "Latency bound"), their ratio,
the resource that sets the bound, each resource's time, and the throughput
bound (inferences/s for a stream of warm calls). A timeline that overlaps
layers is not built yet: the ratio is what such a schedule could gain at
most.

    python benchmarks/latency.py [--models resnet18 bert] [--hardware default isaac metis] [--no-duplicate]
"""

import argparse
import warnings

from common import bert_base  # benchmarks/common.py

warnings.filterwarnings("ignore")


DUPLICATE = (
    "builtin.module(imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true}, cse, "
    "imc-place-buffers, imc-check-buffers)"
)


def warm_call(model, inputs, hw, pipeline=None):
    import imc
    from imc.report import EVENTS, price

    compiled = imc.compile(model, inputs, hardware=hw, **({"pipeline": pipeline} if pipeline else {}))
    compiled(*inputs)
    before = {name: dict(row.events) for name, row in compiled.report.layers.items()}
    busy_before = {name: dict(row.busy) for name, row in compiled.report.layers.items()}
    compiled(*inputs)
    events = dict.fromkeys(EVENTS, 0)
    busy = []
    for name, row in compiled.report.layers.items():
        old, old_busy = before.get(name, {}), busy_before.get(name, {})
        for k, n in row.events.items():
            events[k] += n - old.get(k, 0)
        busy.append({a: n - old_busy.get(a, 0) for a, n in row.busy.items()})
    return price(events, compiled.hardware, busy)


def _print_row(name: str, hw: str, label: str, c) -> None:
    resources = ", ".join(f"{k} {v / 1e6:.3f}" for k, v in c.resource_ns.items())
    print(
        f"{name:<24} {hw:<8} {label:<12} {c.latency_ns / 1e6:>14.3f} {c.latency_bound_ns / 1e6:>10.3f} "
        f"{c.latency_ns / c.latency_bound_ns:>7.2f} {c.bounding_resource:<11} {1e9 / c.latency_bound_ns:>16,.2f}  {resources}",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "bert"], choices=["resnet18", "bert"])
    parser.add_argument("--hardware", nargs="+", default=["default", "isaac", "metis"])
    parser.add_argument("--no-duplicate", action="store_true", help="only imc-default, no duplicated layers")
    args = parser.parse_args(argv)
    from imc import models

    todo = []
    if "resnet18" in args.models:
        todo.append(("resnet18", models.create("resnet18").eval(), models.example_inputs("resnet18")))
    if "bert" in args.models:
        todo.append(bert_base())
    pipelines = [("imc-default", "builtin.module(imc-default)")] + ([] if args.no_duplicate else [("duplicate", DUPLICATE)])
    print(f"{'model':<24} {'chip':<8} {'pipeline':<12} {'serialized ms':>14} {'bound ms':>10} {'ratio':>7} {'bound by':<11} {'inferences/s <=':>16}  resources (ms)")
    for name, model, inputs in todo:
        for hw in args.hardware:
            for label, pipeline in pipelines:
                _print_row(name, hw, label, warm_call(model, inputs, hw, pipeline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
