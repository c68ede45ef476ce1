"""Loops run distributed (`imc.sim.interpreter.loop_distribution`): each op of
a row loop's body runs for every trip before the next op, and a tiled
contraction computes all its trips in one matmul. The counters are those of
the trips run in order, the outputs those up to float32 rounding (one matmul
over the stacked rows sums in its own order), and a loop whose body reads what
it writes runs its trips in order."""

import contextlib
import logging
import re

import numpy as np
import pytest
import torch
from torch_mlir import ir

import imc
from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.interpreter import Interpreter
from imc.sim.interpreter.imc import ContractionGroup
from imc.sim.interpreter.loop_distribution import DistributionPlan, _components, log
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


def _calls(compiled, x, distribute, precision="ideal", calls=2):
    runner = Runner(compiled.module, compiled.hardware, precision=precision)
    runner.interpreter.distribute_loops = distribute
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

    def spy(self, ex, xs, counted=0):
        seen.append(len(xs))
        return original(self, ex, xs, counted)

    monkeypatch.setattr(ContractionGroup, "fast_trips", spy)
    return seen


def _distributed_loops(runner):
    return [op for op in runner.interpreter.compiled_ops() if op.name == "scf.for" and isinstance(op.static, DistributionPlan)]


def test_distributed_loops_count_what_the_trips_in_order_count(batched_trips):
    compiled, x = _compiled(256 * 1024)
    in_order, ref, ref_reports = _calls(compiled, x, distribute=False)
    assert not batched_trips
    runner, outs, reports = _calls(compiled, x, distribute=True)
    assert len(_distributed_loops(runner)) == 2  # the two residual blocks' loops
    assert batched_trips and min(batched_trips) > 1
    for k in range(2):
        assert reports[k] == ref_reports[k]
        err = np.abs(outs[k] - ref[k]).max() / np.abs(ref[k]).max()
        assert err < 1e-6, err
    # A first call computes its products as later calls do.
    np.testing.assert_array_equal(outs[1], outs[0])


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


def test_a_loop_that_moves_rows_through_a_slab_runs_its_trips_in_order(batched_trips):
    compiled, x = _compiled(16 * 1024)  # each block loads its input rows into a slab its loop reads
    with _debug_log() as said:
        runner, outs, reports = _calls(compiled, x, distribute=True)
    assert not _distributed_loops(runner) and not batched_trips
    # The debug log says why, naming the op.
    why = r"scf.for at loc\(\"b1.c1\".*\) runs trip by trip: 'imc.dma' at loc\(.*\) may write memory or state"
    assert any(re.match(why, line) for line in said), said
    _, ref, ref_reports = _calls(compiled, x, distribute=False)
    assert reports == ref_reports
    for got, want in zip(outs, ref):
        np.testing.assert_array_equal(got, want)


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
        (out,) = Interpreter(ir.Module.parse(_READS_WHAT_IT_WRITES, context=ctx)).run("main", [buf])
    np.testing.assert_array_equal(out[:, 0], [1, 2, 4, 8])
    why = r"scf.for at .* runs trip by trip: the body reads or writes the buffer 'bufferization.materialize_in_destination' at"
    assert any(re.match(why, line) for line in said), said


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
