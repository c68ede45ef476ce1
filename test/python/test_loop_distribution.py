"""Loops run distributed (`imc.sim.interpreter.loop_distribution`): each op of
a row loop's body runs for every trip before the next op, and a tiled
contraction computes all its trips in one matmul. The counters are those of
the trips run in order, the outputs those up to float32 rounding (one matmul
over the stacked rows sums in its own order), and a loop whose body reads what
it writes runs its trips in order."""

import numpy as np
import pytest
import torch

import imc
from imc.ir.hardware import Hardware
from imc.sim.interpreter.imc import ContractionGroup
from imc.sim.interpreter.loop_distribution import DistributionPlan, _components
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


def test_a_loop_that_reads_the_buffer_it_writes_runs_its_trips_in_order(batched_trips):
    compiled, x = _compiled(16 * 1024)  # rows stored into buffers the same loops read
    runner, outs, reports = _calls(compiled, x, distribute=True)
    assert not _distributed_loops(runner) and not batched_trips
    _, ref, ref_reports = _calls(compiled, x, distribute=False)
    assert reports == ref_reports
    for got, want in zip(outs, ref):
        np.testing.assert_array_equal(got, want)


def test_quantized_runs_keep_the_trips_in_order(batched_trips):
    """A converter run draws nothing in op order in `quantized`, but its
    crossbar ops only have an `ideal` fast path across trips: the calls
    match the trips in order bit for bit."""
    compiled, x = _compiled(256 * 1024)
    _, outs, reports = _calls(compiled, x, distribute=True, precision="quantized", calls=1)
    assert not batched_trips
    _, ref, ref_reports = _calls(compiled, x, distribute=False, precision="quantized", calls=1)
    assert reports == ref_reports
    np.testing.assert_array_equal(outs[0], ref[0])


def test_components_run_cycles_together_and_keep_program_order():
    # 1 <-> 2 (a value carried to the next trip), 0 -> 1, 3 alone
    assert _components([{1}, {2}, {1}, set()]) == [[0], [1, 2], [3]]
    # step 1 feeds step 0 of the next trip: it runs first
    assert _components([set(), {0}]) == [[1], [0]]
    # independent steps keep their order
    assert _components([set(), set(), set()]) == [[0], [1], [2]]
