"""imc.driver.sweep: sweep files, proposals, the resumable results file, Ray runs,
the Pareto report and imc-sweep."""

from __future__ import annotations

import csv
import json
import os
import textwrap

import pytest

from imc.driver.sweep import COLUMNS, SweepError, load_results, pareto, parse_spec, run_sweep
from imc.driver.sweep.engine import ResultsFile, propose
from imc.driver.sweep.point import Point
from imc.ir.hardware import Hardware
from imc.tools.imc_sweep import main as imc_sweep

# MLP and LeNet x 2 crossbar sizes x 2 scratchpads = 8 points; the 16-byte
# scratchpad cannot hold a staging buffer, so 4 of them fail.
SMALL = """
[sweep]
hardware = "default"
precision = ["quantized"]
seed = 3

[[model]]
name = "mlp"
batch = 4

[[model]]
name = "lenet5"
batch = 4

[vary]
crossbar.rows = [64, 128]
memory.scratchpad_bytes = [16, 65536]
"""


def _spec(text=SMALL, **kw):
    return parse_spec(textwrap.dedent(text), source="t.toml", **kw)


# ----------------------------------------------------------------- the sweep file


def test_spec_reads_models_params_and_ranges():
    spec = _spec(SMALL.replace("[16, 65536]", "{ from = 16384, to = 65536, times = 2 }"))
    assert [m.label for m in spec.models] == ["mlp", "lenet5"]
    assert spec.params == (("crossbar.rows", (64, 128)), ("memory.scratchpad_bytes", (16384, 32768, 65536)))
    assert spec.space_size == 6 and len(spec.grid()) == 6
    assert [spec.combination(i) for i in range(6)] == spec.grid()
    hw = spec.hardware_for(spec.grid()[-1])
    assert (hw.xbar_rows, hw.spad_bytes) == (128, 65536)
    steps = _spec(SMALL.replace("[16, 65536]", "{ from = 1024, to = 4096, step = 1024 }"))
    assert steps.params[1][1] == (1024, 2048, 3072, 4096)


def test_spec_file_model_is_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "net.py").write_text("import torch\nclass Net(torch.nn.Linear):\n    def __init__(self):\n        super().__init__(4, 3)\n")
    spec = _spec('[[model]]\nfile = "net.py:Net"\ninput_shapes = [[5, 4]]\n', base_dir=str(tmp_path))
    (m,) = spec.models
    assert m.label == "Net" and m.file == f"{tmp_path}/net.py:Net" and m.batch == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[model]]\nname = "mlp"\n[vary]\ncrossbar.rowz = [64]\n', r"vary\.crossbar\.rowz: unknown key 'crossbar\.rowz' \(did you mean 'crossbar\.rows'\?\)"),
        ('[[model]]\nname = "mlp"\n[vary]\ncrossbar.rows = [0, 64]\n', r"vary\.crossbar\.rows: crossbar\.rows = 0 is out of range"),
        ('[[model]]\nname = "mlp"\n[vary]\ncrossbar.rows = []\n', r"vary\.crossbar\.rows = \[\] must be a non-empty list"),
        ('[[model]]\nname = "mlp"\n[vary]\ncrossbar.rows = {from = 64, to = 32, step = 1}\n', r"is empty or endless"),
        ('[[model]]\nname = "mlpp"\n', r"model\[0\]\.name = 'mlpp' is not a zoo model \(did you mean 'mlp'\?\)"),
        ('[[model]]\nfile = "nope.py:X"\ninput_shapes = [[1]]\n', r"nope\.py' does not exist"),
        ("[sweep]\nhardware = 'isac'\n[[model]]\nname = 'mlp'\n", r"sweep\.hardware: .*did you mean 'isaac'"),
        ("[sweep]\nprecision = 'exact'\n[[model]]\nname = 'mlp'\n", r"sweep\.precision = 'exact' is not one of"),
        ("[sweep]\nstrategy = 'random'\n[[model]]\nname = 'mlp'\n", r"sweep\.points is required"),
        ("[sweep]\ncalibration = ['p120']\n[[model]]\nname = 'mlp'\n", r"sweep\.calibration = 'p120' is not 'off', 'max'"),
        ("[sweep]\nstrtegy = 'grid'\n[[model]]\nname = 'mlp'\n", r"unknown key 'sweep\.strtegy' \(did you mean 'sweep\.strategy'\?\)"),
        ("[sweep]\n", r"no models"),
        ("[sweep\n", r"TOML syntax error"),
    ],
)
def test_spec_errors_are_one_line(text, message):
    with pytest.raises(SweepError, match=message) as e:
        _spec(text)
    assert str(e.value).startswith("sweep file 't.toml': ") and "\n" not in str(e.value)


def test_point_keys_follow_what_changes_the_result():
    spec = _spec()
    mlp, lenet = spec.models
    a = Point.make(spec, mlp, spec.grid()[0])
    assert Point.make(spec, mlp, spec.grid()[0]).key == a.key
    assert Point.make(spec, mlp, spec.grid()[1]).key != a.key
    assert Point.make(spec, lenet, spec.grid()[0]).key != a.key
    assert Point.make(spec, mlp, {**spec.grid()[0], "precision": "noisy"}).key != a.key
    assert Point.make(spec, mlp, {**spec.grid()[0], "calibration": "off"}).key != a.key
    reseeded = _spec(SMALL.replace("seed = 3", "seed = 4"))
    assert Point.make(reseeded, reseeded.models[0], spec.grid()[0]).key != a.key


def test_float_reference_saves_the_ideal_run_and_agrees_with_it():
    from imc.driver.sweep import evaluate

    text = SMALL.replace("seed = 3", "seed = 3\nreference = 'float'")
    fast, slow = _spec(text), _spec()
    combo = {"crossbar.rows": 64, "memory.scratchpad_bytes": 65536, "pipeline": "imc-default", "precision": "quantized"}
    a, b = Point.make(fast, fast.models[0], combo), Point.make(slow, slow.models[0], combo)
    assert a.key != b.key
    ra, rb = evaluate(a), evaluate(b)
    assert ra["status"] == rb["status"] == "ok"
    assert ra["energy_pj"] == rb["energy_pj"] and ra["float_rel_l2_error"] == ""
    assert rb["float_rel_l2_error"] < 1e-5
    assert ra["rel_l2_error"] == pytest.approx(rb["rel_l2_error"], rel=1e-3)


def test_a_worker_freezes_what_survives_its_point_and_a_caller_does_not():
    """A sweep's worker (`evaluate_in_worker`) moves what survives a point's
    final collection to the permanent generation; `evaluate` in someone
    else's process leaves the collector as it was."""
    import gc

    from imc.driver.sweep import evaluate
    from imc.driver.sweep.point import evaluate_in_worker

    spec = _spec()
    combo = {"crossbar.rows": 64, "memory.scratchpad_bytes": 65536, "pipeline": "imc-default", "precision": "ideal"}
    point = Point.make(spec, spec.models[0], combo)
    frozen = gc.get_freeze_count()
    try:
        assert evaluate(point)["status"] == "ok"
        assert gc.get_freeze_count() == frozen
        assert evaluate_in_worker(point)["status"] == "ok"
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()


_RESULT_COLUMNS = ("energy_pj", "latency_ns", "timeline_ns", "dram_bytes", "mvm_count", "adc_conversions", "rel_l2_error")


def test_a_process_imports_each_model_once(monkeypatch):
    """The second point of a model in a process parses the first one's
    import (its bytecode) instead of importing again, with the same results
    as a fresh import."""
    import imc.frontend.importer
    from imc.driver.sweep import evaluate
    from imc.driver.sweep import point as point_module

    spec = _spec()
    combo = {"crossbar.rows": 64, "memory.scratchpad_bytes": 65536, "pipeline": "imc-default", "precision": "quantized"}
    first = Point.make(spec, spec.models[1], combo)
    second = Point.make(spec, spec.models[1], {**combo, "crossbar.rows": 128})
    monkeypatch.setattr(point_module, "_IMPORTS", {})
    fresh = evaluate(second)
    point_module._IMPORTS.clear()
    assert evaluate(first)["status"] == "ok"
    assert len(point_module._IMPORTS) == 1

    def no_import(*args, **kwargs):
        raise AssertionError("imported again")

    monkeypatch.setattr(imc.frontend.importer, "import_torch", no_import)
    cached = evaluate(second)
    assert cached["status"] == "ok", cached["error"]
    assert [cached[c] for c in _RESULT_COLUMNS] == [fresh[c] for c in _RESULT_COLUMNS]


# ----------------------------------------------------------------- strategies


def test_random_strategy_is_seeded_and_distinct():
    text = SMALL.replace('precision = ["quantized"]', 'precision = ["quantized"]\nstrategy = "random"\npoints = 3')
    keys = []
    for _ in range(2):
        spec = _spec(text)
        points = [p.next()[0] for p in propose(spec) for _ in range(3)]
        keys.append([p.key for p in points])
        assert len(set(keys[-1][:3])) == 3
    assert keys[0] == keys[1]


def test_optuna_strategy_asks_and_learns_without_running():
    text = SMALL.replace('precision = ["quantized"]', 'precision = ["quantized"]\nstrategy = "optuna"\npoints = 6')
    (proposer, _) = propose(_spec(text))
    seen = 0
    while (item := proposer.next()) is not None:
        point, bad = item
        assert bad is None and point.model.label == "mlp"
        hw = Hardware.from_dict(point.hardware)
        row = {"status": "ok", "energy_pj": float(hw.xbar_rows), "latency_ns": 1e6 / hw.spad_bytes,
               "area_mm2": hw.area_mm2, "rel_l2_error": 0.1}
        proposer.tell(point, row)
        seen += 1
    assert seen == 6
    assert len(proposer.study.trials) == 6 and len(proposer.study.best_trials) >= 1


# ----------------------------------------------------------------- results file


def test_results_file_ignores_a_torn_last_line(tmp_path):
    spec = _spec()
    rf = ResultsFile(str(tmp_path))
    point = Point.make(spec, spec.models[0], spec.grid()[0])
    rf.append(point.row(status="failed", error="x", finished_at="now"))
    with open(rf.path, "a") as f:
        f.write("deadbeef,ok,,mlp")  # killed in the middle of a write
    again = ResultsFile(str(tmp_path))
    assert list(again.rows) == [point.key]
    other = Point.make(spec, spec.models[0], spec.grid()[1])
    again.append(other.row(status="failed", error="y", finished_at="now"))
    assert [r["key"] for r in load_results(str(tmp_path))] == [point.key, other.key]


def test_pareto_front():
    rows = [{"a": 1, "b": 5}, {"a": 2, "b": 2}, {"a": 3, "b": 3}, {"a": 5, "b": 1}, {"a": 2, "b": 2}]
    assert pareto(rows, ("a", "b")) == [rows[0], rows[1], rows[3], rows[4]]


# ----------------------------------------------------------------- running on Ray


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The small sweep, interrupted after 3 points and resumed; each run
    starts (and stops) its own local Ray instance with 2 workers."""
    out = str(tmp_path_factory.mktemp("sweep"))
    spec = _spec()
    first = run_sweep(spec, out, workers=2, stop_after=3, progress=False)
    with open(os.path.join(out, "results.csv"), newline="") as f:
        after_first = list(csv.DictReader(f))
    second = run_sweep(spec, out, workers=2, progress=False)
    return spec, out, first, after_first, second


def test_sweep_resumes_after_an_interruption(swept):
    spec, out, first, after_first, second = swept
    assert first.stopped and first.computed == 3 and len(after_first) == 3
    # The rerun computes only the other 5 and reuses the 3.
    assert (second.computed, second.cached, second.stopped) == (5, 3, False)
    rows = load_results(out)
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8
    assert {r["key"] for r in after_first} <= {r["key"] for r in rows}
    # A third run computes nothing (no Ray needed at all).
    third = run_sweep(spec, out, workers=2, progress=False)
    assert (third.computed, third.cached) == (0, 8)


def test_sweep_records_failing_points_and_goes_on(swept):
    _, out, _, _, second = swept
    rows = load_results(out)
    failed = [r for r in rows if r["status"] == "failed"]
    assert sorted(r["model"] for r in failed) == ["lenet5", "lenet5", "mlp", "mlp"]
    for r in failed:
        assert r["params"]["memory.scratchpad_bytes"] == 16
        assert "scratchpad" in r["error"] and "\n" not in r["error"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 4 and second.failed == sum(r["status"] == "failed" for r in second.rows)
    for r in ok:
        assert r["energy_pj"] > 0 and r["latency_ns"] > 0 and r["crossbars_used"] > 0
        assert 0 <= r["rel_l2_error"] < 1 and 0 <= r["top1_agreement"] <= 1
        assert r["float_rel_l2_error"] < 1e-4  # ideal matches PyTorch
        assert r["area_mm2"] == pytest.approx(Hardware.preset("default").replace(
            xbar_rows=r["params"]["crossbar.rows"], spad_bytes=r["params"]["memory.scratchpad_bytes"]).area_mm2)


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_point_totals_equal_a_direct_compile(swept, model):
    import numpy as np
    import torch

    import imc
    from imc.frontend import models

    spec, out, *_ = swept
    row = next(r for r in load_results(out) if r["model"] == model and r["status"] == "ok"
               and r["params"] == {"crossbar.rows": 64, "memory.scratchpad_bytes": 65536})
    hw = Hardware.preset("default").replace(xbar_rows=64, spad_bytes=65536)
    net = models.create(model, seed=3)
    (x,) = models.example_inputs(model, batch=4, seed=3)
    compiled = imc.compile(net, (x,), hardware=hw, precision="quantized", seed=3)
    y = compiled(x)
    t = compiled.report.totals
    assert row["energy_pj"] == pytest.approx(t.energy_pj, rel=1e-12)
    assert row["latency_ns"] == pytest.approx(t.latency_ns, rel=1e-12)
    timeline = compiled.timeline((x,))
    assert row["timeline_ns"] == pytest.approx(timeline.warm_makespan_ns, rel=1e-12)
    assert row["throughput_per_s"] == pytest.approx(timeline.throughput_per_s, rel=1e-12)
    assert (row["dram_read_bytes"], row["dram_write_bytes"], row["mvm_count"], row["adc_conversions"]) == (
        t.dram_read_bytes, t.dram_write_bytes, t.mvm_count, t.adc_conversions)
    assert row["crossbars_used"] == len(compiled.chip.arrays)
    assert row["area_mm2"] == pytest.approx(compiled.report.to_dict()["area_mm2"])
    ideal = imc.compile(net, (x,), hardware=hw, precision="ideal", seed=3)(x)
    err = float(torch.linalg.norm(y - ideal) / torch.linalg.norm(ideal))
    assert row["rel_l2_error"] == pytest.approx(err, rel=1e-5)
    assert row["top1_agreement"] == pytest.approx(float(np.mean((y.argmax(-1) == ideal.argmax(-1)).numpy())))


def test_imc_sweep_report_prints_pareto_and_writes_plots(swept, capsys):
    _, out, *_ = swept
    assert imc_sweep(["--report", out]) == 0
    text = capsys.readouterr().out
    assert "mlp: " in text and "lenet5: " in text and "Pareto-optimal of 2 points (2 failed)" in text
    assert "failed: crossbar.rows=" in text
    for name in ("energy_latency.png", "accuracy_energy.png", "area_throughput.png"):
        path = os.path.join(out, name)
        assert os.path.getsize(path) > 10_000
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_imc_sweep_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[model]]\nname = "mlp"\n[vary]\ncrossbar.rows = [0]\n')
    assert imc_sweep([str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("imc-sweep: error: sweep file") and "crossbar.rows = 0 is out of range" in err
    assert err.count("\n") == 1
    assert imc_sweep(["--report", str(tmp_path / "nothing")]) == 1
    assert "no sweep results" in capsys.readouterr().err


def test_results_columns_are_documented():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "sweep.md")).read()
    for col in COLUMNS:
        assert f"`{col}`" in doc, col
    json.dumps(COLUMNS)


def test_calibration_is_a_dimension():
    spec = _spec(SMALL.replace('precision = ["quantized"]', 'precision = ["quantized"]\ncalibration = ["off", "max", "p99.9"]'))
    assert spec.calibrations == ("off", "max", "p99.9")
    assert spec.space_size == 3 * _spec().space_size
    assert {c["calibration"] for c in spec.grid()} == {"off", "max", "p99.9"}
    assert _spec().calibrations == ("max",)  # the default: calibrated, as imc.compile
