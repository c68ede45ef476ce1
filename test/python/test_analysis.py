"""Tests of `imc.sim.analysis`: per-layer I/O lower bounds of mapped programs."""

import math
import sys
from pathlib import Path

import pytest
import torch
from torch_mlir import ir

import imc
from imc.driver.compiler import DEFAULT_PIPELINE
from imc.frontend import models
from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.analysis import IO_LAYER, lower_bounds

# float32 activations: the hand-computed cases count 4-byte elements.
DEFAULT = Hardware.preset("default").replace(activation_bits=32)


def _bounds(text: str, hardware, **kw):
    context = make_context()
    with context:
        module = ir.Module.parse(text)
        kw.setdefault("granularity", "op")
        return lower_bounds(module, hardware, **kw)


def _exp(res: str, arg: str, line_tag: str, n: int = 256) -> str:
    return (
        f"%e{res} = tensor.empty() : tensor<{n}xf32> loc(\"{line_tag}\")\n"
        f"    %{res} = linalg.exp ins(%{arg} : tensor<{n}xf32>) outs(%e{res} : tensor<{n}xf32>) -> tensor<{n}xf32> loc(\"{line_tag}\")\n"
    )


def _add(res: str, a: str, b: str, line_tag: str, n: int = 256) -> str:
    return (
        f"%e{res} = tensor.empty() : tensor<{n}xf32> loc(\"{line_tag}\")\n"
        f"    %{res} = linalg.add ins(%{a}, %{b} : tensor<{n}xf32>, tensor<{n}xf32>) outs(%e{res} : tensor<{n}xf32>)"
        f" -> tensor<{n}xf32> loc(\"{line_tag}\")\n"
    )


# A chain on 1 KiB tensors: a = exp(x), b = exp(a), c = exp(b), d = a + c.
CHAIN = f"""
func.func @main(%x: tensor<256xf32>) -> tensor<256xf32> {{
    {_exp("a", "x", "l1")}    {_exp("b", "a", "l2")}    {_exp("c", "b", "l3")}    {_add("d", "a", "c", "l4")}    return %d : tensor<256xf32>
}}
"""


def test_chain_capacity_zero_when_everything_fits():
    b = _bounds(CHAIN, DEFAULT)
    assert b.capacity_bytes == 0
    assert all(lb.capacity_bytes == 0 for lb in b.layers.values())
    assert b.layers["l1"].input_bytes == 1024
    assert b.layers["l4"].output_bytes == 1024
    assert b.total_bytes == b.compulsory_bytes == 2048


def test_chain_capacity_counts_spills_twice():
    # After l2: a and b live (2 KiB); after l3: a and c. With 1.5 KiB, 512 B of
    # computed values must go out and come back: 2 x 512 B.
    b = _bounds(CHAIN, DEFAULT.replace(spad_bytes=1536))
    assert b.layers["l2"].capacity_bytes == 1024
    assert b.layers["l3"].capacity_bytes == 1024
    assert b.layers["l1"].capacity_bytes == 0  # only a is live after l1
    assert b.capacity_bytes == 1024
    assert b.total_bytes == 2048 + 1024
    assert any("scratchpad overflow" in r for r in b.layers["l2"].reasons)


def test_input_reread_costs_one_transfer():
    # x is read by l1 and again by l3: beyond the scratchpad it is re-read
    # (one transfer), while the computed a/b would cost two.
    text = f"""
func.func @main(%x: tensor<256xf32>) -> tensor<256xf32> {{
    {_exp("a", "x", "l1")}    {_exp("b", "a", "l2")}    {_add("d", "x", "b", "l3")}    return %d : tensor<256xf32>
}}
"""
    b = _bounds(text, DEFAULT.replace(spad_bytes=1536))
    # After l1: x (1 KiB, input) + a (1 KiB); excess 512 B, cheapest is x.
    assert b.layers["l1"].capacity_bytes == 512
    assert b.layers["l2"].capacity_bytes == 512
    assert b.layers["l1"].input_bytes == 1024


def test_input_slices_read_once_and_not_live_before_use():
    # Two disjoint rows of x are used by different ops: after l1 the second
    # row has not been read yet, so it is not counted live.
    text = f"""
func.func @main(%x: tensor<2x256xf32>) -> tensor<256xf32> {{
    %s0 = tensor.extract_slice %x[0, 0] [1, 256] [1, 1] : tensor<2x256xf32> to tensor<256xf32>
    %s1 = tensor.extract_slice %x[1, 0] [1, 256] [1, 1] : tensor<2x256xf32> to tensor<256xf32>
    {_exp("a", "s0", "l1")}    {_exp("b", "s1", "l2")}    {_add("d", "a", "b", "l3")}    return %d : tensor<256xf32>
}}
"""
    b = _bounds(text, DEFAULT.replace(spad_bytes=64))
    assert b.layers["l1"].input_bytes == 2048
    # After l1: a (1 KiB) live, excess 960 B x 2; after l2: a + b, 1984 B x 2.
    assert b.layers["l1"].capacity_bytes == 2 * (1024 - 64)
    assert b.layers["l2"].capacity_bytes == 2 * (2048 - 64)
    assert b.capacity_bytes == 2 * (2048 - 64)


def _program(tile: str, array: int, res: str, x: str, loc: str) -> str:
    return (
        f'%p{res} = "imc.program"(%{tile}) {{offset = array<i64: 0, 0>, array = {array} : i64, cell_bits = 2 : i64, slice = 0 : i64, '
        f"transpose = false, weight_bits = 2 : i64}} : (tensor<4x4xf32>) -> !imc.xbar<4 : i64, 4 : i64> loc(\"{loc}\")\n"
        f'    %{res} = "imc.mvm"(%p{res}, %{x}) {{adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64}}'
        f' : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("{loc}")\n'
    )


def _two_programs(array_a: int, array_b: int) -> str:
    return f"""
func.func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {{
    %w0 = arith.constant dense<1.0> : tensor<4x4xf32>
    %w1 = arith.constant dense<2.0> : tensor<4x4xf32>
    {_program("w0", array_a, "y0", "x", "fc0")}    {_program("w1", array_b, "y1", "x", "fc1")}    %s = "imc.accumulate"(%y0, %y1) {{shifts = array<i64: 0, 0>}} : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("acc")
    return %s : tensor<1x4xf32>
}}
"""


def test_time_multiplexed_weights_counted_per_call():
    # 4x4 tiles of 2-bit weights: 4 B each.
    shared = _bounds(_two_programs(0, 0), DEFAULT)
    own = _bounds(_two_programs(0, 1), DEFAULT)
    for b in (shared, own):
        assert b.layers["fc0"].weight_bytes == 4 and b.layers["fc1"].weight_bytes == 4
    assert shared.layers["fc0"].reprogram_bytes == 4 and shared.layers["fc1"].reprogram_bytes == 4
    assert own.layers["fc0"].reprogram_bytes == 0 and own.layers["fc1"].reprogram_bytes == 0
    assert any("time-multiplexed" in r for r in shared.layers["fc1"].reasons)
    io = 16 + 16
    assert shared.bytes_for_calls(3) == 8 + io + 2 * (8 + io)
    assert own.bytes_for_calls(3) == 8 + 3 * io


def test_digital_matmul_uses_smith_bound():
    text = """
func.func @main(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %e = tensor.empty() : tensor<64x64xf32> loc("mm")
    %c = linalg.matmul ins(%a, %b : tensor<64x64xf32>, tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32> loc("mm")
    return %c : tensor<64x64xf32>
}
"""
    b = _bounds(text, DEFAULT.replace(spad_bytes=1024))
    words = 1024 // 4
    expected = int(2 * 64**3 / math.sqrt(words) - 3 * words) * 4
    lb = b.layers["mm"]
    assert lb.matmul_bytes == expected
    assert lb.compulsory_bytes == 3 * 64 * 64 * 4
    assert lb.bytes == max(lb.compulsory_bytes, expected)
    # Fits the scratchpad: no matmul term.
    assert _bounds(text, DEFAULT).layers["mm"].matmul_bytes == 0


def test_unsupported_ops_are_named():
    text = """
func.func private @f(%x: tensor<4xf32>) -> tensor<4xf32>
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    %y = func.call @f(%x) : (tensor<4xf32>) -> tensor<4xf32> loc("call_site")
    return %y : tensor<4xf32>
}
"""
    with pytest.raises(ValueError, match="func.call.*call_site"):
        _bounds(text, DEFAULT)
    with pytest.raises(ValueError, match="no function @nope"):
        _bounds(CHAIN, DEFAULT, entry="nope")


def _dram(row) -> int:
    c = row.counters
    return c.dram_read_bytes + c.dram_write_bytes


def _zoo(name: str, hardware, pipeline: str = DEFAULT_PIPELINE):
    model, inputs = models.create(name), models.example_inputs(name)
    compiled = imc.compile(model, inputs, hardware=hardware, pipeline=pipeline)
    with compiled.context:
        bounds = lower_bounds(compiled.module, hardware)
    return compiled, inputs, bounds


def _mlp_bytes_by_hand(inputs) -> tuple[int, int, int]:
    """(weights at weight_bits, float32 biases, float32 input + output) of the zoo MLP."""
    linears = [m for m in models.create("mlp").modules() if isinstance(m, torch.nn.Linear)]
    weights = sum(m.weight.numel() for m in linears) * DEFAULT.weight_bits // 8
    biases = sum(m.bias.numel() for m in linears) * 4
    io = inputs[0].numel() * 4 + linears[-1].out_features * 4
    return weights, biases, io


def test_mlp_compulsory_is_inputs_outputs_weights():
    compiled, inputs, b = _zoo("mlp", DEFAULT)
    weights, biases, io = _mlp_bytes_by_hand(inputs)
    assert sum(lb.weight_bytes for lb in b.layers.values()) == weights
    assert b.compulsory_bytes == io + weights + biases
    assert b.capacity_bytes == 0
    compiled(*inputs)
    measured = sum(_dram(r) for r in compiled.report.layers.values())
    assert b.total_bytes == measured  # nothing spills: the counting model is optimal


@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_bound_never_exceeds_measured(name):
    # A scratchpad large enough that nothing spills.
    hw = DEFAULT.replace(spad_bytes=1 << 28)
    compiled, inputs, b = _zoo(name, hw)
    assert b.capacity_bytes == 0
    compiled(*inputs)
    report = compiled.report
    b.annotate(report, io_row=IO_LAYER)
    measured = sum(_dram(r) for r in report.layers.values())
    assert b.total_bytes <= measured
    assert b.total_bytes >= 0.99 * measured  # tight: only rounding and repeated constant reads differ
    assert report.extra["layer_at_a_time_bound_bytes"] == b.total_bytes
    for row in report.layers.values():
        if row.layer_bound_bytes is not None:
            assert row.layer_bound_bytes <= _dram(row), row.name


def test_time_multiplexed_mlp_matches_measured_reprogramming():
    hw = DEFAULT.replace(cores=1, crossbars_per_core=8)
    compiled, inputs, b = _zoo("mlp", hw)
    compiled(*inputs)
    first = compiled.report.totals
    compiled(*inputs)
    second = compiled.report.totals
    warm = (second.dram_read_bytes + second.dram_write_bytes) - (first.dram_read_bytes + first.dram_write_bytes)
    reprogram = sum(lb.reprogram_bytes for lb in b.layers.values())
    assert reprogram > 0
    # Tiles are multiples of 4 weights of 2-bit cells, so reprogramming bytes
    # are exact; the runtime also re-reads the digital constants every call,
    # which a schedule may keep in the scratchpad between calls.
    constants = sum(lb.constant_bytes for lb in b.layers.values())
    assert b.constant_reread_bytes == 0
    assert warm - b.repeat_bytes == constants
    assert b.bytes_for_calls(2) <= second.dram_read_bytes + second.dram_write_bytes
    b.annotate(compiled.report)
    assert compiled.report.extra["layer_at_a_time_bound_bytes"] == b.bytes_for_calls(2)


def test_zigzag_example_bound():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from zigzag import zigzag_example_bound  # the fixture lives with the benchmarks

    assert zigzag_example_bound() == 64 * 64 * 9 + 2 * 64 * 56 * 56 == 438_272


@pytest.mark.parametrize("spad, bits", [(2048, 32), (16384, 32), (512, 8), (2048, 8)])
def test_placed_program_traffic_against_bound_when_spilling(spad, bits):
    # LeNet-5's activations (up to 4.7 KB between layers at float32) do not
    # fit: the layer-at-a-time program (`imc-default`; the tiled default
    # keeps the conv -> pooling tensors in its loops) spills, and every layer
    # still moves at least its bound (at 8-bit activations too).
    hw = DEFAULT.replace(spad_bytes=spad, activation_bits=bits)
    compiled, inputs, b = _zoo("lenet5", hw, "builtin.module(imc-default)")
    compiled(*inputs)
    report = compiled.report
    b.annotate(report, io_row=IO_LAYER)
    measured = sum(_dram(r) for r in report.layers.values())
    if spad * 32 // bits <= 8192:
        assert b.capacity_bytes > 0
    assert b.total_bytes <= measured <= 1.10 * b.total_bytes
    for row in report.layers.values():
        if row.layer_bound_bytes is not None:
            assert row.layer_bound_bytes <= _dram(row), row.name


def test_splat_constants_are_immediates():
    # A splat constant (one repeated value) is generated by the digital unit:
    # neither the runtime nor the bound counts its bytes; a dense constant is
    # read from DRAM (16 B here) by each op that uses it.
    import numpy as np

    from imc.sim.runtime import run_module

    text = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    %s = arith.constant dense<0.5> : tensor<4xf32>
    %d = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
    %e = tensor.empty() : tensor<4xf32>
    %a = linalg.add ins(%x, %s : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32> loc("l1")
    %b = linalg.add ins(%a, %d : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32> loc("l2")
    %c = linalg.add ins(%b, %s : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32> loc("l3")
    return %c : tensor<4xf32>
}
"""
    b = _bounds(text, DEFAULT)
    assert {name: lb.constant_bytes for name, lb in b.layers.items() if lb.constant_bytes} == {"l2": 16}
    with make_context():
        module = ir.Module.parse(text)
        (y,), report = run_module(module, [np.zeros(4, np.float32)], DEFAULT)
    np.testing.assert_array_equal(y, [2.0, 3.0, 4.0, 5.0])
    dram = {name: row.events["dram_read_bytes"] for name, row in report.layers.items() if row.events["dram_read_bytes"]}
    assert dram == {"l2": 16, IO_LAYER: 16}


# --------------------------------------------------------------------------- #
# The physical floor and the bound over all schedules
# --------------------------------------------------------------------------- #


def test_mlp_floor_is_inputs_outputs_weights_once():
    compiled, inputs, b = _zoo("mlp", DEFAULT)
    weights, biases, io = _mlp_bytes_by_hand(inputs)
    assert b.floor_bytes == io + weights + biases
    assert b.floor_repeat_bytes == io
    assert b.forced_repeat_bytes == 0  # every weight stays on chip between calls
    assert b.schedule_bound_for_calls(3) == b.floor_for_calls(3) == io + weights + biases + 2 * io


def test_time_multiplexed_floor_counts_each_tile_once():
    # 8 crossbars cannot hold the MLP: the placement re-programs tiles within
    # and between calls, but the floor counts every distinct tile once, and a
    # scratchpad as large as the weights lets any schedule keep them on chip.
    hw = DEFAULT.replace(cores=1, crossbars_per_core=8)
    compiled, inputs, b = _zoo("mlp", hw)
    weights = sum(lb.unique_weight_bytes for lb in b.layers.values())
    assert sum(lb.reprogram_bytes for lb in b.layers.values()) > 0
    assert sum(lb.weight_bytes for lb in b.layers.values()) >= weights
    assert b.forced_repeat_bytes == 0  # the 256 KiB scratchpad holds them
    # Without that scratchpad room, what the crossbars cannot hold is re-read.
    small = hw.replace(spad_bytes=4096)
    with compiled.context:
        tight = lower_bounds(compiled.module, small)
    constants = sum(lb.constant_bytes for lb in tight.layers.values())
    room = hw.weight_capacity * hw.weight_bits // 8 + 4096
    assert tight.forced_repeat_bytes == max(0, weights + constants - room) > 0


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("mlp", {"cores": 1, "crossbars_per_core": 8, "spad_bytes": 4096}),
        ("lenet5", {"spad_bytes": 2048}),
        ("lenet5", {"cores": 1, "crossbars_per_core": 2, "spad_bytes": 1024}),
        ("lenet5", {"spad_bytes": 512, "activation_bits": 8}),
        ("mlp", {"cores": 1, "crossbars_per_core": 8, "spad_bytes": 1024, "activation_bits": 8}),
    ],
)
def test_floor_and_bound_never_exceed_measured(name, overrides):
    hw = DEFAULT.replace(**overrides)
    compiled, inputs, b = _zoo(name, hw)
    report = compiled.report
    for calls in (1, 2, 3):
        compiled(*inputs)
        b.annotate(report, io_row=IO_LAYER)
        floor, bound = report.extra["floor_bytes"], report.extra["bound_bytes"]
        assert floor <= bound <= sum(_dram(r) for r in report.layers.values())
        assert bound == b.schedule_bound_for_calls(calls)
        for row in report.layers.values():
            if row.bound_bytes is not None:
                assert row.floor_bytes <= row.bound_bytes <= _dram(row), (calls, row.name)
                assert row.remark == "at the floor" or row.remark.startswith(f"{_dram(row) - row.floor_bytes:,} B")


def test_remark_names_time_multiplexed_weights():
    hw = DEFAULT.replace(cores=1, crossbars_per_core=8)
    compiled, inputs, b = _zoo("mlp", hw)
    compiled(*inputs)
    compiled(*inputs)
    b.annotate(compiled.report, io_row=IO_LAYER)
    remarks = [r.remark for r in compiled.report.layers.values() if r.remark]
    assert any("re-programmed (time-multiplexed crossbars)" in r for r in remarks), remarks
