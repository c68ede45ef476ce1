// Counters of a hand-checkable program, checked against arithmetic done by hand.
// RUN: imc-run %s --json %t.json | FileCheck %s
// RUN: FileCheck %s --check-prefix=JSON < %t.json

// One 2x3 tile, 8-bit weights in 2-bit cells: 4 bit slices, so 4 programs of
// 6 cells = 24 cells. Input 1x2 at 8 bits through 1-bit DACs: 8 cycles per MVM,
// 4 MVMs -> 32 crossbar steps and 32 * 3 cols = 96 ADC conversions. The
// default chip's bit slices are adjacent columns of one array sharing the row
// DACs (crossbar.bit_slices = "adjacent"): 8 cycles * 2 rows = 16 DAC
// conversions, not 64. x = [1, 2], W = [[1, 2, 3], [4, 5, 6]] -> x W = [9, 12, 15].

// CHECK: result #0: float32[1, 3]
// CHECK-NEXT: {{\[ *9\., 12\., 15\.\]}}
// CHECK: total

// JSON: "totals": {
// JSON: "xbar_cells_programmed": 24,
// JSON: "xbar_program_events": 4,
// JSON: "mvm_count": 32,
// JSON: "dac_conversions": 16,
// JSON: "adc_conversions": 96,
func.func @main() -> tensor<1x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %x = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %p0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p1 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 1 : i64, cell_bits = 2 : i64, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p2 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 2 : i64, cell_bits = 2 : i64, slice = 2 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p3 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 3 : i64, cell_bits = 2 : i64, slice = 3 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %m0 = "imc.mvm"(%p0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %m1 = "imc.mvm"(%p1, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %m2 = "imc.mvm"(%p2, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %m3 = "imc.mvm"(%p3, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %y = "imc.accumulate"(%m0, %m1, %m2, %m3) {shifts = array<i64: 0, 2, 4, 6>} : (tensor<1x3xf32>, tensor<1x3xf32>, tensor<1x3xf32>, tensor<1x3xf32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}
