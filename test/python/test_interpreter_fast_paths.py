"""The interpreter's fast paths (fused crossbar contractions in `ideal`
precision) give the same outputs, counters and crossbar-state errors as the
general path (one step per op)."""

import re

import numpy as np
import pytest
import torch
from torch_mlir import ir

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware
from imc.sim.interpreter import InterpreterError
from imc.sim.interpreter.imc import STACKED_BATCH_ROWS, _GroupedWeights
from imc.sim.interpreter.row_blocks import StackedTiles
from imc.sim.runtime import Runner


def _compiled(name, **kw):
    model = models.create(name, **kw.get("create", {}))
    inputs = models.example_inputs(name, **kw.get("inputs", {}))
    return imc.compile(model, inputs), [x.numpy() for x in inputs]


@pytest.fixture(scope="module")
def lenet():
    return _compiled("lenet5")


@pytest.fixture(scope="module")
def bert():
    return _compiled("bert_encoder", create=dict(layers=1, hidden=64, heads=2), inputs=dict(seq=8))


# `imc-tiled` without `imc-place-crossbars{duplicate=true}`: no crossbar copies
NO_COPIES = "builtin.module(imc-tile-rows, imc-default)"


def _runner(compiled, fast, precision="ideal"):
    r = Runner(compiled.module, compiled.hardware, precision=precision)
    r.interpreter.fast_paths = fast
    return r


TILED_CONTRACT = "imc.tiled_contract"


def _fused_steps(runner):
    """The function's `imc.tiled_contract` steps that ran in one step (their
    `static` is their `ContractionGroup`; False when they ran as ops)."""
    cf = runner.interpreter._get_compiled(runner.entry)
    return [op for _, op, _, _ in cf.body.steps if op.name == TILED_CONTRACT and op.static]


def _layers(report):
    d = report.to_dict()
    return d["totals"], [(l["name"], {k: v for k, v in l.items()}) for l in d["layers"]]


def _overwrite(chip, array: int) -> None:
    """Another model's weights in `array`'s first held tile (a new generation):
    the next program of that tile must reprogram it."""
    held = next(iter(chip.arrays[array].values()))
    chip.generation += 1
    held.generation = chip.generation
    held.source = held.source + 1.0  # other weights


@pytest.mark.parametrize("which", ["lenet", "bert"])
def test_fast_path_matches_general_path(which, request):
    compiled, inputs = request.getfixturevalue(which)
    slow, fast = _runner(compiled, False), _runner(compiled, True)
    rng = np.random.default_rng(1)
    for call in range(3):  # cold chip, warm chip (validation), warm chip (fast)
        if which == "lenet":
            xs = [rng.standard_normal(inputs[0].shape).astype(np.float32)]
        else:
            xs = inputs
        ys, yf = slow(*xs), fast(*xs)
        for a, b in zip(ys, yf):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * float(np.abs(a).max()))
    assert _layers(fast.report) == _layers(slow.report)
    assert not _fused_steps(slow)
    assert _fused_steps(fast), "no contraction was fused"
    assert fast.report.totals.xbar_program_events == slow.report.totals.xbar_program_events > 0


def test_small_chip_with_crossbar_reuse_and_scratchpad():
    """A chip too small for the weights: tiles are reprogrammed on every call
    (also within one contraction) and inputs come from scratchpad buffers."""
    from imc.ir.hardware import Hardware

    hw = Hardware.resolve("default").replace(cores=1, crossbars_per_core=4)
    model, inputs = models.create("lenet5"), models.example_inputs("lenet5")
    compiled = imc.compile(model, inputs, hardware=hw)
    arrays = [x.numpy() for x in inputs]
    slow, fast = _runner(compiled, False), _runner(compiled, True)
    for _ in range(3):
        ys, yf = slow(*arrays), fast(*arrays)
        np.testing.assert_allclose(yf[0], ys[0], rtol=1e-5, atol=1e-6 * float(np.abs(ys[0]).max()))
    assert _layers(fast.report) == _layers(slow.report)
    assert slow.report.totals.xbar_program_events == fast.report.totals.xbar_program_events
    # programs happen on every call, not only the first
    first = _runner(compiled, False)
    first(*arrays)
    assert fast.report.totals.xbar_program_events > first.report.totals.xbar_program_events
    groups = [op.static for op in _fused_steps(fast)]
    assert len(groups) >= 3 and all(g.weff is not None for g in groups)


def test_fast_path_is_used_on_warm_chip(lenet):
    compiled, inputs = lenet
    fast = _runner(compiled, True)
    fast(*inputs)
    fast(*inputs)
    groups = [op.static for op in _fused_steps(fast)]
    assert groups and all(g.weff is not None for g in groups)
    calls = []
    for g in groups:
        orig = g.slow
        g.slow = lambda *a, _orig=orig: calls.append(1) or _orig(*a)
    fast(*inputs)
    assert not calls, "a warm chip should not take the slow path"


@pytest.mark.parametrize("precision", ["ideal", "quantized"])
def test_a_first_call_computes_the_products_as_the_fast_path(lenet, precision):
    """On a cold chip a fused group runs its programs, slices and MVM checks
    as ops and its products as the fast path does (`ContractionGroup._first_run`):
    none of its deferred ops (the MVMs' products, the accumulates) runs, yet
    values and counters are the op-by-op run's."""
    compiled, inputs = lenet
    slow, fast = _runner(compiled, False, precision), _runner(compiled, True, precision)
    with compiled.context:
        fast.interpreter.prepare()
    groups = [op.static for op in _fused_steps(fast)]
    ran = []
    for g in groups:
        g.deferred = [
            (lambda interp, op, args, _fn=fn: ran.append(op.name) or _fn(interp, op, args), op, ins, outs)
            for fn, op, ins, outs in g.deferred
        ]
    with compiled.context:
        ys, yf = slow(*inputs), fast(*inputs)
    assert groups and not ran
    np.testing.assert_allclose(yf[0], ys[0], rtol=1e-5, atol=1e-6 * float(np.abs(ys[0]).max()))
    assert _layers(fast.report) == _layers(slow.report)


def test_crossbar_overwritten_between_calls_is_reprogrammed(lenet):
    """Other weights landing on a crossbar between calls (new generation, other
    data) take the fused group off the fast path: the program op reprograms the
    tile and counts it, exactly as on the general path."""
    compiled, inputs = lenet
    runners = [_runner(compiled, False), _runner(compiled, True)]
    outs = []
    for r in runners:
        r(*inputs)
        r(*inputs)
        before = r.report.totals.xbar_program_events
        _overwrite(r.chip, max(r.chip.arrays))
        outs.append(r(*inputs)[0])
        assert r.report.totals.xbar_program_events == before + 1
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    assert _layers(runners[1].report) == _layers(runners[0].report)


def _stale_mvm_module(compiled):
    """The compiled text with one MVM moved after the next program, which is
    retargeted to the MVM's crossbar: that MVM reads a reprogrammed array."""
    lines = compiled.mlir.splitlines()
    prog = re.compile(r'^\s*(%\w+) = "imc.program".*\{array = (\d+) : i64')
    for k in range(len(lines) - 2):
        m0, m2 = prog.match(lines[k]), prog.match(lines[k + 2])
        if m0 and m2 and f'"imc.mvm"({m0.group(1)},' in lines[k + 1] and all("offset = array<i64: 0, 0>" in lines[i] for i in (k, k + 2)):
            lines[k + 2] = lines[k + 2].replace(f"array = {m2.group(2)} :", f"array = {m0.group(2)} :")
            lines[k + 1], lines[k + 2] = lines[k + 2], lines[k + 1]
            return ir.Module.parse("\n".join(lines), context=compiled.module.context)
    raise AssertionError("no program/mvm/program sequence found")


@pytest.mark.parametrize("fast", [False, True])
def test_mvm_on_reprogrammed_crossbar_raises(lenet, fast):
    compiled, inputs = lenet
    module = _stale_mvm_module(compiled)
    r = Runner(module, compiled.hardware, precision="ideal")
    r.interpreter.fast_paths = fast
    assert bool(_fused_steps(r)) == fast
    # (A failed call leaves the scratchpad allocated, so one call per runner; the
    # error is static: a fused group only leaves the slow path once it has run
    # without error, and then no program of the group overwrites another's tile.)
    with pytest.raises(InterpreterError, match="was reprogrammed with other weights before this MVM"):
        r(*inputs)


def test_quantized_mode_keeps_general_semantics(lenet):
    compiled, inputs = lenet
    slow, fast = _runner(compiled, False, "quantized"), _runner(compiled, True, "quantized")
    for _ in range(2):
        np.testing.assert_array_equal(fast(*inputs)[0], slow(*inputs)[0])
    assert _layers(fast.report) == _layers(slow.report)


class _Separable(torch.nn.Module):
    """A depthwise 3x3 conv over 24 channels (two tiles of diagonal blocks on
    128-row crossbars: 14 + 10 channels), a grouped conv (4 groups of 6
    channels) and a pointwise conv: grouped contractions next to a dense one."""

    def __init__(self):
        super().__init__()
        self.depthwise = torch.nn.Conv2d(24, 24, 3, padding=1, groups=24)
        self.grouped = torch.nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=4, bias=False)
        self.pointwise = torch.nn.Conv2d(24, 8, 1)

    def forward(self, x):
        return self.pointwise(torch.relu(self.grouped(torch.relu(self.depthwise(x)))))


@pytest.fixture(scope="module")
def separable():
    torch.manual_seed(0)
    model = _Separable().eval()
    x = torch.randn(1, 24, 9, 9)
    compiled = imc.compile(model, (x,), pipeline=NO_COPIES)  # (copies: `test_row_blocks_...`)
    return compiled, [x.numpy()], model(x).detach().numpy()


@pytest.mark.parametrize("precision", ["ideal", "quantized"])
def test_grouped_contractions_take_a_fast_path_of_their_own(separable, precision):
    """Depthwise and grouped convolutions fuse into steps whose `ideal`
    products skip the zeros off the diagonal blocks (`_GroupedWeights`);
    over a cold, a validating and a fast call they give the op-by-op run's
    outputs and counters, and match PyTorch."""
    compiled, inputs, expected = separable
    slow, fast = _runner(compiled, False, precision), _runner(compiled, True, precision)
    for _ in range(3):
        ys, yf = slow(*inputs), fast(*inputs)
        if precision == "ideal":
            np.testing.assert_allclose(yf[0], ys[0], rtol=1e-5, atol=1e-6 * float(np.abs(ys[0]).max()))
            np.testing.assert_allclose(yf[0], expected, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(yf[0], ys[0])
    assert _layers(fast.report) == _layers(slow.report)
    weights = [op.static.weff for op in _fused_steps(fast)]
    if precision == "ideal":
        assert sum(isinstance(w, _GroupedWeights) for w in weights) == 2
        # (the pointwise conv: one matmul by its combined weights)
        assert sum(isinstance(w, np.ndarray) for w in weights) == 1


_LOOP_INSERT = """
func.func @main(%init: tensor<8xf32>, %x: tensor<2xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %init) -> (tensor<8xf32>) {
    %off = arith.muli %i, %c2 : index
    %s = tensor.insert_slice %x into %acc[%off] [2] [1] : tensor<2xf32> into tensor<8xf32>
    scf.yield %s : tensor<8xf32>
  }
  return %r, %init : tensor<8xf32>, tensor<8xf32>
}
"""


@pytest.mark.parametrize("fast", [False, True])
def test_loop_carried_insert_slice(fast):
    """The in-place loop insert never changes the loop's init value or earlier results."""
    from imc.ir.context import make_context
    from imc.sim.interpreter import Interpreter

    with make_context() as ctx:
        module = ir.Module.parse(_LOOP_INSERT, context=ctx)
        interp = Interpreter(module, fast_paths=fast)
        init = np.zeros(8, dtype=np.float32)
        r1, i1 = interp.run("main", [init, np.array([1, 2], dtype=np.float32)])
        r2, _ = interp.run("main", [init, np.array([3, 4], dtype=np.float32)])
        np.testing.assert_array_equal(r1, np.tile([1, 2], 4))
        np.testing.assert_array_equal(r2, np.tile([3, 4], 4))
        np.testing.assert_array_equal(i1, 0)
        np.testing.assert_array_equal(init, 0)
        body = interp._get_compiled("main").body.steps[-1][1].regions[0].block
        kinds = {type(fn).__name__ for fn, op, _, _ in body.steps if op.name == "tensor.insert_slice"}
        assert kinds == ({"_InPlaceInsert"} if fast else {"function"})


def _fused_groups(runner):
    """The contraction groups of every fused step, loop bodies included."""
    found = []

    def walk(block):
        for _, op, _, _ in block.steps:
            if op.name == TILED_CONTRACT and op.static:
                found.append(op.static)
            for region in op.regions:
                for b in region.blocks:
                    walk(b)

    walk(runner.interpreter._get_compiled(runner.entry).body)
    return found


class _WideConvs(torch.nn.Module):
    """Convolutions of 288 and 144 weight rows: three and two row tiles."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(32, 16, 3)
        self.conv2 = torch.nn.Conv2d(16, 8, 3)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


@pytest.fixture(scope="module")
def wide_convs():
    torch.manual_seed(0)
    return _WideConvs().eval(), (torch.randn(1, 32, 10, 10),)


@pytest.mark.parametrize("pipeline", ["duplicate", "imc-pipelined"])
@pytest.mark.parametrize("precision", ["ideal", "quantized", "noisy"])
def test_row_blocks_of_crossbar_copies_fuse_and_match_the_ops(wide_convs, pipeline, precision, monkeypatch):
    """Contractions whose MVMs split the input rows over copies of their
    crossbars (the row blocks joined by `tensor.concat` before the
    accumulates) fuse too. In `ideal`, a few rows (an `imc-pipelined` trip)
    take the ops' own arithmetic (`row_blocks`), more rows the one matmul of
    an unsplit contraction; in `quantized` each operand's blocks are one
    stacked MVM of all rows, each block through its own op's ADC step; in
    `noisy` (read noise) each block also gets its own op's draw. With
    the other contractions left to their ops (their `ideal` fast path sums
    in another order), over a cold, a validating and a fast call the outputs
    equal the op-by-op run's (bit for bit but for the one matmul), and the
    counters are the same."""
    from imc.sim.interpreter.imc import ContractionGroup
    from imc.sim.interpreter.row_blocks import RowBlockedWeights

    validate = ContractionGroup._validate

    def row_blocks_only(self, *args):
        validate(self, *args)
        if not self.row_blocked:
            self.weff = None

    monkeypatch.setattr(ContractionGroup, "_validate", row_blocks_only)
    if pipeline == "duplicate":
        pipeline = "imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true}, cse, imc-group-contractions"
    one_matmul = precision == "ideal" and pipeline != "imc-pipelined"  # 64 rows per call
    model, x = wide_convs
    hw = Hardware.preset("default").replace(read_noise=0.05, program_noise=0.0) if precision == "noisy" else "default"
    compiled, inputs = imc.compile(model, x, hardware=hw, pipeline=f"builtin.module({pipeline})"), [t.numpy() for t in x]
    if precision != "ideal":
        # Calibrated, each copy's MVM converts with its own ADC range; the
        # fused calibrating call records what the ops record.
        by_ops = imc.compile(model, x, hardware=hw, pipeline=f"builtin.module({pipeline})")
        monkeypatch.setenv("IMC_INTERPRETER_FAST_PATHS", "0")
        by_ops.calibrate(x)
        monkeypatch.delenv("IMC_INTERPRETER_FAST_PATHS")
        compiled.calibrate(x)
        assert str(compiled.module) == str(by_ops.module)
    slow, fast = _runner(compiled, False, precision), _runner(compiled, True, precision)
    rng = np.random.default_rng(3)
    with compiled.context:
        for _ in range(3):
            xs = [rng.standard_normal(inputs[0].shape).astype(np.float32)]
            ys, yf = slow(*xs), fast(*xs)
            for a, b in zip(ys, yf):
                if one_matmul:
                    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
                else:
                    np.testing.assert_array_equal(b, a)
    assert _layers(fast.report) == _layers(slow.report)
    blocked = [g for g in _fused_groups(fast) if g.row_blocked]
    assert blocked, "no contraction over crossbar copies was fused"
    if one_matmul:
        assert all(isinstance(g.weff, np.ndarray) for g in blocked)
    elif precision == "ideal":
        # (stacked when every accumulate reads the same row tiles and blocks)
        assert all(isinstance(g.weff, (RowBlockedWeights, StackedTiles)) for g in blocked)
        assert max(len(terms) for g in blocked for terms, _ in g.weff.accs) == 3
    else:
        assert all(g.converted is not None for g in blocked)
        runs = [run for g in blocked for run in g.converted]
        assert max(len(blocks) for run in runs for blocks in run.blocks) > 1
        assert any(len({step for *_, step in spans}) > 1 for run in runs for spans in run.steps)


def _stacked_groups(runner):
    return [g for g in _fused_groups(runner) if isinstance(g.weff, StackedTiles)]


@pytest.mark.parametrize("chip", ["default", "small"])
def test_contractions_of_a_few_rows_over_copies_give_the_ops_products_bit_for_bit(wide_convs, chip):
    """`imc-pipelined` row tiles multiply a few input rows per loop trip,
    split over copies of the crossbars: such contractions compute the ops'
    own products (`StackedTiles`, one gemm per tile and row block, the
    accumulates' sums in operand order), so over a cold, a validating and
    two fast calls the outputs equal the op-by-op run's bit for bit, and so
    do the counters. On a chip too small for copies (and for the weights)
    the contractions are unsplit and take one matmul each (close to the
    ops'), and the crossbars are reprogrammed between trips and calls: the
    replayed programs count it as the ops do."""
    from imc.ir.hardware import Hardware

    hw = Hardware.resolve("default")
    if chip == "small":
        hw = hw.replace(cores=1, crossbars_per_core=4)
    model, x = wide_convs
    compiled = imc.compile(model, x, hardware=hw, pipeline="builtin.module(imc-pipelined)")
    slow, fast = _runner(compiled, False), _runner(compiled, True)
    rng = np.random.default_rng(5)
    with compiled.context:
        for _ in range(4):
            xs = [rng.standard_normal(x[0].shape).astype(np.float32)]
            for a, b in zip(slow(*xs), fast(*xs)):
                if chip == "default":
                    np.testing.assert_array_equal(b, a)
                else:
                    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * float(np.abs(a).max()))
    assert _layers(fast.report) == _layers(slow.report)
    stacked = _stacked_groups(fast)
    if chip == "default":
        assert stacked and all(g.row_blocked and g.weff.batch <= STACKED_BATCH_ROWS for g in stacked)
    else:
        assert not stacked and any(isinstance(g.weff, np.ndarray) for g in _fused_groups(fast))
    if chip == "small":
        first = _runner(compiled, False)
        with compiled.context:
            first(*xs)
        assert fast.report.totals.xbar_program_events > 3 * first.report.totals.xbar_program_events


def test_stacked_group_reprograms_a_crossbar_overwritten_between_calls(wide_convs):
    """Other weights landing on a crossbar of a stacked group between calls
    (new generation, other data): the group's recorded replay no longer
    applies, its program reprograms the tile and counts it, and its stacked
    products stay the ops' bit for bit (the tile holds the group's weights
    again). (Every group stacks here, so the whole output is the ops'.)"""
    model, x = wide_convs
    compiled, inputs = imc.compile(model, x, pipeline="builtin.module(imc-pipelined)"), [t.numpy() for t in x]
    runners = [_runner(compiled, False), _runner(compiled, True)]
    for r in runners:
        r(*inputs)
        r(*inputs)
    group = _stacked_groups(runners[1])[-1]
    array = group.group_arrays[0]
    outs = []
    for r in runners:
        before = r.report.totals.xbar_program_events
        _overwrite(r.chip, array)
        outs.append(r(*inputs)[0])
        assert r.report.totals.xbar_program_events == before + 1
    np.testing.assert_array_equal(outs[1], outs[0])
    assert _layers(runners[1].report) == _layers(runners[0].report)
    assert group.replays and group.weff is not None


def test_stacked_tiles_sum_as_the_accumulate_op():
    """`StackedTiles` against the accumulate's own arithmetic on synthetic
    tiles: row tiles of two heights, a shifted operand, accumulates of two
    widths; accumulates over different row tiles do not stack."""
    from imc.sim.interpreter.row_blocks import Term

    rng = np.random.default_rng(0)
    m, k = 6, 300
    x = rng.standard_normal((m, k)).astype(np.float32)
    tiles = [(0, 128, 0), (128, 128, 2), (256, 44, 0)]
    accs = []
    for width in (128, 128, 40):
        terms = [Term(r0, rows, rng.standard_normal((rows, width)).astype(np.float32), shift, [(0, m)]) for r0, rows, shift in tiles]
        accs.append((terms, False))
    stacked = StackedTiles.of(accs, k, m)
    assert stacked is not None and len(stacked.parts) == 2
    for (terms, _), y in zip(accs, stacked.products(x)):
        expected = np.zeros((m, terms[0].g.shape[1]), dtype=np.float32)
        for t in terms:
            p = np.ascontiguousarray(x[:, t.r0 : t.r0 + t.rows]) @ t.g
            expected += p * np.float32(2.0**t.shift) if t.shift else p
        np.testing.assert_array_equal(y, expected)
    other = [(accs[0][0], False), (accs[1][0][:2], False)]
    assert StackedTiles.of(other, k, m) is None


def test_static_views_of_weights_are_folded_out_of_loop_bodies(wide_convs):
    """With fast paths on, the static views of constants (a weight's reshape
    and its crossbar tiles' slices) run once, when the function is compiled,
    not on every loop trip; the ops stay alive (hooks key their state by
    `id(op)`); without fast paths they are steps."""
    model, x = wide_convs
    compiled = imc.compile(model, x, pipeline="builtin.module(imc-pipelined)")
    counts = {}
    for fast in (False, True):
        r = _runner(compiled, fast)
        with compiled.context:
            r.interpreter.prepare()
        names = []

        def walk(block, depth):
            for _, op, _, _ in block.steps:
                if depth and op.name in ("tensor.extract_slice", "tensor.collapse_shape"):
                    names.append(str(op.ir.results[0].type))
                for region in op.regions:
                    for b in region.blocks:
                        walk(b, depth + (op.name != TILED_CONTRACT))

        walk(r.interpreter._get_compiled(r.entry).body, 0)
        weight_views = [t for t in names if t in ("tensor<16x288xf32>", "tensor<8x144xf32>")]  # the weights' reshapes
        counts[fast] = (len(weight_views), len(r.interpreter._folded_ops))
    assert counts[False][0] > 0 and counts[False][1] == 0
    assert counts[True] == (0, counts[True][1]) and counts[True][1] > 0
