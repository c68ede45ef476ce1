"""Activations at the chip's precision (`memory.activation_bits`): tensors
stored between layers are sized and counted at that width; model inputs and
outputs at their host dtype."""

import re

import pytest
import torch

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware, HardwareError
from test_tile_rows import StridedStem  # a 7x7 stride-2 stem, small

DEFAULT = Hardware.preset("default")


def test_default_is_the_input_width_and_presets_set_it():
    assert DEFAULT.activation_bits == DEFAULT.input_bits == 8
    assert DEFAULT.activation_bytes == 1
    assert Hardware.preset("isaac").activation_bytes == 2
    wide = DEFAULT.override("crossbar.input_bits=12")
    assert wide.activation_bits == 8  # the preset states it; an override of the inputs does not move it
    text = DEFAULT.to_toml().replace("activation_bits = 8\n", "")
    assert Hardware.from_toml(text.replace("input_bits = 8", "input_bits = 4")).activation_bits == 4
    assert Hardware.from_toml(DEFAULT.to_toml()) == DEFAULT
    assert DEFAULT.replace(activation_bits=4).activation_bytes == 1  # sub-byte: one per byte
    with pytest.raises(HardwareError, match="activation_bits"):
        DEFAULT.override("memory.activation_bits=33")


def _spills(compiled) -> int:
    text = next(str(r) for r in compiled.remarks if "spill traffic" in str(r))
    return int(re.search(r"spill traffic ([\d,]+) B", text).group(1).replace(",", ""))


def _spad_sizes(mlir: str) -> list[tuple[int, int]]:
    """(size attribute, elements) of every `imc.spad_alloc`."""
    out = []
    for m in re.finditer(r'"imc.spad_alloc"\(\) \{offset = \d+ : i64, size = (\d+) : i64\} : \(\) -> memref<([\dx]+)xf32, 1>', mlir):
        dims = [int(d) for d in m.group(2).split("x")]
        n = 1
        for d in dims:
            n *= d
        out.append((int(m.group(1)), n))
    return out


def test_stored_tensors_are_placed_and_counted_at_activation_bits():
    # LeNet-5 in a 2 KiB scratchpad: at 8-bit activations its stored tensors
    # take a quarter of the bytes, so fewer spill; what runs moves what the
    # plan says, inputs and outputs at float32.
    model, inputs = models.create("lenet5").eval(), models.example_inputs("lenet5")
    ref = model(*inputs)
    runs = {}
    for bits in (8, 32):
        hw = DEFAULT.replace(spad_bytes=2048, activation_bits=bits)
        plain = imc.compile(model, inputs, hardware=hw, pipeline="builtin.module(imc-map-to-crossbars)")
        placed = imc.compile(model, inputs, hardware=hw, pipeline="builtin.module(imc-default)")
        y = placed(*inputs)
        plain(*inputs)
        assert float((y - ref).abs().max() / ref.abs().max()) < 1e-5
        t0, t1 = plain.report.totals, placed.report.totals
        spill = _spills(placed)
        assert (t1.dram_read_bytes + t1.dram_write_bytes) - (t0.dram_read_bytes + t0.dram_write_bytes) == spill
        io = placed.report.layers["<inputs/outputs>"].counters
        assert io.dram_read_bytes == inputs[0].numel() * 4 and io.dram_write_bytes == ref.numel() * 4
        sizes = _spad_sizes(placed.mlir)
        assert sizes and all(size >= n * bits // 8 for size, n in sizes)
        runs[bits] = (spill, sizes)
    assert 0 < runs[8][0] < runs[32][0] / 3
    # Some buffer only fits because an element is one byte.
    assert any(size < n * 4 for size, n in runs[8][1])


def test_streamed_model_input_moves_at_host_dtype_into_an_8_bit_slab():
    # A tiled stem streams its float32 input through a row slab: the DMAs read
    # 4 B per element from DRAM and write 1 B per element to the scratchpad.
    model, x = StridedStem().eval(), torch.randn(1, 3, 32, 32)
    hw = DEFAULT.replace(spad_bytes=2048)
    placed = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-tile-rows, imc-default)")
    assert "bufferization.to_buffer %arg0 read_only" in placed.mlir
    torch.testing.assert_close(placed(x), model(x), rtol=1e-5, atol=1e-5)
    # Each input byte read once, at float32: the same DRAM reads as the
    # untiled program, whose call boundary reads the input (weights alike).
    plain = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-default)")
    plain(x)
    assert placed.report.layers["<inputs/outputs>"].counters.dram_read_bytes == 0
    assert plain.report.layers["<inputs/outputs>"].counters.dram_read_bytes == x.numel() * 4
    assert placed.report.totals.dram_read_bytes == plain.report.totals.dram_read_bytes
    slab = next(str(r) for r in placed.remarks if "streamed in rows" in str(r))
    nbytes, rows = (int(v.replace(",", "")) for v in re.search(r"a ([\d,]+) B slab \((\d+) rows\)", slab).groups())
    assert nbytes == 3 * rows * 32  # 3 channels x rows x 32 columns, 1 B each
    assert any("placement verified" in str(r) for r in placed.remarks)


def test_quantize_array_rounds_to_the_format():
    import numpy as np

    from imc.sim.interpreter.imc import quantize_array

    x = np.array([-1.0, -0.26, 0.0, 0.26, 0.9, 3.0], dtype=np.float32)
    # Signed 3 bits over [-1, 1]: 3 steps of 1/3 each side, beyond clips.
    np.testing.assert_allclose(quantize_array(x, 3, -1.0, 1.0), [-1, -1 / 3, 0, 1 / 3, 1, 1], rtol=1e-6)
    # Unsigned 2 bits over [0, 3]: steps of 1, negatives clip to 0.
    np.testing.assert_allclose(quantize_array(x, 2, 0.0, 3.0), [0, 0, 0, 0, 1, 3], rtol=1e-6)
    # Uncalibrated: the input's own range (signed: max(|min|, max) = 3, 7 steps of 3/7).
    np.testing.assert_allclose(quantize_array(x, 4, 0.0, 0.0), np.rint(x / (3 / 7)) * (3 / 7), rtol=1e-6)


def test_quantized_stored_tensors_are_calibrated_and_on_their_grid():
    # Under `quantized`, every stored tensor is rounded to activation_bits
    # over the range calibrated on the example inputs; what the producer
    # stores is on that grid. Fewer bits, larger error; `ideal` is exact.
    import numpy as np

    model, inputs = models.create("lenet5").eval(), models.example_inputs("lenet5")
    ref = model(*inputs).detach()
    errors = {}
    for bits in (8, 3):
        hw = DEFAULT.replace(activation_bits=bits)
        compiled = imc.compile(model, inputs, hardware=hw, precision="quantized")
        ranges = re.findall(r'"imc.quantize".*high = ([-\d.e+]+) : f32, low = ([-\d.e+]+)', compiled.mlir)
        assert ranges and all(float(high) > 0 >= float(low) for high, low in ranges)
        assert compiled.report.extra["adc_calibration"]["stored_tensors"] == len(ranges)
        stored = []
        compiled._runner.stored_tensor_hook = lambda row, a: stored.append(np.array(a))
        y = compiled(*inputs)
        assert stored
        for a in stored:
            # Every stored tensor of LeNet follows a ReLU: unsigned, 2**bits - 1 steps.
            assert len(np.unique(a)) <= 2**bits
        errors[bits] = float((y - ref).norm() / ref.norm())
        ideal = imc.compile(model, inputs, hardware=hw)
        assert float((ideal(*inputs) - ref).abs().max() / ref.abs().max()) < 1e-5
    assert errors[3] > 2 * errors[8]
