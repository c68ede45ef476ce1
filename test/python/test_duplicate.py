"""Duplicating the busiest layers on spare crossbars: same results, less MVM time per call."""

import re

import numpy as np
import torch

import imc
from imc.frontend import models

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


def _cold_and_warm(model, x, dup: bool, *, fast_paths: bool = True):
    """((DRAM read bytes, cells, program events) of a cold call, DRAM read bytes
    of a warm call, the outputs of both calls, and after one call of the
    compiled model its layer-at-a-time bound and measured DRAM bytes)."""
    from imc.sim.runtime import Runner

    compiled = imc.compile(model, x, pipeline=PIPELINE.format(str(dup).lower()))
    runner = Runner(compiled.module, compiled.hardware, precision="ideal")
    runner.interpreter.fast_paths = fast_paths
    arrays = [t.numpy() for t in x]
    with compiled.context:
        ys = [runner(*arrays)[0]]
        cold = runner.report.totals
        cold = (cold.dram_read_bytes, cold.xbar_cells_programmed, cold.xbar_program_events)
        ys.append(runner(*arrays)[0])
    warm = runner.report.totals.dram_read_bytes - cold[0]
    compiled(*x)
    compiled.lower_bounds()
    totals = compiled.report.totals
    return cold, warm, ys, compiled.report.extra["layer_at_a_time_bound_bytes"], totals.dram_read_bytes + totals.dram_write_bytes


def test_copies_share_one_dram_transfer_per_tile():
    """A duplicated layer's copies are programmed with one DRAM transfer of
    each tile (docs/interpreter.md, "Counting model"): the cold call reads the
    same weight bytes as without copies while it programs more cells; the
    lower bound agrees (never above the measured bytes), and the fused fast
    path counts what the ops count, values up to float rounding (its one
    matmul sums in another order than the tiles)."""
    model, x = models.create("lenet5"), models.example_inputs("lenet5")
    (base_bytes, base_cells, _), base_warm, _, _, _ = _cold_and_warm(model, x, False)
    (dup_bytes, dup_cells, dup_events), dup_warm, ys, bound, measured = _cold_and_warm(model, x, True)
    assert dup_cells > base_cells and dup_bytes == base_bytes
    assert dup_warm == base_warm  # the copies stay resident: nothing more per warm call
    assert bound <= measured
    slow_cold, slow_warm, slow_ys, _, _ = _cold_and_warm(model, x, True, fast_paths=False)
    assert slow_cold == (dup_bytes, dup_cells, dup_events) and slow_warm == dup_warm
    for y, z in zip(ys, slow_ys):
        np.testing.assert_allclose(y, z, rtol=1e-5, atol=1e-6 * float(np.abs(z).max()))


class _TwoConvs(torch.nn.Module):
    """A 3x3 conv read by another ("same" padding): the second runs a row
    behind in the first's row loop and drains its last row on the last trip."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def _mvm_arrays(module) -> dict:
    """(layer, drained) -> the crossbars the layer's MVMs run on, where
    `drained` tells the MVMs of a loop's last-trip `scf.if` from the others."""
    from imc.dialects.imc_ops import ProgramView
    from imc.ir.utils import walk_ops

    arrays: dict = {}
    for mvm in walk_ops(module.operation, {"imc.mvm"}):
        program = mvm.operands[0].owner
        drained, parent = False, mvm.parent
        while parent is not None and parent.name != "func.func":
            drained |= parent.name == "scf.if"
            parent = parent.parent
        arrays.setdefault((str(program.location), drained), set()).add(ProgramView(program).array)
    return arrays


def test_drained_rows_split_between_the_copies():
    """The rows a lagging layer computes on its loop's last trip (its copy
    in the `scf.if`) run on the same crossbar copies as its other rows, split
    between them: none runs its MVMs on one copy alone."""
    model, x = _TwoConvs(), (torch.randn(1, 8, 16, 16),)
    compiled = imc.compile(model, x, pipeline="imc-pipelined")
    with torch.no_grad():
        assert float((compiled(*x) - model(*x)).abs().max() / model(*x).abs().max()) < 1e-5
    arrays = _mvm_arrays(compiled.module)
    copies = {
        m["layer"]: int(m["n"])
        for r in compiled.remarks
        if (m := re.search(r"layer at (?P<layer>.*): (?P<n>\d+) copies on spare crossbars", str(r)))
    }
    drained = [layer for layer, last in arrays if last]
    assert drained, "the second conv no longer drains on the last trip: the test no longer tests anything"
    for layer in drained:
        assert copies.get(layer, 1) > 1, f"{layer}: no copies"
        one_copy = len(arrays[layer, False]) // copies[layer]  # crossbars per copy
        # (the last trip's rows, fewer than the copies here, take as many copies as they have rows)
        assert arrays[layer, True] < arrays[layer, False] and len(arrays[layer, True]) > one_copy, layer


def test_the_pipeline_objective_copies_the_pipelines_bottleneck():
    """Three conv stages in row loops of one row (`fit-rows=1`) on 320 ISAAC
    crossbars: the stem (a 64-row conv with its max pooling, twice the rows
    of the blocks after it) sets the pipeline's pace. `objective=latency`
    spreads the spare crossbars where they save the most summed time per
    trip; `objective=pipeline` also counts the stem's other trips, gives it
    more copies and the blocks fewer (16 and 4 or 5 against 10 and 6 when
    written), and the warm call on the timeline is shorter (154.8 us
    against 218.8 us)."""
    from test_line_buffer import Stem
    from test_tile_rows import ConvBlock

    from imc.ir.hardware import Hardware

    torch.manual_seed(0)
    model = torch.nn.Sequential(Stem(cin=3, cout=16), ConvBlock(16), ConvBlock(16)).eval()
    x = torch.randn(1, 3, 64, 64)
    hw = Hardware.preset("isaac").replace(cores=40)
    copies, makespan = {}, {}
    for objective in ("latency", "pipeline"):
        compiled = imc.compile(
            model,
            (x,),
            hardware=hw,
            pipeline=(
                "builtin.module(imc-tile-rows{fit-rows=1}, imc-map-contractions, imc-tile, "
                f"imc-place-crossbars{{duplicate=true objective={objective}}}, cse, imc-quantize-activations, "
                "imc-place-buffers, imc-check-buffers, imc-group-contractions)"
            ),
        )
        copies[objective] = {
            m.group(1): int(m.group(2))
            for m in (re.search(r'loc\("([\w.]+)".*: (\d+) copies', str(r)) for r in compiled.remarks)
            if m
        }
        makespan[objective] = compiled.timeline((x,)).warm_makespan_ns
        with torch.no_grad():
            assert float((compiled(x) - model(x)).abs().max() / model(x).abs().max()) < 1e-4
    assert copies["pipeline"]["0.conv"] > copies["latency"]["0.conv"]
    assert copies["pipeline"]["1.conv1"] < copies["latency"]["1.conv1"]
    assert makespan["pipeline"] < 0.8 * makespan["latency"]
