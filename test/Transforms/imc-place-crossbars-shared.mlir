// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=4 pack=false})' | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=4 pack=false})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// Two ops program the same slice of the same weights (as a line buffer's
// last-trip copy of a layer does): they share one crossbar, and the second
// finds the tile there. Another slice of the same weights is another tile.
// CHECK-LABEL: func.func @same_tile
// CHECK: "imc.program"(%{{.*}}) {array = 0 : i64, {{.*}}slice = 0
// CHECK: "imc.program"(%{{.*}}) {array = 0 : i64, {{.*}}slice = 0
// CHECK: "imc.program"(%{{.*}}) {array = 1 : i64, {{.*}}slice = 1
// REMARK: remark: [imc-place-crossbars] 2 crossbar tiles placed on 2 of 4 crossbars; each weight tile is programmed once (96 cells on the first call)
func.func @same_tile(%w: tensor<16x6xf32>, %x: tensor<4x8xf32>) -> (tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>) {
  %t0 = tensor.extract_slice %w[0, 0] [8, 6] [1, 1] : tensor<16x6xf32> to tensor<8x6xf32>
  %a = "imc.program"(%t0) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 4 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64>
  %ya = "imc.mvm"(%a, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<4x8xf32>) -> tensor<4x6xf32>
  %t1 = tensor.extract_slice %w[0, 0] [8, 6] [1, 1] : tensor<16x6xf32> to tensor<8x6xf32>
  %b = "imc.program"(%t1) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 4 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64>
  %yb = "imc.mvm"(%b, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<4x8xf32>) -> tensor<4x6xf32>
  %c = "imc.program"(%t1) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 4 : i64, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64>
  %yc = "imc.mvm"(%c, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<4x8xf32>) -> tensor<4x6xf32>
  return %ya, %yb, %yc : tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>
}
