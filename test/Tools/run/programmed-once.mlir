// Crossbars keep their contents across calls: over 3 calls the weights are
// programmed once (4 slices x 6 cells), the MVMs run every call.
// RUN: imc-run %s --repeat 3 --json %t.json > /dev/null
// RUN: FileCheck %s < %t.json
// CHECK: "calls": 3,
// CHECK: "totals": {
// CHECK: "xbar_cells_programmed": 6,
// CHECK: "xbar_program_events": 1,
// CHECK: "mvm_count": 24,
func.func @main() -> tensor<1x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %x = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %p0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %m0 = "imc.mvm"(%p0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  return %m0 : tensor<1x3xf32>
}
