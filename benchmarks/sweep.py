"""Benchmark: ResNet-18 sweep points, end to end, on Ray with 1 and 2 workers.

1. Time per ResNet-18 point end to end (compile + run under `quantized` +
   the `ideal` reference run + PyTorch + the timeline), in this process,
   after one warm-up point (imports, first compile, the model's import,
   which a process then reuses for the model's other points, as a sweep's
   workers do). Target: <= 10 s per point.
2. A ResNet-18 grid (default 24 points: crossbar rows x ADC bits x scratchpad
   size on the default chip) through `imc.driver.sweep.run_sweep` with 1 and then 2
   Ray workers, each into a fresh results directory (nothing cached), Ray
   start-up included. Target: scaling >= 1.7x from 1 to 2 workers.
   Prints the Pareto table of the 2-worker run.

    python benchmarks/sweep.py [--points 24] [--size 224] [--batch 1] [--reference ideal|float]
                               [--single 2] [--skip-grid] [--out DIR] [--no-timeline]

`--points N` stops each grid run after N computed points (a reduced run on a
loaded machine; with 2 workers the point still in flight is cancelled);
`--size` is the input resolution; `--no-timeline` leaves out each point's
timeline (`sweep.timeline`, on by default: a traced run of its own);
`--breakdown` prints where each timed single point's time went (the passes,
the calibration run, each interpreter call by precision, traced or not, the
timeline stream's replays, the rest), timed by wrapping those functions.
"""

import argparse
import contextlib
import os
import shutil
import tempfile
import time

GRID = """
[sweep]
hardware = "default"
precision = ["quantized"]
reference = "{reference}"
timeline = {timeline}
seed = 0

[[model]]
name = "resnet18"
batch = {batch}
inputs = {{ size = {size} }}

[vary]
crossbar.rows = [64, 128, 256]
crossbar.adc_bits = [4, 6, 8, 10]
memory.scratchpad_bytes = [262144, 1048576]
"""


@contextlib.contextmanager
def breakdown(pieces: dict):
    """Adds to `pieces` (name -> seconds) the time spent, inside the block, in
    the passes, the ADC calibration (its own interpreter call included), each
    other interpreter call (named by its precision, and "traced" when the
    timeline traces it) and the timeline stream's replays."""
    import imc.driver.compiler as compiler
    from imc.sim.runtime import Runner

    calibrating, patched = [], []

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            if calibrating:
                return original(*args, **kwargs)
            key = label(*args) if callable(label) else label
            if key == "calibration":
                calibrating.append(key)
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if key == "calibration":
                    calibrating.clear()
                pieces[key] = pieces.get(key, 0.0) + time.perf_counter() - t

        setattr(owner, name, timed)
        patched.append((owner, name, original))

    wrap(compiler, "run_pipeline", "passes")
    wrap(compiler.CompiledModel, "calibrate", "calibration")
    wrap(Runner, "__call__", lambda runner, *_: f"{runner.chip.precision} call" + (" traced" if runner.tracer is not None else ""))
    wrap(Runner, "replay", "stream replays")
    try:
        yield pieces
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=24, help="points of the grid to run (default: all 24)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--single", type=int, default=2, help="timed single points after the warm-up (default 2)")
    ap.add_argument("--reference", choices=["ideal", "float"], default="ideal",
                    help="accuracy against the ideal interpreter run (default) or PyTorch (one run less)")
    ap.add_argument("--skip-grid", action="store_true")
    ap.add_argument("--no-timeline", action="store_true", help="points without their timeline (sweep.timeline = false)")
    ap.add_argument("--out", default=None, help="keep the results here (default: a temporary directory)")
    ap.add_argument("--breakdown", action="store_true", help="print where each timed single point's time went")
    args = ap.parse_args()

    from imc.driver.sweep import evaluate, parse_spec, pareto_table, run_sweep
    from imc.driver.sweep.point import Point
    from imc.driver.sweep.report import load_results

    timeline = "false" if args.no_timeline else "true"
    spec = parse_spec(GRID.format(size=args.size, batch=args.batch, reference=args.reference, timeline=timeline),
                      source="benchmarks/sweep.py")
    combos = spec.grid()[: args.points]
    model = spec.models[0]
    print(f"ResNet-18 {args.batch}x3x{args.size}x{args.size}, quantized, default chip, reference {args.reference}, "
          f"timeline {timeline}; grid of {len(combos)} points")

    # 1. One point end to end, in process.
    times = []
    for i in range(args.single + 1):
        point = Point.make(spec, model, combos[i % len(combos)])
        pieces = {}
        with breakdown(pieces) if args.breakdown and i else contextlib.nullcontext():
            t = time.perf_counter()
            row = evaluate(point, worker=True)  # (this process evaluates points only, as a sweep's worker)
            dt = time.perf_counter() - t
        tag = "warm-up" if i == 0 else f"point {i}"
        print(f"  {tag}: {dt:.1f} s (compile {row['compile_s'] or 0:.1f} s, runs {row['run_s'] or 0:.1f} s) "
              f"{dict(point.params)} {row['status']} {row['error'][:100]}")
        if pieces:
            pieces["rest"] = dt - sum(pieces.values())
            print("    " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in pieces.items()))
        if i:
            times.append(dt)
    if times:
        print(f"time per ResNet-18 point end to end: {sum(times) / len(times):.1f} s (target <= 10 s)")
    if args.skip_grid:
        return

    # 2. The grid on 1 and 2 Ray workers, nothing cached.
    base = args.out or tempfile.mkdtemp(prefix="imc-sweep-bench-")
    stop = None if args.points >= spec.space_size else args.points
    walls = {}
    for workers in (1, 2):
        out = os.path.join(base, f"workers{workers}")
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        s = run_sweep(spec, out, workers=workers, progress=False, stop_after=stop)
        walls[workers] = time.perf_counter() - t
        print(f"  {workers} worker(s): {s.computed} points ({s.failed} failed) in {walls[workers]:.1f} s "
              f"({walls[workers] / max(1, s.computed):.1f} s per point, Ray start-up included)")
    print(f"scaling 1 -> 2 workers: {walls[1] / walls[2]:.2f}x (target >= 1.7x)")
    print()
    print(pareto_table(load_results(os.path.join(base, "workers2"))))
    if not args.out:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
