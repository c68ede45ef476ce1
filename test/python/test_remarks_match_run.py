"""The `imc-place-crossbars` remark states what the run counts.

The remark's figures (cells programmed on the first call and on every later
call) come from replaying the placed program, loops included; a run on the
interpreter counts the same cells. The case of the issue: a conv stage tiled
over output rows (`imc-tiled`) on a chip whose crossbars do not hold all the
tiles, where the rotating tiles are reprogrammed on every loop trip, not once
per call.
"""

import re

import pytest
import torch
from torch import nn

import imc
from imc.ir.hardware import Hardware

_REMARK = re.compile(
    r"reprogramming (\d+) cells per call \((\d+) programming events; the first call programs (\d+) cells\)"
)


def _place_remark(compiled) -> str:
    # (the placement remark; with `duplicate=true` others say what it copied)
    (remark,) = [str(r) for r in compiled.remarks if r.pass_name == "imc-place-crossbars" and "crossbar tiles" in str(r)]
    return remark


def _two_calls(compiled, x):
    compiled(x)
    first = (compiled.report.totals.xbar_cells_programmed, compiled.report.totals.xbar_program_events)
    compiled(x)
    total = (compiled.report.totals.xbar_cells_programmed, compiled.report.totals.xbar_program_events)
    return first, (total[0] - first[0], total[1] - first[1])


class _Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize(
    "pipeline",
    [
        "builtin.module(imc-tiled)",
        "builtin.module(imc-tile-rows, imc-map-contractions, imc-tile, imc-place-crossbars{pool=2}, cse, "
        "imc-place-buffers, imc-check-buffers)",
        "builtin.module(imc-default)",
    ],
)
def test_remark_equals_run_counters(pipeline):
    torch.manual_seed(0)
    model = _Conv().eval()
    x = torch.randn(1, 8, 20, 20)
    # 16x16 crossbars, 3 of them: the conv's 72x16 weights need 5 row tiles x
    # 4 bit slices, so most are time-multiplexed; a 4 KiB scratchpad makes
    # imc-tile-rows tile the stage over output rows.
    hw = Hardware.resolve("default").replace(
        xbar_rows=16, xbar_cols=16, cores=1, crossbars_per_core=3, spad_bytes=4096
    )
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    m = _REMARK.search(_place_remark(compiled))
    assert m, _place_remark(compiled)
    per_call, per_call_events, first_call = map(int, m.groups())
    (first_cells, _), (later_cells, later_events) = _two_calls(compiled, x)
    assert first_cells == first_call
    assert (later_cells, later_events) == (per_call, per_call_events)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)


def test_tiled_stage_reprograms_on_every_trip():
    """In the tiled pipeline the per-call figure is the rotating tiles' cells
    times the trips of the row loop, not the cells of one trip."""
    torch.manual_seed(0)
    model = _Conv().eval()
    x = torch.randn(1, 8, 20, 20)
    hw = Hardware.resolve("default").replace(
        xbar_rows=16, xbar_cols=16, cores=1, crossbars_per_core=3, spad_bytes=4096
    )
    # (objective=energy: both rotate over the same one crossbar, not over a pool widened for time)
    place = "imc-map-contractions, imc-tile, imc-place-crossbars{objective=energy}, cse, imc-quantize-activations, imc-place-buffers, imc-check-buffers"
    tiled = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module(imc-tile-rows, {place})")
    untiled = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module({place})")
    per_trip = int(_REMARK.search(_place_remark(untiled)).group(1))
    per_call = int(_REMARK.search(_place_remark(tiled)).group(1))
    assert "scf.for" in tiled.mlir
    assert per_call > per_trip  # several trips, each reprogramming
    assert per_call % per_trip == 0


def test_duplicated_layers_are_in_the_first_call_figure():
    """With spare crossbars and duplicate=true the copies are programmed too:
    the remark's first-call cells count them, as the run does."""
    torch.manual_seed(0)
    model = _Conv().eval()
    x = torch.randn(1, 8, 20, 20)
    hw = Hardware.resolve("default").replace(xbar_rows=16, xbar_cols=16, cores=1, crossbars_per_core=64)
    pipeline = (
        "builtin.module(imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true}, cse, "
        "imc-place-buffers, imc-check-buffers)"
    )
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    remarks = [str(r) for r in compiled.remarks if r.pass_name == "imc-place-crossbars"]
    assert any("copies on spare crossbars" in r for r in remarks), remarks
    m = re.search(r"each weight tile is programmed once \((\d+) cells on the first call\)", remarks[0])
    assert m, remarks
    (first_cells, _), (later_cells, _) = _two_calls(compiled, x)
    assert first_cells == int(m.group(1)) > 72 * 16  # more than one copy of the weights
    assert later_cells == 0
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
