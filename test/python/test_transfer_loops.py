"""Loops that move a row per trip run as one move
(`imc.sim.interpreter.transfer_loops`): the same memory, checks and counters
as the trips in order, and the trips in order where a trip could read a row
an earlier trip wrote."""

import numpy as np
import pytest
import torch
from torch_mlir import ir

import imc
import imc.sim.interpreter.scf as scf_impl
from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.interpreter import Interpreter
from imc.sim.runtime import Runner

# Copies rows %lo + %shift .. of %buf to rows %lo .. (a shift by %shift rows;
# %shift < 0 reads rows that earlier trips wrote).
_SHIFT = """
func.func @main(%buf: memref<8x4xf32>, %lo: index, %hi: index, %shift: index) -> memref<8x4xf32> {
  %c1 = arith.constant 1 : index
  scf.for %i = %lo to %hi step %c1 {
    %src_row = arith.addi %i, %shift : index
    %src = memref.subview %buf[%src_row, 0] [1, 4] [1, 1] : memref<8x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
    %dst = memref.subview %buf[%i, 0] [1, 4] [1, 1] : memref<8x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
    memref.copy %src, %dst : memref<1x4xf32, strided<[4, 1], offset: ?>> to memref<1x4xf32, strided<[4, 1], offset: ?>>
  }
  return %buf : memref<8x4xf32>
}
"""


def _in_order(buf, lo, hi, shift):
    out = buf.copy()
    for i in range(lo, hi):
        out[i] = out[i + shift]
    return out


@pytest.fixture
def block_moves(monkeypatch):
    """(moved as one block?) per loop run."""
    seen = []
    real = scf_impl.run_block_move

    def spy(*args):
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(scf_impl, "run_block_move", spy)
    return seen


@pytest.mark.parametrize("lo, hi, shift, as_block", [(0, 5, 3, True), (0, 8, 0, True), (2, 7, -1, False), (2, 7, -2, False)])
def test_a_row_shift_moves_as_one_only_if_no_trip_reads_an_earlier_trips_row(block_moves, lo, hi, shift, as_block):
    buf = np.arange(32, dtype=np.float32).reshape(8, 4)
    with make_context() as ctx:
        (out,) = Interpreter(ir.Module.parse(_SHIFT, context=ctx)).run("main", [buf.copy(), lo, hi, shift])
    np.testing.assert_array_equal(out, _in_order(buf, lo, hi, shift))
    assert block_moves == [as_block]


def test_a_row_shift_out_of_bounds_fails_at_its_first_trip_out_of_bounds(block_moves):
    """Trips 0..4 read rows 3..7; trip 5 reads row 8: the error names the
    subview and that trip's offset, after the rows before it moved."""
    buf = np.arange(32, dtype=np.float32).reshape(8, 4)
    moved = buf.copy()
    with make_context() as ctx, pytest.raises(Exception, match="'memref.subview' op slice out of bounds on dim 0: offset 8,"):
        Interpreter(ir.Module.parse(_SHIFT, context=ctx)).run("main", [moved, 0, 7, 3])
    np.testing.assert_array_equal(moved, _in_order(buf, 0, 5, 3))
    assert block_moves == [False]


class _Stem(torch.nn.Module):
    """A strided conv on a large input, then a max pool: `imc-tiled` loads its
    input rows from DRAM into a slab and shifts the halo rows up, row by row."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 7, stride=2, padding=3)
        self.pool = torch.nn.MaxPool2d(3, 2, 1)

    def forward(self, x):
        return self.pool(torch.relu(self.conv(x)))


def test_a_tiled_stem_counts_its_row_moves_as_one_by_one(block_moves):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 96, 96)
    hw = Hardware.preset("default").replace(spad_bytes=64 * 1024)
    compiled = imc.compile(_Stem().eval(), (x,), pipeline="builtin.module(imc-tiled)", hardware=hw)
    results = []
    for fast in (True, False):
        runner = Runner(compiled.module, compiled.hardware)
        runner.interpreter.fast_paths = fast
        with compiled.context:
            outs = [runner(x.numpy())[0] for _ in range(2)]
        results.append((outs, runner.report.to_dict()))
    (fast_outs, fast_report), (op_outs, op_report) = results
    assert block_moves and all(block_moves)  # every row-move loop moved as one (fast paths only)
    assert fast_report == op_report
    for got, want in zip(fast_outs, op_outs):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
