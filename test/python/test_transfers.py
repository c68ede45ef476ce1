"""`imc.transfer_in` / `imc.transfer_out`: the interpreter runs them as
`imc-lower-transfers` writes them out, untraced (one copy per op) and
traced (one timeline step per DMA)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st
from torch_mlir import ir

from imc.dialects.imc import transfer_groups
from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.runtime import Runner
from imc.transforms.pipeline import run_pipeline

SPAD_1K = Path(__file__).parents[1] / "Inputs" / "spad-1k.toml"

# Three 8x32 matmuls on a 1 KiB scratchpad: y and part of z spill to DRAM
# (test/Transforms/imc-place-buffers.mlir explains the plan).
_SPILLS = """
#l1 = loc("l1")
#l2 = loc("l2")
#l3 = loc("l3")
func.func @main(%x: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %w = arith.constant dense<0.5> : tensor<32x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l1)
  %z = linalg.matmul ins(%y, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l2)
  %v = linalg.matmul ins(%z, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l3)
  return %v : tensor<8x32xf32>
}
"""

# (tile-bytes, double-buffer): one trip per tile; two tiles per trip; a
# tail trip of whole tiles and a short last tile (1,024 B = 3 x 320 + 64).
PLACEMENTS = [(256, False), (128, True), (320, False), (192, True)]


def _placed(ctx, tile_bytes, double_buffer, lower=False):
    """(`_SPILLS` placed, its hardware, the spill traffic its remark plans)."""
    hardware = Hardware.from_file(SPAD_1K)
    module = ir.Module.parse(_SPILLS, context=ctx)
    lowered = " imc-lower-transfers," if lower else ""
    remarks = run_pipeline(
        module,
        f"builtin.module(imc-place-buffers{{tile-bytes={tile_bytes} double-buffer={str(double_buffer).lower()}}},"
        f"{lowered} imc-check-buffers)",
        hardware=hardware,
    )
    (spill,) = [re.search(r"spill traffic ([\d,]+) B", str(r)) for r in remarks if "spill traffic" in str(r)]
    return module, hardware, int(spill.group(1).replace(",", ""))


def _call(module, hardware, *, trace=False):
    """(the output of a second call, the report's layers with events by
    name, overlapped DRAM bytes)."""
    x = np.random.default_rng(0).standard_normal((8, 32)).astype(np.float32)
    runner = Runner(module, hardware, trace=trace)
    out = [runner(x) for _ in range(2)][-1][0]
    layers = {row["name"]: row for row in json.loads(runner.report.to_json())["layers"] if row["energy_pj"]}
    overlapped = sum(row.events["overlapped_dram_bytes"] for row in runner.report.layers.values())
    return out, layers, overlapped


def _dram(layers):
    return {name: (row["dram_read_bytes"], row["dram_write_bytes"]) for name, row in layers.items()}


@pytest.mark.parametrize("tile_bytes,double_buffer", PLACEMENTS)
def test_lowered_transfers_compute_the_same_and_move_the_same_dram_bytes(tile_bytes, double_buffer):
    with make_context() as ctx:
        module, hardware, spill_bytes = _placed(ctx, tile_bytes, double_buffer)
        assert "imc.transfer_out" in str(module) and "imc.transfer_in" in str(module)
        out, layers, overlapped = _call(module, hardware)
        lowered, lowered_hw, _ = _placed(ctx, tile_bytes, double_buffer, lower=True)
        assert "imc.transfer" not in str(lowered)
        lowered_out, lowered_layers, _ = _call(lowered, lowered_hw)
    assert out.tobytes() == lowered_out.tobytes()
    assert _dram(layers) == _dram(lowered_layers)
    # Two calls of the traffic the placement planned, and of the call's input and output.
    spilled = 2 * spill_bytes
    assert sum(r + w for r, w in _dram(layers).values()) == spilled + 2 * 2 * 1_024
    # Double-buffered trips (two tiles each) overlap their DRAM bytes.
    if not double_buffer:
        assert overlapped == 0
    else:
        assert 0 < overlapped <= spilled


@pytest.mark.parametrize("tile_bytes,double_buffer", PLACEMENTS)
def test_traced_transfers_count_as_untraced_ones(tile_bytes, double_buffer):
    """A traced run steps through every DMA; it counts what the one-copy run does."""
    with make_context() as ctx:
        module, hardware, _ = _placed(ctx, tile_bytes, double_buffer)
        untraced = _call(module, hardware)
        traced = _call(module, hardware, trace=True)
    assert untraced[0].tobytes() == traced[0].tobytes()
    assert untraced[1:] == traced[1:]


@given(count=st.integers(1, 5_000), tile=st.integers(1, 300), buffers=st.integers(1, 2))
def test_transfer_groups_cover_the_tensor_once_in_order(count, tile, buffers):
    """Trips fill their buffers in order, every element once, no DMA longer
    than a tile and only the last one short."""
    sizes = []
    for trips, size, width in transfer_groups(count, tile, buffers):
        assert trips >= 1 and 1 <= width <= buffers and 1 <= size <= tile
        sizes += [size] * (trips * width)
    assert sum(sizes) == count
    assert all(s == tile for s in sizes[:-1])
