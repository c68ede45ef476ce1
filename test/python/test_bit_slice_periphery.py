"""`crossbar.bit_slices`: where a weight's bit slices live and are combined.

"adjacent" (ISAAC): the slices of a weight tile sit in adjacent columns of
one array, share its row DACs and input read, and are shifted and added in
the periphery. "separate": every slice is its own array with its own DACs,
and every slice's partial sums go through the scratchpad to `imc.accumulate`.
The expected counts below are computed by hand from the tiling.
"""

import pytest
import torch

import imc
from imc.ir.hardware import Hardware

DEFAULT = Hardware.preset("default")  # 128x128 arrays, 8-bit weights on 2-bit cells, 8-bit inputs via 1-bit DACs


def _totals(k: int, n: int, bit_slices: str):
    torch.manual_seed(0)
    layer = torch.nn.Linear(k, n, bias=False).eval()
    x = torch.randn(1, k)
    compiled = imc.compile(layer, (x,), hardware=DEFAULT.replace(bit_slices=bit_slices))
    per_call = []
    for _ in range(3):  # the first call runs op by op, later ones the fused fast path
        before = compiled.report.totals
        compiled(x)
        after = compiled.report.totals
        per_call.append({k: getattr(after, k) - getattr(before, k) for k in (
            "dac_conversions", "adc_conversions", "mvm_count", "spad_read_bytes", "spad_write_bytes", "digital_ops")})
    assert per_call[1] == per_call[2]
    return per_call[1]


SLICES, CYCLES = 4, 8  # ceil(8 / 2) weight slices, ceil(8 / 1) input cycles


@pytest.mark.parametrize("k,row_tiles", [(64, [64]), (200, [128, 72])])
def test_adjacent_slices_share_dacs_and_shift_add_in_the_periphery(k, row_tiles):
    n = 32
    sep, adj = _totals(k, n, "separate"), _totals(k, n, "adjacent")
    # DACs: every slice's array converts every row in every cycle, or once per row tile.
    assert sep["dac_conversions"] == SLICES * CYCLES * k
    assert adj["dac_conversions"] == CYCLES * k
    # ADCs and array activations are per slice column either way.
    assert sep["adc_conversions"] == adj["adc_conversions"] == SLICES * CYCLES * n * len(row_tiles)
    assert sep["mvm_count"] == adj["mvm_count"] == SLICES * CYCLES * len(row_tiles)
    # Scratchpad (float32): each slice reads its input rows and writes its
    # partials, and the accumulate reads every partial; adjacent slices read
    # the input once, write one combined partial per row tile, and an
    # accumulate of one row tile costs nothing.
    t = len(row_tiles)
    reads_sep = SLICES * k * 4 + SLICES * t * n * 4
    writes_sep = SLICES * t * n * 4 + n * 4
    reads_adj = k * 4 + (t * n * 4 if t > 1 else 0)
    writes_adj = t * n * 4 + (n * 4 if t > 1 else 0)
    assert sep["spad_read_bytes"] - adj["spad_read_bytes"] == reads_sep - reads_adj
    assert sep["spad_write_bytes"] - adj["spad_write_bytes"] == writes_sep - writes_adj
    ops_sep, ops_adj = SLICES * t * n, (t * n if t > 1 else 0)
    assert sep["digital_ops"] - adj["digital_ops"] == ops_sep - ops_adj


@pytest.mark.parametrize("precision", ["quantized", "noisy"])
def test_counts_do_not_depend_on_precision(precision):
    torch.manual_seed(0)
    layer = torch.nn.Linear(200, 32).eval()
    x = torch.randn(2, 200)
    ideal = imc.compile(layer, (x,))
    other = imc.compile(layer, (x,), precision=precision)
    ideal(x)
    other(x)
    a, b = ideal.report.totals, other.report.totals
    assert (a.dac_conversions, a.spad_read_bytes, a.spad_write_bytes, a.digital_ops) == (
        b.dac_conversions, b.spad_read_bytes, b.spad_write_bytes, b.digital_ops)


def test_outputs_do_not_depend_on_the_periphery():
    torch.manual_seed(0)
    layer = torch.nn.Linear(200, 32).eval()
    x = torch.randn(1, 200)
    ys = [imc.compile(layer, (x,), hardware=DEFAULT.replace(bit_slices=b), precision="quantized")(x) for b in ("adjacent", "separate")]
    assert torch.equal(ys[0], ys[1])
