"""Loops run distributed (`imc.sim.interpreter.loop_distribution`): each op of
a row loop's body runs for every trip before the next op, and a tiled
contraction computes all its trips in one matmul. The counters are those of
the trips run in order, the outputs those up to float32 rounding (one matmul
over the stacked rows sums in its own order), or bit for bit with each trip's
rows multiplied on their own (`exact_trips`); ops whose memory accesses
conflict run their trips in order together."""

import contextlib
import logging
import re

import numpy as np
import pytest
import torch
from torch_mlir import ir

import imc
from imc.frontend import models
from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.interpreter import Interpreter
from imc.sim.interpreter.imc import ContractionGroup
from imc.sim.interpreter.loop_distribution import DistributionPlan, _components, _Effects, log
from imc.sim.runtime import Runner


class _Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = torch.nn.Conv2d(c, c, 3, padding=1)
        self.c2 = torch.nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.c2(torch.relu(self.c1(x))))


class _Net(torch.nn.Module):
    """A stem and two residual blocks: `imc-tiled` runs each block as one row
    loop with a line buffer, and programs two bit slices per crossbar."""

    def __init__(self, c=32):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, c, 3, padding=1)
        self.b1 = _Block(c)
        self.b2 = _Block(c)

    def forward(self, x):
        return self.b2(self.b1(torch.relu(self.stem(x))))


def _compiled(spad_bytes):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    hw = Hardware.preset("default").replace(spad_bytes=spad_bytes)
    return imc.compile(_Net().eval(), (x,), hardware=hw, pipeline="builtin.module(imc-tiled)"), x.numpy()


def _calls(compiled, x, distribute, precision="ideal", calls=2, exact=False):
    runner = Runner(compiled.module, compiled.hardware, precision=precision)
    runner.interpreter.distribute_loops = distribute
    runner.interpreter.exact_trips = exact
    outs, reports = [], []
    with compiled.context:
        for _ in range(calls):
            outs.append(runner(x)[0])
            reports.append(runner.report.to_dict())
    return runner, outs, reports


@pytest.fixture
def batched_trips(monkeypatch):
    """The number of trips each `ContractionGroup.fast_trips` call took."""
    seen = []
    original = ContractionGroup.fast_trips

    def spy(self, ex, xs, counted=0, exact=False):
        seen.append(len(xs))
        return original(self, ex, xs, counted, exact)

    monkeypatch.setattr(ContractionGroup, "fast_trips", spy)
    return seen


def _distributed_loops(runner):
    return [op for op in runner.interpreter.compiled_ops() if op.name == "scf.for" and isinstance(op.static, DistributionPlan)]


def test_distributed_loops_count_what_the_trips_in_order_count(batched_trips):
    compiled, x = _compiled(256 * 1024)
    in_order, ref, ref_reports = _calls(compiled, x, distribute=False)
    assert not batched_trips
    runner, outs, reports = _calls(compiled, x, distribute=True)
    loops = _distributed_loops(runner)
    assert len(loops) == 3  # the stem's and the two residual blocks' loops
    assert batched_trips and min(batched_trips) > 1
    # The tiles' row offsets were worked out once, in the first call.
    assert any(unit.memo for op in loops for unit in op.static.units)
    for k in range(2):
        assert reports[k] == ref_reports[k]
        err = np.abs(outs[k] - ref[k]).max() / np.abs(ref[k]).max()
        assert err < 1e-6, err
    # A first call computes its products as later calls do.
    np.testing.assert_array_equal(outs[1], outs[0])
    # Each trip's rows multiplied on their own: the trips in order's outputs bit for bit.
    _, exact, exact_reports = _calls(compiled, x, distribute=True, exact=True)
    assert exact_reports == ref_reports
    for got, want in zip(exact, ref):
        np.testing.assert_array_equal(got, want)


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _debug_log():
    """The lines `loop_distribution` logs at DEBUG meanwhile."""
    logger, said = logging.getLogger(log.name), _Lines()
    level = logger.level
    logger.addHandler(said)
    logger.setLevel(logging.DEBUG)
    try:
        yield said.lines
    finally:
        logger.removeHandler(said)
        logger.setLevel(level)


def test_a_loop_that_stores_rows_through_a_staging_buffer_runs_the_rest_distributed(batched_trips):
    compiled, x = _compiled(16 * 1024)  # the stem stores its output rows to DRAM through a staging buffer
    runner, outs, reports = _calls(compiled, x, distribute=True, exact=True)
    loops = _distributed_loops(runner)
    assert len(loops) == 4 and batched_trips  # the stem's, and the blocks' chained into three (imc.transforms.loop_chain)
    # The staging buffer's allocation, stores and free run in trip order together.
    stem = loops[0]
    body = stem.regions[0].blocks[0].steps
    staged = [[body[i][1].name for i in unit.steps] for unit in stem.static.units if len(unit.steps) > 1]
    assert any("imc.spad_alloc" in names and "imc.dma" in names and "imc.spad_free" in names for names in staged), staged
    _, ref, ref_reports = _calls(compiled, x, distribute=False)
    assert reports == ref_reports
    for got, want in zip(outs, ref):
        np.testing.assert_array_equal(got, want)


def test_staged_loads_are_copied_before_the_next_trip_loads_again():
    """A trip loads its rows into a staging buffer that the next trip loads
    again (the BERT encoder's loops at a small scratchpad): the loaded
    tensor that later ops read, run after all trips, is the trip's copy."""
    model = models.create("bert_encoder", layers=1, hidden=64, heads=2)
    x = models.example_inputs("bert_encoder", seq=32)
    hw = Hardware.preset("default").replace(spad_bytes=2048)
    compiled = imc.compile(model, x, hardware=hw, pipeline="builtin.module(imc-tiled)")
    inputs = x[0].numpy()
    runner, outs, reports = _calls(compiled, inputs, distribute=True, exact=True)
    (loop,) = _distributed_loops(runner)
    assert any(unit.snapshots for unit in loop.static.units)
    _, ref, ref_reports = _calls(compiled, inputs, distribute=False)
    assert reports == ref_reports
    for got, want in zip(outs, ref):
        np.testing.assert_array_equal(got, want)
    # Without the copies the later ops would read the last trip's rows.
    for unit in loop.static.units:
        unit.snapshots = ()
    with compiled.context:
        wrong = runner(inputs)[0]
    assert np.abs(wrong - ref[-1]).max() > 1e-3 * np.abs(ref[-1]).max()


# Each trip reads row %i of %buf and stores it, doubled, into row %i + 1: a
# later trip reads what an earlier one wrote.
_READS_WHAT_IT_WRITES = """
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%buf: memref<4x3xf32>) -> memref<4x3xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  scf.for %i = %c0 to %c3 step %c1 {
    %row = memref.subview %buf[%i, 0] [1, 3] [1, 1] : memref<4x3xf32> to memref<1x3xf32, strided<[3, 1], offset: ?>>
    %t = bufferization.to_tensor %row : memref<1x3xf32, strided<[3, 1], offset: ?>> to tensor<1x3xf32>
    %e = tensor.empty() : tensor<1x3xf32>
    %d = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%t : tensor<1x3xf32>) outs(%e : tensor<1x3xf32>) {
    ^bb0(%a: f32, %o: f32):
      %s = arith.addf %a, %a : f32
      linalg.yield %s : f32
    } -> tensor<1x3xf32>
    %j = arith.addi %i, %c1 : index
    %next = memref.subview %buf[%j, 0] [1, 3] [1, 1] : memref<4x3xf32> to memref<1x3xf32, strided<[3, 1], offset: ?>>
    bufferization.materialize_in_destination %d in writable %next : (tensor<1x3xf32>, memref<1x3xf32, strided<[3, 1], offset: ?>>) -> ()
  }
  return %buf : memref<4x3xf32>
}
"""


def test_a_loop_that_reads_what_it_wrote_runs_its_trips_in_order():
    buf = np.ones((4, 3), dtype=np.float32)
    with _debug_log() as said, make_context() as ctx:
        interp = Interpreter(ir.Module.parse(_READS_WHAT_IT_WRITES, context=ctx))
        (out,) = interp.run("main", [buf])
    np.testing.assert_array_equal(out[:, 0], [1, 2, 4, 8])
    assert any(re.match(r"scf.for at .* runs trip by trip: no op of the body batches its trips", line) for line in said)
    # The read and the store conflict: were there an op to batch, they would run in trip order together.
    (loop,) = [op for op in interp.compiled_ops() if op.name == "scf.for"]
    body = loop.regions[0].blocks[0].steps
    pairs = [(body[i][1].name, body[j][1].name) for i, j in _Effects(body).conflicts]
    assert pairs == [("bufferization.to_tensor", "bufferization.materialize_in_destination")]


# Each trip loads row %i of %src into a scratchpad buffer %a, frees it, and
# stores the row from a buffer %b on the same bytes: %a's and %b's lifetimes
# do not overlap (FREE_A_LATE: they do).
_STAGED_COPY = """
func.func @main(%src: memref<8x4xf32>, %dst: memref<8x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %c8 step %c1 {
    %a = "imc.spad_alloc"() {offset = 0 : i64, size = 16 : i64} : () -> memref<4xf32, 1>
    %row = memref.subview %src[%i, 0] [1, 4] [1, 1] : memref<8x4xf32> to memref<4xf32, strided<[1], offset: ?>>
    "imc.dma"(%row, %a) {offsets = array<i64: 0>, sizes = array<i64: 4>, strides = array<i64: 1>} : (memref<4xf32, strided<[1], offset: ?>>, memref<4xf32, 1>) -> ()
    %t = bufferization.to_tensor %a : memref<4xf32, 1> to tensor<4xf32>
    "imc.spad_free"(%a) : (memref<4xf32, 1>) -> ()  // FREE_A
    %b = "imc.spad_alloc"() {offset = 0 : i64, size = 16 : i64} : () -> memref<4xf32, 1>
    bufferization.materialize_in_destination %t in writable %b : (tensor<4xf32>, memref<4xf32, 1>) -> ()
    %out = memref.subview %dst[%i, 0] [1, 4] [1, 1] : memref<8x4xf32> to memref<4xf32, strided<[1], offset: ?>>
    "imc.dma"(%b, %out) {offsets = array<i64: 0>, sizes = array<i64: 4>, strides = array<i64: 1>} : (memref<4xf32, 1>, memref<4xf32, strided<[1], offset: ?>>) -> ()
    // FREE_A_LATE
    "imc.spad_free"(%b) : (memref<4xf32, 1>) -> ()
  }
  return
}
"""


@pytest.mark.parametrize("late", [False, True])
def test_staging_buffers_on_the_same_bytes_conflict_only_when_both_are_live(late):
    text = _STAGED_COPY
    if late:  # %a freed after %b is allocated: both live at once on the same bytes
        text = text.replace('"imc.spad_free"(%a) : (memref<4xf32, 1>) -> ()  // FREE_A', "")
        text = text.replace("// FREE_A_LATE", '"imc.spad_free"(%a) : (memref<4xf32, 1>) -> ()')
    with make_context() as ctx:
        interp = Interpreter(ir.Module.parse(text, context=ctx))
        interp.prepare()
        (loop,) = [op for op in interp.compiled_ops() if op.name == "scf.for"]
        body = loop.regions[0].blocks[0].steps
        conflicts = _Effects(body).conflicts
    ops = [op.name for _, op, _, _ in body]
    alloc_a, alloc_b = [i for i, name in enumerate(ops) if name == "imc.spad_alloc"]
    assert (alloc_a, ops.index("bufferization.to_tensor")) in conflicts  # (a buffer and its reads)
    assert ((alloc_a, alloc_b) in conflicts) == late


@pytest.mark.parametrize("precision, batched", [("quantized", True), ("noisy", False)])
def test_converting_runs_match_the_trips_in_order_bit_for_bit(batched_trips, precision, batched):
    """`quantized` converts each input row with its own scale and every
    column sum with a fixed ADC step, so its trips batch and give the values
    of the trips in order bit for bit (integer partial sums); `noisy` draws
    its read noise in op order, so its trips run in order."""
    compiled, x = _compiled(256 * 1024)
    _, outs, reports = _calls(compiled, x, distribute=True, precision=precision)
    assert bool(batched_trips) == batched
    _, ref, ref_reports = _calls(compiled, x, distribute=False, precision=precision)
    assert reports == ref_reports
    for got, want in zip(outs, ref):
        np.testing.assert_array_equal(got, want)


def test_components_run_cycles_together_and_keep_program_order():
    # 1 <-> 2 (a value carried to the next trip), 0 -> 1, 3 alone
    assert _components([{1}, {2}, {1}, set()]) == [[0], [1, 2], [3]]
    # step 1 feeds step 0 of the next trip: it runs first
    assert _components([set(), {0}]) == [[1], [0]]
    # independent steps keep their order
    assert _components([set(), set(), set()]) == [[0], [1], [2]]


_ZOO = [
    ("lenet5", {}, {}),
    ("mobilenet_v2", {"width_mult": 0.5}, {"size": 32}),
    ("resnet18", {}, {"size": 32}),
    ("bert_encoder", {}, {"seq": 32}),
    ("gpt2_block", {}, {"seq": 32}),
]


@pytest.mark.parametrize("pipeline", ["imc-tiled", "imc-pipelined"])
@pytest.mark.parametrize("name, options, input_options", _ZOO, ids=[case[0] for case in _ZOO])
def test_zoo_programs_run_distributed_as_their_trips_in_order(name, options, input_options, pipeline):
    """The zoo's tiled programs at a 16 KiB scratchpad (slabs, staging
    buffers, line buffers): run distributed with each trip's rows multiplied
    on their own, two calls give the outputs and counters of the trips run
    in order, bit for bit."""
    model, x = models.create(name, **options), models.example_inputs(name, **input_options)
    hw = Hardware.preset("default").replace(spad_bytes=16 * 1024)
    compiled = imc.compile(model, x, hardware=hw, pipeline=f"builtin.module({pipeline})")
    inputs = [t.numpy() for t in x]
    runs = []
    for distribute in (True, False):
        runner = Runner(compiled.module, compiled.hardware)
        runner.interpreter.distribute_loops = distribute
        runner.interpreter.exact_trips = True
        with compiled.context:
            outs = [runner(*inputs) for _ in range(2)]
        runs.append((outs, runner.report.to_dict(), runner))
    (outs, report, runner), (ref, ref_report, _) = runs
    assert _distributed_loops(runner)
    assert report == ref_report
    for call, ref_call in zip(outs, ref):
        for got, want in zip(call, ref_call):
            np.testing.assert_array_equal(got, want)
