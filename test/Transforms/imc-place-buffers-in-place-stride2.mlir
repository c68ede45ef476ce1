// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=2 line-buffers=false}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=2 line-buffers=false}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=2 line-buffers=false}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64 in-place=false}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=APART

// A stride-2 stage that doubles the channels (ResNet's downsampling block,
// here one 2x2 conv): its output Y (4 planes of 4 x 4) is written over its
// input X (2 planes of 8 x 8), row r of Y in the bytes of row r of X
// (imc.transforms.in_place.rows_alike). Seen through X's chunk as
// [1, 2, 2, 8, 4] (a memref.transpose of [1, 2, 8, 2, 4]), Y's channel
// 2p + g, row r is X's plane p, row r, columns [4g, 4g + 4). Each trip of
// `down` writes rows [2t, 2t + 2) of Y after reading rows up to 4t + 3 of
// X, and no later trip reads a row of X below 4t + 4: no row of X is read after
// the same row of Y is written. `conv2` reads Y's rows through the same
// view. X's 512 B are the stage's only stored bytes (768 B apart).
// CHECK-LABEL: func.func @main
// CHECK: %[[X:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 512 : i64} : () -> memref<128xf32, 1>
// CHECK: scf.for
// CHECK: "imc.spad_free"
// CHECK-NOT: "imc.spad_alloc"() {{.*}} -> memref<64xf32, 1>
// CHECK: %[[SPLIT:.*]] = memref.expand_shape %[[X]] {{\[}}[0, 1, 2, 3, 4]] output_shape [1, 2, 8, 2, 4] : memref<128xf32, 1> into memref<1x2x8x2x4xf32, 1>
// CHECK: %[[Y:.*]] = memref.transpose %[[SPLIT]] (d0, d1, d2, d3, d4) -> (d0, d1, d3, d2, d4) : memref<1x2x8x2x4xf32, 1> to memref<1x2x2x8x4xf32, strided<[128, 64, 4, 8, 1]>, 1>
// CHECK: scf.for %[[I:.*]] = %c0 to %c4 step %c2
// CHECK: memref.subview %{{.*}}[0, 0, %{{.*}}, 0] [1, 2, 4, 8]
// CHECK: %[[TILE:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 2, 4] : tensor<1x4x2x4xf32> into tensor<1x2x2x2x4xf32>
// CHECK: %[[ROWS:.*]] = memref.subview %[[Y]][0, 0, 0, %[[I]], 0] [1, 2, 2, 2, 4]
// CHECK: bufferization.materialize_in_destination %[[TILE]] in writable %[[ROWS]]
// CHECK: memref.transpose
// CHECK: scf.for %[[J:.*]] = %c0 to %c4 step %c2
// CHECK: %[[WIN:.*]] = memref.subview %{{.*}}[0, 0, 0, %[[J]], 0] [1, 2, 2, 2, 4]
// CHECK: %[[READ:.*]] = bufferization.to_tensor %[[WIN]] restrict
// CHECK: tensor.collapse_shape %[[READ]] {{\[}}[0], [1, 2], [3], [4]] : tensor<1x2x2x2x4xf32> into tensor<1x4x2x4xf32>
// CHECK: "imc.spad_free"(%[[X]])
// REMARK: "down": remark: [imc-place-buffers] 1x4x4x4xf32 (256 B) written over 1x2x8x8xf32 (512 B) (its last reader; no row of it is read after the same row is written): 256 B of it in the same scratchpad bytes (its row r in the bytes of row r of the other)
// REMARK: remark: [imc-place-buffers] 2 stored tensors over 3 stages (1 written over the tensor they replace); scratchpad peak 512 of 960 B
// REMARK: placement verified
// APART: remark: [imc-place-buffers] 2 stored tensors over 3 stages; scratchpad peak 768 of 960 B
func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w0 = arith.constant dense<0.5> : tensor<2x4x1x1xf32>
  %w1 = arith.constant dense<0.25> : tensor<4x2x2x2xf32>
  %w2 = arith.constant dense<0.125> : tensor<4x4x1x1xf32>
  %e0 = tensor.empty() : tensor<1x2x8x8xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %a = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w0 : tensor<1x4x8x8xf32>, tensor<2x4x1x1xf32>) outs(%f0 : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> loc("conv0")
  %e1 = tensor.empty() : tensor<1x4x4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %b = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
      ins(%a, %w1 : tensor<1x2x8x8xf32>, tensor<4x2x2x2xf32>) outs(%f1 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("down")
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%b, %w2 : tensor<1x4x4x4xf32>, tensor<4x4x1x1xf32>) outs(%f1 : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("conv2")
  return %c : tensor<1x4x4x4xf32>
}
