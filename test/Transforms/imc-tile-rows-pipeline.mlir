// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1 chain-loops=true})' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1 chain-loops=true}, imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PLACED

// Three residual blocks in a row (imc-tile-rows-chain-loops.mlir's two and
// a third), 4 x 16 x 16 f32 tensors (4 KiB, twice the scratchpad), one row
// per trip: one pipeline (`imc.transforms.loop_chain`), each block two
// trips behind the one before (its window, rows j - 1 .. j + 1, needs row
// j + 1 of the output before it, made one row behind two trips later), fed
// by a line buffer of that output's last two rows. Five loops, one per
// phase: block 1 alone (trips 0-1), blocks 1 and 2 (2-3), all three
// (4-15), then blocks 2 and 3 (block 2's last two trips, its buffer fed with
// block 1's last row and a zero row) and block 3 alone; the loops after
// the third count the trips of their first block. Only the last block's
// output is assembled, over the last three loops: nothing is stored between
// the stages. The first block's input rows kept for its next trip (two
// rows, padded to 18 columns) pass from loop to loop while it runs.
// CHECK-LABEL: func.func @main
// CHECK: %[[P1:.*]]:3 = scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args({{.*}}) -> (tensor<1x4x2x18xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>)
// CHECK-NOT: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x16x16xf32>
// CHECK: %[[P2:.*]]:5 = scf.for %{{.*}} = %c2 to %c4 step %c1 iter_args(%{{.*}} = %[[P1]]#0, %{{.*}} = %[[P1]]#1, %{{.*}} = %[[P1]]#2, {{.*}}) -> (tensor<1x4x2x18xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>)
// CHECK: %[[F:.*]]:8 = scf.for %[[I:.*]] = %c4 to %c16 step %c1 iter_args(%{{.*}} = %[[P2]]#0, {{.*}}) -> (tensor<1x4x2x18xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x2x16xf32>)
// CHECK: arith.subi %[[I]], %c2
// CHECK: arith.subi %[[I]], %c4
// CHECK: %[[E1:.*]]:7 = scf.for %{{.*}} = %c14 to %c16 step %c1 iter_args(%{{.*}} = %[[F]]#2, {{.*}}) -> (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x2x16xf32>)
// CHECK: %[[E2:.*]]:4 = scf.for %{{.*}} = %c14 to %c16 step %c1 iter_args(%{{.*}} = %[[E1]]#3, %{{.*}} = %{{.*}}, %{{.*}} = %[[E1]]#5, %{{.*}} = %[[E1]]#6) -> (tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x2x16xf32>)
// CHECK-NOT: scf.for
// CHECK: return %[[E2]]#2
// PLACED: 0 stored tensors over 1 stages
// PLACED: placement verified
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.25> : tensor<4x4x3x3xf32>
  %w2 = arith.constant dense<0.125> : tensor<4x4x3x3xf32>
  %w3 = arith.constant dense<-0.25> : tensor<4x4x3x3xf32>
  %w4 = arith.constant dense<0.0625> : tensor<4x4x3x3xf32>
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %p1 = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc("b1.conv1")
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p1, %w1 : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b1.conv1")
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c1 : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc("b1.conv1")
  %p2 = tensor.pad %r1 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc("b1.conv2")
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p2, %w2 : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b1.conv2")
  %s = linalg.add ins(%c2, %x : tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b1.conv2")
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc("b1.conv2")
  %p3 = tensor.pad %y low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc("b2.conv1")
  %c3 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p3, %w3 : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b2.conv1")
  %r3 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c3 : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc("b2.conv1")
  %p4 = tensor.pad %r3 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc("b2.conv2")
  %c4 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p4, %w4 : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b2.conv2")
  %s2 = linalg.add ins(%c4, %y : tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b2.conv2")
  %o = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s2 : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc("b2.conv2")
  %p5 = tensor.pad %o low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc("b3.conv1")
  %c5 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p5, %w1 : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b3.conv1")
  %r5 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c5 : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc("b3.conv1")
  %p6 = tensor.pad %r5 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc("b3.conv2")
  %c6 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p6, %w2 : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b3.conv2")
  %s3 = linalg.add ins(%c6, %o : tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc("b3.conv2")
  %o3 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s3 : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc("b3.conv2")
  return %o3 : tensor<1x4x16x16xf32>
}
