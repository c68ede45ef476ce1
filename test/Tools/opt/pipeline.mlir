// Upstream and imc passes mix in one pipeline string; -p is a shorthand.
// RUN: imc-opt %s --pass-pipeline='builtin.module(canonicalize, test-imc-fail{message=unused}, cse)' | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(func.func(canonicalize), test-imc-fail, cse)' | FileCheck %s
// RUN: imc-opt %s -p 'canonicalize,cse' | FileCheck %s

// CHECK-LABEL: func.func @dead_mvm
// CHECK-NOT: imc.mvm
// CHECK: return %arg1
func.func @dead_mvm(%w: tensor<4x4xf32>, %x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %xb = "imc.program"(%w) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<4x4xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  // imc.mvm is Pure: dead ones go away.
  %p = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x4xf32>) -> tensor<1x4xf32>
  return %x : tensor<1x4xf32>
}

// CHECK-LABEL: func.func @cse_mvm
// CHECK: "imc.mvm"
// CHECK-NOT: "imc.mvm"
func.func @cse_mvm(%w: tensor<4x4xf32>, %x: tensor<1x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>) {
  %xb = "imc.program"(%w) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<4x4xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x4xf32>) -> tensor<1x4xf32>
  %q = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x4xf32>) -> tensor<1x4xf32>
  return %p, %q : tensor<1x4xf32>, tensor<1x4xf32>
}
