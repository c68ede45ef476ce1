// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=3 duplicate=true})' --imc-remarks 2>%t.err | FileCheck %s
// RUN: FileCheck %s --check-prefix=REMARK < %t.err
// RUN: imc-opt %s -p 'builtin.module(imc-place-crossbars{crossbars=1 duplicate=true})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=NOSPARE
// RUN: imc-opt %s --hardware %S/../Inputs/slow-spad.toml -p 'builtin.module(imc-place-crossbars{crossbars=3 duplicate=true})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=SLOW-SPAD

// One tile on one of 3 crossbars: the two spare ones get copies and the MVM's
// 4 input rows are split 1 + 1 + 2 between them.
// CHECK-LABEL: func.func @one_layer
// CHECK-DAG: %[[P0:.*]] = "imc.program"(%arg0) {array = 0 : i64
// CHECK-DAG: %[[P1:.*]] = "imc.program"(%arg0) {array = 1 : i64
// CHECK-DAG: %[[P2:.*]] = "imc.program"(%arg0) {array = 2 : i64
// CHECK: %[[X0:.*]] = tensor.extract_slice %arg1[0, 0] [1, 8] [1, 1]
// CHECK: %[[M0:.*]] = "imc.mvm"(%[[P0]], %[[X0]])
// CHECK: %[[X1:.*]] = tensor.extract_slice %arg1[1, 0] [1, 8] [1, 1]
// CHECK: %[[M1:.*]] = "imc.mvm"(%[[P1]], %[[X1]])
// CHECK: %[[X2:.*]] = tensor.extract_slice %arg1[2, 0] [2, 8] [1, 1]
// CHECK: %[[M2:.*]] = "imc.mvm"(%[[P2]], %[[X2]]) {{.*}} -> tensor<2x6xf32>
// CHECK: %[[Y:.*]] = tensor.concat dim(0) %[[M0]], %[[M1]], %[[M2]]
// CHECK: return %[[Y]]
// REMARK: remark: [imc-place-crossbars] layer at {{.*}}: 3 copies on spare crossbars; its MVM time divides by 3
// NOSPARE: remark: [imc-place-crossbars] duplicate: no layer could be copied

// A 10 ns/B scratchpad: the MVM moves 128 + 96 B (2,240 ns on the port, which
// copies do not divide) in 4 rows x 8 cycles x 100 ns = 3,200 ns of crossbar
// time: a second copy shortens the layer to 2,240 ns, a third would not.
// SLOW-SPAD: remark: [imc-place-crossbars] layer at {{.*}}: 2 copies on spare crossbars; its MVM time divides by 2
func.func @one_layer(%w: tensor<8x6xf32>, %x: tensor<4x8xf32>) -> tensor<4x6xf32> {
  %p = "imc.program"(%w) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<16 : i64, 16 : i64>
  %y = "imc.mvm"(%p, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<16 : i64, 16 : i64>, tensor<4x8xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}
