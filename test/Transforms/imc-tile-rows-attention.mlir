// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{attention=false})' | FileCheck %s --check-prefix=OFF
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{fit-rows=1 matmuls=true})' | FileCheck %s --check-prefix=STREAM
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{fit-rows=1 matmuls=true})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=STREAM-REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{fit-rows=1 matmuls=true key-value-rows=false})' | FileCheck %s --check-prefix=WHOLE
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tiled)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PLACED
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-512.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 | FileCheck %s --check-prefix=SMALL
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows)' --mlir-print-debuginfo | not imc-opt --split-input-file --hardware %S/../Inputs/spad-512.toml -p 'builtin.module(imc-map-to-crossbars, imc-place-buffers)' 2>&1 | FileCheck %s --check-prefix=UNPLACEABLE

// Self-attention as torch-mlir imports a BERT layer, small: 8 tokens of 8
// features, 2 heads of 4. The query, key and value projections (weights
// already transposed), the heads split ([8, 8] -> [1, 8, 2, 4], transposed
// to [1, 2, 8, 4]; the keys to [1, 2, 4, 8]), the scores batch matmul, a
// softmax over the keys (its row sum keeps the reduced dimension as a unit
// dimension, as torch's does), the context batch matmul, the heads merged,
// the output projection and the residual add.
//
// At a 1 KiB scratchpad of float32 activations (test/Inputs/spad-1k.toml)
// the keys and values take 256 B each. Every trip reads them whole, so they
// must stay on chip: 1,024 - 64 (the staging buffer) - 512 = 448 B are left
// for a trip. A query row is 32 B of input, 32 B of output and 192 B of
// queries, context, scores and probabilities (2 x (2 x 8 x 8 x 4 B) + 2 x
// 256 B over 8 rows): 256 B, so 1 row per trip (a quarter of the scratchpad,
// 256 B, also bounds it).
//
// The loop runs from the query projection to the residual add on one query
// row: the queries, scores, probabilities and context are never stored
// whole. The keys' and values' transposes stay before the loop, each moved
// right after its projection (imc.placement then runs it in the
// projection's stage). The row sum's unit dimension is dropped inside the
// loop (a collapse of its init, an expand of its result).
//
// The key and value projections run whole before the loop: their input,
// the function's argument, exists whole (key-value-rows runs them over rows
// only when their input comes row by row; @normalised).
// CHECK-LABEL: func.func @attention
// CHECK: %[[K:.*]] = linalg.matmul
// CHECK-NEXT: %[[K4:.*]] = tensor.expand_shape %[[K]]
// CHECK-NEXT: tensor.empty
// CHECK-NEXT: %[[KT:.*]] = linalg.transpose ins(%[[K4]] : tensor<1x8x2x4xf32>) {{.*}} permutation = [0, 2, 3, 1]
// CHECK-NEXT: %[[V:.*]] = linalg.matmul
// CHECK-NEXT: %[[V4:.*]] = tensor.expand_shape %[[V]]
// CHECK-NEXT: tensor.empty
// CHECK-NEXT: %[[VT:.*]] = linalg.transpose ins(%[[V4]] : tensor<1x8x2x4xf32>) {{.*}} permutation = [0, 2, 1, 3]
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1
// CHECK: tensor.extract_slice %arg0[0, %[[I]], 0] [1, 1, 8]
// CHECK: linalg.matmul {{.*}} -> tensor<1x8xf32>
// CHECK: linalg.transpose {{.*}} outs(%{{.*}} : tensor<1x2x1x4xf32>)
// CHECK: %[[KC:.*]] = tensor.collapse_shape %[[KT]] {{\[}}[0, 1], [2], [3]] : tensor<1x2x4x8xf32>
// CHECK: linalg.batch_matmul ins(%{{.*}}, %[[KC]] : tensor<2x1x4xf32>, tensor<2x4x8xf32>)
// CHECK: math.exp
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x1xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.addf
// CHECK: tensor.expand_shape %[[SUM]] {{\[}}[0], [1], [2, 3]] output_shape [1, 2, 1, 1]
// CHECK: %[[VC:.*]] = tensor.collapse_shape %[[VT]] {{\[}}[0, 1], [2], [3]] : tensor<1x2x8x4xf32>
// CHECK: linalg.batch_matmul ins(%{{.*}}, %[[VC]] : tensor<2x1x8xf32>, tensor<2x8x4xf32>)
// CHECK: linalg.matmul {{.*}} -> tensor<1x8xf32>
// CHECK: tensor.insert_slice {{.*}} [1, 1, 8]
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
// REMARK: "attn.query": remark: [imc-tile-rows] attention over query rows: 8 tiles of 1 rows, from the query projection to the output projection ('attn.out'); its keys and values (512 B) stay on chip, read whole by every trip; each trip's 192 B of queries, scores and context are never stored whole
// With matmuls=true the projections run over rows all the same, as any
// single matmul stage (their own rows: not in the attention's remark form).
// STREAM-REMARK: "attn.key": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 32 B (1 rows, no halo), output tile 32 B
// STREAM-REMARK: "attn.value": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows; input slab 32 B (1 rows, no halo), output tile 32 B
// OFF-LABEL: func.func @attention
// OFF-NOT: scf.for
// OFF: linalg.batch_matmul
// OFF-NOT: scf.for
//
// Placed: the loop's stage reads the keys and values from the scratchpad
// on every trip (imc-place-buffers keeps them whole on chip; it fails when
// it cannot) and imc-check-buffers proves the placement.
// PLACED-NOT: error
// PLACED: remark: [imc-check-buffers]
//
// At a 512 B scratchpad the keys and values alone (512 B) do not fit beside
// the staging buffer: the attention is left as it is, with a remark.
// SMALL: "attn.query": remark: [imc-tile-rows] attention not run over query rows: its keys and values (512 B), which every trip reads whole, and 1 query row(s) (256 B) do not fit the 512 B scratchpad beside a staging buffer
// SMALL-NOT: scf.for
//
// The loop built for 1 KiB placed on the 512 B chip: imc-place-buffers
// cannot keep the keys whole on chip for every trip, and says so (it never
// lets a trip read a tensor whole from DRAM once and count it once).
// UNPLACEABLE: "attn.query": error: 'scf.for' op this tiled stage reads 1x2x4x8xf32 (256 B) whole on every trip, but the scratchpad cannot hold it whole beside the other tensors live at this stage and the staging buffers; run the stage untiled (a self-attention: imc-tile-rows{attention=false})
#m2 = affine_map<(d0, d1) -> (d0, d1)>
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#m4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#max = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#sum = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
func.func @attention(%x: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %wq = arith.constant dense<0.25> : tensor<8x8xf32>
  %wk = arith.constant dense<0.5> : tensor<8x8xf32>
  %wv = arith.constant dense<0.125> : tensor<8x8xf32>
  %wo = arith.constant dense<0.0625> : tensor<8x8xf32>
  %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %q = linalg.matmul ins(%xc, %wq : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.query")
  %k = linalg.matmul ins(%xc, %wk : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.key")
  %v = linalg.matmul ins(%xc, %wv : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.value")
  %q4 = tensor.expand_shape %q [[0, 1], [2, 3]] output_shape [1, 8, 2, 4] : tensor<8x8xf32> into tensor<1x8x2x4xf32>
  %k4 = tensor.expand_shape %k [[0, 1], [2, 3]] output_shape [1, 8, 2, 4] : tensor<8x8xf32> into tensor<1x8x2x4xf32>
  %v4 = tensor.expand_shape %v [[0, 1], [2, 3]] output_shape [1, 8, 2, 4] : tensor<8x8xf32> into tensor<1x8x2x4xf32>
  %eh = tensor.empty() : tensor<1x2x8x4xf32>
  %qt = linalg.transpose ins(%q4 : tensor<1x8x2x4xf32>) outs(%eh : tensor<1x2x8x4xf32>) permutation = [0, 2, 1, 3] loc("attn")
  %ek = tensor.empty() : tensor<1x2x4x8xf32>
  %kt = linalg.transpose ins(%k4 : tensor<1x8x2x4xf32>) outs(%ek : tensor<1x2x4x8xf32>) permutation = [0, 2, 3, 1] loc("attn")
  %vt = linalg.transpose ins(%v4 : tensor<1x8x2x4xf32>) outs(%eh : tensor<1x2x8x4xf32>) permutation = [0, 2, 1, 3] loc("attn")
  %qc = tensor.collapse_shape %qt [[0, 1], [2], [3]] : tensor<1x2x8x4xf32> into tensor<2x8x4xf32>
  %kc = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x2x4x8xf32> into tensor<2x4x8xf32>
  %es = tensor.empty() : tensor<2x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %s = linalg.batch_matmul ins(%qc, %kc : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%fs : tensor<2x8x8xf32>) -> tensor<2x8x8xf32> loc("attn")
  %s4 = tensor.expand_shape %s [[0, 1], [2], [3]] output_shape [1, 2, 8, 8] : tensor<2x8x8xf32> into tensor<1x2x8x8xf32>
  %em = tensor.empty() : tensor<1x2x8xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%em : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %mx = linalg.generic {indexing_maps = [#m4, #max], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%s4 : tensor<1x2x8x8xf32>) outs(%fm : tensor<1x2x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8xf32> loc("attn")
  %e4 = tensor.empty() : tensor<1x2x8x8xf32>
  %sub = linalg.generic {indexing_maps = [#m4, #max, #m4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s4, %mx : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%e4 : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %m: f32, %out: f32):
    %0 = arith.subf %in, %m : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x8xf32> loc("attn")
  %ex = linalg.generic {indexing_maps = [#m4, #m4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sub : tensor<1x2x8x8xf32>) outs(%e4 : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x8xf32> loc("attn")
  %e1 = tensor.empty() : tensor<1x2x8x1xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x8x1xf32>) -> tensor<1x2x8x1xf32>
  %sm = linalg.generic {indexing_maps = [#m4, #sum], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%ex : tensor<1x2x8x8xf32>) outs(%f1 : tensor<1x2x8x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x1xf32> loc("attn")
  %p = linalg.generic {indexing_maps = [#m4, #sum, #m4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ex, %sm : tensor<1x2x8x8xf32>, tensor<1x2x8x1xf32>) outs(%e4 : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %d: f32, %out: f32):
    %0 = arith.divf %in, %d : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x8xf32> loc("attn")
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x2x8x8xf32> into tensor<2x8x8xf32>
  %vc = tensor.collapse_shape %vt [[0, 1], [2], [3]] : tensor<1x2x8x4xf32> into tensor<2x8x4xf32>
  %ec = tensor.empty() : tensor<2x8x4xf32>
  %fc = linalg.fill ins(%zero : f32) outs(%ec : tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
  %c = linalg.batch_matmul ins(%pc, %vc : tensor<2x8x8xf32>, tensor<2x8x4xf32>) outs(%fc : tensor<2x8x4xf32>) -> tensor<2x8x4xf32> loc("attn")
  %c4 = tensor.expand_shape %c [[0, 1], [2], [3]] output_shape [1, 2, 8, 4] : tensor<2x8x4xf32> into tensor<1x2x8x4xf32>
  %eo = tensor.empty() : tensor<1x8x2x4xf32>
  %ct = linalg.transpose ins(%c4 : tensor<1x2x8x4xf32>) outs(%eo : tensor<1x8x2x4xf32>) permutation = [0, 2, 1, 3] loc("attn")
  %cc = tensor.collapse_shape %ct [[0, 1], [2, 3]] : tensor<1x8x2x4xf32> into tensor<8x8xf32>
  %o = linalg.matmul ins(%cc, %wo : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.out")
  %o3 = tensor.expand_shape %o [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32>
  %er = tensor.empty() : tensor<1x8x8xf32>
  %r = linalg.generic {indexing_maps = [#m3, #m3, #m3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%o3, %x : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%er : tensor<1x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.addf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<1x8x8xf32> loc("attn.out")
  return %r : tensor<1x8x8xf32>
}

// -----

// The same attention after a linear with a residual add (a stand-in for
// the feed-forward block before a BERT layer's attention) and a row-local
// stage (each token divided by the sum of its features, a stand-in for the
// LayerNorm after it) that the projections and the residual add read.
//
// With fit-rows=1 and matmuls=true the linear runs over rows, one per trip,
// so the row-local stage's input comes row by row: the stage runs over the
// attention's rows in a loop of its own (its row sum without the unit
// dimension), and so do the key and value projections, which read its rows.
// Each trip then runs as soon as its input rows exist.
// STREAM-LABEL: func.func @normalised
// STREAM: %[[H:.*]] = scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args(%{{.*}} = %{{.*}}) -> (tensor<1x8x8xf32>)
// STREAM: linalg.matmul
// STREAM: %[[N:.*]] = scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args(%{{.*}} = %{{.*}}) -> (tensor<1x8x8xf32>)
// STREAM: tensor.extract_slice %[[H]][0, %{{.*}}, 0] [1, 1, 8]
// STREAM: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<1x1x8xf32>) outs(%{{.*}} : tensor<1x1xf32>)
// STREAM: arith.divf
// STREAM: tensor.insert_slice {{.*}} [1, 1, 8] [1, 1, 1] : tensor<1x1x8xf32> into tensor<1x8x8xf32>
// STREAM: scf.for
// STREAM: tensor.extract_slice %[[N]][0, %{{.*}}, 0] [1, 1, 8]
// STREAM: linalg.matmul {{.*}} -> tensor<1x8xf32>
// STREAM: scf.for
// STREAM: tensor.extract_slice %[[N]][0, %{{.*}}, 0] [1, 1, 8]
// STREAM: linalg.matmul {{.*}} -> tensor<1x8xf32>
// STREAM: scf.for
// STREAM: tensor.extract_slice %[[N]][0, %{{.*}}, 0] [1, 1, 8]
// STREAM: linalg.batch_matmul
// STREAM-REMARK: "norm": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows, in a loop of its own, like the query rows of the attention it feeds ('attn.query'; the row-local 'norm' before its projections): each trip runs as soon as its input rows exist (the attention still waits for all its keys and values)
// STREAM-REMARK: "attn.key": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows, in a loop of its own, like the query rows of the attention it feeds ('attn.query'; a key or value projection)
// STREAM-REMARK: "attn.value": remark: [imc-tile-rows] tiled over output rows: 8 tiles of 1 rows, in a loop of its own, like the query rows of the attention it feeds ('attn.query'; a key or value projection)
//
// With key-value-rows=false the row-local stage runs whole, after the
// linear's last row (the projections run over rows all the same here, as
// every matmul stage does with matmuls=true).
// WHOLE-LABEL: func.func @normalised
// WHOLE: scf.for
// WHOLE: scf.yield
// WHOLE-NEXT: }
// WHOLE-NOT: scf.for
// WHOLE: arith.divf
// WHOLE: scf.for
//
// Without fit-rows only the attention runs over rows (its tensors do not
// fit): the linear runs whole, and so do the stage and the projections.
// CHECK-LABEL: func.func @normalised
// CHECK-NOT: scf.for
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x8xf32>, tensor<8x8xf32>)
// CHECK-NOT: scf.for
// CHECK: arith.divf
// CHECK-NOT: scf.for
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x8xf32>, tensor<8x8xf32>)
// CHECK-NOT: scf.for
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x8xf32>, tensor<8x8xf32>)
// CHECK: scf.for
// CHECK-NOT: scf.for
// CHECK: return
#n3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#n4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#nax = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#nsum = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#rowsum = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
func.func @normalised(%input: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %wq = arith.constant dense<0.25> : tensor<8x8xf32>
  %wk = arith.constant dense<0.5> : tensor<8x8xf32>
  %wv = arith.constant dense<0.125> : tensor<8x8xf32>
  %wo = arith.constant dense<0.0625> : tensor<8x8xf32>
  %er0 = tensor.empty() : tensor<1x8x8xf32>
  %w0 = arith.constant dense<0.375> : tensor<8x8xf32>
  %e0 = tensor.empty() : tensor<8x8xf32>
  %z0 = arith.constant 0.0 : f32
  %f0 = linalg.fill ins(%z0 : f32) outs(%e0 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %ic = tensor.collapse_shape %input [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32>
  %h = linalg.matmul ins(%ic, %w0 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f0 : tensor<8x8xf32>) -> tensor<8x8xf32> loc("ffn")
  %h3 = tensor.expand_shape %h [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32>
  %hr = linalg.generic {indexing_maps = [#n3, #n3, #n3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%h3, %input : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%er0 : tensor<1x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.addf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<1x8x8xf32> loc("ffn")
  %e81 = tensor.empty() : tensor<1x8x1xf32>
  %f81 = linalg.fill ins(%zero : f32) outs(%e81 : tensor<1x8x1xf32>) -> tensor<1x8x1xf32>
  %rs = linalg.generic {indexing_maps = [#n3, #rowsum], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%hr : tensor<1x8x8xf32>) outs(%f81 : tensor<1x8x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<1x8x1xf32> loc("norm")
  %x = linalg.generic {indexing_maps = [#n3, #rowsum, #n3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%hr, %rs : tensor<1x8x8xf32>, tensor<1x8x1xf32>) outs(%er0 : tensor<1x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.divf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<1x8x8xf32> loc("norm")
  %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x8x8xf32> into tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %q = linalg.matmul ins(%xc, %wq : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.query")
  %k = linalg.matmul ins(%xc, %wk : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.key")
  %v = linalg.matmul ins(%xc, %wv : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.value")
  %q4 = tensor.expand_shape %q [[0, 1], [2, 3]] output_shape [1, 8, 2, 4] : tensor<8x8xf32> into tensor<1x8x2x4xf32>
  %k4 = tensor.expand_shape %k [[0, 1], [2, 3]] output_shape [1, 8, 2, 4] : tensor<8x8xf32> into tensor<1x8x2x4xf32>
  %v4 = tensor.expand_shape %v [[0, 1], [2, 3]] output_shape [1, 8, 2, 4] : tensor<8x8xf32> into tensor<1x8x2x4xf32>
  %eh = tensor.empty() : tensor<1x2x8x4xf32>
  %qt = linalg.transpose ins(%q4 : tensor<1x8x2x4xf32>) outs(%eh : tensor<1x2x8x4xf32>) permutation = [0, 2, 1, 3] loc("attn")
  %ek = tensor.empty() : tensor<1x2x4x8xf32>
  %kt = linalg.transpose ins(%k4 : tensor<1x8x2x4xf32>) outs(%ek : tensor<1x2x4x8xf32>) permutation = [0, 2, 3, 1] loc("attn")
  %vt = linalg.transpose ins(%v4 : tensor<1x8x2x4xf32>) outs(%eh : tensor<1x2x8x4xf32>) permutation = [0, 2, 1, 3] loc("attn")
  %qc = tensor.collapse_shape %qt [[0, 1], [2], [3]] : tensor<1x2x8x4xf32> into tensor<2x8x4xf32>
  %kc = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x2x4x8xf32> into tensor<2x4x8xf32>
  %es = tensor.empty() : tensor<2x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %s = linalg.batch_matmul ins(%qc, %kc : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%fs : tensor<2x8x8xf32>) -> tensor<2x8x8xf32> loc("attn")
  %s4 = tensor.expand_shape %s [[0, 1], [2], [3]] output_shape [1, 2, 8, 8] : tensor<2x8x8xf32> into tensor<1x2x8x8xf32>
  %em = tensor.empty() : tensor<1x2x8xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%em : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %mx = linalg.generic {indexing_maps = [#n4, #nax], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%s4 : tensor<1x2x8x8xf32>) outs(%fm : tensor<1x2x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8xf32> loc("attn")
  %e4 = tensor.empty() : tensor<1x2x8x8xf32>
  %sub = linalg.generic {indexing_maps = [#n4, #nax, #n4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s4, %mx : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%e4 : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %m: f32, %out: f32):
    %0 = arith.subf %in, %m : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x8xf32> loc("attn")
  %ex = linalg.generic {indexing_maps = [#n4, #n4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sub : tensor<1x2x8x8xf32>) outs(%e4 : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x8xf32> loc("attn")
  %e1 = tensor.empty() : tensor<1x2x8x1xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x8x1xf32>) -> tensor<1x2x8x1xf32>
  %sm = linalg.generic {indexing_maps = [#n4, #nsum], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%ex : tensor<1x2x8x8xf32>) outs(%f1 : tensor<1x2x8x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x1xf32> loc("attn")
  %p = linalg.generic {indexing_maps = [#n4, #nsum, #n4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ex, %sm : tensor<1x2x8x8xf32>, tensor<1x2x8x1xf32>) outs(%e4 : tensor<1x2x8x8xf32>) {
  ^bb0(%in: f32, %d: f32, %out: f32):
    %0 = arith.divf %in, %d : f32
    linalg.yield %0 : f32
  } -> tensor<1x2x8x8xf32> loc("attn")
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x2x8x8xf32> into tensor<2x8x8xf32>
  %vc = tensor.collapse_shape %vt [[0, 1], [2], [3]] : tensor<1x2x8x4xf32> into tensor<2x8x4xf32>
  %ec = tensor.empty() : tensor<2x8x4xf32>
  %fc = linalg.fill ins(%zero : f32) outs(%ec : tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
  %c = linalg.batch_matmul ins(%pc, %vc : tensor<2x8x8xf32>, tensor<2x8x4xf32>) outs(%fc : tensor<2x8x4xf32>) -> tensor<2x8x4xf32> loc("attn")
  %c4 = tensor.expand_shape %c [[0, 1], [2], [3]] output_shape [1, 2, 8, 4] : tensor<2x8x4xf32> into tensor<1x2x8x4xf32>
  %eo = tensor.empty() : tensor<1x8x2x4xf32>
  %ct = linalg.transpose ins(%c4 : tensor<1x2x8x4xf32>) outs(%eo : tensor<1x8x2x4xf32>) permutation = [0, 2, 1, 3] loc("attn")
  %cc = tensor.collapse_shape %ct [[0, 1], [2, 3]] : tensor<1x8x2x4xf32> into tensor<8x8xf32>
  %o = linalg.matmul ins(%cc, %wo : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc("attn.out")
  %o3 = tensor.expand_shape %o [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32>
  %er = tensor.empty() : tensor<1x8x8xf32>
  %r = linalg.generic {indexing_maps = [#n3, #n3, #n3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%o3, %x : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%er : tensor<1x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.addf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<1x8x8xf32> loc("attn.out")
  return %r : tensor<1x8x8xf32>
}
