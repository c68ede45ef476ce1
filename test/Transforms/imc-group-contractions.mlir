// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-tile{rows=128 cols=128 weight-bits=8 cell-bits=8},cse,imc-group-contractions)' | FileCheck %s
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-tile{rows=64 cols=64 weight-bits=8 cell-bits=8},imc-place-crossbars{crossbars=3 duplicate=true},cse,imc-group-contractions)' | FileCheck %s --check-prefix=COPIES

// Two column tiles of two row tiles each: the slices of x and of the weight,
// the programs, MVMs, accumulates and the concat of the column tiles move
// into one op, which yields the concat.
// CHECK-LABEL: func.func @columns
// CHECK-NEXT: %[[W:.*]] = arith.constant
// CHECK-NEXT: %[[Y:.*]] = "imc.tiled_contract"() ({
// CHECK-NEXT: tensor.extract_slice %arg0[0, 0] [4, 128]
// CHECK-NEXT: tensor.extract_slice %arg0[0, 128] [4, 72]
// CHECK-NEXT: tensor.extract_slice %[[W]][0, 0] [128, 128]
// CHECK-COUNT-2: "imc.accumulate"
// CHECK: %[[J:.*]] = tensor.concat dim(1)
// CHECK-NEXT: "imc.yield"(%[[J]]) : (tensor<4x150xf32>) -> ()
// CHECK-NEXT: }) : () -> tensor<4x150xf32>
// CHECK-NEXT: return %[[Y]]
func.func @columns(%x: tensor<4x200xf32>) -> tensor<4x150xf32> {
  %w = arith.constant dense<1.0> : tensor<200x150xf32>
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<4x200xf32>, tensor<200x150xf32>) -> tensor<4x150xf32>
  return %y : tensor<4x150xf32>
}

// Two contractions of one input: one op each; the slices of x they share
// (after cse) stay in front of both.
// CHECK-LABEL: func.func @shared_input
// CHECK: %[[X0:.*]] = tensor.extract_slice %arg0[0, 0] [4, 128]
// CHECK-NEXT: %[[X1:.*]] = tensor.extract_slice %arg0[0, 128] [4, 72]
// CHECK-NEXT: %[[Y0:.*]] = "imc.tiled_contract"() ({
// CHECK-NOT: tensor.extract_slice %arg0
// CHECK: "imc.mvm"(%{{.*}}, %[[X0]])
// CHECK: "imc.mvm"(%{{.*}}, %[[X1]])
// CHECK: "imc.yield"
// CHECK-NEXT: }) : () -> tensor<4x8xf32>
// CHECK-NEXT: %[[Y1:.*]] = "imc.tiled_contract"() ({
// CHECK: "imc.yield"
// CHECK-NEXT: }) : () -> tensor<4x8xf32>
// CHECK-NEXT: return %[[Y0]], %[[Y1]]
func.func @shared_input(%x: tensor<4x200xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %w0 = arith.constant dense<1.0> : tensor<200x8xf32>
  %w1 = arith.constant dense<2.0> : tensor<200x8xf32>
  %y0 = "imc.contract"(%x, %w0) {kind = "matmul", transpose_weight = false} : (tensor<4x200xf32>, tensor<200x8xf32>) -> tensor<4x8xf32>
  %y1 = "imc.contract"(%x, %w1) {kind = "matmul", transpose_weight = false} : (tensor<4x200xf32>, tensor<200x8xf32>) -> tensor<4x8xf32>
  return %y0, %y1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A convolution on three copies of its tile: the im2col, the row blocks of
// its result, the copies' MVMs and the concat that joins them go along.
// COPIES-LABEL: func.func @conv_copies
// COPIES-NEXT: arith.constant
// COPIES-NEXT: %[[Y:.*]] = "imc.tiled_contract"() ({
// COPIES-NEXT: %[[C:.*]] = "imc.im2col"(%arg0)
// COPIES-COUNT-3: "imc.program"
// COPIES: tensor.extract_slice %[[C]][0, 0] [5, 36]
// COPIES: tensor.extract_slice %[[C]][5, 0] [5, 36]
// COPIES: tensor.extract_slice %[[C]][10, 0] [6, 36]
// COPIES: %[[R:.*]] = tensor.concat dim(0)
// COPIES-NEXT: %[[A:.*]] = "imc.accumulate"(%[[R]])
// COPIES-NEXT: "imc.yield"(%[[A]]) : (tensor<16x8xf32>) -> ()
// COPIES-NEXT: }) : () -> tensor<16x8xf32>
// COPIES-NEXT: return %[[Y]]
func.func @conv_copies(%x: tensor<1x4x6x6xf32>) -> tensor<16x8xf32> {
  %w = arith.constant dense<1.0> : tensor<36x8xf32>
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x4x6x6xf32>) -> tensor<16x36xf32>
  %y = "imc.contract"(%c, %w) {kind = "conv2d", transpose_weight = false} : (tensor<16x36xf32>, tensor<36x8xf32>) -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

// A store to memory between the MVM and its accumulate: the contraction
// cannot move past it, so its ops stay as they are.
// CHECK-LABEL: func.func @blocked_by_a_store
// CHECK-NOT: imc.tiled_contract
// CHECK: "imc.program"
// CHECK-NEXT: "imc.mvm"
// CHECK-NEXT: memref.store
// CHECK-NEXT: "imc.accumulate"
// CHECK-NOT: imc.tiled_contract
// CHECK: return
func.func @blocked_by_a_store(%x: tensor<2x8xf32>, %w: tensor<8x6xf32>, %m: memref<4xf32>) -> tensor<2x6xf32> {
  %i = arith.constant 0 : index
  %f = arith.constant 1.0 : f32
  %p = "imc.program"(%w) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %y = "imc.mvm"(%p, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<2x8xf32>) -> tensor<2x6xf32>
  memref.store %f, %m[%i] : memref<4xf32>
  %a = "imc.accumulate"(%y) {shifts = array<i64: 0>} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  return %a : tensor<2x6xf32>
}

// An MVM whose partial sums are read by another op too: not one contraction.
// CHECK-LABEL: func.func @partials_read_elsewhere
// CHECK-NOT: imc.tiled_contract
// CHECK: return
func.func @partials_read_elsewhere(%x: tensor<2x8xf32>, %w: tensor<8x6xf32>) -> (tensor<2x6xf32>, tensor<2x6xf32>) {
  %p = "imc.program"(%w) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x6xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %y = "imc.mvm"(%p, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<2x8xf32>) -> tensor<2x6xf32>
  %a = "imc.accumulate"(%y) {shifts = array<i64: 0>} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  return %a, %y : tensor<2x6xf32>, tensor<2x6xf32>
}
