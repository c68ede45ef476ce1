// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{matmuls=true matmul-chains=false}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{matmuls=true matmul-chains=false}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{matmuls=true matmul-chains=false}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s --check-prefix=BOTH

// An MLP block as torch-mlir imports it (Linear(16, 32) + ReLU, then
// Linear(32, 16) + the residual) on [1, 16, 16] tokens, with a 2 KiB
// scratchpad: imc-tile-rows{matmuls=true} tiles both stages over tiles of
// 2 rows. The hidden [1, 16, 32] tensor (2,048 B, a row 128 B) is stored by
// the first loop and read by the second in row windows. Its home is a
// prefix of whole row tiles (granule 2 rows = 256 B): the scratchpad less
// the 64 B staging buffer and the 128 B slab (2 rows of 64 B) through which
// each stage streams the model input leaves 1,856 B, i.e. 7 tiles = 1,792 B:
// rows [0, 14) at offset 0; rows [14, 16) (256 B) in DRAM. A trip's rows
// are then all on chip or all in DRAM: an scf.if on the trip's first row
// stores them into (reads them from) a row view of the chunk, or moves them
// through the 64 B staging buffer at 1,984 (4 DMAs of 16 floats).
// Nothing fills the chunk before the first loop (imc-check-buffers follows
// the trips: their row views write it whole).
// CHECK-LABEL: func.func @main
// CHECK: %[[CHUNK:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 1792 : i64} : () -> memref<448xf32, 1>
// CHECK-NOT: linalg.fill
// CHECK: %[[ROWS:.*]] = memref.expand_shape %[[CHUNK]] {{\[}}[0, 1, 2]] output_shape [1, 14, 32] : memref<448xf32, 1> into memref<1x14x32xf32, 1>
// CHECK: %[[DRAM:.*]] = memref.alloc() : memref<64xf32>
// CHECK: scf.for %[[I:.*]] = %c0 to %c16 step %c2 iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<1x16x32xf32>)
// CHECK: %[[TILE:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<1x2x32xf32>)
// CHECK: arith.maximumf
// CHECK: %[[ON:.*]] = arith.cmpi ult, %[[I]], %c14 : index
// CHECK-NEXT: scf.if %[[ON]] {
// CHECK-NEXT: %[[VIEW:.*]] = memref.subview %[[ROWS]][0, %[[I]], 0] [1, 2, 32] [1, 1, 1]
// CHECK-NEXT: bufferization.materialize_in_destination %[[TILE]] in writable %[[VIEW]]
// CHECK-NEXT: }
// CHECK: %[[OFF:.*]] = arith.cmpi uge, %[[I]], %{{.*}} : index
// CHECK-NEXT: scf.if %[[OFF]] {
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[TILE]] {{\[}}[0, 1, 2]] : tensor<1x2x32xf32> into tensor<64xf32>
// CHECK-COUNT-4: "imc.dma"(%{{.*}}, %{{.*}}) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32, strided<[1], offset: ?>>)
// CHECK: }
// CHECK-NEXT: scf.yield %[[ACC]] : tensor<1x16x32xf32>
// The second loop reads its rows in place or from DRAM, by the same test.
// CHECK: %[[ROWS2:.*]] = memref.expand_shape %[[CHUNK]] {{\[}}[0, 1, 2]] output_shape [1, 14, 32]
// CHECK: scf.for %[[J:.*]] = %c0 to %c16 step %c2
// CHECK: %[[ON2:.*]] = arith.cmpi ult, %[[J]], %c14{{.*}} : index
// CHECK-NEXT: %[[H:.*]] = scf.if %[[ON2]] -> (tensor<1x2x32xf32>) {
// CHECK-NEXT: %[[VIEW2:.*]] = memref.subview %[[ROWS2]][0, %[[J]], 0] [1, 2, 32] [1, 1, 1]
// CHECK-NEXT: %[[IN_PLACE:.*]] = bufferization.to_tensor %[[VIEW2]] restrict
// CHECK-NEXT: scf.yield %[[IN_PLACE]]
// CHECK-NEXT: } else {
// CHECK: %[[STAGE:.*]] = "imc.spad_alloc"() {offset = 1984 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
// CHECK-NEXT: memref.subview %[[DRAM]]
// CHECK-NEXT: "imc.dma"(%{{.*}}, %[[STAGE]])
// CHECK-COUNT-3: "imc.dma"
// CHECK: %[[LOADED:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0, 1, 2]] output_shape [1, 2, 32] : tensor<64xf32> into tensor<1x2x32xf32>
// CHECK-NEXT: scf.yield %[[LOADED]]
// CHECK: tensor.collapse_shape %[[H]] {{\[}}[0, 1], [2]] : tensor<1x2x32xf32> into tensor<2x32xf32>
// CHECK: memref.dealloc %[[DRAM]]
// CHECK: "imc.spad_free"(%[[CHUNK]])
// REMARK: "l1": remark: [imc-place-buffers] 1x16x32xf32 (2,048 B) stored row tile by row tile (2 rows per trip): rows [0, 14) of 16 into the scratchpad (1 chunk(s)), rows [14, 16) to DRAM through the staging buffer, 4 DMA(s) per trip
// REMARK: "l2": remark: [imc-place-buffers] 1x16x32xf32 (2,048 B) read in row windows (2 rows per trip): rows [0, 14) of 16 in place from the scratchpad (1 chunk(s)), rows [14, 16) from DRAM through the staging buffer, 4 DMA(s) per trip
// REMARK: "l1": remark: [imc-place-buffers] layer 'l1': 256 B of DRAM traffic for stored tensors (spills), bound 0 B: 1x16x32xf32 (2,048 B) read by 1 stage(s): 256 B written to DRAM, 256 B read back
// REMARK: remark: [imc-check-buffers] {{.*}} placement verified
#map = affine_map<(d0, d1) -> (d0, d1)>
#bias = affine_map<(d0, d1) -> (d1)>
#map3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#l1 = loc("l1")
#l2 = loc("l2")
#act = loc("act")
#res = loc("res")
func.func @main(%x: tensor<1x16x16xf32>) -> tensor<1x16x16xf32> {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.0625> : tensor<16x32xf32>
  %b1 = arith.constant dense<0.25> : tensor<32xf32>
  %w2 = arith.constant dense<0.03125> : tensor<32x16xf32>
  %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x16x16xf32> into tensor<16x16xf32> loc(#l1)
  %e1 = tensor.empty() : tensor<16x32xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<16x32xf32>) -> tensor<16x32xf32>
  %y1 = linalg.matmul ins(%xc, %w1 : tensor<16x16xf32>, tensor<16x32xf32>) outs(%f1 : tensor<16x32xf32>) -> tensor<16x32xf32> loc(#l1)
  %yb = linalg.generic {indexing_maps = [#map, #bias, #map], iterator_types = ["parallel", "parallel"]}
      ins(%y1, %b1 : tensor<16x32xf32>, tensor<32xf32>) outs(%e1 : tensor<16x32xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    linalg.yield %s : f32
  } -> tensor<16x32xf32> loc(#l1)
  %y3 = tensor.expand_shape %yb [[0, 1], [2]] output_shape [1, 16, 32] : tensor<16x32xf32> into tensor<1x16x32xf32> loc(#l1)
  %e3 = tensor.empty() : tensor<1x16x32xf32>
  %h = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%y3 : tensor<1x16x32xf32>) outs(%e3 : tensor<1x16x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x16x32xf32> loc(#act)
  %hc = tensor.collapse_shape %h [[0, 1], [2]] : tensor<1x16x32xf32> into tensor<16x32xf32> loc(#l2)
  %e2 = tensor.empty() : tensor<16x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<16x16xf32>) -> tensor<16x16xf32>
  %y2 = linalg.matmul ins(%hc, %w2 : tensor<16x32xf32>, tensor<32x16xf32>) outs(%f2 : tensor<16x16xf32>) -> tensor<16x16xf32> loc(#l2)
  %z3 = tensor.expand_shape %y2 [[0, 1], [2]] output_shape [1, 16, 16] : tensor<16x16xf32> into tensor<1x16x16xf32> loc(#l2)
  %e4 = tensor.empty() : tensor<1x16x16xf32>
  %r = linalg.generic {indexing_maps = [#map3, #map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%z3, %x : tensor<1x16x16xf32>, tensor<1x16x16xf32>) outs(%e4 : tensor<1x16x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x16x16xf32> loc(#res)
  return %r : tensor<1x16x16xf32>
}

// -----

// The same hidden tensor read by two tiled stages, l2 and l4, with l3's
// [1, 16, 32] result q (read by l4 and l5) live in between. Keeping q on
// chip saves 3 transfers per byte (written, read twice), h's bytes after
// l2 only 2: the plan keeps h's rows [0, 14) on chip until l2 and none
// until l4, so all 16 rows are written to DRAM too. Each trip of l1 stores
// its rows into the chunk (rows below 14) and to DRAM (every row: no test,
// the DRAM part starts at row 0); l4 reads every trip from DRAM.
// BOTH-LABEL: func.func @main
// BOTH-LABEL: func.func @main
// BOTH: %[[CHUNK:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 1792 : i64} : () -> memref<448xf32, 1>
// BOTH: %[[DRAM:.*]] = memref.alloc() : memref<512xf32>
// BOTH: scf.for %[[I:.*]] = %c0 to %c16 step %c2
// BOTH: arith.cmpi ult, %[[I]], %c14 : index
// BOTH-NEXT: scf.if
// BOTH: bufferization.materialize_in_destination %{{.*}} in writable %{{.*}} : (tensor<1x2x32xf32>, memref<1x2x32xf32, strided<[448, 32, 1], offset: ?>, 1>)
// BOTH-NEXT: }
// BOTH-NOT: scf.if
// BOTH: %[[STAGE:.*]] = "imc.spad_alloc"() {offset = 1984 : i64, size = 64 : i64}
// BOTH-NOT: scf.if
// BOTH: "imc.dma"(%[[STAGE]], %{{.*}})
// BOTH-COUNT-3: "imc.dma"
// BOTH-NEXT: "imc.spad_free"
// BOTH-NEXT: scf.yield
// REMARK: "l1": remark: [imc-place-buffers] 1x16x32xf32 (2,048 B) stored row tile by row tile (2 rows per trip): rows [0, 14) of 16 into the scratchpad (1 chunk(s)), rows [0, 16) to DRAM through the staging buffer, 4 DMA(s) per trip
// REMARK: "l2": remark: [imc-place-buffers] 1x16x32xf32 (2,048 B) read in row windows (2 rows per trip): rows [0, 14) of 16 in place from the scratchpad (1 chunk(s)), rows [14, 16) from DRAM through the staging buffer, 4 DMA(s) per trip
// REMARK: "l4": remark: [imc-place-buffers] 1x16x32xf32 (2,048 B) read in row windows (2 rows per trip): rows [0, 0) of 16 in place from the scratchpad (0 chunk(s)), rows [0, 16) from DRAM through the staging buffer, 4 DMA(s) per trip
// REMARK: remark: [imc-check-buffers] {{.*}} placement verified
#map = affine_map<(d0, d1) -> (d0, d1)>
#bias = affine_map<(d0, d1) -> (d1)>
#map3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#l1 = loc("l1")
#l2 = loc("l2")
#act = loc("act")
#res = loc("res")
#l3 = loc("l3")
#l4 = loc("l4")
#res4 = loc("res4")
#l5 = loc("l5")
func.func @main(%x: tensor<1x16x16xf32>) -> tensor<1x16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w1 = arith.constant dense<0.0625> : tensor<16x32xf32>
  %b1 = arith.constant dense<0.25> : tensor<32xf32>
  %w2 = arith.constant dense<0.03125> : tensor<32x16xf32>
  %w3 = arith.constant dense<-0.0625> : tensor<16x32xf32>
  %w4 = arith.constant dense<0.03125> : tensor<32x32xf32>
  %w5 = arith.constant dense<0.0625> : tensor<32x32xf32>
  %xc = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x16x16xf32> into tensor<16x16xf32> loc(#l1)
  %e1 = tensor.empty() : tensor<16x32xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<16x32xf32>) -> tensor<16x32xf32>
  %y1 = linalg.matmul ins(%xc, %w1 : tensor<16x16xf32>, tensor<16x32xf32>) outs(%f1 : tensor<16x32xf32>) -> tensor<16x32xf32> loc(#l1)
  %yb = linalg.generic {indexing_maps = [#map, #bias, #map], iterator_types = ["parallel", "parallel"]}
      ins(%y1, %b1 : tensor<16x32xf32>, tensor<32xf32>) outs(%e1 : tensor<16x32xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    linalg.yield %s : f32
  } -> tensor<16x32xf32> loc(#l1)
  %y3 = tensor.expand_shape %yb [[0, 1], [2]] output_shape [1, 16, 32] : tensor<16x32xf32> into tensor<1x16x32xf32> loc(#l1)
  %e3 = tensor.empty() : tensor<1x16x32xf32>
  %h = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%y3 : tensor<1x16x32xf32>) outs(%e3 : tensor<1x16x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x16x32xf32> loc(#act)
  %hc = tensor.collapse_shape %h [[0, 1], [2]] : tensor<1x16x32xf32> into tensor<16x32xf32> loc(#l2)
  %e2 = tensor.empty() : tensor<16x16xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<16x16xf32>) -> tensor<16x16xf32>
  %y2 = linalg.matmul ins(%hc, %w2 : tensor<16x32xf32>, tensor<32x16xf32>) outs(%f2 : tensor<16x16xf32>) -> tensor<16x16xf32> loc(#l2)
  %z3 = tensor.expand_shape %y2 [[0, 1], [2]] output_shape [1, 16, 16] : tensor<16x16xf32> into tensor<1x16x16xf32> loc(#l2)
  %e4 = tensor.empty() : tensor<1x16x16xf32>
  %r = linalg.generic {indexing_maps = [#map3, #map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%z3, %x : tensor<1x16x16xf32>, tensor<1x16x16xf32>) outs(%e4 : tensor<1x16x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x16x16xf32> loc(#res)
  %rc = tensor.collapse_shape %r [[0, 1], [2]] : tensor<1x16x16xf32> into tensor<16x16xf32> loc(#l3)
  %e5 = tensor.empty() : tensor<16x32xf32>
  %f5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<16x32xf32>) -> tensor<16x32xf32>
  %y5 = linalg.matmul ins(%rc, %w3 : tensor<16x16xf32>, tensor<16x32xf32>) outs(%f5 : tensor<16x32xf32>) -> tensor<16x32xf32> loc(#l3)
  %q3 = tensor.expand_shape %y5 [[0, 1], [2]] output_shape [1, 16, 32] : tensor<16x32xf32> into tensor<1x16x32xf32> loc(#l3)
  %q = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%q3 : tensor<1x16x32xf32>) outs(%e3 : tensor<1x16x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x16x32xf32> loc(#l3)
  %qc = tensor.collapse_shape %q [[0, 1], [2]] : tensor<1x16x32xf32> into tensor<16x32xf32> loc(#l4)
  %y6 = linalg.matmul ins(%qc, %w4 : tensor<16x32xf32>, tensor<32x32xf32>) outs(%f5 : tensor<16x32xf32>) -> tensor<16x32xf32> loc(#l4)
  %z6 = tensor.expand_shape %y6 [[0, 1], [2]] output_shape [1, 16, 32] : tensor<16x32xf32> into tensor<1x16x32xf32> loc(#l4)
  %o = linalg.generic {indexing_maps = [#map3, #map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%z6, %h : tensor<1x16x32xf32>, tensor<1x16x32xf32>) outs(%e3 : tensor<1x16x32xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x16x32xf32> loc(#l4)
  %qc5 = tensor.collapse_shape %q [[0, 1], [2]] : tensor<1x16x32xf32> into tensor<16x32xf32> loc(#l5)
  %y7 = linalg.matmul ins(%qc5, %w5 : tensor<16x32xf32>, tensor<32x32xf32>) outs(%f5 : tensor<16x32xf32>) -> tensor<16x32xf32> loc(#l5)
  %z7 = tensor.expand_shape %y7 [[0, 1], [2]] output_shape [1, 16, 32] : tensor<16x32xf32> into tensor<1x16x32xf32> loc(#l5)
  %o5 = linalg.generic {indexing_maps = [#map3, #map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%z7, %o : tensor<1x16x32xf32>, tensor<1x16x32xf32>) outs(%e3 : tensor<1x16x32xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x16x32xf32> loc(#l5)
  return %o5 : tensor<1x16x32xf32>
}
