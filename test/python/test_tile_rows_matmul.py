"""`imc-tile-rows` on matmul stages (torch Linear layers): an MLP block tiled
over its token rows computes what PyTorch does, passes `imc-check-buffers`,
and moves the DRAM bytes its buffer homes imply."""

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import imc
from imc.ir.hardware import Hardware
from test_tile_rows import _loops_with_mvms  # (test/python is on the path)

M, D, H = 32, 64, 256  # tokens, model width, hidden width


class MLPBlock(torch.nn.Module):
    """Linear(d, h) -> GELU -> Linear(h, d) (a transformer's feed-forward
    block; by default 64 -> 256 -> 64), plus the residual unless not
    `residual`, then a Linear(d, d) head if `head`."""

    def __init__(self, d=D, h=H, residual=True, head=False):
        super().__init__()
        self.l1 = torch.nn.Linear(d, h)
        self.l2 = torch.nn.Linear(h, d)
        self.head = torch.nn.Linear(d, d) if head else None
        self.residual = residual

    def forward(self, x):
        y = self.l2(torch.nn.functional.gelu(self.l1(x)))
        y = y + x if self.residual else y
        return self.head(y) if self.head is not None else y


@pytest.fixture(scope="module")
def block():
    torch.manual_seed(0)
    return MLPBlock().eval(), torch.randn(1, M, D)


MATMULS = "builtin.module(imc-tile-rows{matmuls=true matmul-chains=false}, imc-default)"


def _compile(model, x, spad, pipeline=MATMULS):
    hw = Hardware.preset("default").replace(spad_bytes=spad, activation_bits=32)  # sizes chosen for f32
    return imc.compile(model, (x,), hardware=hw, pipeline=pipeline, precision="ideal"), hw


def _remarks(compiled, name):
    return [str(r) for r in compiled.remarks if f"[{name}]" in str(r)]


def _compulsory(hw):
    """Bytes every schedule moves: per linear, its input rows (the residual
    reads the model input again in the second stage) and its weights (at
    the weight precision) and bias (f32) once; the model output once."""
    wbytes = hw.weight_bits // 8
    reads = (M * D * 4 + D * H * wbytes + H * 4) + (M * D * 4 + H * D * wbytes + D * 4)
    return reads, M * D * 4


def _hidden_rows_on_chip(hw, rows):
    """Rows of the hidden [1, M, H] tensor the placement keeps on chip, by
    hand: the scratchpad less the staging buffer (tile-bytes defaults to a
    sixteenth of it) and the slab through which each stage streams the model
    input (`rows` rows of D floats), in whole row tiles (`rows` rows of H
    floats: each trip's rows are then all on chip or all in DRAM)."""
    staging = hw.spad_bytes // 16
    slab = rows * D * 4
    tile = rows * H * 4
    return min(M, (hw.spad_bytes - staging - slab) // tile * rows)


@pytest.mark.parametrize(
    "spad, rows, on_chip",
    # 36 KiB: tiles of 4 rows, 36,864 - 2,304 - 1,024 = 33,536 B hold the
    # whole 32 KiB hidden tensor. 16 KiB: tiles of 2 rows, 16,384 - 1,024 -
    # 512 = 14,848 B hold 7 tiles of 2,048 B: rows [0, 14); rows [14, 32)
    # (18 KiB) go through DRAM.
    [(36864, 4, 32), (16384, 2, 14)],
    ids=["hidden-on-chip", "hidden-row-prefix"],
)
def test_mlp_tiled_over_rows(block, spad, rows, on_chip):
    model, x = block
    compiled, hw = _compile(model, x, spad)
    assert _hidden_rows_on_chip(hw, rows) == on_chip
    # Both linear stages run in loops over row tiles (the working set of
    # each, input + output, exceeds the scratchpad).
    assert _loops_with_mvms(compiled.mlir) == 2
    tiles = _remarks(compiled, "imc-tile-rows")
    assert len(tiles) == 2 and all(f"tiles of {rows} rows" in r and "no halo" in r for r in tiles)
    # The placement is verified (imc-check-buffers runs inside imc-default).
    assert any("placement verified" in r for r in _remarks(compiled, "imc-check-buffers"))
    # The same values as PyTorch.
    ref = model(x)
    y = compiled(x)
    rel = ((y - ref).norm() / ref.norm()).item()
    assert rel < 1e-5
    # The hidden [1, 32, 256] tensor (32 KiB) is stored by the first loop row
    # tile by row tile and read by the second in row windows: its home is a
    # prefix of whole row tiles on chip (stored into and read in place) and
    # the other rows in DRAM (each trip's 2,048 B through the 1,024 B
    # staging buffer: 2 DMAs).
    stores = _remarks(compiled, "imc-place-buffers")
    spilled = (M - on_chip) * H * 4
    prefix = f"rows [0, {on_chip}) of {M}"
    dram = f", rows [{on_chip}, {M}) to DRAM through the staging buffer, 2 DMA(s) per trip" if spilled else ""
    stored = f"stored row tile by row tile ({rows} rows per trip): {prefix} into the scratchpad (1 chunk(s)){dram}"
    assert any(stored in r for r in stores)
    dram = f", rows [{on_chip}, {M}) from DRAM through the staging buffer, 2 DMA(s) per trip" if spilled else ""
    read = f"read in row windows ({rows} rows per trip): {prefix} in place from the scratchpad (1 chunk(s)){dram}"
    assert any(read in r for r in stores)
    # DRAM traffic, by hand: the model input is streamed in rows by both
    # stages (the second reads it for the residual), weights and biases are
    # read once, the output written once; the hidden tensor's DRAM rows are
    # written once and read back once.
    reads, writes = _compulsory(hw)
    t = compiled.report.totals
    assert t.dram_read_bytes == reads + spilled
    assert t.dram_write_bytes == writes + spilled
    bound = compiled.lower_bounds()
    assert bound.compulsory_bytes == reads
    if not spilled:
        assert t.dram_read_bytes == bound.total_bytes  # reads at the bound exactly
    # The traffic is reported under the linears' layers (the loops carry the
    # matmuls' locations), each weight tile programmed once.
    layers = compiled.report.layers
    assert layers["l1"].counters.dram_read_bytes == M * D * 4 + D * H * hw.weight_bits // 8 + H * 4
    assert layers["l1"].counters.dram_write_bytes == spilled
    assert layers["l2"].counters.dram_read_bytes == M * D * 4 + H * D * hw.weight_bits // 8 + D * 4 + spilled
    plain, _ = _compile(model, x, spad, pipeline="imc-default")
    assert _loops_with_mvms(plain.mlir) == 0
    torch.testing.assert_close(plain(x), y, rtol=1e-5, atol=1e-6)
    p = plain.report.totals
    assert t.xbar_program_events == p.xbar_program_events
    assert t.adc_conversions == p.adc_conversions


def test_mlp_that_fits_is_left_alone(block):
    model, x = block
    compiled, _ = _compile(model, x, 256 * 1024)
    assert "scf.for" not in compiled.mlir
    assert not _remarks(compiled, "imc-tile-rows")


def test_imc_tiled_runs_the_block_as_one_loop(block):
    """`imc-tiled` (`imc-tile-rows` with `matmul-chains`, its default) runs
    the second linear in the first one's loop: each trip computes its rows
    of the hidden tensor and consumes them at once, so the hidden tensor is
    never stored (no store or read of it in the placement, no DRAM bytes
    for it), and the values are PyTorch's."""
    model, x = block
    compiled, hw = _compile(model, x, 16384, pipeline="imc-tiled")
    assert _loops_with_mvms(compiled.mlir) == 1
    (tiled,) = _remarks(compiled, "imc-tile-rows")
    assert "tiled over output rows: 16 tiles of 2 rows" in tiled and "hidden rows, which are never stored whole" in tiled
    assert any("placement verified" in r for r in _remarks(compiled, "imc-check-buffers"))
    y = compiled(x)
    ref = model(x)
    assert ((y - ref).norm() / ref.norm()).item() < 1e-5
    assert not any("stored row tile by row tile" in r for r in _remarks(compiled, "imc-place-buffers"))
    # By hand: weights, biases and the output once, and the model input
    # once too: each trip reads its rows once for the first linear and the
    # residual (`_compulsory` counts them twice: two stages).
    reads, writes = _compulsory(hw)
    t = compiled.report.totals
    assert (t.dram_read_bytes, t.dram_write_bytes) == (reads - M * D * 4, writes)
    # each weight tile (and each copy of one on a spare crossbar) programmed once
    assert t.xbar_program_events == compiled.mlir.count("imc.program")


def test_a_hidden_tensor_read_elsewhere_is_not_chained():
    """A hidden tensor that another op also reads must exist whole: the
    second linear is not moved into the first one's loop."""

    class Branching(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = torch.nn.Linear(D, H)
            self.l2 = torch.nn.Linear(H, D)

        def forward(self, x):
            h = self.l1(x)
            return self.l2(h), h.sum()

    torch.manual_seed(0)
    model, x = Branching().eval(), torch.randn(1, M, D)
    compiled, _ = _compile(model, x, 16384, pipeline="imc-tiled")
    assert _loops_with_mvms(compiled.mlir) == 0
    assert not _remarks(compiled, "imc-tile-rows")


def _tiles(k, n, hw):
    """Crossbar tiles of a k x n weight (row tiles x column tiles x bit slices)."""
    return -(-k // hw.xbar_rows) * -(-n // hw.xbar_cols) * hw.weight_slices


@settings(max_examples=10, deadline=None)
@given(
    tokens=st.sampled_from([8, 12, 32]),
    d=st.sampled_from([16, 48]),
    h=st.sampled_from([64, 200]),
    spad=st.sampled_from([2048, 8192, 65536]),
    residual=st.booleans(),
    crossbars=st.sampled_from(["plenty", "few"]),  # "few": as many crossbars as the block's two weights cut into
)
def test_random_feed_forward_blocks_are_chained_proved_and_exact(tokens, d, h, spad, residual, crossbars):
    """`imc-tiled` on random feed-forward blocks (and a head), scratchpads
    and crossbar counts (with "few", the chip time-multiplexes): the values
    are PyTorch's, `imc-check-buffers` proves the placement, a chain stores
    one tensor fewer than `imc-default` (its hidden one), and its loop
    programs each weight tile at most once per call (the widened crossbar
    pool)."""
    torch.manual_seed(tokens + d + h)
    model, x = MLPBlock(d, h, residual, head=True).eval(), torch.randn(1, tokens, d)
    hw = Hardware.preset("default").replace(spad_bytes=spad)
    if crossbars == "few":
        hw = hw.replace(cores=1, crossbars_per_core=_tiles(d, h, hw) + _tiles(h, d, hw))
    tiled = imc.compile(model, (x,), hardware=hw, pipeline="imc-tiled")
    plain = imc.compile(model, (x,), hardware=hw, pipeline="imc-default")
    chained = any("never stored whole" in r for r in _remarks(tiled, "imc-tile-rows"))
    torch.testing.assert_close(tiled(x), model(x), rtol=1e-4, atol=1e-5)
    assert any("placement verified" in r for r in _remarks(tiled, "imc-check-buffers"))
    assert chained == (_loops_with_mvms(tiled.mlir) == 1)
    if chained:
        assert _stored(tiled) == _stored(plain) - 1
        (placed,) = [r for r in _remarks(tiled, "imc-place-crossbars") if "crossbar tiles" in r]  # (not the copies')
        tiles = int(re.search(r"(\d+) crossbar tiles", placed).group(1))
        cold = tiled.report.totals.xbar_program_events
        tiled(x)
        assert tiled.report.totals.xbar_program_events - cold <= tiles  # a warm call: each tile at most once


def _stored(compiled) -> int:
    """Tensors `imc-place-buffers` stores between stages (its summary remark)."""
    (summary,) = [r for r in _remarks(compiled, "imc-place-buffers") if "stored tensors over" in r]
    return int(re.search(r"(\d+) stored tensors over", summary).group(1))


def test_a_chain_whose_weights_exceed_the_crossbars_is_not_chained(block):
    """Two linears whose weights need more crossbar tiles than the chip has
    would be reprogrammed on every trip of a shared loop: not chained."""
    model, x = block
    hw = Hardware.preset("default").replace(spad_bytes=16384, activation_bits=32)
    need = _tiles(D, H, hw) + _tiles(H, D, hw)
    for crossbars, chained in ((need, 1), (need - 1, 0)):
        compiled = imc.compile(model, (x,), hardware=hw.replace(cores=1, crossbars_per_core=crossbars), pipeline="imc-tiled")
        assert _loops_with_mvms(compiled.mlir) == chained
