"""A stored tensor written over the tensor it replaces (`imc.transforms.in_place`,
`imc-place-buffers{in-place}`): where it is safe, where it is not, and what
it saves."""

import re

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import imc
from imc.ir.hardware import Hardware
from imc.ir.utils import find_entry
from imc.passes import PIPELINES
from imc.transforms.in_place import in_place_pairs
from imc.transforms.placement import capacity_bound, plan_homes, stage_program
from test_placement import _program, programs
from test_tile_rows import ConvBlock  # conv-BN-ReLU, conv-BN, residual add, ReLU

DEFAULT = Hardware.preset("default")
TILED = "builtin.module(imc-tiled)"
APART = (
    "builtin.module(imc-tile-rows, imc-map-to-crossbars, imc-quantize-activations, "
    "imc-place-buffers{in-place=false}, imc-check-buffers)"
)


class Blocks(torch.nn.Module):
    """A conv, then three residual blocks (ResNet's layer1, small)."""

    def __init__(self, c=8):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, c, 3, padding=1)
        self.blocks = torch.nn.Sequential(ConvBlock(c), ConvBlock(c), ConvBlock(c))

    def forward(self, x):
        return self.blocks(torch.relu(self.conv(x)))


class HaloResidual(torch.nn.Module):
    """relu(conv3x3(y) + y): the conv reads rows of y around the one the add writes."""

    def __init__(self, c=8):
        super().__init__()
        self.conv0 = torch.nn.Conv2d(3, c, 1)
        self.conv = torch.nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        y = self.conv0(x)
        return torch.relu(self.conv(y) + y)


class DownBlock(torch.nn.Module):
    """ResNet's downsampling block: conv3x3/2-BN-ReLU, conv3x3-BN, plus a
    1x1/2 conv-BN shortcut, ReLU; twice the channels, half the rows."""

    def __init__(self, c=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(2 * c)
        self.conv2 = torch.nn.Conv2d(2 * c, 2 * c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(2 * c)
        self.down = torch.nn.Sequential(torch.nn.Conv2d(c, 2 * c, 1, stride=2, bias=False), torch.nn.BatchNorm2d(2 * c))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.down(x))


def _dram(compiled) -> int:
    return compiled.report.totals.dram_read_bytes + compiled.report.totals.dram_write_bytes


def _written_over(compiled) -> int:
    text = next(str(r) for r in compiled.remarks if "stored tensors over" in str(r))
    m = re.search(r"\((\d+) written over", text)
    return int(m.group(1)) if m else 0


def _pairs(model, x, hw, pipeline):
    """(stage layers of X, of Y) for each in-place pair of `model` compiled up to the placement."""
    from imc.frontend.importer import import_torch
    from imc.ir.context import make_context
    from imc.transforms.pipeline import run_pipeline

    module = import_torch(model, (x,), context=make_context())
    with module.context:
        run_pipeline(module, pipeline, hardware=hw)
        program = stage_program(find_entry(module), hw)
        return [
            (program.stages[program.tensors[i].producer].layer, program.stages[program.tensors[j].producer].layer)
            for i, j in in_place_pairs(program)
        ]


def test_residual_blocks_are_written_over_their_inputs():
    # 8 x 32 x 32 at 8 bits: 8 KB tensors in a 12 KB scratchpad. The fused
    # blocks (conv2 one row behind conv1) read each row of their input
    # before writing the same row of their output: the first two blocks'
    # outputs are written over their inputs (the last one is the model's).
    torch.manual_seed(0)
    model, x = Blocks().eval(), torch.randn(1, 3, 32, 32)
    hw = DEFAULT.replace(spad_bytes=12288)
    fused = imc.compile(model, (x,), hardware=hw, pipeline=TILED)
    apart = imc.compile(model, (x,), hardware=hw, pipeline=APART)
    ref = model(x)
    for c in (fused, apart):
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)
        assert any("placement verified" in str(r) for r in c.remarks)
    assert _written_over(fused) == 2 and _written_over(apart) == 0
    assert _dram(fused) < _dram(apart)
    # Warm calls give the same result (the bytes written over are rewritten each call).
    torch.testing.assert_close(fused(x), ref, rtol=1e-4, atol=1e-5)


def test_a_conv_reading_rows_around_the_written_one_is_not_in_place():
    # Tiled without a line buffer, trip t writes rows [tR, tR + R) of the
    # output while trip t + 1 reads row tR + R - 1 of y (the halo): y keeps
    # bytes of its own. Fused into a loop that runs behind (or with the
    # add's rows only), it would be safe; the plain tiled conv is not.
    torch.manual_seed(1)
    model, x = HaloResidual().eval(), torch.randn(1, 3, 16, 16)
    hw = DEFAULT.replace(spad_bytes=2048)
    pipeline = "builtin.module(imc-tile-rows{line-buffers=false}, imc-map-to-crossbars, imc-quantize-activations)"
    assert _pairs(model, x, hw, pipeline) == []
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=TILED)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    assert _written_over(compiled) == 0


def test_an_elementwise_last_reader_writes_over_in_any_schedule():
    # Untiled: the block's add is y's last reader and reads it element by
    # element, so its output may take y's bytes even without tiling.
    torch.manual_seed(2)
    model, x = Blocks().eval(), torch.randn(1, 3, 16, 16)
    pairs = _pairs(model, x, DEFAULT, "builtin.module(imc-map-to-crossbars, imc-quantize-activations)")
    assert pairs and all("conv2" in y for _, y in pairs)


def test_a_stride_2_block_writes_its_output_over_its_input_row_by_row():
    # 8 x 32 x 32 in (8 KB at 8 bits), 16 x 16 x 16 out (4 KB), 12 KB of
    # scratchpad: side by side with the slabs and the staging buffer they
    # do not fit (written apart, the call moves 4,096 B more). Row r of the block's
    # output takes the bytes of row r of its input (a `frame_view`), and no
    # stored tensor leaves the chip: the call moves what it moves with a
    # 64 KB scratchpad.
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), ConvBlock(8), DownBlock(8), ConvBlock(16), torch.nn.Conv2d(16, 4, 1)
    ).eval()
    x = torch.randn(1, 3, 32, 32)
    small, large = (imc.compile(model, (x,), hardware=DEFAULT.replace(spad_bytes=b), pipeline=TILED) for b in (12288, 65536))
    ref = model(x)
    for c in (small, large):
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)  # a warm call too
        assert any("placement verified" in str(r) for r in c.remarks)
    assert any("(its row r in the bytes of row r of the other)" in str(r) for r in small.remarks)
    assert "memref.transpose" in str(small.module)
    assert _dram(small) == _dram(large)


@settings(max_examples=8, deadline=None)
@given(
    channels=st.sampled_from([4, 8]),
    size=st.sampled_from([8, 16, 24]),
    blocks=st.integers(1, 3),
    spad=st.sampled_from([2048, 8192, 65536]),
    epilogues=st.booleans(),
    down=st.sampled_from(["none", "block", "conv"]),
)
def test_random_residual_stacks_are_placed_proved_and_exact(channels, size, blocks, spad, epilogues, down):
    """Also with the blocks' adds after their loops (epilogues=false; the
    default moves them in: lit imc-tiled-residual.mlir checks the loop), and
    with a downsampling block (`down`: a ResNet block of twice the channels,
    or a stride-2 conv of 1.5x the channels) and one more block after it."""
    torch.manual_seed(channels + size + blocks)
    wider = channels * 3 // 2
    tail = {
        "none": [],
        "block": [DownBlock(channels), ConvBlock(2 * channels)],
        "conv": [
            torch.nn.Conv2d(channels, wider, 3, stride=2, padding=1), torch.nn.BatchNorm2d(wider), torch.nn.ReLU(),
            ConvBlock(wider),
        ],
    }[down]
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, channels, 3, padding=1), *[ConvBlock(channels) for _ in range(blocks)], *tail
    ).eval()
    x = torch.randn(1, 3, size, size)
    pipeline = TILED if epilogues else (
        "builtin.module(imc-tile-rows{epilogues=false}, imc-map-to-crossbars, imc-quantize-activations, "
        "imc-place-buffers, imc-check-buffers)"
    )
    compiled = imc.compile(model, (x,), hardware=DEFAULT.replace(spad_bytes=spad), pipeline=pipeline)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)  # a warm call too
    assert any("placement verified" in str(r) for r in compiled.remarks)
    # The bounds of the two calls: none above what they moved, the floor below both.
    b = compiled.lower_bounds()
    floor, bound, layer_bound = b.floor_for_calls(2), b.schedule_bound_for_calls(2), b.bytes_for_calls(2)
    assert floor <= bound <= _dram(compiled) and layer_bound <= _dram(compiled)


def test_a_stride_2_conv_with_fewer_channels_writes_over_part_of_its_input():
    # 8 x 32 x 32 in, 12 x 16 x 16 out (MobileNetV2's stride-2 blocks have
    # such ratios, 16 -> 24 channels): the output's row r takes row r of the
    # input's first 6 planes, 384 of its 512 bytes, in 14 KB of scratchpad.
    torch.manual_seed(5)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), ConvBlock(8),
        torch.nn.Conv2d(8, 12, 3, stride=2, padding=1), torch.nn.BatchNorm2d(12), torch.nn.ReLU(),
        ConvBlock(12), torch.nn.Conv2d(12, 4, 1),
    ).eval()
    x = torch.randn(1, 3, 32, 32)
    hw = DEFAULT.replace(spad_bytes=14336)
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=TILED)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    assert any("placement verified" in str(r) for r in compiled.remarks)
    reshaped = [str(r) for r in compiled.remarks if "(its row r in the bytes of row r of the other)" in str(r)]
    assert len(reshaped) == 1 and "1x12x16x16xf32 (3,072 B) written over 1x8x32x32xf32 (8,192 B)" in reshaped[0]


def test_a_chain_keeps_its_pairs_after_one_that_cannot_stay_whole():
    # Every block's output could be written over its input: one chain from
    # the stem's output to the last block's. In 8 KB the 8 x 32 x 32
    # tensors (8 KB each) cannot stay whole, so the downsampling block's
    # output (whole on chip in its input's rows) cannot be written over
    # them: that pair is dropped. The two blocks after it still write over
    # their inputs (4 KB each), and the first block over the stem's output
    # in the planes the two keep on chip (2 KB; the rest in DRAM).
    torch.manual_seed(4)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), ConvBlock(8), DownBlock(8), ConvBlock(16), ConvBlock(16), torch.nn.Conv2d(16, 4, 1)
    ).eval()
    x = torch.randn(1, 3, 32, 32)
    hw = DEFAULT.replace(spad_bytes=8192)
    tiled = PIPELINES["imc-tiled"][1]
    assert tiled.count("imc-place-buffers{overlap-calls=true}") == 1
    apart = tiled.replace("imc-place-buffers{overlap-calls=true}", "imc-place-buffers{overlap-calls=true in-place=false}")
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=TILED)
    separate = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module({apart})")
    for c in (compiled, separate):
        torch.testing.assert_close(c(x), model(x), rtol=1e-4, atol=1e-5)
        assert any("placement verified" in str(r) for r in c.remarks)
    assert _written_over(compiled) == 3 and _written_over(separate) == 0
    assert _dram(compiled) < _dram(separate)
    assert sorted(_shared_bytes(compiled)) == [2048, 4096, 4096]


def _shared_bytes(compiled) -> list[int]:
    """Per pair written over: the bytes it shares with the tensor it is written over (the remarks')."""
    return [int(m.group(1).replace(",", "")) for r in compiled.remarks if (m := re.search(r"([\d,]+) B of it in the same scratchpad bytes", str(r)))]


def test_blocks_whose_tensors_cannot_stay_whole_share_the_planes_they_keep():
    # 8 KB tensors in 6 KB: none stays whole, and each block's output is
    # written over its input in the planes the two keep on chip (5 KB);
    # their other planes go to DRAM, each written by its own producer. The
    # pairs move fewer DRAM bytes than the tensors apart (79,480 B apart in
    # the plan that dropped such pairs, 67,192 B shared: ad-hoc runs).
    torch.manual_seed(0)
    model, x = Blocks().eval(), torch.randn(1, 3, 32, 32)
    hw = DEFAULT.replace(spad_bytes=6144)
    # (the blocks' loops apart: chained, the tensor between them is not stored)
    tiled = PIPELINES["imc-tiled"][1].replace("imc-tile-rows{fit-rows=4}", "imc-tile-rows{fit-rows=4 chain-loops=false}")
    assert tiled.count("imc-place-buffers{overlap-calls=true}") == 1 and "chain-loops=false" in tiled
    fused = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module({tiled})")
    without = tiled.replace("imc-place-buffers{overlap-calls=true}", "imc-place-buffers{overlap-calls=true in-place=false}")
    apart = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module({without})")
    ref = model(x)
    for c in (fused, apart):
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)
        assert any("placement verified" in str(r) for r in c.remarks)
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)  # a warm call: the planes written over are written again
    shared = _shared_bytes(fused)
    assert len(shared) == 2 and all(0 < b < 8192 for b in shared)
    assert _dram(fused) < _dram(apart)


@settings(max_examples=60, deadline=None)
@given(programs(), st.sampled_from([256, 512, 1024]), st.data())
def test_in_place_plans_share_bytes_only_between_pairs(case, capacity, data):
    n, tensors = case
    prog = _program(n, tensors)
    pairs, over, under = [], set(), set()
    for i, x in enumerate(prog.tensors):
        for j, y in enumerate(prog.tensors):
            ok = i not in over and j not in under and x.producer < y.producer == x.last and x.size == y.size
            if ok and data.draw(st.booleans()):
                pairs.append((i, j))
                over.add(i)
                under.add(j)
    plan = plan_homes(prog, capacity, 16, in_place=pairs)
    assert set(plan.in_place) <= set(pairs)
    assert plan.dram_traffic(prog) >= capacity_bound(prog, capacity, plan.in_place).bytes >= 0
    kept = dict(plan.in_place)
    live = [
        (i, t.producer, t.consumers[c.until], c.offset, c.offset + c.end - c.start)
        for i, (t, home) in enumerate(zip(prog.tensors, plan.homes))
        for c in home.chunks
    ]
    for a, (i, s0, e0, lo0, hi0) in enumerate(live):
        for j, s1, e1, lo1, hi1 in live[a + 1 :]:
            if s0 <= e1 and s1 <= e0 and lo0 < hi1 and lo1 < hi0 and i != j:
                # Shared bytes at one stage: the last read of X, where Y is made.
                assert kept.get(i) == j or kept.get(j) == i
                x, y = (i, j) if kept.get(i) == j else (j, i)
                assert max(s0, s1) == min(e0, e1) == prog.tensors[x].last == prog.tensors[y].producer
    for k in range(n):  # capacity at every stage, shared bytes counted once
        ranges = sorted((lo, hi) for _, s, e, lo, hi in live if s <= k <= e)
        used, top = 0, 0
        for lo, hi in ranges:
            used += max(0, hi - max(lo, top))
            top = max(top, hi)
        assert used <= capacity

