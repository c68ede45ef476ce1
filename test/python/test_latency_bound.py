"""The latency bound (`imc.sim.report.resource_times`): per resource, the least
time any schedule of the counted events needs on the chip; hand-computed
cases, and the serialized latency never below it."""

import pytest
import torch

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware

DEFAULT = Hardware.preset("default")


class Scale(torch.nn.Module):
    def forward(self, x):
        return x * 2.0


class Relu(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x)


# `imc-tiled` without crossbar copies (`imc-place-crossbars{duplicate=true}`)
NO_COPIES = "builtin.module(imc-tile-rows, imc-default)"
# Fast memories, so that the crossbars bound the linear layers below.
FAST_MEMORY = DEFAULT.replace(dram_bandwidth_gbps=1e6, spad_bandwidth_gbps=1e6)


def _linear_totals(k: int, n: int, batch: int, pipeline=None):
    torch.manual_seed(0)
    layer = torch.nn.Linear(k, n, bias=False).eval()
    return _run(layer, torch.randn(batch, k), FAST_MEMORY, pipeline).totals


def _run(model, x, hw, pipeline=None):
    kw = {"pipeline": pipeline} if pipeline else {}
    compiled = imc.compile(model, (x,), hardware=hw, **kw)
    compiled(x)
    return compiled.report


def test_digital_bound_layer():
    # relu over 64x4096 elements: two digital ops each (compare, select) on
    # 4 cores x 2 lanes; the input (1 MiB) and output move at 1 PB/s.
    hw = DEFAULT.replace(cores=4, digital_lanes=2, dram_bandwidth_gbps=1e6, spad_bandwidth_gbps=1e6)
    x = torch.randn(64, 4096)
    t = _run(Relu(), x, hw).totals
    assert t.digital_ops == 2 * x.numel()
    assert t.bounding_resource == "digital"
    assert t.latency_bound_ns == pytest.approx(2 * x.numel() * hw.latency.digital_op / 8)
    assert t.latency_ns >= t.latency_bound_ns


def test_dram_bound_layer():
    # x * 2: 4 B in and 4 B out per element over DRAM at 25.6 GB/s, against
    # one digital op per element spread over 512 cores.
    x = torch.randn(256, 1024)
    t = _run(Scale(), x, DEFAULT).totals
    assert t.dram_read_bytes == t.dram_write_bytes == x.numel() * 4
    assert t.bounding_resource == "dram"
    assert t.latency_bound_ns == pytest.approx(8 * x.numel() / DEFAULT.dram_bandwidth_gbps)


def test_crossbar_bound_layer():
    # A 128 -> 128 linear on a batch of 512: one 128x128 tile, 4 bit slices
    # on 4 arrays; each array runs 512 inputs x 8 input cycles of 100 ns, all
    # four at once. (Smaller tiles would share arrays: diagonal packing.)
    t = _linear_totals(128, 128, 512, NO_COPIES)
    assert t.mvm_count == 4 * 512 * 8
    assert t.bounding_resource == "crossbars"
    assert t.resource_ns["crossbars"] == pytest.approx(512 * 8 * DEFAULT.latency.mvm)
    # The serialized model runs the four arrays of one layer in parallel too.
    assert t.latency_ns >= t.latency_bound_ns


def test_duplicated_tiles_share_the_steps():
    # More arrays for the same layer (imc-place-crossbars duplicates it into
    # spare arrays): the busiest array's steps shrink, and so does the bound.
    single = _linear_totals(64, 32, 512, NO_COPIES)
    dup = _linear_totals(64, 32, 512, "builtin.module(imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true}, "
                         "cse, imc-place-buffers, imc-check-buffers)")
    assert dup.mvm_count == single.mvm_count
    assert dup.resource_ns["crossbars"] < single.resource_ns["crossbars"]


@pytest.mark.parametrize("preset", sorted(p for p in Hardware.presets()))
@pytest.mark.parametrize("name", ["mlp", "lenet5", "bert_encoder"])
def test_serialized_latency_never_below_the_bound(name, preset):
    model, inputs = models.create(name).eval(), models.example_inputs(name)
    compiled = imc.compile(model, inputs, hardware=preset)
    compiled(*inputs)
    compiled(*inputs)
    for row in [*compiled.report.layers.values()]:
        c = row.counters
        assert c.latency_ns >= c.latency_bound_ns * (1 - 1e-12), row.name
    t = compiled.report.totals
    assert t.latency_ns >= t.latency_bound_ns > 0


def test_double_buffered_dmas_hide_only_behind_other_work():
    # Overlapped DMAs share the DRAM channel with the others: the serialized
    # latency stays at or above the DRAM time.
    hw = DEFAULT.replace(spad_bytes=2048)
    model, inputs = models.create("lenet5").eval(), models.example_inputs("lenet5")
    pipeline = "builtin.module(imc-map-to-crossbars, imc-place-buffers{tile-bytes=128 double-buffer=true}, imc-check-buffers)"
    compiled = imc.compile(model, inputs, hardware=hw, pipeline=pipeline)
    compiled(*inputs)
    assert sum(r.events["overlapped_dram_bytes"] for r in compiled.report.layers.values()) > 0
    for row in compiled.report.layers.values():
        c = row.counters
        assert c.latency_ns >= c.resource_ns["dram"] * (1 - 1e-12), row.name
        assert c.latency_ns >= c.latency_bound_ns * (1 - 1e-12), row.name
