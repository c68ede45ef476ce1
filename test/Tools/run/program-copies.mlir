// Copies of a tile (docs/interpreter.md, "Counting model"): a program right
// after one of the same tile on another crossbar (as
// imc-place-crossbars{duplicate=true} emits a duplicated layer) shares its
// DRAM transfer. Over 2 calls: %p0 reads its 6 B, %p1 (its copy on array 1)
// reads nothing, %p2 (the same tile on array 2, but after an MVM) reads its
// 6 B again: 12 B for 3 programs of 6 cells; the warm call programs nothing.
// RUN: imc-run %s --repeat 2 --json %t.json > /dev/null
// RUN: FileCheck %s < %t.json
// CHECK: "calls": 2,
// CHECK: "totals": {
// CHECK-NEXT: "dram_read_bytes": 12,
// CHECK: "xbar_cells_programmed": 18,
// CHECK-NEXT: "xbar_program_events": 3,
func.func @main() -> tensor<1x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %x = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %p0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p1 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %m0 = "imc.mvm"(%p0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %p2 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 2 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %m1 = "imc.mvm"(%p1, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %m2 = "imc.mvm"(%p2, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  %s = arith.addf %m0, %m1 : tensor<1x3xf32>
  %t = arith.addf %s, %m2 : tensor<1x3xf32>
  return %t : tensor<1x3xf32>
}
