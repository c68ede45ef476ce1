"""Blocks' row loops chained into one pipeline (`imc-tile-rows{chain-loops}`,
`imc.transforms.loop_chain`): each block runs a few trips behind the one
before, fed by a line buffer of that block's output rows, which is never
stored whole; several trips of a block per trip where the blocks' steps
differ (stride-2 blocks, loops of several rows). Same values as PyTorch and
as the loops apart, the placement proved, fewer DRAM bytes when the outputs
do not fit the scratchpad; the chained loops run distributed with the
counters of their trips in order."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import imc
from imc.ir.hardware import Hardware
from imc.sim.runtime import Runner

REST = "imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers, imc-group-contractions"


class _Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = torch.nn.Conv2d(c, c, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(c)
        self.c2 = torch.nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.c2(torch.relu(self.bn(self.c1(x)))))


def _model(c=8, blocks=2):
    torch.manual_seed(0)
    return _random_batch_norms(torch.nn.Sequential(*(_Block(c) for _ in range(blocks)))).eval()


def _random_batch_norms(model, affine: bool = False):
    """`model` with random running statistics (and `affine` parameters:
    batch norms that fold to non-zero biases)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            if affine:
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
    return model


def _compile(model, x, spad, chain, rows=1):
    hw = Hardware.preset("default").replace(spad_bytes=spad, activation_bits=32)  # (sizes for f32 tensors)
    pipeline = f"builtin.module(imc-tile-rows{{rows={rows} chain-loops={str(chain).lower()}}}, {REST})"
    return imc.compile(model, (x,), hardware=hw, pipeline=pipeline)


def _warm_dram(compiled, x):
    compiled(x)
    cold = compiled.report.totals.dram_read_bytes + compiled.report.totals.dram_write_bytes
    out = compiled(x)
    return np.asarray(out), compiled.report.totals.dram_read_bytes + compiled.report.totals.dram_write_bytes - cold


@pytest.mark.parametrize("blocks", [2, 3])
def test_chained_blocks_compute_the_model_and_move_fewer_bytes(blocks):
    """8 x 16 x 16 f32 tensors (8 KiB) in a 6 KiB scratchpad: apart, some
    of each block's output goes to DRAM and back; chained, the blocks' loops
    become one pipeline (a third block too, two trips behind the second),
    and no block's output but the last is stored."""
    model = _model(blocks=blocks)
    x = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        ref = model(x).numpy()
    apart, chained = (_compile(model, x, 6 * 1024, chain) for chain in (False, True))
    out_apart, bytes_apart = _warm_dram(apart, x)
    out_chained, bytes_chained = _warm_dram(chained, x)
    np.testing.assert_allclose(out_apart, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out_chained, ref, rtol=1e-4, atol=1e-4)
    assert bytes_chained < bytes_apart
    assert _stored(chained) == _stored(apart) - (blocks - 1)
    assert any("placement verified" in str(r) for r in chained.remarks)


def _stored(compiled) -> int:
    """The stored tensors imc-place-buffers placed (its summary remark)."""
    (summary,) = [str(r) for r in compiled.remarks if "stored tensors over" in str(r)]
    return int(re.search(r"(\d+) stored tensors over", summary).group(1))


def test_chained_loops_count_and_compute_as_their_trips_in_order():
    model = _model()
    x = torch.randn(1, 8, 16, 16).numpy()
    compiled = _compile(model, torch.from_numpy(x), 6 * 1024, True)
    results = []
    for distribute, exact in ((False, False), (True, True), (True, False)):
        runner = Runner(compiled.module, compiled.hardware)
        runner.interpreter.distribute_loops = distribute
        runner.interpreter.exact_trips = exact
        with compiled.context:
            outs = [runner(x)[0] for _ in range(2)]
        results.append((outs, runner.report.to_dict()["totals"]))
    (in_order, totals), (exact, exact_totals), (distributed, dist_totals) = results
    assert totals == exact_totals == dist_totals
    for a, b in zip(in_order, exact):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(in_order, distributed):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_loops_stay_apart_unless_chaining_pays():
    """Loops whose first output (8 KiB) fits the scratchpad are not chained:
    stored whole it need not leave the chip, and chained the second loop
    would read the first's input rows again. The program is then the one
    without chaining."""
    model = _model()
    x = torch.randn(1, 8, 16, 16)
    a, b = (_compile(model, x, 10 * 1024, chain) for chain in (False, True))
    assert str(a.module) == str(b.module)


def test_loops_of_two_row_tiles_chain_through_padded_windows():
    """Two rows per trip: the second block's trip reads a padded window of
    four rows of the first's output (rows `[j - 1, j + 3)`); it runs two
    trips behind (its last row is made one trip later, and a loop of one
    trip would be inlined), through a line buffer of that output's rows."""
    model = _model()
    x = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        ref = model(x).numpy()
    moved = {}
    for chain in (False, True):
        compiled = _compile(model, x, 6 * 1024, chain, rows=2)
        out, moved[chain] = _warm_dram(compiled, x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
        assert any("placement verified" in str(r) for r in compiled.remarks)
    assert moved[True] < moved[False]
    hw = Hardware.preset("default").replace(spad_bytes=6 * 1024, activation_bits=32)
    loops = _row_loops(model, x, hw, "imc-tile-rows{rows=2 chain-loops=true}")
    assert [loop[:3] for loop in loops] == [(0, 4, 2), (4, 16, 2), (12, 16, 2)]


class _StridedBlock(torch.nn.Module):
    """A ResNet block of stride 2 with its 1x1 downsample branch (a `layer2.0`)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = torch.nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.c2 = torch.nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.down = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride=2, bias=False), torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.bn2(self.c2(torch.relu(self.bn1(self.c1(x))))) + self.down(x))


@settings(max_examples=8, deadline=None)
@given(
    c=st.sampled_from([4, 8]),
    size=st.sampled_from([8, 12, 16]),
    strides=st.lists(st.sampled_from([1, 1, 2]), max_size=2),
    spad=st.sampled_from([1024, 2048, 16384]),
    bits=st.sampled_from([8, 8, 32]),
    rows=st.sampled_from([0, 1]),
    pool=st.booleans(),
)
def test_random_residual_chains_are_placed_proved_and_exact(c, size, strides, spad, bits, rows, pool):
    """Random chains of residual blocks (stride 1, or 2 with a downsample
    branch), with a global average pooling after them or not, at random
    scratchpad sizes, through `imc-tiled` (`rows=0`) or one-row tiles
    (`rows=1`, where loops chain whenever a block's output does not fit; the
    pooling folds into the last block's loop when that loop is its own):
    each program matches PyTorch, its placement is proved, and its warm call
    moves no fewer DRAM bytes than the floor and the bound over all
    schedules."""
    torch.manual_seed(c + size + spad + len(strides))
    blocks, ch = [], c
    for s in [1, 1, *strides]:  # (two blocks of one shape first: a pair that chains when its tensors do not fit)
        blocks.append(_Block(ch) if s == 1 else _StridedBlock(ch, 2 * ch))
        ch = ch if s == 1 else 2 * ch
    if pool:
        blocks.append(torch.nn.AdaptiveAvgPool2d(1))
    model = _random_batch_norms(torch.nn.Sequential(*blocks), affine=True).eval()
    x = torch.randn(1, c, size, size)
    hw = Hardware.preset("default").replace(spad_bytes=spad, activation_bits=bits)
    pipeline = "builtin.module(imc-tiled)" if rows == 0 else f"builtin.module(imc-tile-rows{{rows=1}}, {REST})"
    try:
        compiled = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    except imc.PipelineError as e:  # (row slabs larger than the scratchpad are reported, not run)
        assert "do not fit the" in str(e.diagnostics[0])
        return
    _exact_proved_and_bounded(compiled, model, x)


def _exact_proved_and_bounded(compiled, model, x) -> None:
    """`compiled`'s warm call matches PyTorch, its placement is proved, and
    it moves at least the bound over all schedules (and so the floor)."""
    with torch.no_grad():
        ref = model(x).numpy()
    out, warm = _warm_dram(compiled, x)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    assert any("placement verified" in str(r) for r in compiled.remarks)
    bounds = compiled.lower_bounds()
    assert warm >= bounds.schedule_bound_for_calls(2) - bounds.schedule_bound_for_calls(1) >= bounds.floor_for_calls(2) - bounds.floor_for_calls(1)


def _mobilenet_start(out=24, affine=False, seed=0):
    """MobileNetV2's first stages, small: the stem (3x3 conv of stride 2), a
    block of expansion 1 (depthwise conv, 1x1 projection to 16 channels),
    a block of stride 2 (1x1 expansion, depthwise conv of stride 2, 1x1
    projection to `out` channels)."""
    from imc.frontend.models.mobilenet import Conv2dNormActivation, InvertedResidual

    torch.manual_seed(seed)
    model = torch.nn.Sequential(Conv2dNormActivation(3, 32, stride=2), InvertedResidual(32, 16, 1, 1), InvertedResidual(16, out, 2, 6))
    return _random_batch_norms(model, affine).eval()


def _row_loops(model, x, hw, pipeline: str) -> list:
    """(lower bound, upper bound, step, result types) of each row loop
    `imc-tile-rows` builds for `model` (`pipeline`: its invocation)."""
    from imc.frontend.importer import import_torch
    from imc.ir.context import make_context
    from imc.transforms.pipeline import run_pipeline

    context = make_context()
    with context:
        module = import_torch(model, (x,), context=context)
        run_pipeline(module, f"builtin.module({pipeline})", hardware=hw)
        text = str(module)
    loops = re.findall(r"scf\.for %\S+ = %c(\d+) to %c(\d+) step %c(\d+) iter_args\(.*?\) -> \((.*)\) \{", text)
    return [(int(lo), int(hi), int(step), types) for lo, hi, step, types in loops]


def test_loops_of_two_rows_chain_through_plain_row_windows():
    """The stem's loop makes two rows of its 16 x 48 x 48 output per trip
    (8-bit: 36 KiB, beyond the 20 KiB scratchpad), the depthwise conv one row
    behind; the next block's loop reads them as plain two-row slices, two
    rows per trip. Chained, that block runs two trips behind (its rows are
    made one trip later, and one-trip first and last loops would be inlined)
    through a line buffer of three rows: the first loop runs trips [0, 4) of
    the stem, the second both from row 4, the third the block's last two
    trips, fed by the stem's last row and zero rows. The stem's output is
    never stored: one tensor fewer, fewer DRAM bytes, the same values."""
    model, x = _mobilenet_start(), torch.randn(1, 3, 96, 96)
    hw = Hardware.preset("default").replace(spad_bytes=20 * 1024)
    tile = "imc-tile-rows{{fit-rows=4 chain-loops={}}}"
    compiled = {
        chain: imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module({tile.format(chain)}, {REST})")
        for chain in ("false", "true")
    }
    with torch.no_grad():
        ref = model(x).numpy()
    moved = {}
    for chain, c in compiled.items():
        out, moved[chain] = _warm_dram(c, x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
        assert any("placement verified" in str(r) for r in c.remarks)
    assert moved["true"] < moved["false"]
    assert _stored(compiled["true"]) == _stored(compiled["false"]) - 1
    loops = _row_loops(model, x, hw, tile.format("true"))
    assert [loop[:3] for loop in loops] == [(0, 4, 2), (4, 48, 2), (44, 48, 2)]
    assert "tensor<1x16x3x48xf32>" in loops[0][3]  # the line buffer: three rows of the stem's output


@settings(max_examples=4, deadline=None)
@given(
    out=st.sampled_from([16, 24, 32]),
    size_spad=st.sampled_from([(64, 12 * 1024), (96, 20 * 1024), (96, 24 * 1024), (128, 32 * 1024)]),
    seed=st.integers(0, 3),
)
def test_random_plain_window_chains_are_placed_proved_and_exact(out, size_spad, seed):
    """MobileNetV2's first stages with trained batch norms, other widths of
    the stride-2 block and other input and scratchpad sizes, each where the
    stem's output does not fit and its loop chains with the next block's
    (the first loop of the chain runs its first two trips): `imc-tiled`
    matches PyTorch, its placement is proved, and its warm call moves at
    least the bound over all schedules."""
    size, spad = size_spad
    model, x = _mobilenet_start(out, affine=True, seed=seed), torch.randn(1, 3, size, size)
    hw = Hardware.preset("default").replace(spad_bytes=spad)
    assert _row_loops(model, x, hw, "imc-tile-rows{fit-rows=4}")[0][:3] == (0, 4, 2)  # (chained)
    _exact_proved_and_bounded(imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-tiled)"), model, x)


def _inverted_residuals(size, seed=0):
    """MobileNetV2's `features.3` and `features.4`, narrower: a block of
    stride 1 (1x1 expansion x6, depthwise 3x3, 1x1 projection, plus its
    input), then one of stride 2 reading its output."""
    from imc.frontend.models.mobilenet import InvertedResidual

    torch.manual_seed(seed)
    model = torch.nn.Sequential(InvertedResidual(16, 16, 1, 6), InvertedResidual(16, 24, 2, 6))
    return _random_batch_norms(model, affine=True).eval(), torch.randn(1, 16, size, size)


@settings(max_examples=4, deadline=None)
@given(size_spad=st.sampled_from([(32, 8), (32, 12), (56, 20), (64, 24)]), seed=st.integers(0, 3))
def test_loops_of_different_steps_chain_with_several_trips_per_trip(size_spad, seed):
    """The stride-1 block's loop makes one row per trip (its residual add
    in the loop, the input row before its trip's kept for it); the stride-2
    block's loop reads two of those rows per trip, where they do not fit the
    scratchpad (8-bit, 16 x size x size). Chained, each trip runs two trips
    of the first loop, then one of the second, two trips behind: the first
    block's output is never stored (one tensor fewer, fewer DRAM bytes), the
    values are PyTorch's and the placement is proved."""
    size, spad = size_spad
    model, x = _inverted_residuals(size, seed)
    hw = Hardware.preset("default").replace(spad_bytes=spad * 1024)
    with torch.no_grad():
        ref = model(x).numpy()
    tile = "imc-tile-rows{{chain-loops={}}}"
    assert [loop[:3] for loop in _row_loops(model, x, hw, tile.format("false"))] == [(0, size, 1), (0, size, 2)]
    assert [loop[:3] for loop in _row_loops(model, x, hw, tile.format("true"))] == [(0, 4, 2), (4, size, 2), (size - 4, size, 2)]
    moved, stored = {}, {}
    for chain in ("false", "true"):
        compiled = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module({tile.format(chain)}, {REST})")
        out, moved[chain] = _warm_dram(compiled, x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
        assert any("placement verified" in str(r) for r in compiled.remarks)
        stored[chain] = _stored(compiled)
    assert moved["true"] < moved["false"]
    assert stored["true"] == stored["false"] - 1


@pytest.mark.parametrize("size, spad", [(16, 6), (24, 8), (32, 12)])
def test_a_block_chains_into_a_stride_two_block_at_two_trips_per_tick(size, spad):
    """A block of stride 1, then one of stride 2 (its loop over half the
    rows, reading rows `[2 j - 1, 2 j + 2)` of the first's output): chained,
    each trip runs two of the first block's trips, then one of the second's.
    The first block's windows of the model input (3 rows each, one shared
    with the next) are read once per trip for both (4 rows, through a slab
    that keeps the row the next trip reads again) in the loop of the first
    trips, then only the 2 rows below the rows kept from the trip before,
    which the loops pass on: each input row is loaded once. PyTorch's values,
    the placement proved, the first block's output never stored, fewer DRAM
    bytes."""
    torch.manual_seed(size)
    model = _random_batch_norms(torch.nn.Sequential(_Block(8), _StridedBlock(8, 16)), affine=True).eval()
    x = torch.randn(1, 8, size, size)
    with torch.no_grad():
        ref = model(x).numpy()
    moved = {}
    for chain in (False, True):
        compiled = _compile(model, x, spad * 1024, chain)
        out, moved[chain] = _warm_dram(compiled, x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
        assert any("placement verified" in str(r) for r in compiled.remarks)
    assert moved[True] < moved[False]
    slabs = sorted(int(m) for m in re.findall(r"model input streamed in rows through a [\d,]+ B slab \((\d+) rows\)", " ".join(map(str, compiled.remarks))))
    assert slabs == [2, 4]
    hw = Hardware.preset("default").replace(spad_bytes=spad * 1024, activation_bits=32)
    loops = _row_loops(model, x, hw, "imc-tile-rows{rows=1 chain-loops=true}")
    assert [loop[:3] for loop in loops] == [(0, 4, 2), (4, size, 2), (size // 2 - 2, size // 2, 1)]
