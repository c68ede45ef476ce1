"""The comparisons' inputs (docs/comparisons.md): ZigZag's AIMC core as an imc
chip (`benchmarks/zigzag_aimc.toml`) has the geometry and clock of ZigZag
3.9.1's `aimc.yaml`, and the layer on it is timed like any program."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import zigzag  # noqa: E402  (the fixture lives with the benchmarks; it shadows the zigzag-dse package here)

from imc.ir.hardware import Hardware  # noqa: E402


def test_zigzag_core_is_one_array_of_8_bit_weights_with_2_bit_input_cycles():
    core = Hardware.from_file(zigzag.CORE)
    assert (core.total_crossbars, core.xbar_rows, core.xbar_cols) == (1, 128, 128)
    assert (core.weight_slices, core.input_cycles, core.weight_capacity) == (1, 4, 128 * 128)
    tclk = core.latency.mvm  # one input cycle of the array is ZigZag's clock period
    assert core.cycle_ns == pytest.approx(tclk, rel=1e-6)
    assert core.latency.dram_read_byte == pytest.approx(tclk / 8, rel=1e-6)  # 64 bits per cycle
    assert core.latency.spad_read_byte == pytest.approx(tclk / 128, rel=1e-6)  # 2 x 512 bits per cycle


def test_zigzag_layer_on_the_core_is_at_least_its_compute_cycles():
    """The layer needs 56 x 56 output pixels x 5 row tiles x 4 input cycles on
    its one array (576 weight rows over 128-row tiles): the timeline never
    finishes sooner, and ends no earlier than its bound and chain."""
    t = zigzag._timeline(Hardware.from_file(zigzag.CORE))
    tclk = Hardware.from_file(zigzag.CORE).latency.mvm
    assert t.resource_ns["crossbars"] >= 56 * 56 * 5 * 4 * tclk * (1 - 1e-9)
    assert t.warm_makespan_ns >= max(t.bound_ns, t.chain_ns) * (1 - 1e-9)
