// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tiled)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tiled)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows, imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers{in-place=false}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=APART
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s --check-prefix=TILE
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{epilogues=false})' | FileCheck %s --check-prefix=AFTER

// A residual block under imc-tiled, in a 2 KiB scratchpad (spad-2k.toml:
// 32-bit activations, 1,920 B beside the staging buffer; every tensor here
// is 1,024 B). conv1 and conv2 (3x3, "same" padding) run in one row loop,
// conv2 one row behind conv1 through a line buffer of conv1's last two rows
// (256 B); conv1's output is never stored. The block's add of %a and its
// ReLU run in the loop too (`epilogues`, the default), on each row of
// conv2 before it is inserted, so the block's output %y leaves the loop
// row by row; it is written over %a in the one scratchpad buffer they
// share: no row of %a is read after the loop has made the same row of %y.
// Apart (in-place=false), %a and %y do not fit together and 256 B spill.
// conv0 and conv3, whose tensors fit, run in row tiles of 4 rows
// (imc-tiled's `fit-rows=4`), so that the layers overlap row by row.
// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 1024 : i64}
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c4 iter_args
// CHECK: bufferization.materialize_in_destination %{{.*}} in writable %{{.*}} : (tensor<1x4x4x8xf32>
// CHECK: %[[LOOP:.*]]:2 = scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<1x4x8x8xf32>, tensor<1x4x2x8xf32>)
// CHECK: linalg.add ins(%{{.*}} : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>)
// CHECK:   scf.if
// CHECK: linalg.add ins(%{{.*}} : tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>)
// CHECK-NOT: "imc.spad_alloc"
// CHECK-NOT: "imc.spad_free"
// CHECK: bufferization.materialize_in_destination %{{.*}} in writable %[[A]]
// CHECK-NOT: "imc.spad_alloc"
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c4 iter_args
// CHECK: "imc.spad_free"(%[[A]])
// CHECK-NEXT: return
// CHECK-NOT: imc.dma
// REMARK: "conv1": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 480 B (3 rows, halo 2), output tile 128 B; 'linalg.conv_2d_nchw_fchw' fused: 1 rows per tile, read with the 2 rows before them kept in a 256 B line buffer, 1 rows behind
// REMARK: "conv1": remark: [imc-place-buffers] 1x4x8x8xf32 (1,024 B) written over 1x4x8x8xf32 (1,024 B) (its last reader; no row of it is read after the same row is written): 1,024 B of it in the same scratchpad bytes
// REMARK: 2 stored tensors over 3 stages (1 written over the tensor they replace); scratchpad peak 1,024 of 1,920 B (+ 128 B staging; row slabs up to 640 B in 2 tiled stage(s)); spill traffic 0 B, capacity bound 0 B
// REMARK: placement verified
// APART-NOT: written over
// APART: 2 stored tensors over 3 stages; scratchpad peak 1,920 of 1,920 B (+ 128 B staging); spill traffic 256 B
// APART: placement verified

// The loop itself: the rows of %a the add needs are the ones conv1 reads
// already (its padded window of rows i - 1 .. i + 1, a zero row above row 0):
// rows i - 1 and i, without the padding columns. Trip i adds the first to
// its conv2 row i - 1 (trimmed off on the first trip: row -1 is above the
// output); the last trip adds the second to row 7.
// TILE: %[[LOOP:.*]]:2 = scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args({{.*}}) -> (tensor<1x4x8x8xf32>, tensor<1x4x2x8xf32>)
// TILE: %[[WIN:.*]] = scf.if
// TILE: tensor.pad
// TILE: %[[ROWS:.*]] = tensor.extract_slice %[[WIN]][0, 0, 0, 1] [1, 4, 2, 8]
// TILE: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[WIN]],
// TILE: %[[CONV2:.*]] = linalg.conv_2d_nchw_fchw
// TILE: %[[MINE:.*]] = tensor.extract_slice %[[ROWS]][0, 0, 0, 0] [1, 4, 1, 8]
// TILE: %[[SUM:.*]] = linalg.add ins(%[[CONV2]], %[[MINE]] :
// TILE: %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[SUM]] :
// TILE: %[[KEPT:.*]] = tensor.extract_slice %[[RELU]][0, 0, %{{.*}}, 0] [1, 4, %{{.*}}, 8]
// TILE: tensor.insert_slice %[[KEPT]]
// TILE: scf.if
// TILE: %[[LAST:.*]] = tensor.extract_slice %[[ROWS]][0, 0, 1, 0] [1, 4, 1, 8]
// TILE: linalg.add ins(%{{.*}}, %[[LAST]] :
// TILE: tensor.insert_slice %{{.*}}[0, 0, 7, 0] [1, 4, 1, 8]
// TILE: linalg.add ins(%{{.*}}, %[[LOOP]]#0 :
// AFTER: %[[LOOP:.*]]:2 = scf.for
// AFTER: linalg.add ins(%[[LOOP]]#0, %{{.*}} : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>)
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w0 = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
  %w1 = arith.constant dense<0.25> : tensor<4x4x3x3xf32>
  %w2 = arith.constant dense<0.125> : tensor<4x4x3x3xf32>
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %a = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w0 : tensor<1x4x8x8xf32>, tensor<4x4x1x1xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv0")
  %p1 = tensor.pad %a low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc("conv1")
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p1, %w1 : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv1")
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c1 : tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x8xf32> loc("conv1")
  %p2 = tensor.pad %r1 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc("conv2")
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p2, %w2 : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv2")
  %s = linalg.add ins(%c2, %a : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv2")
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x8xf32> loc("conv2")
  %p3 = tensor.pad %y low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc("conv3")
  %c3 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%p3, %w1 : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv3")
  %o = linalg.add ins(%c3, %y : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv3")
  return %o : tensor<1x4x8x8xf32>
}
