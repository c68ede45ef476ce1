// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=4 pack=false duplicate=true})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=THROUGHPUT
// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=4 pack=false duplicate=true objective=latency})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=LATENCY
// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=4 pack=false duplicate=true objective=energy})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=ENERGY
// RUN: not imc-opt %s -p 'builtin.module(imc-place-crossbars{duplicate=true objective=speed})' 2>&1 | FileCheck %s --check-prefix=BAD

// Layer A (two tiles on two crossbars, 4 input rows each) is the bottleneck;
// layer B (one tile, 2 input rows) is not. 3 of 4 crossbars are used: the
// one spare cannot hold a copy of A (it needs two). For throughput nothing is
// copied (a copy of B would not shorten the bottleneck); for latency B gets a
// copy (it saves B's time); for energy nothing is copied.
// THROUGHPUT: remark: [imc-place-crossbars] duplicate: no layer could be copied
// THROUGHPUT-NOT: copies on spare crossbars
// LATENCY: remark: [imc-place-crossbars] layer at loc("B"): 2 copies on spare crossbars; its MVM time divides by 2
// LATENCY-NOT: loc("A"): {{.*}} copies
// ENERGY: remark: [imc-place-crossbars] duplicate: objective=energy makes no copies (each would cost its programming)
// BAD: error: 'builtin.module' op objective = 'speed' is not one of throughput, latency, pipeline, energy
func.func @two_layers(%w: tensor<8x6xf32>, %w1: tensor<8x6xf32>, %wb: tensor<8x6xf32>, %x: tensor<4x8xf32>, %v: tensor<2x8xf32>) -> (tensor<4x6xf32>, tensor<4x6xf32>, tensor<2x6xf32>) {
  %a0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64> loc("A")
  %ya0 = "imc.mvm"(%a0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<4x8xf32>) -> tensor<4x6xf32> loc("A")
  %a1 = "imc.program"(%w1) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64> loc("A")
  %ya1 = "imc.mvm"(%a1, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<4x8xf32>) -> tensor<4x6xf32> loc("A")
  %b = "imc.program"(%wb) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64> loc("B")
  %yb = "imc.mvm"(%b, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<2x8xf32>) -> tensor<2x6xf32> loc("B")
  return %ya0, %ya1, %yb : tensor<4x6xf32>, tensor<4x6xf32>, tensor<2x6xf32>
}
