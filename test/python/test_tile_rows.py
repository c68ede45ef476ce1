"""`imc-tile-rows`: convolution stages tiled over output rows compute the same
values, program each weight tile once and run their crossbar ops per tile."""

import re

import pytest
import torch

import imc
from imc.ir.hardware import Hardware

# Stage by stage: line buffers (a conv fused into its producer's loop) are
# tested in test_line_buffer.py.
TILED = "builtin.module(imc-tile-rows{line-buffers=false}, imc-map-to-crossbars)"
UNTILED = "builtin.module(imc-map-to-crossbars)"


class ConvBlock(torch.nn.Module):
    """A ResNet-style block: conv-BN-ReLU, conv-BN, residual add, ReLU."""

    def __init__(self, c=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


class Int8Conv(torch.nn.Module):
    """int8 in and out, like ZigZag's AIMC example layer (strided here)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=True)

    def forward(self, x):
        y = self.conv(x.float() * (1.0 / 16))
        return torch.clamp(torch.round(y * 16), -128, 127).to(torch.int8)


def _compile(model, x, pipeline, spad):
    hw = Hardware.preset("default").replace(spad_bytes=spad, activation_bits=32)  # sizes chosen for f32
    return imc.compile(model, (x,), hardware=hw, pipeline=pipeline)


def _assert_int8_alike(a, b) -> None:
    """Two int8 results of one model, whole-layer and row-tiled: the row
    tiles sum each output in another order than the whole layer's matmul,
    so a float sum at a rounding boundary of the int8 output may round one
    step the other way (rarely: the inputs are random)."""
    differ = (a.int() - b.int()).abs()
    assert int(differ.max()) <= 1 and int((differ > 0).sum()) <= differ.numel() // 100


def _loops_with_mvms(mlir: str) -> int:
    """Top-level loops whose body runs `imc.mvm`s."""
    count = 0
    for body in re.split(r"\n    %\S+ = scf\.for ", mlir)[1:]:
        end = body.find("\n    }")
        if '"imc.mvm"' in body[:end]:
            count += 1
    return count


@pytest.mark.parametrize(
    "model, x, spad",
    [
        (ConvBlock().eval(), torch.randn(1, 8, 16, 16), 4096),
        (Int8Conv().eval(), torch.randint(-128, 128, (1, 8, 20, 20), dtype=torch.int8), 2048),
    ],
    ids=["resnet-block", "int8-strided"],
)
def test_tiled_matches_untiled(model, x, spad):
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    ref = model(x)
    plain = _compile(model, x, UNTILED, spad)
    tiled = _compile(model, x, TILED, spad)
    assert _loops_with_mvms(plain.mlir) == 0
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert _loops_with_mvms(tiled.mlir) == convs  # every conv stage is too big for `spad`
    remarks = [str(r) for r in tiled.remarks if "imc-tile-rows" in str(r)]
    assert len(remarks) == convs and all("tiles of" in r for r in remarks)
    a, b = plain(x), tiled(x)
    if x.dtype == torch.int8:
        _assert_int8_alike(a, b)
        assert (b.int() - ref.int()).abs().max() <= 1
    else:
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b, ref, rtol=1e-4, atol=1e-4)
    # Each weight tile is programmed once although its MVMs run once per row tile.
    p, t = plain.report.totals, tiled.report.totals
    assert t.xbar_program_events == p.xbar_program_events
    assert t.xbar_cells_programmed == p.xbar_cells_programmed
    assert t.adc_conversions == p.adc_conversions  # same MVM rows in total
    # The analysis walks into tiled stages: the same bound as the untiled program.
    lp, lt = plain.lower_bounds(), tiled.lower_bounds()
    assert lt.compulsory_bytes == lp.compulsory_bytes > 0
    assert lt.total_bytes == lp.total_bytes
    # The same DRAM traffic: digital-unit constants (batch-norm vectors) are
    # read on the first trip and kept.
    assert t.dram_write_bytes == p.dram_write_bytes and t.dram_read_bytes == p.dram_read_bytes
    # Ops inside the loop are counted: the same digital work, plus the
    # prologue recomputed on halo rows where the stage has one (int8 -> float).
    if x.dtype == torch.int8:
        assert t.digital_ops > p.digital_ops
    else:
        assert t.digital_ops == p.digital_ops


def test_fits_is_left_alone():
    model, x = ConvBlock().eval(), torch.randn(1, 8, 8, 8)
    tiled = _compile(model, x, TILED, 256 * 1024)
    assert "scf.for" not in tiled.mlir
    assert not [r for r in tiled.remarks if "imc-tile-rows" in str(r)]


PLACED = "builtin.module(imc-tile-rows{line-buffers=false}, imc-default)"


class StridedStem(torch.nn.Module):
    """A stride-2 7x7 stem with padding 3 (ResNet's first layer, small)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False)

    def forward(self, x):
        return torch.relu(self.conv(x))


@pytest.mark.parametrize(
    "model, x, spad",
    [
        (Int8Conv().eval(), torch.randint(-128, 128, (1, 8, 20, 20), dtype=torch.int8), 2048),
        (StridedStem().eval(), torch.randn(1, 3, 32, 32), 8192),
    ],
    ids=["int8-strided", "stem-7x7-s2"],
)
def test_placed_tiled_stage_loads_each_input_byte_once(model, x, spad):
    """A model input read by a tiled stage streams through a halo-keeping
    slab: the DRAM traffic is the compulsory traffic, exactly."""
    plain = _compile(model, x, "builtin.module(imc-default)", spad)
    placed = _compile(model, x, PLACED, spad)
    assert "bufferization.to_buffer %arg0 read_only" in placed.mlir and '"imc.dma"' in placed.mlir
    a, b = plain(x), placed(x)
    if x.dtype == torch.int8:
        _assert_int8_alike(a, b)
    else:
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    t = placed.report.totals
    bound = placed.lower_bounds()
    assert t.dram_read_bytes + t.dram_write_bytes == bound.compulsory_bytes == plain.lower_bounds().compulsory_bytes
    io = placed.report.layers["<inputs/outputs>"].counters
    assert io.dram_read_bytes == 0  # the input's bytes are counted by its DMAs, once
    assert t.dram_read_bytes >= x.numel() * x.element_size()
    assert t.xbar_program_events == plain.report.totals.xbar_program_events
    assert any("streamed in rows" in str(r) for r in placed.remarks)
    assert any("placement verified" in str(r) for r in placed.remarks)


class ConvPlusInput(torch.nn.Module):
    """A tiled stage that reads two model inputs in row windows (conv input, residual)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def forward(self, x, y):
        return torch.relu(self.conv(x) + y)


def test_two_streamed_inputs_of_one_stage_get_their_own_slabs():
    model = ConvPlusInput().eval()
    x, y = torch.randn(1, 4, 16, 16), torch.randn(1, 4, 16, 16)
    hw = Hardware.preset("default").replace(spad_bytes=4096, activation_bits=32)  # sizes chosen for f32
    placed = imc.compile(model, (x, y), hardware=hw, pipeline=PLACED)
    torch.testing.assert_close(placed(x, y), model(x, y), rtol=1e-4, atol=1e-5)
    streamed = [str(r) for r in placed.remarks if "streamed in rows" in str(r)]
    offsets = {r.split(" at offset ")[1].split(":")[0] for r in streamed}
    assert len(streamed) == 2 and len(offsets) == 2
    assert any("placement verified" in str(r) for r in placed.remarks)
    t = placed.report.totals
    assert t.dram_read_bytes + t.dram_write_bytes == placed.lower_bounds().compulsory_bytes


class SharedReluBlock(torch.nn.Module):
    """torchvision's BasicBlock shape: one ReLU module used after both convs."""

    def __init__(self, c=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))) + x)


def test_tiled_stages_keep_their_conv_layer():
    """Each tiling loop is its conv's stage: two loops whose roots share a
    ReLU module stay two stages with a stored tensor between them (they
    were merged into one, hiding that tensor from placement)."""
    from imc.ir.utils import find_entry
    from imc.transforms.placement import stage_program

    model, x = SharedReluBlock().eval(), torch.randn(1, 8, 16, 16)
    tiled = _compile(model, x, TILED, 4096)
    with tiled.context:
        program = stage_program(find_entry(tiled.module))
    assert [s.layer for s in program.stages] == ["conv1", "conv2"]
    assert [(t.producer, t.consumers) for t in program.tensors] == [(0, [1])]


@pytest.mark.parametrize("spad", [3072, 6144, 12288])
def test_tiled_stages_read_stored_tensors_in_row_windows(spad):
    """conv1's stage stores its result (a stored tensor) row tile by row
    tile and conv2's stage reads it in row windows: its on-chip planes in
    place, its DRAM planes through a slab, each DRAM row written once and
    read once. The traffic is the compulsory traffic plus exactly the spill
    traffic the plan reports (and x streamed a second time: the residual add
    in conv2's stage reads it too), and the results are the untiled ones."""
    torch.manual_seed(0)
    model, x = SharedReluBlock().eval(), torch.randn(1, 8, 16, 16)
    plain = _compile(model, x, "builtin.module(imc-default)", spad)
    placed = _compile(model, x, PLACED, spad)
    torch.testing.assert_close(placed(x), plain(x), rtol=1e-5, atol=1e-5)
    remarks = [str(r) for r in placed.remarks]
    rows = [r for r in remarks if "read in row windows" in r]
    assert len(rows) == 1 and "1x8x16x16xf32" in rows[0]
    stores = [r for r in remarks if "stored row tile by row tile" in r]
    assert len(stores) == 1 and "1x8x16x16xf32" in stores[0]  # conv1's loop stores each trip's rows
    assert any("placement verified" in r for r in remarks)
    summary = next(r for r in remarks if "stored tensors over" in r)
    spill = int(re.search(r"spill traffic ([\d,]+) B", summary).group(1).replace(",", ""))
    t = placed.report.totals
    reread = x.numel() * x.element_size()
    assert t.dram_read_bytes + t.dram_write_bytes == placed.lower_bounds().compulsory_bytes + spill + reread
    assert t.xbar_program_events == plain.report.totals.xbar_program_events
    if spad == 12288:  # the stored tensor fits: read in place, nothing spilled
        assert spill == 0 and "8 of 8 planes" in rows[0]
    else:
        assert spill > 0 and "streamed from DRAM through a slab" in rows[0]


def test_streamed_input_bound_stays_with_the_layer_that_loads_it():
    """A model input streamed by a tiled stage's DMAs is counted in that
    stage's row, and so is its bound: every row's counters meet its bound."""
    model, x = StridedStem().eval(), torch.randn(1, 3, 32, 32)
    placed = _compile(model, x, PLACED, 8192)
    placed(x)
    rows = placed.report.layers
    conv = rows["conv"]
    assert conv.counters.dram_read_bytes >= x.numel() * x.element_size()
    for row in rows.values():
        if row.layer_bound_bytes is not None:
            assert row.counters.dram_read_bytes + row.counters.dram_write_bytes == row.layer_bound_bytes, row.name
