"""Reading a sweep's results: Pareto-optimal points per model and PNG plots.

A point is Pareto-optimal when no other point of the same model is at least
as good in every objective and better in one.  The table uses the four
objectives energy, latency, area and relative error (all minimized); each
plot highlights the front of its own two axes.  Latency is the warm call's
on the chip's timeline (``timeline_ns``) where the sweep measured it
(``sweep.timeline``, the default), else the serialized sum; the area plot is
area vs the throughput of a stream of calls (maximized), or area vs the
serialized latency without timelines.
"""

from __future__ import annotations

import csv
import json
import os

from imc.driver.sweep.engine import RESULTS
from imc.driver.sweep.point import call_latency_ns

__all__ = ["load_results", "pareto", "pareto_table", "plot", "report"]

OBJECTIVES = ("energy_pj", "call_latency_ns", "area_mm2", "rel_l2_error")
_FLOAT = ("energy_pj", "latency_ns", "timeline_ns", "throughput_per_s", "area_mm2", "rel_l2_error", "top1_agreement",
          "float_rel_l2_error", "compile_s", "run_s", "point_s")
_MAXIMIZED = frozenset({"throughput_per_s"})
_INT = ("dram_read_bytes", "dram_write_bytes", "dram_bytes", "spad_read_bytes", "spad_write_bytes", "mvm_count",
        "adc_conversions", "xbar_cells_programmed", "crossbars_used", "total_crossbars", "batch")


def load_results(out_dir: str) -> list[dict]:
    """The rows of ``out_dir/results.csv`` with numbers parsed and ``params``
    decoded (complete rows only)."""
    path = os.path.join(out_dir, RESULTS)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no sweep results in '{out_dir}' ({RESULTS} is missing)")
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if not row.get("finished_at"):
                continue
            row = dict(row)
            row["params"] = json.loads(row["params"]) if row.get("params") else {}
            for k in _FLOAT:
                row[k] = float(row[k]) if row.get(k) not in (None, "") else None
            for k in _INT:
                row[k] = int(row[k]) if row.get(k) not in (None, "") else None
            # The latency objective: the timeline's when measured, else the serialized sum.
            row["call_latency_ns"] = call_latency_ns(row)
            rows.append(row)
    return rows


def pareto(rows: list[dict], objectives=OBJECTIVES) -> list[dict]:
    """The rows no other row dominates (``objectives`` minimized, throughput
    maximized); exact duplicates are all kept."""
    vals = [tuple(-r[o] if o in _MAXIMIZED else r[o] for o in objectives) for r in rows]
    front = []
    for i, a in enumerate(vals):
        dominated = any(
            all(b[k] <= a[k] for k in range(len(a))) and any(b[k] < a[k] for k in range(len(a)))
            for j, b in enumerate(vals) if j != i
        )
        if not dominated:
            front.append(rows[i])
    return front


def _varied(rows: list[dict]) -> list[str]:
    """Parameters (hardware keys, pipeline, precision, calibration) that take more than one value."""
    names = []
    for r in rows:
        for k in r["params"]:
            if k not in names:
                names.append(k)
    names += ["pipeline", "precision", "calibration"]
    return [n for n in names if len({repr(_value(r, n)) for r in rows}) > 1]


def _value(row: dict, name: str):
    return row[name] if name in ("pipeline", "precision", "calibration") else row["params"].get(name)


def _by_model(rows):
    models: dict[str, list[dict]] = {}
    for r in rows:
        models.setdefault(r["model"], []).append(r)
    return models


def pareto_table(rows: list[dict]) -> str:
    """Per model: the Pareto-optimal points (energy, latency, area, error) as a table."""
    lines = []
    for model, mrows in _by_model(rows).items():
        ok = [r for r in mrows if r["status"] == "ok"]
        failed = len(mrows) - len(ok)
        front = sorted(pareto(ok), key=lambda r: r["energy_pj"])
        varied = _varied(mrows) or ["(nothing varied)"]
        lines.append(f"{model}: {len(front)} Pareto-optimal of {len(ok)} points ({failed} failed)")
        head = [*varied, "energy uJ", "latency us", "area mm2", "rel err", "top-1", "DRAM KB", "xbars"]
        body = [[
            *[str(_value(r, v)) if v != "(nothing varied)" else "-" for v in varied],
            f"{r['energy_pj'] / 1e6:.3f}", f"{r['call_latency_ns'] / 1e3:.2f}", f"{r['area_mm2']:.2f}",
            f"{r['rel_l2_error']:.4f}", "-" if r["top1_agreement"] is None or r["top1_agreement"] != r["top1_agreement"]
            else f"{r['top1_agreement']:.2f}", f"{r['dram_bytes'] / 1024:.1f}", str(r["crossbars_used"]),
        ] for r in front]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        lines.append("  " + "  ".join(h.rjust(w) for h, w in zip(head, widths)))
        for b in body:
            lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(b, widths)))
        for r in mrows:
            if r["status"] != "ok":
                params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
                lines.append(f"  failed: {params} {r['pipeline']} {r['precision']}: {r['error'][:160]}")
        lines.append("")
    return "\n".join(lines)


_PLOTS = (
    # file, x, y, x label, y label, title
    ("energy_latency.png", "call_latency_ns", "energy_pj", "latency per call (us)", "energy per call (uJ)",
     "energy vs latency"),
    ("accuracy_energy.png", "energy_pj", "rel_l2_error", "energy per call (uJ)",
     "relative L2 error vs ideal output", "accuracy vs energy"),
    ("area_throughput.png", "throughput_per_s", "area_mm2", "throughput of a stream of calls (inferences/s)",
     "chip area (mm^2)", "area vs throughput"),
)
# Without timelines (sweep.timeline = false) the third plot is area vs the serialized latency.
_AREA_LATENCY = ("area_latency.png", "call_latency_ns", "area_mm2", "serialized latency per call (us)",
                 "chip area (mm^2)", "area vs latency (no timelines measured: no throughput)")
_SCALE = {"call_latency_ns": 1e-3, "energy_pj": 1e-6, "area_mm2": 1.0, "rel_l2_error": 1.0, "throughput_per_s": 1.0}
_MARKERS = "osD^v<>PX*"


def plot(rows: list[dict], out_dir: str) -> list[str]:
    """Writes the three PNGs into ``out_dir``; one panel per model; the varied
    parameters as colour (first) and marker (second) in the legend, the
    two-axis Pareto front as a line with circled points.  Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    models = {m: [r for r in rs if r["status"] == "ok"] for m, rs in _by_model(rows).items()}
    failed = {m: sum(r["status"] != "ok" for r in rs) for m, rs in _by_model(rows).items()}
    paths = []
    timed = all(r.get("throughput_per_s") is not None for rs in models.values() for r in rs)
    plots = _PLOTS if timed else (*_PLOTS[:2], _AREA_LATENCY)
    for fname, x, y, xl, yl, title in plots:
        fig, axes = plt.subplots(1, len(models), figsize=(7.4 * len(models), 4.4), squeeze=False)
        for ax, (model, mrows) in zip(axes[0], models.items()):
            varied = _varied(mrows)
            cval = _levels(mrows, varied[0]) if varied else []
            mval = _levels(mrows, varied[1]) if len(varied) > 1 else []
            cmap = plt.get_cmap("viridis", max(2, len(cval)))
            for r in mrows:
                c = cmap(cval.index(repr(_value(r, varied[0])))) if varied else "tab:blue"
                k = mval.index(repr(_value(r, varied[1]))) if mval else 0
                # Later markers are smaller, so points at the same place stay visible.
                ax.scatter(r[x] * _SCALE[x], r[y] * _SCALE[y], color=c, marker=_MARKERS[k % len(_MARKERS)],
                           s=max(14, 80 - 22 * k), alpha=0.9, zorder=3 + k, edgecolors="black", linewidths=0.4)
            front = sorted(pareto(mrows, (x, y)), key=lambda r: (r[x], r[y]))
            if front:
                fx = [r[x] * _SCALE[x] for r in front]
                fy = [r[y] * _SCALE[y] for r in front]
                ax.step(fx, fy, where="post", color="tab:red", lw=1.5, zorder=2)
                ax.scatter(fx, fy, s=150, facecolors="none", edgecolors="tab:red", lw=1.5, zorder=4)
            handles = [Line2D([], [], color="tab:red", marker="o", mfc="none", lw=1.5, label="Pareto front")]
            if varied:
                handles += [Line2D([], [], ls="", marker="s", color=cmap(i), label=f"{varied[0]} = {eval_label(v)}")
                            for i, v in enumerate(cval)]
            if mval:
                handles += [Line2D([], [], ls="", marker=_MARKERS[i % len(_MARKERS)], color="gray",
                                   label=f"{varied[1]} = {eval_label(v)}") for i, v in enumerate(mval)]
            if len(varied) > 2:
                handles.append(Line2D([], [], ls="", label="also varied: " + ", ".join(varied[2:])))
            ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.8)
            if y == "rel_l2_error" and any(r[y] > 0 for r in mrows):
                ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            note = f", {failed[model]} failed" if failed.get(model) else ""
            ax.set_title(f"{model}: {len(mrows)} points{note}", fontsize=10)
            ax.grid(True, alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def _levels(rows: list[dict], name: str) -> list[str]:
    """The distinct values of parameter ``name`` (as reprs), in value order."""
    values = {repr(_value(r, name)): _value(r, name) for r in rows}
    return sorted(values, key=lambda k: (type(values[k]).__name__, values[k]))


def eval_label(text: str) -> str:
    """A legend value from its repr (strings without quotes)."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def report(out_dir: str, *, plots: bool = True) -> tuple[str, list[str]]:
    """The Pareto table of ``out_dir``'s results and, with ``plots``, the PNG paths."""
    rows = load_results(out_dir)
    text = pareto_table(rows)
    paths = plot(rows, out_dir) if plots and any(r["status"] == "ok" for r in rows) else []
    return text, paths
