// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=SPLIT
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=ALLDRAM
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s --check-prefix=STAGED
// RUN: imc-opt %s --hardware %S/../Inputs/spad-3k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=RESIDENT

// Two tiled stages: conv1's result is a stored tensor of 4 planes (a plane:
// the 10 x 10 rows of one channel, 400 B) that conv2 reads in row windows.
// Its on-chip part is whole planes. With a 2 KiB scratchpad (less the row
// slabs each stage reserves) 2 planes stay in a scratchpad chunk and 2 go to
// DRAM. Each trip of conv1 stores its 2 output rows: the chunk's planes into
// a row view of the chunk, the others through an output slab and one DMA
// (a plane's 2 rows, 80 B, do not fit the 64 B staging buffer, so the stage
// reserves the slab).
// Each trip of conv2 reads its rows of the chunk's planes in place and loads
// the DRAM planes' new rows into a slab that keeps the halo (one DMA per
// row, each row once); the two parts are joined along the channels.
// Once conv2 reads the tensor from its home, conv1's loop no longer
// assembles it: no insert_slice, the iteration argument passes through. The
// conv's zero init is filled per tile inside the loop (fused with the conv,
// not sliced from a whole zero tensor), so nothing is added to its result.
// Nothing fills the chunk before the loop (imc-check-buffers follows the
// trips: their row views write it whole).
// CHECK-LABEL: func.func @main
// CHECK: %[[CHUNK:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 800 : i64} : () -> memref<200xf32, 1>
// CHECK-NOT: linalg.fill
// CHECK: %[[CHUNK4:.*]] = memref.expand_shape %[[CHUNK]] {{\[}}[0, 1, 2, 3]] output_shape [1, 2, 10, 10] : memref<200xf32, 1> into memref<1x2x10x10xf32, 1>
// CHECK: %[[DRAM:.*]] = memref.alloc() : memref<200xf32>
// CHECK: %[[DRAM4:.*]] = memref.expand_shape %[[DRAM]] {{\[}}[0, 1, 2, 3]] output_shape [1, 2, 10, 10] : memref<200xf32> into memref<1x2x10x10xf32>
// CHECK: %[[OUT:.*]] = "imc.spad_alloc"() {offset = 1664 : i64, size = 160 : i64} : () -> memref<1x2x2x10xf32, 1>
// CHECK: %[[Y1:.*]] = scf.for %[[I:.*]] = %c0 to %c10 step %c2 iter_args(%[[ACC:.*]] = %{{[^ ]*}})
// CHECK: imc.accumulate
// CHECK-NOT: linalg.add
// CHECK: %[[TILE:.*]] = linalg.transpose
// CHECK: %[[ON:.*]] = tensor.extract_slice %[[TILE]][0, 0, 0, 0] [1, 2, 2, 10]
// CHECK: %[[ROWS_ON:.*]] = memref.subview %[[CHUNK4]][0, 0, %[[I]], 0] [1, 2, 2, 10]
// CHECK: bufferization.materialize_in_destination %[[ON]] in writable %[[ROWS_ON]]
// CHECK: %[[OFF:.*]] = tensor.extract_slice %[[TILE]][0, 2, 0, 0] [1, 2, 2, 10]
// CHECK: bufferization.materialize_in_destination %[[OFF]] in writable %[[OUT]]
// CHECK: %[[ROWS_OFF:.*]] = memref.subview %[[DRAM4]][0, 0, %[[I]], 0] [1, 2, 2, 10]
// CHECK: "imc.dma"(%[[OUT]], %[[ROWS_OFF]]) {offsets = array<i64: 0, 0, 0, 0>, sizes = array<i64: 1, 2, 2, 10>, strides = array<i64: 1, 1, 1, 1>}
// CHECK-NEXT: scf.yield %[[ACC]] :
// CHECK: "imc.spad_free"(%[[OUT]])
// CHECK: %[[ONCHIP:.*]] = memref.expand_shape %[[CHUNK]]
// CHECK: %[[OFFCHIP:.*]] = memref.expand_shape %[[DRAM]]
// CHECK: %[[SLAB2:.*]] = "imc.spad_alloc"() {offset = 1664 : i64, size = 320 : i64} : () -> memref<1x2x4x10xf32, 1>
// CHECK: scf.for %[[IV:.*]] = %c0 to %c8 step %c2
// CHECK: %[[WIN:.*]] = memref.subview %[[ONCHIP]][0, 0, %[[IV]], 0] [1, 2, 4, 10]
// CHECK: %[[IN_PLACE:.*]] = bufferization.to_tensor %[[WIN]] restrict
// CHECK: scf.for
// CHECK: memref.copy
// CHECK: scf.for
// CHECK: %[[ROW:.*]] = memref.subview %[[OFFCHIP]][0, 0, %{{.*}}, 0] [1, 2, 1, 10]
// CHECK: "imc.dma"(%[[ROW]], %{{.*}}) {{.*}}sizes = array<i64: 1, 2, 1, 10>
// CHECK: %[[LOADED:.*]] = bufferization.to_tensor %{{.*}} restrict : memref<1x2x4x10xf32, strided<[80, 40, 10, 1]>, 1> to tensor<1x2x4x10xf32>
// CHECK: %[[ROWS:.*]] = "imc.join"(%[[IN_PLACE]], %[[LOADED]]) {dim = 1 : i64} : (tensor<1x2x4x10xf32>, tensor<1x2x4x10xf32>) -> tensor<1x4x4x10xf32>
// CHECK: "imc.im2col"(%[[ROWS]])
// CHECK: memref.dealloc %[[DRAM]]
// CHECK: "imc.spad_free"(%[[CHUNK]])
// CHECK: "imc.spad_free"(%[[SLAB2]])
// CHECK-NOT: tensor.extract_slice %[[Y1]]
// SPLIT: "conv1": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) stored row tile by row tile (2 rows per trip): 2 of 4 planes into the scratchpad, 2 to DRAM through the buffer at offset 1,664, 2 planes per DMA
// SPLIT: "conv2": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) read in row windows: 2 of 4 planes (rows of one channel) read in place from the scratchpad, 2 streamed from DRAM through a slab (4 rows) at offset 1,664
// SPLIT: "conv1": remark: [imc-place-buffers] layer 'conv1': 800 B of DRAM traffic for stored tensors (spills), bound 0 B: 1x4x10x10xf32 (1,600 B) read by 1 stage(s): 800 B written to DRAM, 800 B read back
// SPLIT: remark: [imc-check-buffers] 4 scratchpad buffers, peak 1728 bytes of 2048: placement verified

// With 1 KiB (one row per tile), the whole tensor goes through DRAM and the
// slabs; a plane's output row (40 B) fits the 64 B staging buffer, so conv1
// stores through it (allocated within the trip), one plane per DMA.
// ALLDRAM: "conv1": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) stored row tile by row tile (1 rows per trip): 0 of 4 planes into the scratchpad, 4 to DRAM through the buffer at offset 960, 1 planes per DMA
// ALLDRAM: "conv2": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) read in row windows: 0 of 4 planes (rows of one channel) read in place from the scratchpad, 4 streamed from DRAM through a slab (3 rows)
// ALLDRAM: remark: [imc-check-buffers] {{.*}} placement verified
// STAGED: scf.for %[[I:.*]] = %c0 to %c10 step %c1
// STAGED: %[[TILE:.*]] = linalg.transpose
// STAGED: %[[STAGE:.*]] = "imc.spad_alloc"() {offset = 960 : i64, size = 40 : i64} : () -> memref<1x1x1x10xf32, 1>
// STAGED-COUNT-4: "imc.dma"(%[[STAGE]], %{{.*}}) {offsets = array<i64: 0, 0, 0, 0>, sizes = array<i64: 1, 1, 1, 10>, strides = array<i64: 1, 1, 1, 1>}
// STAGED: "imc.spad_free"(%[[STAGE]])
// STAGED-NEXT: scf.yield

// With 3 KiB it stays on chip: no slab for it, no DMA.
// RESIDENT: "conv1": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) stored row tile by row tile (2 rows per trip): 4 of 4 planes into the scratchpad
// RESIDENT: "conv2": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) read in row windows: 4 of 4 planes (rows of one channel) read in place from the scratchpad
// RESIDENT: spill traffic 0 B
// RESIDENT: remark: [imc-check-buffers] 2 scratchpad buffers, peak 2368 bytes of 3072: placement verified
func.func @main(%x: tensor<1x4x12x12xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %e10 = tensor.empty() : tensor<1x4x10x10xf32>
  %f10 = linalg.fill ins(%zero : f32) outs(%e10 : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32>
  %y1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x4x12x12xf32>, tensor<4x4x3x3xf32>) outs(%f10 : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32> loc("conv1")
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%y1, %w : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv2")
  return %y2 : tensor<1x4x8x8xf32>
}
