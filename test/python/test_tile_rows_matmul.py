"""`imc-tile-rows` on matmul stages (torch Linear layers): an MLP block tiled
over its token rows computes what PyTorch does, passes `imc-check-buffers`,
and moves the DRAM bytes its buffer homes imply."""

import pytest
import torch

import imc
from imc.hardware import Hardware
from test_tile_rows import _loops_with_mvms  # (test/python is on the path)

M, D, H = 32, 64, 256  # tokens, model width, hidden width


class MLPBlock(torch.nn.Module):
    """Linear(64, 256) -> GELU -> Linear(256, 64), plus the residual."""

    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(D, H)
        self.l2 = torch.nn.Linear(H, D)

    def forward(self, x):
        return self.l2(torch.nn.functional.gelu(self.l1(x))) + x


@pytest.fixture(scope="module")
def block():
    torch.manual_seed(0)
    return MLPBlock().eval(), torch.randn(1, M, D)


MATMULS = "builtin.module(imc-tile-rows{matmuls=true}, imc-default)"


def _compile(model, x, spad, pipeline=MATMULS):
    hw = Hardware.preset("default").replace(spad_bytes=spad)
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


@pytest.mark.parametrize(
    "spad, hidden_on_chip",
    [(40448, True), (16384, False)],
    ids=["hidden-on-chip", "hidden-in-dram"],
)
def test_mlp_tiled_over_rows(block, spad, hidden_on_chip):
    model, x = block
    compiled, hw = _compile(model, x, spad)
    # Both linear stages run in loops over row tiles (the working set of
    # each, input + output, exceeds the scratchpad).
    assert _loops_with_mvms(compiled.mlir) == 2
    tiles = _remarks(compiled, "imc-tile-rows")
    assert len(tiles) == 2 and all("tiles of" in r and "no halo" in r for r in tiles)
    # The placement is verified (imc-check-buffers runs inside imc-default).
    assert any("placement verified" in r for r in _remarks(compiled, "imc-check-buffers"))
    # The same values as PyTorch.
    ref = model(x)
    y = compiled(x)
    rel = ((y - ref).norm() / ref.norm()).item()
    assert rel < 1e-5
    # DRAM traffic, by hand: the model input is streamed in rows by both
    # stages (the second reads it for the residual), weights and biases are
    # read once, the output written once. The hidden [1, 32, 256] tensor
    # (32 KiB, one plane) is stored by the first loop row tile by row tile and
    # read by the second in row windows: in place when its home is on chip,
    # else written to DRAM once and read back once.
    reads, writes = _compulsory(hw)
    hidden = M * H * 4
    stores = _remarks(compiled, "imc-place-buffers")
    assert any("stored row tile by row tile" in r and f"{int(hidden_on_chip)} of 1 planes" in r for r in stores)
    assert any("read in row windows" in r for r in stores)
    t = compiled.report.totals
    spilled = 0 if hidden_on_chip else hidden
    assert t.dram_read_bytes == reads + spilled
    assert t.dram_write_bytes == writes + spilled
    bound = compiled.lower_bounds()
    assert bound.compulsory_bytes == reads
    if hidden_on_chip:
        assert t.dram_read_bytes == bound.total_bytes  # reads at the bound exactly
    # The traffic is reported under the linears' layers (the loops carry the
    # matmuls' locations), each weight tile programmed once.
    layers = compiled.report.layers
    assert layers["l1"].counters.dram_read_bytes == M * D * 4 + D * H * hw.weight_bits // 8 + H * 4
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


def test_imc_tiled_leaves_matmul_stages_alone(block):
    """Matmul stages are tiled only with `imc-tile-rows{matmuls=true}`:
    `imc-tiled` compiles the block like `imc-default`."""
    model, x = block
    compiled, _ = _compile(model, x, 16384, pipeline="imc-tiled")
    assert _loops_with_mvms(compiled.mlir) == 0
    assert not _remarks(compiled, "imc-tile-rows")
