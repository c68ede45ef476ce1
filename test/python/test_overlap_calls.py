"""`imc-place-buffers{overlap-calls=true}`: stored tensors at bytes of their own
let a stream of calls overlap on the timeline, at the same traffic and values."""

import numpy as np

import imc
from imc.frontend import models

PIPELINE = (
    "builtin.module(imc-tile-rows{{rows=4}}, imc-map-contractions, imc-tile, imc-place-crossbars{{duplicate=true}}, cse, "
    "imc-quantize-activations, imc-place-buffers{{overlap-calls={}}}, imc-check-buffers, imc-group-contractions)"
)


def _run(overlap: bool):
    model, x = models.create("lenet5"), models.example_inputs("lenet5")
    compiled = imc.compile(model, x, hardware="isaac", pipeline=PIPELINE.format(str(overlap).lower()))
    y = compiled(*x).numpy()
    totals = compiled.report.totals
    return compiled.timeline(x), y, (totals.dram_read_bytes, totals.dram_write_bytes), compiled.remarks


def test_calls_overlap_when_buffers_do_not_share_bytes():
    shared, y_shared, dram_shared, _ = _run(False)
    apart, y_apart, dram_apart, remarks = _run(True)
    assert any("overlap-calls: every stored tensor and row slab at bytes of its own" in str(r) for r in remarks)
    np.testing.assert_array_equal(y_apart, y_shared)
    assert dram_apart == dram_shared
    assert apart.warm_makespan_ns == shared.warm_makespan_ns  # one call alone: the same steps
    assert apart.interval_ns < shared.interval_ns  # calls in a stream no longer wait for freed bytes
