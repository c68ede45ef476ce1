"""Duplicating the busiest layers on spare crossbars: same results, less MVM time per call."""

import torch

import imc
from imc import models

PIPELINE = "builtin.module(imc-map-contractions, imc-tile, imc-place-crossbars{{duplicate={}}}, cse)"


def _per_call_latency(dup: bool):
    model, x = models.create("lenet5"), models.example_inputs("lenet5")
    compiled = imc.compile(model, x, pipeline=PIPELINE.format(str(dup).lower()))
    compiled(*x)
    first = compiled.report.totals.latency_ns
    y = compiled(*x)
    with torch.no_grad():
        assert float((y - model(*x)).abs().max() / model(*x).abs().max()) < 1e-5
    return compiled.report.totals.latency_ns - first, compiled.report.totals.xbar_cells_programmed


def test_duplication_cuts_latency_and_costs_cells():
    base_latency, base_cells = _per_call_latency(False)
    dup_latency, dup_cells = _per_call_latency(True)
    assert dup_latency < base_latency / 2
    assert dup_cells > base_cells  # the copies are programmed too
