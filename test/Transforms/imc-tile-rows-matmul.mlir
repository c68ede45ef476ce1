// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{matmuls=true matmul-chains=false})' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{matmuls=true matmul-chains=false})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{matmuls=true matmul-chains=false rows=4})' | FileCheck %s --check-prefix=ROWS4
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{matmul-chains=false})' | FileCheck %s --check-prefix=OFF
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s --check-prefix=CHAIN
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=CHAIN-REMARK

// A Linear + GELU as torch-mlir imports it: the [1, 8, 16] activation is
// collapsed to [8, 16], multiplied by the transposed weight, the bias is
// added, the result is expanded back to [1, 8, 32] and the GELU runs on it.
// A scratchpad of 1 KiB (test/Inputs/spad-1k.toml): the stage reads 512 B
// and writes 1,024 B, so it is tiled over rows (dimension 1 of the GELU, its
// root). A row is 64 B of input and 128 B of output; the most rows dividing
// 8 that fit a quarter of the scratchpad (256 B) is 1. Each trip slices its
// rows of the 3-D input, collapses them, runs the matmul, the bias, the
// expand and the GELU on them, and inserts its rows. The weight (its
// transpose, folded here) and the bias stay outside the loop.
// Matmul stages are tiled only with the option `matmuls` (off in imc-tiled).
// OFF-NOT: scf.for
// OFF: func.func @two_linears
// OFF-NOT: scf.for

// CHECK-LABEL: func.func @linear_gelu
// CHECK: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<16x32xf32>
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<1x8x32xf32>)
// CHECK: %[[X:.*]] = tensor.extract_slice %arg0[0, %[[I]], 0] [1, 1, 16] [1, 1, 1] : tensor<1x8x16xf32> to tensor<1x1x16xf32>
// CHECK: %[[XC:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<1x1x16xf32> into tensor<1x16xf32>
// CHECK: %[[Y:.*]] = linalg.matmul ins(%[[XC]], %[[W]] : tensor<1x16xf32>, tensor<16x32xf32>) {{.*}} -> tensor<1x32xf32>
// CHECK: %[[B:.*]] = linalg.generic {{.*}} ins(%[[Y]], %{{.*}} : tensor<1x32xf32>, tensor<32xf32>)
// CHECK: %[[E:.*]] = tensor.expand_shape %[[B]] {{\[}}[0, 1], [2]] output_shape [1, 1, 32]
// CHECK: %[[G:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<1x1x32xf32>)
// CHECK: math.erf
// CHECK: tensor.insert_slice %[[G]] into %[[ACC]][0, %[[I]], 0] [1, 1, 32] [1, 1, 1]
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
// REMARK: "lin": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 64 B (1 rows, no halo), output tile 128 B
// ROWS4: scf.for %{{.*}} = %c0 to %c8 step %c4
// ROWS4: tensor.extract_slice %arg0[0, %{{.*}}, 0] [1, 4, 16]
// ROWS4: linalg.matmul {{.*}} -> tensor<4x32xf32>
#map = affine_map<(d0, d1) -> (d0, d1)>
#bias = affine_map<(d0, d1) -> (d1)>
#map3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#lin = loc("lin")
#gelu = loc("gelu")
func.func @linear_gelu(%x: tensor<1x8x16xf32>) -> tensor<1x8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  %sqrt2 = arith.constant 1.41421354 : f32
  %w = arith.constant dense<0.5> : tensor<32x16xf32>
  %b = arith.constant dense<0.25> : tensor<32xf32>
  %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x8x16xf32> into tensor<8x16xf32> loc(#lin)
  %wt0 = tensor.empty() : tensor<16x32xf32>
  %wt = linalg.transpose ins(%w : tensor<32x16xf32>) outs(%wt0 : tensor<16x32xf32>) permutation = [1, 0] loc(#lin)
  %e = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%xc, %wt : tensor<8x16xf32>, tensor<16x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#lin)
  %yb = linalg.generic {indexing_maps = [#map, #bias, #map], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<8x32xf32>, tensor<32xf32>) outs(%e : tensor<8x32xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32> loc(#lin)
  %y3 = tensor.expand_shape %yb [[0, 1], [2]] output_shape [1, 8, 32] : tensor<8x32xf32> into tensor<1x8x32xf32> loc(#lin)
  %e3 = tensor.empty() : tensor<1x8x32xf32>
  %g = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%y3 : tensor<1x8x32xf32>) outs(%e3 : tensor<1x8x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %sqrt2 : f32
    %r = math.erf %d : f32
    %a = arith.addf %r, %one : f32
    %h = arith.mulf %a, %half : f32
    %o = arith.mulf %in, %h : f32
    linalg.yield %o : f32
  } -> tensor<1x8x32xf32> loc(#gelu)
  return %g : tensor<1x8x32xf32>
}

// -----

// Two linears: the first (bias + ReLU) fits and is left alone, the second
// does not (512 B in, 2,048 B out); its root is the 2-D matmul (the expand's
// only user is the return), tiled over dimension 0: a row is 64 B in and
// 256 B out, so 1 row per tile. Fusion with apply_cleanup folds casts into
// slices, so the stage's input is fenced by an op nothing folds or tiles:
// the loop reads rows of the first stage's result and does not pull the
// first stage's ops in (they were recomputed per tile with a cast fence).
// CHECK-LABEL: func.func @two_linears
// CHECK: linalg.matmul {{.*}} -> tensor<8x16xf32>
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: arith.maximumf
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1
// CHECK-NOT: arith.maximumf
// CHECK: tensor.extract_slice %[[R]][%[[I]], 0] [1, 16] [1, 1]
// CHECK-NOT: arith.maximumf
// CHECK: linalg.matmul {{.*}} -> tensor<1x64xf32>
// CHECK-NOT: materialize_in_destination
// CHECK: return
// REMARK: "lin2": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 64 B (1 rows, no halo), output tile 256 B
// With matmul chains (imc-tile-rows' default; single matmul stages are not
// tiled), the second linear reads only the first one's result, so both
// run in one loop: a row is 32 B of input, 64 B of hidden row (the first
// linear's, bias and ReLU included) and 256 B of output; 352 B exceed the
// 256 B budget, so 1 row per trip. The hidden [8, 16] tensor is never
// built whole: each trip computes its row and the second matmul reads it.
// CHAIN-LABEL: func.func @two_linears
// CHAIN-NOT: linalg.matmul
// CHAIN: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<8x64xf32>)
// CHAIN: tensor.extract_slice %arg0[0, %[[I]], 0] [1, 1, 8] [1, 1, 1]
// CHAIN: %[[H:.*]] = linalg.matmul {{.*}} -> tensor<1x16xf32>
// CHAIN: %[[R:.*]] = linalg.generic {{.*}} ins(%[[H]], %{{.*}} : tensor<1x16xf32>, tensor<16xf32>)
// CHAIN: arith.maximumf
// CHAIN: linalg.matmul ins(%[[R]], %{{.*}} : tensor<1x16xf32>, tensor<16x64xf32>) {{.*}} -> tensor<1x64xf32>
// CHAIN: tensor.insert_slice %{{.*}} into %[[ACC]][%[[I]], 0] [1, 64] [1, 1]
// CHAIN: scf.yield
// CHAIN-NOT: linalg.matmul
// CHAIN: return
// CHAIN-REMARK: "lin1": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 32 B (1 rows, no halo), output tile 256 B; the next linear ('lin2') runs on each trip's 64 B of hidden rows, which are never stored whole
// CHAIN-REMARK-NOT: remark
#map = affine_map<(d0, d1) -> (d0, d1)>
#bias = affine_map<(d0, d1) -> (d1)>
#lin1 = loc("lin1")
#lin2 = loc("lin2")
func.func @two_linears(%x: tensor<1x8x8xf32>) -> tensor<1x8x64xf32> {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.5> : tensor<8x16xf32>
  %w2 = arith.constant dense<0.25> : tensor<16x64xf32>
  %b1 = arith.constant dense<0.125> : tensor<16xf32>
  %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32> loc(#lin1)
  %e1 = tensor.empty() : tensor<8x16xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %y1 = linalg.matmul ins(%xc, %w1 : tensor<8x8xf32>, tensor<8x16xf32>) outs(%f1 : tensor<8x16xf32>) -> tensor<8x16xf32> loc(#lin1)
  %r = linalg.generic {indexing_maps = [#map, #bias, #map], iterator_types = ["parallel", "parallel"]}
      ins(%y1, %b1 : tensor<8x16xf32>, tensor<16xf32>) outs(%e1 : tensor<8x16xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x16xf32> loc(#lin1)
  %r3 = tensor.expand_shape %r [[0, 1], [2]] output_shape [1, 8, 16] : tensor<8x16xf32> into tensor<1x8x16xf32> loc(#lin1)
  %rc = tensor.collapse_shape %r3 [[0, 1], [2]] : tensor<1x8x16xf32> into tensor<8x16xf32> loc(#lin2)
  %e2 = tensor.empty() : tensor<8x64xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x64xf32>) -> tensor<8x64xf32>
  %y2 = linalg.matmul ins(%rc, %w2 : tensor<8x16xf32>, tensor<16x64xf32>) outs(%f2 : tensor<8x64xf32>) -> tensor<8x64xf32> loc(#lin2)
  %y3 = tensor.expand_shape %y2 [[0, 1], [2]] output_shape [1, 8, 64] : tensor<8x64xf32> into tensor<1x8x64xf32> loc(#lin2)
  return %y3 : tensor<1x8x64xf32>
}
