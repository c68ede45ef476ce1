"""The typed views of the imc ops (`imc.dialects.imc_ops`): what each property
decodes, and setters that keep the IR and the view in step."""

import pytest
from torch_mlir import ir

from imc.dialects.imc_ops import (
    VIEWS,
    AccumulateView,
    DmaView,
    Im2colView,
    MvmView,
    ProgramView,
    QuantizeView,
    SpadAllocView,
    view_of,
)
from imc.ir.context import make_context

SOURCE = """
func.func @f(%w: tensor<64x128xf32>, %x: tensor<1x128xf32>, %img: tensor<1x16x10x10xf32>, %dram: memref<64x64xf32>) {
  %xb = "imc.program"(%w) {array = 3 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 64>, slice = 1 : i64,
                           transpose = true, weight_bits = 8 : i64} : (tensor<64x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %p = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 412.0 : f32, dac_bits = 2 : i64, input_bits = 7 : i64}
      : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  %s = "imc.accumulate"(%p, %p) {shifts = array<i64: 0, 2>} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  %q = "imc.quantize"(%s) {bits = 8 : i64, high = 6.5 : f32, low = 0.0 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  %cols = "imc.im2col"(%img) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>}
      : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  %buf = "imc.spad_alloc"() {offset = 64 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
  "imc.dma"(%dram, %buf) {offsets = array<i64: 0, 32>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>}
      : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}
"""


@pytest.fixture()
def ops():
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(SOURCE)
        block = module.body.operations[0].regions[0].blocks[0]
        yield {op.operation.name: op.operation for op in block.operations}


def test_program(ops):
    p = ProgramView(ops["imc.program"])
    assert (p.cell_bits, p.weight_bits, p.slice, p.transpose, p.array, p.offset) == (2, 8, 1, True, 3, (0, 64))
    assert p.weight_shape == (64, 128) and p.tile_shape == (128, 64) and p.cells == 64 * 128
    assert p.bits_per_cell == 2
    assert [name for name, _ in p.tile_attributes] == ["slice", "transpose", "cell_bits", "weight_bits"]


def test_program_placement_updates_ir_and_view(ops):
    op = ops["imc.program"]
    p = ProgramView(op)
    assert p.array == 3
    p.place(5, (64, 0))
    assert (p.array, p.offset) == (5, (64, 0))
    assert (ProgramView(op).array, ProgramView(op).offset) == (5, (64, 0))
    p.set_array(7)
    assert ProgramView(op).array == 7 and p.array == 7


def test_mvm(ops):
    m = MvmView(ops["imc.mvm"])
    assert (m.dac_bits, m.adc_bits, m.input_bits, m.adc_full_scale, m.cycles) == (2, 8, 7, 412.0, 4)
    assert set(m.attributes) == {"dac_bits", "adc_bits", "input_bits", "adc_full_scale"}
    m.set_adc_full_scale(0.1)
    assert m.adc_full_scale == pytest.approx(0.1) and MvmView(ops["imc.mvm"]).adc_full_scale == m.adc_full_scale


def test_other_ops(ops):
    assert AccumulateView(ops["imc.accumulate"]).shifts == (0, 2)
    q = QuantizeView(ops["imc.quantize"])
    assert (q.bits, q.low, q.high) == (8, 0.0, 6.5)
    q.set_range(-1.0, 2.0)
    assert (q.low, q.high) == (-1.0, 2.0)
    c = Im2colView(ops["imc.im2col"])
    assert (c.kernel, c.strides, c.dilations) == ((3, 3), (1, 1), (1, 1))
    a = SpadAllocView(ops["imc.spad_alloc"])
    assert (a.offset, a.size, list(a.buffer_type.shape)) == (64, 4096, [32, 32])
    d = DmaView(ops["imc.dma"])
    assert (d.offsets, d.sizes, d.strides) == ((0, 32), (32, 32), (1, 1))
    assert d.window == (slice(0, 32, 1), slice(32, 64, 1)) and d.dram == d.source


def test_view_of_names_every_view(ops):
    for name, op in ops.items():
        if name in VIEWS:
            assert type(view_of(op)) is VIEWS[name]
    assert "imc.spad_free" not in VIEWS
