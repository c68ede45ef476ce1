// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{line-buffers=false})' | FileCheck %s --check-prefix=OFF
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=3})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=UNEVEN

// A conv + ReLU stage followed by a 3x3, stride-2, padding-1 max pooling (a
// ResNet stem, small; test/Inputs/spad-2k.toml, float32 activations). The
// pooling moves into the conv's row loop: each trip computes 2 conv rows
// (one pooled row times the stride) and pools them with the row before them,
// carried from the previous trip in a 1-row line buffer (the first trip's is
// the -inf padding row). Columns are padded with -inf splats. The loop yields
// the pooled tensor; the conv's 1x4x16x16 output is never assembled. Each
// trip fills its own pooled rows' init (-inf), nothing is sliced from a whole one.
// CHECK-LABEL: func.func @conv_relu_pool
// CHECK-DAG: %[[LINE0:.*]] = arith.constant dense<0xFF800000> : tensor<1x4x1x16xf32>
// CHECK-DAG: %[[COLS:.*]] = arith.constant dense<0xFF800000> : tensor<1x4x3x1xf32>
// CHECK: %[[LOOP:.*]]:2 = scf.for %[[I:.*]] = %c0 to %c16 step %c2 iter_args(%[[ACC:.*]] = %{{.*}}, %[[LINE:.*]] = %[[LINE0]]) -> (tensor<1x4x8x8xf32>, tensor<1x4x1x16xf32>)
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x2x16xf32>
// CHECK: %[[ROWS:.*]] = linalg.generic
// CHECK: %[[WIN:.*]] = tensor.concat dim(2) %[[LINE]], %[[ROWS]] : (tensor<1x4x1x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x3x16xf32>
// CHECK: %[[ROW:.*]] = arith.divui %[[I]], %c2
// CHECK: %[[PADDED:.*]] = tensor.concat dim(3) %[[COLS]], %[[WIN]], %[[COLS]]
// CHECK: %[[INIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<1x4x1x8xf32>)
// CHECK: %[[P:.*]] = linalg.pooling_nchw_max {{.*}} ins(%[[PADDED]], %{{.*}} : tensor<1x4x3x18xf32>, tensor<3x3xf32>) outs(%[[INIT]] : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
// CHECK: %[[OUT:.*]] = tensor.insert_slice %[[P]] into %[[ACC]][0, 0, %[[ROW]], 0] [1, 4, 1, 8]
// CHECK: %[[NEXT:.*]] = tensor.extract_slice %[[ROWS]][0, 0, 1, 0] [1, 4, 1, 16]
// CHECK: scf.yield %[[OUT]], %[[NEXT]]
// CHECK-NOT: linalg.pooling_nchw_max
// CHECK: return %[[LOOP]]#0
// REMARK: "conv": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 1,152 B (4 rows, halo 2), output tile 128 B; 'linalg.pooling_nchw_max' fused: 2 rows per tile, read with the 1 rows before them kept in a 256 B line buffer (each row of the stage computed once, its output never stored)
// OFF-LABEL: func.func @conv_relu_pool
// OFF: scf.for {{.*}} -> (tensor<1x4x16x16xf32>)
// OFF: tensor.pad
// OFF: linalg.pooling_nchw_max {{.*}} -> tensor<1x4x8x8xf32>
// With rows=3 each stage takes the most rows up to 3 that divide its rows
// into equal tiles (the line buffer, and the crossbar mapping, need equal
// tiles): 2 of the pooled stage's 8, 2 of the other stages' 16.
// UNEVEN: "conv": remark: [imc-tile-rows] tiled over output rows: 4 tiles of 2 rows; {{.*}} fused
// UNEVEN: "conv": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 2 rows; {{.*}} fused
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#conv = loc("conv")
#relu = loc("relu")
#pool = loc("pool")
func.func @conv_relu_pool(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#conv)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc(#relu)
  %pp = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %ninf : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#pool)
  %win = tensor.empty() : tensor<3x3xf32>
  %pe = tensor.empty() : tensor<1x4x8x8xf32>
  %pf = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %o = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
      ins(%pp, %win : tensor<1x4x18x18xf32>, tensor<3x3xf32>) outs(%pf : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc(#pool)
  return %o : tensor<1x4x8x8xf32>
}

// -----

// A stride-1 pooling with "same" padding reads a row the next trip computes
// (3 - 1 > 1): it runs one row behind. The trip at conv row i pools conv
// rows i - 2 .. i (the 2 carried rows and its own) into pooled row i - 1
// (the first trip's row -1 is trimmed off: rows max(1 - i, 0).. of the tile
// go to row max(i - 1, 0)); the last trip also pools the last 2 conv rows
// with the bottom padding row into row 15.
// CHECK-LABEL: func.func @pool_stride_1
// CHECK: %[[LOOP:.*]]:2 = scf.for %[[I:.*]] = %c0 to %c16 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}, %[[LINE:.*]] = %{{.*}}) -> (tensor<1x4x16x16xf32>, tensor<1x4x2x16xf32>)
// CHECK: %[[WIN:.*]] = tensor.concat dim(2) %[[LINE]], %{{.*}} : (tensor<1x4x2x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x3x16xf32>
// CHECK: %[[POOLED:.*]] = linalg.pooling_nchw_max {{.*}} -> tensor<1x4x1x16xf32>
// CHECK: %[[SKIP:.*]] = arith.maxsi
// CHECK: %[[COUNT:.*]] = arith.subi %c1, %[[SKIP]]
// CHECK: %[[AT:.*]] = arith.maxsi
// CHECK: %[[KEPT:.*]] = tensor.extract_slice %[[POOLED]][0, 0, %[[SKIP]], 0] [1, 4, %[[COUNT]], 16]
// CHECK: %[[ROWS:.*]] = tensor.insert_slice %[[KEPT]] into %[[ACC]][0, 0, %[[AT]], 0] [1, 4, %[[COUNT]], 16]
// CHECK: %[[NEXT:.*]] = tensor.extract_slice %[[WIN]][0, 0, 1, 0] [1, 4, 2, 16]
// CHECK: %[[OUT:.*]] = scf.if
// CHECK: tensor.concat dim(2) %[[NEXT]], %{{.*}} : (tensor<1x4x2x16xf32>, tensor<1x4x1x16xf32>)
// CHECK: linalg.pooling_nchw_max
// CHECK: tensor.insert_slice %{{.*}} into %[[ROWS]][0, 0, 15, 0] [1, 4, 1, 16]
// CHECK: } else {
// CHECK: scf.yield %[[ROWS]]
// CHECK: scf.yield %[[OUT]], %[[NEXT]]
// CHECK: return %[[LOOP]]#0
// REMARK: "conv": remark: [imc-tile-rows] {{.*}}'linalg.pooling_nchw_max' fused: {{.*}} read with the 2 rows before them kept in a {{.*}} B line buffer, 1 rows behind (its last 1 rows on the last trip; on the first it computes 1 rows above its output, dropped)
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#conv = loc("conv")
#relu = loc("relu")
#pool = loc("pool")
func.func @pool_stride_1(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#conv)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc(#relu)
  %pp = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %ninf : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#pool)
  %win = tensor.empty() : tensor<3x3xf32>
  %pe = tensor.empty() : tensor<1x4x16x16xf32>
  %pf = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %o = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pp, %win : tensor<1x4x18x18xf32>, tensor<3x3xf32>) outs(%pf : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#pool)
  return %o : tensor<1x4x16x16xf32>
}

// -----

// An unpadded stride-1 pooling needs rows of the next trip and is not "same"
// padded: it stays after the loop.
// CHECK-LABEL: func.func @pool_unpadded
// CHECK: scf.for {{.*}} -> (tensor<1x4x16x16xf32>)
// CHECK-NOT: tensor.concat
// CHECK: scf.yield
// CHECK: linalg.pooling_nchw_max {{.*}} -> tensor<1x4x14x14xf32>
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#conv = loc("conv")
#relu = loc("relu")
#pool = loc("pool")
func.func @pool_unpadded(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x14x14xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#conv)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc(#relu)
  %win = tensor.empty() : tensor<3x3xf32>
  %pe = tensor.empty() : tensor<1x4x14x14xf32>
  %pf = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x4x14x14xf32>) -> tensor<1x4x14x14xf32>
  %o = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%r, %win : tensor<1x4x16x16xf32>, tensor<3x3xf32>) outs(%pf : tensor<1x4x14x14xf32>) -> tensor<1x4x14x14xf32> loc(#pool)
  return %o : tensor<1x4x14x14xf32>
}
