"""Running a sweep: points as Ray tasks, results appended as they finish.

The driver proposes points (grid, seeded random, or an Optuna multi-objective
study per model), skips those already in the results file (same key: same
model, hardware, pipeline, precision, seed and imc version), submits the rest
as Ray tasks (at most ``workers`` in flight), and appends each finished row
to ``OUT/results.csv`` at once, so an interrupted sweep resumes where it
stopped and a repeated point costs nothing.
"""

from __future__ import annotations

import csv
import logging
import os
import random
import sys
import time
from typing import Any, Callable, Iterator

from imc.driver.sweep.point import COLUMNS, Point, call_latency_ns, evaluate_in_worker
from imc.driver.sweep.spec import SweepSpec
from imc.ir.hardware import HardwareError

__all__ = ["RESULTS", "ResultsFile", "SweepSummary", "run_sweep", "propose"]

RESULTS = "results.csv"

#: Optuna objectives (all minimized) and the results column of each (latency:
#: `call_latency_ns`, the timeline's when the sweep measures it).
OBJECTIVES = (("energy_pj", "energy_pj"), ("latency_ns", "latency_ns"), ("area_mm2", "area_mm2"),
              ("rel_l2_error", "rel_l2_error"))


class ResultsFile:
    """``OUT/results.csv``: one row per finished point, keyed by ``key``.

    Rows are appended and flushed one at a time; a half-written last line (a
    kill in the middle of a write) is ignored on reading."""

    def __init__(self, out_dir: str):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, RESULTS)
        self.rows: dict[str, dict[str, str]] = {}
        if os.path.exists(self.path):
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames and tuple(reader.fieldnames) != COLUMNS:
                    raise ValueError(
                        f"'{self.path}' has other columns than this imc's sweep ({len(reader.fieldnames)} vs "
                        f"{len(COLUMNS)}); use another --out directory"
                    )
                for row in reader:
                    if row.get("finished_at") and row.get("key"):  # complete rows only
                        self.rows[row["key"]] = row
        self._fresh = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        if not self._fresh:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn last line: end it so the next row starts clean
                    with open(self.path, "a", encoding="utf-8") as g:
                        g.write("\n")

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if self._fresh:
                writer.writeheader()
                self._fresh = False
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())
        self.rows[row["key"]] = {k: "" if row[k] is None else str(row[k]) for k in COLUMNS}


class SweepSummary:
    """What a run did: points proposed, computed here, found in the results
    file (``cached``), failed; and the rows of this sweep's points."""

    def __init__(self):
        self.proposed = self.computed = self.cached = self.failed = 0
        self.stopped = False
        self.rows: list[dict] = []
        self.seconds = 0.0

    def __repr__(self) -> str:
        return (f"SweepSummary(proposed={self.proposed}, computed={self.computed}, cached={self.cached}, "
                f"failed={self.failed}, stopped={self.stopped})")


class _Progress:
    """One status line on stderr: points done, failed, running, ETA."""

    def __init__(self, total: int | None, stream=None, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream or sys.stderr, enabled
        self.t0 = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, s: SweepSummary, running: int, last: str = "") -> None:
        if not self.enabled:
            return
        done = s.computed + s.cached
        elapsed = time.perf_counter() - self.t0
        eta = ""
        if self.total and s.computed:
            left = self.total - done
            eta = f", ETA {_duration(elapsed / s.computed * left)}"
        total = f"/{self.total}" if self.total else ""
        line = (f"[imc-sweep] {done}{total} points ({s.cached} cached), {s.failed} failed, {running} running, "
                f"{_duration(elapsed)} elapsed{eta}")
        if last:
            line += f"  last: {last}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


# ----------------------------------------------------------------- proposals


class _Proposer:
    """Yields the points of one model and hears their results."""

    def __init__(self, spec: SweepSpec, model):
        self.spec, self.model = spec, model

    def next(self) -> tuple[Point | None, dict | None] | None:
        """``(point, None)``, or ``(None, failed_row)`` for a combination whose
        hardware is invalid, or ``None`` when this model is done."""
        raise NotImplementedError

    def tell(self, point: Point, row: dict) -> None:
        pass

    def _point(self, combo: dict) -> tuple[Point | None, dict | None]:
        try:
            return Point.make(self.spec, self.model, combo), None
        except HardwareError as e:
            return None, {"combo": combo, "error": f"HardwareError: {e}"}


class _ListProposer(_Proposer):
    def __init__(self, spec, model, combos: list[dict]):
        super().__init__(spec, model)
        self._it: Iterator[dict] = iter(combos)

    def next(self):
        combo = next(self._it, None)
        return None if combo is None else self._point(combo)


class _OptunaProposer(_Proposer):
    """An Optuna multi-objective study (NSGA-II or TPE, seeded) over one
    model's categorical dimensions, asked and told as points finish."""

    def __init__(self, spec, model):
        super().__init__(spec, model)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = spec.seed
        sampler = (optuna.samplers.TPESampler(seed=seed, multivariate=True) if spec.sampler == "tpe"
                   else optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, spec.points // 2))))
        self.study = optuna.create_study(directions=["minimize"] * len(OBJECTIVES), sampler=sampler)
        self.dists = {name: optuna.distributions.CategoricalDistribution(list(range(len(values))))
                      for name, values in spec.dimensions}
        self.asked = 0
        self.trials: dict[str, list] = {}

    def next(self):
        if self.asked >= self.spec.points:
            return None
        self.asked += 1
        trial = self.study.ask(self.dists)
        combo = {name: values[trial.params[name]] for name, values in self.spec.dimensions}
        point, bad = self._point(combo)
        if point is None:
            import optuna

            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.trials.setdefault(point.key, []).append(trial)
        return point, bad

    def tell(self, point, row):
        import optuna

        for trial in self.trials.pop(point.key, []):
            if row.get("status") == "ok":
                self.study.tell(trial, [call_latency_ns(row) if col == "latency_ns" else float(row[col]) for _, col in OBJECTIVES])
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)


def propose(spec: SweepSpec) -> list[_Proposer]:
    """One proposer per model for ``spec.strategy``."""
    out = []
    for model in spec.models:
        if spec.strategy == "grid":
            out.append(_ListProposer(spec, model, spec.grid()))
        elif spec.strategy == "random":
            n = min(spec.points, spec.space_size)
            rng = random.Random(f"{spec.seed}:{model.label}")
            out.append(_ListProposer(spec, model, [spec.combination(i) for i in rng.sample(range(spec.space_size), n)]))
        else:
            out.append(_OptunaProposer(spec, model))
    return out


def _planned(spec: SweepSpec) -> int:
    per_model = spec.space_size if spec.strategy == "grid" else (
        min(spec.points, spec.space_size) if spec.strategy == "random" else spec.points)
    return per_model * len(spec.models)


# ----------------------------------------------------------------- running


def _ray_init(workers: int, address: str | None):
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    if ray.is_initialized():
        return ray, False
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(num_cpus=workers, object_store_memory=100 * 1024 * 1024, **common)
    return ray, True


def run_sweep(
    spec: SweepSpec,
    out_dir: str,
    *,
    workers: int = 1,
    address: str | None = None,
    stop_after: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_row: Callable[[dict], None] | None = None,
) -> SweepSummary:
    """Runs ``spec`` with results in ``out_dir/results.csv``.

    Points run as Ray tasks: on a local Ray instance started here with
    ``workers`` CPUs (and shut down at the end), or on the cluster at
    ``address`` (at most ``workers`` tasks in flight).  Points already in the
    results file are not run again (failed ones too, unless
    ``retry_failed``).  ``stop_after=N`` stops after N newly computed points
    (the rest are cancelled), as an interrupted sweep would.
    """
    if workers < 1:
        raise ValueError(f"workers = {workers} must be at least 1")
    results = ResultsFile(out_dir)
    summary = SweepSummary()
    proposers = propose(spec)
    bar = _Progress(_planned(spec), enabled=progress)
    t0 = time.perf_counter()
    ray, started = None, False
    task = None
    running: dict[Any, tuple[Point, _Proposer]] = {}

    def record(point: Point, proposer: _Proposer, row: dict, cached: bool) -> None:
        summary.rows.append(row)
        summary.failed += row.get("status") != "ok"
        if cached:
            summary.cached += 1
        else:
            summary.computed += 1
        proposer.tell(point, row)
        if on_row:
            on_row(row)

    def fill() -> bool:
        """Submits points until ``workers`` run; False when nothing is left."""
        nonlocal ray, started, task
        any_left = False
        i = 0
        while len(running) < workers and proposers:
            proposer = proposers[i % len(proposers)]
            item = proposer.next()
            if item is None:
                proposers.remove(proposer)
                continue
            i += 1
            any_left = True
            summary.proposed += 1
            point, bad = item
            if point is None:  # invalid hardware for this combination: a failed point, no key
                summary.failed += 1
                summary.computed += 1
                summary.rows.append({"status": "failed", "error": bad["error"], "model": proposer.model.label})
                continue
            old = results.rows.get(point.key)
            if old is not None and (old["status"] == "ok" or not retry_failed):
                record(point, proposer, old, cached=True)
                continue
            if any(p.key == point.key for p, _ in running.values()):  # proposed twice while running
                summary.proposed -= 1
                continue
            if ray is None:
                ray, started = _ray_init(workers, address)
                task = ray.remote(num_cpus=1, max_retries=0)(evaluate_in_worker)
            running[task.remote(point)] = (point, proposer)
        return any_left or bool(running)

    try:
        fill()
        last = ""
        bar.update(summary, len(running))
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                point, proposer = running.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as exc:  # the worker died (killed, out of memory)
                    row = point.row(status="failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                                    finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
                results.append(row)
                record(point, proposer, row, cached=False)
                last = f"{point.model.label} {dict(point.params)} {point.precision}: {row['status']}"
            if stop_after is not None and summary.computed >= stop_after:
                summary.stopped = True
                for ref in running:
                    ray.cancel(ref, force=True)
                running.clear()
                bar.update(summary, 0, last)
                break
            fill()
            bar.update(summary, len(running), last)
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t0
        if started:
            ray.shutdown()
    return summary
