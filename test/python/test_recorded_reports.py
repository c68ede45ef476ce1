"""Recorded reports: the zoo models compiled with `imc-default` give the same
report, byte for byte, as when the reports under `reports/` were recorded.

This is the safety net for refactorings that must not change what the
compiler does: every counter, energy and latency figure of every layer, the
I/O lower bounds and the passes' remarks are compared (no timings). Paths of
the zoo's source files are written relative to `imc/models`, so the recording
does not depend on where the repository is checked out.

The small models run on every preset in `imc/ir/presets`; ResNet-18 (the main
job, 224x224: the only size where placement spills to DRAM through many
scratchpad buffers) runs on `default` and is marked `slow` (it still runs by
default; `-m "not slow"` skips it).

A change that is meant to change reports re-records them, and the diff of the
JSON files shows what changed:

    IMC_RECORD_REPORTS=1 python -m pytest -q test/python/test_recorded_reports.py
"""

import json
import os
from pathlib import Path

import pytest

import imc
from imc.frontend import models

REPORTS = Path(__file__).parent / "reports"
PRESETS = sorted(p.stem for p in (Path(imc.__file__).parent / "ir" / "presets").glob("*.toml"))
SMALL = ["mlp", "lenet5", "gpt2_block", "bert_encoder"]
CASES = [pytest.param(m, p, {}, id=f"{m}-{p}") for m in SMALL for p in PRESETS] + [
    pytest.param("resnet18", "default", {"size": 224}, id="resnet18-default", marks=pytest.mark.slow)
]


def recorded_report(model: str, hardware: str, input_kw: dict) -> str:
    """The report of one call of zoo `model` compiled for `hardware`, as recorded text."""
    module = models.create(model)
    inputs = models.example_inputs(model, **input_kw)
    compiled = imc.compile(module, inputs, hardware=hardware, pipeline="builtin.module(imc-default)")
    compiled(*inputs)
    compiled.lower_bounds()
    record = {
        "model": model,
        "inputs": [list(x.shape) for x in inputs],
        "report": compiled.report.to_dict(),
        "remarks": [str(r) for r in compiled.remarks],
    }
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    return text.replace(os.path.dirname(models.__file__), "<imc/models>")


@pytest.mark.parametrize("model,hardware,input_kw", CASES)
def test_report_unchanged(model, hardware, input_kw):
    path = REPORTS / f"{model}-{hardware}.json"
    text = recorded_report(model, hardware, input_kw)
    if os.environ.get("IMC_RECORD_REPORTS"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no recorded report {path.name}: record with IMC_RECORD_REPORTS=1"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "recorded", "now", n=2))
        pytest.fail(f"report of {model} on {hardware} changed:\n{diff[:6000]}")
