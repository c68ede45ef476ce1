// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{prologues=false})' | FileCheck %s --check-prefix=OFF
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tiled)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PLACED

// A normalisation over the features (a LayerNorm without the variance: the
// row sum into 1 x 8 x 1, then (x - mean) * gamma) before a feed-forward
// block (Linear 8 -> 32, ReLU, Linear 32 -> 8, and the residual add of the
// normalised rows), on a 1 KiB scratchpad (test/Inputs/spad-1k.toml, float32
// activations). The two linears run in one loop (a matmul chain), and the
// normalisation, row-local, runs in it too (imc.transforms.row_prologue):
// each trip reads its row of %arg0, sums it (the sum computed without its
// unit dimension and expanded back), normalises it, and both the first
// matmul and the residual add read that row; the normalised tensor is never
// built whole. A row is 32 B in, 32 B normalised, 128 B hidden and 32 B out:
// 224 B, within the quarter of the scratchpad (256 B); 2 rows would not be.
// CHECK-LABEL: func.func @norm_ffn
// CHECK-NOT: linalg
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<1x8x8xf32>)
// CHECK: %[[X:.*]] = tensor.extract_slice %arg0[0, %[[I]], 0] [1, 1, 8] [1, 1, 1]
// CHECK: %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<1x1x8xf32>) outs(%{{.*}} : tensor<1x1xf32>)
// CHECK: %[[S3:.*]] = tensor.expand_shape %[[S]] {{.*}} : tensor<1x1xf32> into tensor<1x1x1xf32>
// CHECK: %[[N:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[S3]], %{{.*}} : tensor<1x1x8xf32>, tensor<1x1x1xf32>, tensor<8xf32>)
// CHECK: %[[NC:.*]] = tensor.collapse_shape %[[N]]
// CHECK: linalg.matmul ins(%[[NC]], %{{.*}} : tensor<1x8xf32>, tensor<8x32xf32>)
// CHECK: arith.maximumf
// CHECK: %[[Y:.*]] = linalg.matmul {{.*}} -> tensor<1x8xf32>
// CHECK: %[[Y3:.*]] = tensor.expand_shape %[[Y]]
// CHECK: %[[O:.*]] = linalg.add ins(%[[Y3]], %[[N]] : tensor<1x1x8xf32>, tensor<1x1x8xf32>)
// CHECK: tensor.insert_slice %[[O]] into %[[ACC]][0, %[[I]], 0] [1, 1, 8] [1, 1, 1]
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
// REMARK: "lin1": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 32 B (1 rows, no halo), output tile 32 B; the next linear ('lin2') runs on each trip's 128 B of hidden rows, which are never stored whole; the row-local 'norm' before it runs on each trip's input rows first, its 32 B of rows (read by the linear and the rest of the trip) never stored whole
// Without prologues the normalisation runs on the whole tensor before the
// loop, which reads its rows.
// OFF-LABEL: func.func @norm_ffn
// OFF: linalg.generic {{.*}} outs(%{{.*}} : tensor<1x8x1xf32>)
// OFF: %[[N:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x8x8xf32>)
// OFF: scf.for %[[I:.*]] = %c0 to %c8 step %c1
// OFF: tensor.extract_slice %[[N]][0, %[[I]], 0] [1, 1, 8]
// OFF-NOT: tensor<1x1x1xf32>
// OFF: scf.yield
// PLACED: "lin1": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows{{.*}}the row-local 'norm' before it
// PLACED: 0 stored tensors over 1 stages
// PLACED: placement verified
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#sum = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#vec = affine_map<(d0, d1, d2) -> (d2)>
#map = affine_map<(d0, d1) -> (d0, d1)>
#norm = loc("norm")
#lin1 = loc("lin1")
#lin2 = loc("lin2")
func.func @norm_ffn(%x: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 8.0 : f32
  %gamma = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %w1 = arith.constant dense<0.5> : tensor<8x32xf32>
  %w2 = arith.constant dense<0.25> : tensor<32x8xf32>
  %e1 = tensor.empty() : tensor<1x8x1xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x1xf32>) -> tensor<1x8x1xf32>
  %s = linalg.generic {indexing_maps = [#m3, #sum], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<1x8x8xf32>) outs(%z1 : tensor<1x8x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %in, %acc : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1xf32> loc(#norm)
  %e3 = tensor.empty() : tensor<1x8x8xf32>
  %c = linalg.generic {indexing_maps = [#m3, #sum, #vec, #m3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %s, %gamma : tensor<1x8x8xf32>, tensor<1x8x1xf32>, tensor<8xf32>) outs(%e3 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %t: f32, %g: f32, %out: f32):
    %mean = arith.divf %t, %n : f32
    %d = arith.subf %in, %mean : f32
    %o = arith.mulf %d, %g : f32
    linalg.yield %o : f32
  } -> tensor<1x8x8xf32> loc(#norm)
  %cc = tensor.collapse_shape %c [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32> loc(#lin1)
  %eh = tensor.empty() : tensor<8x32xf32>
  %fh = linalg.fill ins(%zero : f32) outs(%eh : tensor<8x32xf32>) -> tensor<8x32xf32>
  %h = linalg.matmul ins(%cc, %w1 : tensor<8x8xf32>, tensor<8x32xf32>) outs(%fh : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#lin1)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<8x32xf32>) outs(%eh : tensor<8x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32> loc(#lin1)
  %eo = tensor.empty() : tensor<8x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%r, %w2 : tensor<8x32xf32>, tensor<32x8xf32>) outs(%fo : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#lin2)
  %y3 = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32> loc(#lin2)
  %out = linalg.add ins(%y3, %c : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%e3 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32> loc(#lin2)
  return %out : tensor<1x8x8xf32>
}

// -----

// Not a prologue: the normalisation sums over the tokens (its row sum keeps
// the features, 1 x 1 x 8), so row r of its result reads every row of %x;
// the chain's loop reads rows of its whole result instead.
// CHECK-LABEL: func.func @token_sum
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<1x1x8xf32>)
// CHECK: %[[N:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x8x8xf32>)
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1
// CHECK: tensor.extract_slice %[[N]][0, %[[I]], 0] [1, 1, 8]
// REMARK-NOT: the row-local 'norm'
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#tok = affine_map<(d0, d1, d2) -> (d0, 0, d2)>
#map = affine_map<(d0, d1) -> (d0, d1)>
#norm = loc("norm")
#lin1 = loc("lin1")
#lin2 = loc("lin2")
func.func @token_sum(%x: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.5> : tensor<8x32xf32>
  %w2 = arith.constant dense<0.25> : tensor<32x8xf32>
  %e1 = tensor.empty() : tensor<1x1x8xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  %s = linalg.generic {indexing_maps = [#m3, #tok], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x : tensor<1x8x8xf32>) outs(%z1 : tensor<1x1x8xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %in, %acc : f32
    linalg.yield %a : f32
  } -> tensor<1x1x8xf32> loc(#norm)
  %e3 = tensor.empty() : tensor<1x8x8xf32>
  %c = linalg.generic {indexing_maps = [#m3, #tok, #m3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %s : tensor<1x8x8xf32>, tensor<1x1x8xf32>) outs(%e3 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %t: f32, %out: f32):
    %d = arith.subf %in, %t : f32
    linalg.yield %d : f32
  } -> tensor<1x8x8xf32> loc(#norm)
  %cc = tensor.collapse_shape %c [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32> loc(#lin1)
  %eh = tensor.empty() : tensor<8x32xf32>
  %fh = linalg.fill ins(%zero : f32) outs(%eh : tensor<8x32xf32>) -> tensor<8x32xf32>
  %h = linalg.matmul ins(%cc, %w1 : tensor<8x8xf32>, tensor<8x32xf32>) outs(%fh : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#lin1)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<8x32xf32>) outs(%eh : tensor<8x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32> loc(#lin1)
  %eo = tensor.empty() : tensor<8x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%r, %w2 : tensor<8x32xf32>, tensor<32x8xf32>) outs(%fo : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#lin2)
  %y3 = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32> loc(#lin2)
  %out = linalg.add ins(%y3, %c : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%e3 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32> loc(#lin2)
  return %out : tensor<1x8x8xf32>
}

// -----

// Not a prologue either: the function returns the normalised tensor too, so
// it is stored whole anyway; the normalisation stays a stage of its own.
// CHECK-LABEL: func.func @norm_returned
// CHECK: %[[N:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x8x8xf32>)
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1
// CHECK: tensor.extract_slice %[[N]][0, %[[I]], 0] [1, 1, 8]
// REMARK-NOT: the row-local 'norm'
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#sum = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#map = affine_map<(d0, d1) -> (d0, d1)>
#norm = loc("norm")
#lin1 = loc("lin1")
#lin2 = loc("lin2")
func.func @norm_returned(%x: tensor<1x8x8xf32>) -> (tensor<1x8x8xf32>, tensor<1x8x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.5> : tensor<8x32xf32>
  %w2 = arith.constant dense<0.25> : tensor<32x8xf32>
  %e1 = tensor.empty() : tensor<1x8x1xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x1xf32>) -> tensor<1x8x1xf32>
  %s = linalg.generic {indexing_maps = [#m3, #sum], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<1x8x8xf32>) outs(%z1 : tensor<1x8x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %in, %acc : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1xf32> loc(#norm)
  %e3 = tensor.empty() : tensor<1x8x8xf32>
  %c = linalg.generic {indexing_maps = [#m3, #sum, #m3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %s : tensor<1x8x8xf32>, tensor<1x8x1xf32>) outs(%e3 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %t: f32, %out: f32):
    %d = arith.subf %in, %t : f32
    linalg.yield %d : f32
  } -> tensor<1x8x8xf32> loc(#norm)
  %cc = tensor.collapse_shape %c [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32> loc(#lin1)
  %eh = tensor.empty() : tensor<8x32xf32>
  %fh = linalg.fill ins(%zero : f32) outs(%eh : tensor<8x32xf32>) -> tensor<8x32xf32>
  %h = linalg.matmul ins(%cc, %w1 : tensor<8x8xf32>, tensor<8x32xf32>) outs(%fh : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#lin1)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<8x32xf32>) outs(%eh : tensor<8x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32> loc(#lin1)
  %eo = tensor.empty() : tensor<8x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%r, %w2 : tensor<8x32xf32>, tensor<32x8xf32>) outs(%fo : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#lin2)
  %y3 = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32> loc(#lin2)
  %out = linalg.add ins(%y3, %c : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%e3 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32> loc(#lin2)
  return %out, %c : tensor<1x8x8xf32>, tensor<1x8x8xf32>
}

// -----

// Nor when another of its values is read outside it (the row sums are
// returned): the stage would run twice, whole and in the loop.
// CHECK-LABEL: func.func @sums_returned
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<1x8x1xf32>)
// CHECK: %[[N:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x8x8xf32>)
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1
// CHECK: tensor.extract_slice %[[N]][0, %[[I]], 0] [1, 1, 8]
// REMARK-NOT: the row-local 'norm'
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#sum = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#map = affine_map<(d0, d1) -> (d0, d1)>
#norm = loc("norm")
#lin1 = loc("lin1")
#lin2 = loc("lin2")
func.func @sums_returned(%x: tensor<1x8x8xf32>) -> (tensor<1x8x8xf32>, tensor<1x8x1xf32>) {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.5> : tensor<8x32xf32>
  %w2 = arith.constant dense<0.25> : tensor<32x8xf32>
  %e1 = tensor.empty() : tensor<1x8x1xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x1xf32>) -> tensor<1x8x1xf32>
  %s = linalg.generic {indexing_maps = [#m3, #sum], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<1x8x8xf32>) outs(%z1 : tensor<1x8x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %in, %acc : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1xf32> loc(#norm)
  %e3 = tensor.empty() : tensor<1x8x8xf32>
  %c = linalg.generic {indexing_maps = [#m3, #sum, #m3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %s : tensor<1x8x8xf32>, tensor<1x8x1xf32>) outs(%e3 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %t: f32, %out: f32):
    %d = arith.subf %in, %t : f32
    linalg.yield %d : f32
  } -> tensor<1x8x8xf32> loc(#norm)
  %cc = tensor.collapse_shape %c [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32> loc(#lin1)
  %eh = tensor.empty() : tensor<8x32xf32>
  %fh = linalg.fill ins(%zero : f32) outs(%eh : tensor<8x32xf32>) -> tensor<8x32xf32>
  %h = linalg.matmul ins(%cc, %w1 : tensor<8x8xf32>, tensor<8x32xf32>) outs(%fh : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#lin1)
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<8x32xf32>) outs(%eh : tensor<8x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32> loc(#lin1)
  %eo = tensor.empty() : tensor<8x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%r, %w2 : tensor<8x32xf32>, tensor<32x8xf32>) outs(%fo : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#lin2)
  %y3 = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32> loc(#lin2)
  %out = linalg.add ins(%y3, %c : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%e3 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32> loc(#lin2)
  return %out, %s : tensor<1x8x8xf32>, tensor<1x8x1xf32>
}
