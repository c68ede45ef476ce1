// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1})' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1}, imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1 epilogues=false})' | FileCheck %s --check-prefix=APART

// A residual block with a downsample branch (torchvision's BasicBlock at
// stride 2): conv1 (3x3, stride 2), conv2 (3x3, "same") one row behind it
// through a line buffer, and the add of %d, a 1x1 stride-2 convolution of
// the block's input %x. The branch runs in the loop too: each trip applies
// it to the rows of %x that conv1's padded window holds already (row 2i,
// without the padding column: no second read of %x) and keeps its row for
// the next trip, whose conv2 row (i - 1, one behind) it is added to; the
// last trip adds it to row 3. %d is never computed whole or stored.
// CHECK-LABEL: func.func @main
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK: %[[LOOP:.*]]:3 = scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[KEPT:.*]] = %{{.*}}) -> (tensor<1x4x4x4xf32>, tensor<1x4x2x4xf32>, tensor<1x4x1x4xf32>)
// CHECK: %[[WIN:.*]] = scf.if
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[WIN]][0, 0, 1, 1] [1, 4, 1, 7]
// CHECK: %[[OWN:.*]] = linalg.conv_2d_nchw_fchw {{.*}}strides = dense<2> {{.*}} ins(%[[ROWS]], %{{.*}} : tensor<1x4x1x7xf32>, tensor<4x4x1x1xf32>)
// CHECK: %[[BOTH:.*]] = tensor.concat dim(2) %[[KEPT]], %[[OWN]]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}strides = dense<2> {{.*}} ins(%[[WIN]],
// CHECK: %[[CONV2:.*]] = linalg.conv_2d_nchw_fchw {{.*}}strides = dense<1>
// CHECK: %[[MINE:.*]] = tensor.extract_slice %[[BOTH]][0, 0, 0, 0] [1, 4, 1, 4]
// CHECK: linalg.add ins(%[[CONV2]], %[[MINE]] :
// CHECK: scf.if
// CHECK: %[[LAST:.*]] = tensor.extract_slice %[[BOTH]][0, 0, 1, 0] [1, 4, 1, 4]
// CHECK: linalg.add ins(%{{.*}}, %[[LAST]] :
// CHECK: tensor.insert_slice %{{.*}}[0, 0, 3, 0] [1, 4, 1, 4]
// CHECK: scf.yield %{{.*}}, %{{.*}}, %[[OWN]] :
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK: return %[[LOOP]]#0
// REMARK: "conv1": remark: [imc-tile-rows] tiled over output rows: 4 tiles of 1 rows; {{.*}}; the residual add's downsample branch (layer 'down', a 1x1 convolution of the block's input) computed on each trip from the input rows the first convolution reads, its last 1 rows kept for the next trip (each row computed once, its output never stored)
// REMARK-NOT: "down": remark: [imc-tile-rows]
// REMARK: 0 stored tensors over 1 stages
// REMARK: placement verified

// Without `epilogues` the branch is a stage of its own, tiled apart, and
// conv2's rows are stored for the add after the first loop.
// APART: scf.for
// APART: scf.for
// APART: linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x{{.*}}xf32>, tensor<4x4x1x1xf32>)
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %wd = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
  %w1 = arith.constant dense<0.25> : tensor<4x4x3x3xf32>
  %w2 = arith.constant dense<0.125> : tensor<4x4x3x3xf32>
  %e = tensor.empty() : tensor<1x4x4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %p1 = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc("conv1")
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
      ins(%p1, %w1 : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("conv1")
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c1 : tensor<1x4x4x4xf32>) outs(%e : tensor<1x4x4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x4xf32> loc("conv1")
  %p2 = tensor.pad %r1 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x4x4xf32> to tensor<1x4x6x6xf32> loc("conv2")
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p2, %w2 : tensor<1x4x6x6xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("conv2")
  %d = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
      ins(%x, %wd : tensor<1x4x8x8xf32>, tensor<4x4x1x1xf32>) outs(%f : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("down")
  %s = linalg.add ins(%c2, %d : tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) outs(%e : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("down")
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x4x4xf32>) outs(%e : tensor<1x4x4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x4xf32> loc("down")
  return %y : tensor<1x4x4x4xf32>
}
