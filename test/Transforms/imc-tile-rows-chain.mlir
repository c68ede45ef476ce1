// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tiled)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PLACED

// A MobileNetV2 stride-1 block, small (test/Inputs/spad-2k.toml, float32
// activations): expand 1x1 (4 -> 8 channels) + ReLU, depthwise 3x3 (padding
// 1) + ReLU, project 1x1 (8 -> 4), plus the input. The depthwise conv runs
// one row behind the expansion (a 2-row line buffer), and each trip's
// depthwise rows go through the ReLU and the projection in the same loop:
// the loop's accumulator has the projection's 4 channels (the first trip's
// row above the output is trimmed off), the expanded and
// depthwise tensors are never assembled. The residual add runs in the loop
// too: the projection's row `i - 1` plus the input row before the one the
// expansion reads (kept from the trip before: an iteration argument, zeros
// at first), so the input is read once, one row per trip.
// CHECK-LABEL: func.func @block
// CHECK: %[[LOOP:.*]]:3 = scf.for %[[IV:.*]] = %c0 to %c8 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %[[ABOVE:.*]] = %{{.*}}) -> (tensor<1x4x8x8xf32>, tensor<1x8x2x8xf32>, tensor<1x4x1x8xf32>)
// CHECK: %[[ROW:.*]] = tensor.extract_slice %arg0[0, 0, %[[IV]], 0] [1, 4, 1, 8]
// CHECK: %[[X:.*]] = tensor.concat dim(2) %[[ABOVE]], %[[ROW]]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[ROW]], {{.*}} -> tensor<1x8x1x8xf32>
// CHECK: %[[DW:.*]] = linalg.depthwise_conv_2d_nchw_chw {{.*}} -> tensor<1x8x1x8xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[DW]] : tensor<1x8x1x8xf32>)
// CHECK: %[[P:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%[[R]], %{{.*}} : tensor<1x8x1x8xf32>, tensor<4x8x1x1xf32>) {{.*}} -> tensor<1x4x1x8xf32>
// CHECK: %[[SKIP:.*]] = tensor.extract_slice %[[X]][0, 0, 0, 0] [1, 4, 1, 8]
// CHECK: %[[SUM:.*]] = linalg.add ins(%[[P]], %[[SKIP]]
// CHECK: %[[KEPT:.*]] = tensor.extract_slice %[[SUM]][0, 0, %{{.*}}, 0] [1, 4, %{{.*}}, 8]
// CHECK: tensor.insert_slice %[[KEPT]] into %[[ACC]][0, 0, %{{.*}}, 0] [1, 4, %{{.*}}, 8]
// CHECK: scf.if
// CHECK: linalg.depthwise_conv_2d_nchw_chw
// CHECK: %[[LAST:.*]] = linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x1x8xf32>
// CHECK: %[[LAST_SKIP:.*]] = tensor.extract_slice %[[X]][0, 0, 1, 0] [1, 4, 1, 8]
// CHECK: linalg.add ins(%[[LAST]], %[[LAST_SKIP]]
// CHECK: tensor.insert_slice {{.*}} [1, 4, 1, 8]
// CHECK: scf.yield %{{.*}}, %{{.*}}, %[[ROW]] :
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK-NOT: linalg.depthwise_conv_2d_nchw_chw
// CHECK-NOT: linalg.add
// CHECK: return %[[LOOP]]#0
// REMARK: "expand": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; {{.*}}'linalg.depthwise_conv_2d_nchw_chw' fused: 1 rows per tile, read with the 2 rows before them kept in a 512 B line buffer, 1 rows behind {{.*}}; then the 1x1 convolution that reads it (and the elementwise ops between) on each trip's rows, its input never stored either
// PLACED: 0 stored tensors over
// PLACED: placement verified
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @block(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %we = arith.constant dense<0.5> : tensor<8x4x1x1xf32>
  %wd = arith.constant dense<0.25> : tensor<8x3x3xf32>
  %wp = arith.constant dense<0.125> : tensor<4x8x1x1xf32>
  %e8 = tensor.empty() : tensor<1x8x8x8xf32>
  %f8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  %e4 = tensor.empty() : tensor<1x4x8x8xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %a = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %we : tensor<1x4x8x8xf32>, tensor<8x4x1x1xf32>) outs(%f8 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32> loc("expand")
  %ra = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%a : tensor<1x8x8x8xf32>) outs(%e8 : tensor<1x8x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x8x8x8xf32> loc("expand")
  %p = tensor.pad %ra low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x8x8xf32> to tensor<1x8x10x10xf32> loc("depthwise")
  %d = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p, %wd : tensor<1x8x10x10xf32>, tensor<8x3x3xf32>) outs(%f8 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32> loc("depthwise")
  %rd = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%d : tensor<1x8x8x8xf32>) outs(%e8 : tensor<1x8x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x8x8x8xf32> loc("depthwise")
  %q = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%rd, %wp : tensor<1x8x8x8xf32>, tensor<4x8x1x1xf32>) outs(%f4 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("project")
  %s = linalg.add ins(%q, %x : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) outs(%e4 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("project")
  return %s : tensor<1x4x8x8xf32>
}
