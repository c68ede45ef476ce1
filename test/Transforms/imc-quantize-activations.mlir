// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-quantize-activations)' | FileCheck %s
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-quantize-activations{bits=4})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows, imc-quantize-activations)' | FileCheck %s --check-prefix=TILED

// %a (layer l1) is read by the later stage l2 (its matmul and the fused
// add): it is stored, so it is rounded where it leaves l1 (the default
// chip's 8-bit activations, range uncalibrated) and l2 reads the rounded
// value. %a is also a model output: the function returns the exact value.
// %b stays inside l2's stage (a datapath value): not rounded.
// CHECK-LABEL: func.func @chain
// CHECK: %[[A:.*]] = linalg.matmul ins(%arg0, %arg1
// CHECK-NEXT: %[[Q:.*]] = "imc.quantize"(%[[A]]) {bits = 8 : i64, high = 0.000000e+00 : f32, low = 0.000000e+00 : f32}
// CHECK: %[[B:.*]] = linalg.matmul ins(%[[Q]], %arg2
// CHECK: %[[C:.*]] = linalg.add ins(%[[B]], %[[Q]]
// CHECK-NOT: imc.quantize
// CHECK: return %[[A]], %[[C]]
// REMARK: remark: [imc-quantize-activations] 1 stored tensors rounded to 4-bit activations
func.func @chain(%x: tensor<4x8xf32>, %w1: tensor<8x8xf32>, %w2: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %a = linalg.matmul ins(%x, %w1 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32> loc("l1")
  %b = linalg.matmul ins(%a, %w2 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32> loc("l2")
  %c = linalg.add ins(%b, %a : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32> loc("l2")
  return %a, %c : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// One layer: nothing is stored, nothing changes.
// CHECK-LABEL: func.func @single
// CHECK-NOT: imc.quantize
// CHECK: return %{{.*}} : tensor<4x8xf32>
// REMARK: remark: [imc-quantize-activations] 0 stored tensors rounded to 4-bit activations
func.func @single(%x: tensor<4x8xf32>, %w1: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %a = linalg.matmul ins(%x, %w1 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32> loc("l1")
  return %a : tensor<4x8xf32>
}

// -----

// Two convolution stages tiled over rows (test/Inputs/spad-1k.toml, whose
// chip stores float32 activations: 32 bits): conv1's loop assembles its
// output row tile by row tile, so each tile is rounded before it is inserted
// (one op for every trip); conv2's loop reads the rounded rows.
// TILED-LABEL: func.func @tiled
// TILED: %[[FIRST:.*]] = scf.for
// TILED: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x1x10xf32>
// TILED: %[[Q:.*]] = "imc.quantize"(%[[Y]]) {bits = 32 : i64, high = 0.000000e+00 : f32, low = 0.000000e+00 : f32} : (tensor<1x4x1x10xf32>) -> tensor<1x4x1x10xf32>
// TILED: tensor.insert_slice %[[Q]] into
// TILED: scf.for
// TILED-NOT: imc.quantize
// TILED: tensor.extract_slice %[[FIRST]]
// TILED: return
func.func @tiled(%x: tensor<1x4x12x12xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %e10 = tensor.empty() : tensor<1x4x10x10xf32>
  %f10 = linalg.fill ins(%zero : f32) outs(%e10 : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32>
  %prev = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x4x12x12xf32>, tensor<4x4x3x3xf32>) outs(%f10 : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32> loc("conv1")
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%prev, %w : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv2")
  return %y : tensor<1x4x8x8xf32>
}
