// An MVM on a crossbar that was reprogrammed with other weights is an error
// naming the op and its location; no traceback.
// RUN: not imc-run %s 2>&1 | FileCheck %s
// CHECK: imc-run: {{.*}}errors.mlir:15:9: error: 'imc.mvm' op crossbar 0 was reprogrammed with other weights before this MVM
// CHECK-NOT: Traceback

// RUN: not imc-run %s --entry nope 2>&1 | FileCheck %s --check-prefix=ENTRY
// ENTRY: imc-run: error: {{.*}}errors.mlir: no function '@nope'
func.func @main() -> tensor<1x3xf32> {
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  %v = arith.constant dense<2.0> : tensor<2x3xf32>
  %x = arith.constant dense<1.0> : tensor<1x2xf32>
  %p0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p1 = "imc.program"(%v) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x3xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %m0 = "imc.mvm"(%p0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x3xf32>
  return %m0 : tensor<1x3xf32>
}
