"""`imc-sweep`: hardware x model design-space sweeps on Ray, and their Pareto report.

    imc-sweep SWEEP.toml --out DIR [--workers N] [--address RAY_ADDRESS]
              [--stop-after N] [--retry-failed] [--no-report]
    imc-sweep --report DIR

The first form runs every point of the sweep file (docs/sweep.md) as a Ray
task (a local Ray instance with N CPUs unless --address joins a cluster) and
appends each finished point to DIR/results.csv; running it again with the
same DIR computes only the points not there yet. At the end it prints the
Pareto-optimal points per model and writes the plots (as --report does).
The second form only reads DIR: it prints the table and writes
DIR/energy_latency.png, DIR/accuracy_energy.png and DIR/area_latency.png.
"""

import os
import sys

from imc.tools._errors import ArgumentParser, UserError, int_at_least, tool_main


def _arg_parser():
    p = ArgumentParser(prog="imc-sweep", description="Run a hardware x model sweep on Ray, or report one.")
    p.add_argument("sweep", nargs="?", help="the sweep file (TOML, see docs/sweep.md)")
    p.add_argument("--out", help="results directory (rerun with the same one to resume)")
    p.add_argument("--workers", type=int_at_least(1), default=max(1, os.cpu_count() or 1),
                   help="points run at once = CPUs of the local Ray instance (default: all cores)")
    p.add_argument("--address", default=None, help="join a running Ray cluster (e.g. ray://host:10001 or auto)")
    p.add_argument("--stop-after", type=int_at_least(1), default=None, metavar="N",
                   help="stop after N newly computed points (the rest stay for a rerun)")
    p.add_argument("--retry-failed", action="store_true", help="recompute points recorded as failed")
    p.add_argument("--no-report", action="store_true", help="do not print the table or write plots at the end")
    p.add_argument("--report", metavar="DIR", help="print the Pareto table of DIR and write its plots; run nothing")
    return p


def _report(out_dir: str) -> int:
    from imc.driver.sweep import report

    try:
        text, paths = report(out_dir)
    except (OSError, ValueError) as exc:
        raise UserError(f"{out_dir}: {exc}") from None
    print(text, end="")
    for path in paths:
        print(f"wrote {path}")
    return 0


def _run(argv: list[str]) -> int:
    parser = _arg_parser()
    args = parser.parse_args(argv)
    if args.report:
        if args.sweep:
            parser.error("--report DIR reads results only; give no sweep file")
        return _report(args.report)
    if not args.sweep or not args.out:
        parser.error("give a sweep file and --out DIR (or --report DIR)")

    from imc.driver.sweep import SweepError, load_spec, run_sweep

    try:
        spec = load_spec(args.sweep)
    except SweepError as exc:
        raise UserError(str(exc)) from None
    try:
        summary = run_sweep(spec, args.out, workers=args.workers, address=args.address,
                            stop_after=args.stop_after, retry_failed=args.retry_failed)
    except KeyboardInterrupt:
        sys.stderr.write(f"\nimc-sweep: interrupted; finished points are in {args.out}; rerun the same command to resume\n")
        return 130
    except (ValueError, OSError) as exc:  # a foreign results file, an unusable --out, no Ray cluster
        raise UserError(str(exc)) from None
    print(
        f"imc-sweep: {summary.computed} computed, {summary.cached} from {args.out}, {summary.failed} failed "
        f"in {summary.seconds:.1f} s" + (" (stopped early: rerun to finish)" if summary.stopped else "")
    )
    if not args.no_report:
        return _report(args.out)
    return 0


main = tool_main("imc-sweep", _run)

if __name__ == "__main__":
    sys.exit(main())
