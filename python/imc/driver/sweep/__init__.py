"""Co-design sweeps: hardware x model design spaces, run on Ray.

    from imc.driver.sweep import load_spec, run_sweep, report
    spec = load_spec("examples/sweep.toml")
    summary = run_sweep(spec, "sweep-out", workers=2)   # resumable: rerun with the same directory
    table, pngs = report("sweep-out")

`imc.driver.sweep.spec` reads the sweep file, `imc.driver.sweep.point` evaluates one point
(compile, run, accuracy against ideal, area), `imc.driver.sweep.engine` runs points
as Ray tasks and appends each result to `OUT/results.csv`, and
`imc.driver.sweep.report` prints Pareto-optimal points and draws them.
See docs/sweep.md.
"""

from imc.driver.sweep.engine import RESULTS, SweepSummary, run_sweep
from imc.driver.sweep.point import COLUMNS, Point, evaluate
from imc.driver.sweep.report import load_results, pareto, pareto_table, report
from imc.driver.sweep.spec import ModelSpec, SweepError, SweepSpec, load_spec, parse_spec

__all__ = [
    "COLUMNS", "RESULTS", "ModelSpec", "Point", "SweepError", "SweepSpec", "SweepSummary",
    "evaluate", "load_results", "load_spec", "pareto", "pareto_table", "parse_spec", "report", "run_sweep",
]
