"""Recorded crossbar replays give exactly what executing the ops gives:
outputs, counters, held tiles and generations.

A fused contraction (an `imc.tiled_contract` run in one step) replays its `imc.program`s on
every call; when the tile maps of its crossbars are those of an earlier replay
it applies the recorded outcome at once (`ContractionGroup.program`). These
tests run chips small enough that tiles are time-multiplexed (reprogrammed on
every call), shared by two models, and tampered with between calls, and
compare everything against the general path (`fast_paths=False`).
"""

import numpy as np
import pytest

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware
from imc.sim.interpreter.imc import ContractionGroup, ImcExecution, _Array, attach
from imc.sim.runtime import Runner

SMALL = Hardware.resolve("default").replace(cores=1, crossbars_per_core=4)


@pytest.fixture(scope="module")
def two_lenets():
    """Two LeNet-5s with different weights compiled for a 4-crossbar chip."""
    out = []
    for seed in (0, 1):
        model = models.create("lenet5", seed=seed).eval()
        inputs = models.example_inputs("lenet5")
        out.append((imc.compile(model, inputs, hardware=SMALL), [x.numpy() for x in inputs]))
    return out


def _runner(compiled, fast, chip=None):
    r = Runner(compiled.module, compiled.hardware, precision="ideal")
    r.interpreter.fast_paths = fast
    if chip is not None:  # share another runner's chip (its crossbars and scratchpad)
        r.chip = chip
        attach(r.interpreter, ImcExecution(chip, r.report, r.row_for))
    return r


def _chip_state(chip):
    """Everything a program or MVM can observe: held tiles with their data,
    slicing meta and generation, and the generation counter."""
    arrays = {}
    for array, tiles in chip.arrays.items():
        if tiles:
            arrays[array] = {
                off: (t.meta, t.generation, t.source.shape, np.asarray(t.source).tobytes()) for off, t in tiles.items()
            }
    return chip.generation, arrays


def _layers(report):
    d = report.to_dict()
    return d["totals"], [(l["name"], l) for l in d["layers"]]


class _ReplayCounter:
    """Counts group programs and how many of them applied a recorded replay."""

    def __init__(self, monkeypatch):
        self.calls = self.recorded = 0
        program, record = ContractionGroup.program, ContractionGroup._record

        def counting_program(group, ex):
            self.calls += 1
            return program(group, ex)

        def counting_record(group, *a):
            self.recorded += 1
            return record(group, *a)

        monkeypatch.setattr(ContractionGroup, "program", counting_program)
        monkeypatch.setattr(ContractionGroup, "_record", counting_record)

    @property
    def applied(self):
        return self.calls - self.recorded


def _check_same(slow_runs, fast_runs, slow_chip, fast_chip, outs):
    (ys, yf) = outs
    for a, b in zip(ys, yf):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * float(np.abs(a).max()))
    assert _chip_state(fast_chip) == _chip_state(slow_chip)
    for s, f in zip(slow_runs, fast_runs):
        assert _layers(f.report) == _layers(s.report)


def test_time_multiplexed_chip_replays_match_general_path(two_lenets, monkeypatch):
    counter = _ReplayCounter(monkeypatch)
    compiled, inputs = two_lenets[0]
    slow, fast = _runner(compiled, False), _runner(compiled, True)
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = [rng.standard_normal(inputs[0].shape).astype(np.float32)]
        outs = slow(*x), fast(*x)
        _check_same([slow], [fast], slow.chip, fast.chip, outs)
    steps = fast.interpreter._get_compiled(fast.entry).body.steps
    groups = [op.static for _, op, _, _ in steps if op.name == "imc.tiled_contract" and op.static]
    assert groups and all(g.weff is not None for g in groups)
    # tiles really are reprogrammed on every call, and recorded replays were applied
    programs_per_call = slow.report.totals.xbar_program_events / 5
    assert programs_per_call > 0 and fast.chip.generation > 4 * programs_per_call
    assert counter.applied > 0


def test_two_models_sharing_a_chip_alternately(two_lenets, monkeypatch):
    """Each model finds the other's tiles on the crossbars: the entry states of
    its groups alternate, and replays recorded for one order must not be applied
    in another."""
    counter = _ReplayCounter(monkeypatch)
    (ca, xa), (cb, xb) = two_lenets
    slow_a, fast_a = _runner(ca, False), _runner(ca, True)
    slow_b, fast_b = _runner(cb, False, slow_a.chip), _runner(cb, True, fast_a.chip)
    for which in "ABAABBABBA":
        (slow, fast, x) = (slow_a, fast_a, xa) if which == "A" else (slow_b, fast_b, xb)
        outs = slow(*x), fast(*x)
        _check_same([slow_a, slow_b], [fast_a, fast_b], slow_a.chip, fast_a.chip, outs)
    assert counter.applied > 0


@pytest.mark.parametrize("tamper", ["in_place", "foreign_tile", "cleared"])
def test_tampered_crossbars_between_calls(two_lenets, monkeypatch, tamper):
    """Crossbar contents changed outside the program ops between warm calls (a
    tile's data changed in place, another tile placed, the chip wiped) are
    replayed against, not taken from a recording."""
    counter = _ReplayCounter(monkeypatch)
    compiled, inputs = two_lenets[0]
    slow, fast = _runner(compiled, False), _runner(compiled, True)
    for _ in range(3):
        outs = slow(*inputs), fast(*inputs)
    applied = counter.applied
    assert applied > 0
    for r in (slow, fast):
        chip = r.chip
        array = max(a for a, tiles in chip.arrays.items() if tiles)
        held = next(iter(chip.arrays[array].values()))
        if tamper == "in_place":
            chip.generation += 1
            held.generation = chip.generation
            held.source = held.source + 1.0
        elif tamper == "foreign_tile":
            chip.generation += 1
            foreign = np.ones_like(held.source)
            foreign.flags.writeable = False
            chip.place(array, _Array(foreign, held.meta, held.conductance, chip.generation, held.offset))
        else:
            chip.arrays.clear()
    before = [r.report.totals.xbar_program_events for r in (slow, fast)]
    outs = slow(*inputs), fast(*inputs)
    _check_same([slow], [fast], slow.chip, fast.chip, outs)
    after = [r.report.totals.xbar_program_events for r in (slow, fast)]
    assert after[0] - before[0] == after[1] - before[1] > 0
    outs = slow(*inputs), fast(*inputs)
    _check_same([slow], [fast], slow.chip, fast.chip, outs)
