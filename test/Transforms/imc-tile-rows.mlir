// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=4})' | FileCheck %s --check-prefix=ROWS4
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{fit-rows=1})' | FileCheck %s --check-prefix=FIT
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k-one-crossbar.toml -p 'builtin.module(imc-tile-rows{fit-rows=1})' | FileCheck %s --check-prefix=FEW

// A scratchpad of 1 KiB (test/Inputs/spad-1k.toml). The conv + ReLU stage
// reads 1,024 B and writes 1,024 B: it does not fit. A tile takes the most
// output rows (a divisor of the height) whose input slab and output rows fit
// what the stored tensors live across the stage and a staging buffer leave
// (here none are: 1,024 - 64 = 960 B), and at least a quarter of the
// scratchpad: R rows need an (R + 2)-row input slab (the 3x3 kernel's 2-row
// halo) of 4 x 10 x 4 B per row and 128 B of output per row, 288 R + 320 B,
// so two rows per tile (896 B).
// The padding is produced per tile (a slice of the input padded to the slab),
// the conv and the ReLU run on the tile, the result is inserted.
// CHECK-LABEL: func.func @conv_relu
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c2 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<1x4x8x8xf32>)
// CHECK: tensor.extract_slice %arg0[0, 0, %{{.*}}, 0] [1, 4, %{{.*}}, 8] [1, 1, 1, 1] : tensor<1x4x8x8xf32> to tensor<1x4x?x8xf32>
// CHECK: tensor.pad
// CHECK: } : tensor<1x4x?x8xf32> to tensor<1x4x4x10xf32>
// CHECK: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x4x10xf32>, tensor<4x4x3x3xf32>) {{.*}} -> tensor<1x4x2x8xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<1x4x2x8xf32>)
// CHECK: arith.maximumf
// CHECK: tensor.insert_slice %[[R]] into %[[ACC]][0, 0, %[[I]], 0] [1, 4, 2, 8]
// CHECK-NOT: tensor.cast
// REMARK: "conv": remark: [imc-tile-rows] tiled over output rows: 4 tiles of 2 rows; input slab 640 B (4 rows, halo 2), output tile 256 B
// ROWS4: scf.for %{{.*}} = %c0 to %c8 step %c4
// ROWS4: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x4x8xf32>
// With fit-rows=1 a stage that does not fit keeps the rows the capacity
// gives it (2, not 1).
// FIT-LABEL: func.func @conv_relu
// FIT: scf.for %{{.*}} = %c0 to %c8 step %c2
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#conv = loc("conv")
#relu = loc("relu")
func.func @conv_relu(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc(#conv)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x8xf32> loc(#relu)
  return %r : tensor<1x4x8x8xf32>
}

// -----

// A convolution with a bias (a folded batch norm): its init is the bias
// broadcast over the output rows. It is computed from constants alone, so it
// is not fenced: the broadcast is tiled with the convolution, each trip
// broadcasting the bias over its own rows; nothing is computed whole before
// the loop.
// CHECK-LABEL: func.func @conv_bias
// CHECK-NOT: linalg.broadcast
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c2
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%{{.*}} : tensor<4xf32>) outs(%{{.*}} : tensor<1x4x2x8xf32>) dimensions = [0, 2, 3]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} outs(%[[INIT]] : tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
// CHECK-NOT: tensor.cast
#conv_b = loc("conv")
func.func @conv_bias(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %b = arith.constant dense<[0.5, -0.5, 1.0, 2.0]> : tensor<4xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %c: index, %d: index, %e: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc(#conv_b)
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %init = linalg.broadcast ins(%b : tensor<4xf32>) outs(%e : tensor<1x4x8x8xf32>) dimensions = [0, 2, 3] loc(#conv_b)
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%init : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc(#conv_b)
  return %y : tensor<1x4x8x8xf32>
}

// -----

// Two stages: each is tiled on its own. The second loop reads slices of
// the first loop's result (no op of the first stage is pulled into it) and
// a slice of %skip per tile for the fused residual add.
// CHECK-LABEL: func.func @two_stages
// CHECK: %[[FIRST:.*]] = scf.for
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x1x10xf32>
// CHECK: scf.yield
// CHECK: scf.for
// CHECK-NOT: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x1x10xf32>
// CHECK: tensor.extract_slice %[[FIRST]][0, 0, %{{.*}}, 0] [1, 4, 3, 10]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x1x8xf32>
// CHECK: tensor.extract_slice %arg1[0, 0, %{{.*}}, 0] [1, 4, 1, 8]
// CHECK: arith.addf
// CHECK: scf.yield
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @two_stages(%x: tensor<1x4x12x12xf32>, %skip: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
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
  %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y, %skip : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %a = arith.addf %in, %s : f32
    linalg.yield %a : f32
  } -> tensor<1x4x8x8xf32> loc("add")
  return %r : tensor<1x4x8x8xf32>
}

// -----

// Fits (256 B in, 256 B out): left alone; with fit-rows=1, tiled in tiles
// of one row all the same (the layers around it could overlap with it).
// CHECK-LABEL: func.func @fits
// CHECK-NOT: scf.for
// CHECK: linalg.conv_2d_nchw_fchw
// FIT-LABEL: func.func @fits
// FIT: scf.for %{{.*}} = %c0 to %c2 step %c1
// FIT: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x1x2xf32>
// On one crossbar its 4 weight tiles (bit slices) would be programmed again
// on every trip: left alone.
// FEW-LABEL: func.func @fits
// FEW-NOT: scf.for
// FEW: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x2x2xf32>
func.func @fits(%x: tensor<1x4x4x4xf32>) -> tensor<1x4x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %e = tensor.empty() : tensor<1x4x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x4x4x4xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  return %y : tensor<1x4x2x2xf32>
}

// -----

// A 1x1 stride-2 conv reads columns 0, 2, ..., 14 of 16: the tiling slices
// 15, but the trip reads its rows at the whole width (a row window: the
// input can stay on chip in planes and be read in place, or stream through
// a slab), and the conv computes the same 8 columns from them.
// ROWS4-LABEL: func.func @strided_1x1
// ROWS4: scf.for %[[I:.*]] = %c0 to %c8 step %c4
// ROWS4: tensor.extract_slice %arg0[0, 0, %{{.*}}, 0] [1, 4, 7, 16] [1, 1, 1, 1] : tensor<1x4x16x16xf32> to tensor<1x4x7x16xf32>
// ROWS4: linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x7x16xf32>, tensor<4x4x1x1xf32>) {{.*}} -> tensor<1x4x4x8xf32>
func.func @strided_1x1(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x1x1xf32>
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
      ins(%x, %w : tensor<1x4x16x16xf32>, tensor<4x4x1x1xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  return %y : tensor<1x4x8x8xf32>
}
