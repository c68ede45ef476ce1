"""Benchmark: latency and throughput on the chip's timeline, next to the
latency bound and the old serialized figure.

For ResNet-18 (3x224x224) and BERT-base (sequence 128), and with
`--models resnet50` ResNet-50 (3x224x224), batch 1, on the
`default`, `isaac` and `metis` presets and the pipelines `imc-tiled` (the
default: row tiles, at most 4 rows in the stages that fit, line buffers,
layers copied onto spare crossbars by
`imc-place-crossbars{duplicate=true objective=latency}`), `no-copies`
(`imc-tiled`'s tiling without the copies), `imc-default` (one layer at a
time, no copies), `duplicate` (`imc-default` with the copies) and
`imc-pipelined` (tiles of at most 4 rows on every stage, also the ones
that do not fit, and copies for the bottleneck): compiles with `imc.compile`,
runs a cold and a warm call for the serialized latency (`latency_ns`: one
layer after another), then the traced timeline (`CompiledModel.timeline`,
docs/interpreter.md, "Timeline"): a cold and a warm call on an idle chip and
a stream of warm calls. Prints per row, measured in this run: the serialized
latency of a warm call, the timeline's latency of a warm call, the latency
bound of the same events (no schedule on the chip is faster), their ratio,
the resource that sets the bound, the interval between calls of a stream and
its throughput, and the cold call's latency. "bound" is the resource bound
(the busiest resource's work: no schedule of these events is faster),
"chain" the program's longest dependency chain (every resource unlimited),
"h-b-t" the head-body-tail bound (for each resource, the chain before its
first step, its work and the chain after its last; the largest over the
resources: `imc.sim.timeline_bound`), "on" the resource that sets it;
"/bound" divides the timeline by the first, "/all" by the largest of the
three (`Timeline.latency_bound_ns`).

    python benchmarks/latency.py [--models resnet18 resnet50 bert] [--hardware default isaac metis]
                                 [--pipelines imc-tiled no-copies imc-default duplicate imc-pipelined]
"""

import argparse
import warnings

from common import bert_base  # benchmarks/common.py

warnings.filterwarnings("ignore")


_DUPLICATE = (
    "imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true}, cse, "
    "imc-quantize-activations, imc-place-buffers, imc-check-buffers, imc-group-contractions"
)
PIPELINES = {
    "imc-tiled": "builtin.module(imc-tiled)",
    "no-copies": "builtin.module(imc-tile-rows{fit-rows=4}, imc-default)",
    "imc-default": "builtin.module(imc-default)",
    "duplicate": f"builtin.module({_DUPLICATE})",
    "imc-pipelined": "builtin.module(imc-pipelined)",
}


def warm_call(compiled, inputs):
    """The serialized counters of a warm call (a cold call runs first)."""
    from imc.sim.report import EVENTS, price

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


def _print_row(name: str, hw: str, label: str, c, timeline) -> None:
    t = timeline
    joined = t.head_body_tail
    print(
        f"{name:<24} {hw:<8} {label:<12} {c.latency_ns / 1e6:>14.3f} {t.warm_makespan_ns / 1e6:>12.3f} "
        f"{t.bound_ns / 1e6:>10.3f} {t.bounding_resource:<11} {t.chain_ns / 1e6:>9.3f} "
        f"{joined.bound_ns / 1e6:>9.3f} {joined.resource:<10} "
        f"{t.warm_makespan_ns / t.bound_ns:>8.2f} {t.warm_makespan_ns / t.latency_bound_ns:>8.2f} "
        f"{t.interval_ns / 1e6:>12.3f} {t.throughput_per_s:>14,.1f} {t.cold_makespan_ns / 1e6:>10.3f}",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "bert"], choices=["resnet18", "resnet50", "bert"])
    parser.add_argument("--hardware", nargs="+", default=["default", "isaac", "metis"])
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=list(PIPELINES))
    args = parser.parse_args(argv)
    import imc
    from imc.frontend import models

    todo = []
    if "resnet18" in args.models:
        todo.append(("resnet18", models.create("resnet18").eval(), models.example_inputs("resnet18")))
    if "resnet50" in args.models:
        todo.append(("resnet50", models.resnet50(), models.resnet18_inputs()))  # (not in ZOO: imc.frontend.models)
    if "bert" in args.models:
        todo.append(bert_base())
    print(
        f"{'model':<24} {'chip':<8} {'pipeline':<12} {'serialized ms':>14} {'timeline ms':>12} {'bound ms':>10} "
        f"{'bound by':<11} {'chain ms':>9} {'h-b-t ms':>9} {'on':<10} {'/bound':>8} {'/all':>8} {'interval ms':>12} {'inferences/s':>14} {'cold ms':>10}"
    )
    for name, model, inputs in todo:
        for hw in args.hardware:
            for label in args.pipelines:
                compiled = imc.compile(model, inputs, hardware=hw, pipeline=PIPELINES[label])
                serialized = warm_call(compiled, inputs)
                _print_row(name, hw, label, serialized, compiled.timeline(inputs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
