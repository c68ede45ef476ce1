// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1 chain-loops=true})' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1 chain-loops=false})' | FileCheck %s --check-prefix=APART
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=1 chain-loops=true}, imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PLACED

// Two residual blocks in a row (conv1, ReLU, conv2, the add of the block's
// input, ReLU) on 4 x 16 x 16 f32 tensors (4 KiB, twice the scratchpad),
// each a row loop of one row per trip (rows=1): conv2 one row behind conv1
// through a line buffer, the block's output %y inserted one row behind.
// Apart, the second loop reads %y, stored whole, in padded windows of three
// rows. Chained (`imc.transforms.loop_chain`), the second block runs inside
// the first's loop two trips behind (its window, rows j - 1 .. j + 1, needs
// row j + 1 of %y, which trip j + 2 makes), fed by a line buffer of %y's
// last two rows: trips 0-1 run the first block alone, trips 2-15 both, and
// the second block's last two trips run after, pushing the first block's
// last row and a zero row of bottom padding. %y is never assembled: nothing
// is stored between the stages. The first block's input window (three rows
// of %x) is read whole in the first loop; after it, each trip reads only
// the row below the two the trip before kept, which the loops pass on (so
// no row of %x is loaded again where a loop begins).
// APART: %[[Y:.*]]:2 = scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args({{.*}}) -> (tensor<1x4x16x16xf32>, tensor<1x4x2x16xf32>)
// APART: scf.for %{{.*}} = %c0 to %c16 step %c1
// APART: tensor.extract_slice %[[Y]]#0
// CHECK-LABEL: func.func @main
// CHECK: %[[P:.*]]:3 = scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<1x4x2x18xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>)
// CHECK: tensor.extract_slice %arg0{{.*}} to tensor<1x4x?x16xf32>
// CHECK: } : tensor<1x4x?x16xf32> to tensor<1x4x3x18xf32>
// CHECK: %[[F:.*]]:6 = scf.for %[[I:.*]] = %c2 to %c16 step %c1 iter_args(%[[KEPT:.*]] = %[[P]]#0, {{.*}}) -> (tensor<1x4x2x18xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x2x16xf32>)
// CHECK: tensor.extract_slice %arg0{{.*}} to tensor<1x4x?x16xf32>
// CHECK: } : tensor<1x4x?x16xf32> to tensor<1x4x1x18xf32>
// CHECK: tensor.concat dim(2) %[[KEPT]], %{{.*}} : (tensor<1x4x2x18xf32>, tensor<1x4x1x18xf32>) -> tensor<1x4x3x18xf32>
// CHECK: scf.if
// CHECK: scf.yield %{{.*}} : tensor<1x4x1x16xf32>
// CHECK: %[[ROWS:.*]] = tensor.concat dim(2) %{{.*}}, %{{.*}} : (tensor<1x4x2x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x3x16xf32>
// CHECK: %[[J:.*]] = arith.subi %[[I]], %c2
// CHECK: %[[WIN:.*]] = tensor.concat dim(3) %{{.*}}, %[[ROWS]], %{{.*}} : (tensor<1x4x3x1xf32>, tensor<1x4x3x16xf32>, tensor<1x4x3x1xf32>) -> tensor<1x4x3x18xf32>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[WIN]],
// CHECK: %[[E:.*]]:4 = scf.for %{{.*}} = %c14 to %c16 step %c1 iter_args(%{{.*}} = %[[F]]#2, %{{.*}} = %{{.*}}, %{{.*}} = %[[F]]#4, %{{.*}} = %[[F]]#5)
// CHECK: return %[[E]]#2
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
  return %o : tensor<1x4x16x16xf32>
}
