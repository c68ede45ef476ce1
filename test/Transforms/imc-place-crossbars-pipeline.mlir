// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=3 pack=false duplicate=true objective=latency})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=LATENCY
// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=3 pack=false duplicate=true objective=pipeline})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PIPELINE

// objective=pipeline against objective=latency, with one spare crossbar.
// Layer A runs in a row loop of 4 trips, 2 input rows per trip (8 input
// cycles each: 16 MVM steps per trip); layer B runs once on 3 input rows (24
// steps). Summed (latency): a copy of A saves 16 - 8 = 8 steps, one of B
// 24 - 12 = 12: B gets it. Pipelined: time per trip summed plus the
// bottleneck's other trips, 16 + 24 + 3 x 16 = 88 steps; a copy of A makes it
// 8 + 24 + 3 x 8 = 56, one of B 16 + 12 + 3 x 16 = 76: A gets it.
// LATENCY: remark: [imc-place-crossbars] layer at loc("B"): 2 copies on spare crossbars
// LATENCY-NOT: loc("A"): {{.*}} copies
// PIPELINE: remark: [imc-place-crossbars] layer at loc("A"): 2 copies on spare crossbars
// PIPELINE-NOT: loc("B"): {{.*}} copies
func.func @loop_and_layer(%wa: tensor<8x6xf32>, %wb: tensor<8x6xf32>, %x: tensor<8x8xf32>, %v: tensor<3x8xf32>) -> (tensor<8x6xf32>, tensor<3x6xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %init = tensor.empty() : tensor<8x6xf32>
  %a = "imc.program"(%wa) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64> loc("A")
  %ya = scf.for %i = %c0 to %c8 step %c2 iter_args(%acc = %init) -> (tensor<8x6xf32>) {
    %xi = tensor.extract_slice %x[%i, 0] [2, 8] [1, 1] : tensor<8x8xf32> to tensor<2x8xf32>
    %yi = "imc.mvm"(%a, %xi) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<2x8xf32>) -> tensor<2x6xf32> loc("A")
    %next = tensor.insert_slice %yi into %acc[%i, 0] [2, 6] [1, 1] : tensor<2x6xf32> into tensor<8x6xf32>
    scf.yield %next : tensor<8x6xf32>
  }
  %b = "imc.program"(%wb) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64> loc("B")
  %yb = "imc.mvm"(%b, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<3x8xf32>) -> tensor<3x6xf32> loc("B")
  return %ya, %yb : tensor<8x6xf32>, tensor<3x6xf32>
}
