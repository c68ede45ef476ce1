// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=SPLIT
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=ALLDRAM
// RUN: imc-opt %s --hardware %S/../Inputs/spad-3k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=RESIDENT

// Two tiled stages: conv2 reads row windows of conv1's result, a stored
// tensor of 4 planes (a plane: the 10 x 10 rows of one channel, 400 B). Its
// on-chip part is whole planes. With a 2 KiB scratchpad 3 planes stay in a
// scratchpad chunk and 1 goes to DRAM: each trip of conv2 reads its rows of
// the 3 planes in place and loads the DRAM plane's new rows into a slab that
// keeps the halo (one DMA per row, each row once); the two parts are joined
// along the channels.
// CHECK-LABEL: func.func @main
// CHECK: %[[SLAB1:.*]] = "imc.spad_alloc"() {offset = 1216 : i64, size = 768 : i64} : () -> memref<1x4x4x12xf32, 1>
// CHECK: %[[Y1:.*]] = scf.for
// CHECK: "imc.spad_free"(%[[SLAB1]])
// CHECK: %[[CHUNK:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 1200 : i64} : () -> memref<300xf32, 1>
// CHECK: bufferization.materialize_in_destination %{{.*}} in writable %[[CHUNK]]
// CHECK: %[[DRAM:.*]] = memref.alloc() : memref<100xf32>
// CHECK: scf.for
// CHECK: "imc.dma"
// CHECK: } {imc.transfer}
// CHECK: %[[ONCHIP:.*]] = memref.expand_shape %[[CHUNK]] {{\[}}[0, 1, 2, 3]] output_shape [1, 3, 10, 10] : memref<300xf32, 1> into memref<1x3x10x10xf32, 1>
// CHECK: %[[OFFCHIP:.*]] = memref.expand_shape %[[DRAM]] {{\[}}[0, 1, 2, 3]] output_shape [1, 1, 10, 10] : memref<100xf32> into memref<1x1x10x10xf32>
// CHECK: %[[SLAB2:.*]] = "imc.spad_alloc"() {offset = 1344 : i64, size = 160 : i64} : () -> memref<1x1x4x10xf32, 1>
// CHECK: scf.for %[[IV:.*]] = %c0 to %c8 step %c2
// CHECK: %[[WIN:.*]] = memref.subview %[[ONCHIP]][0, 0, %[[IV]], 0] [1, 3, 4, 10]
// CHECK: %[[IN_PLACE:.*]] = bufferization.to_tensor %[[WIN]] restrict
// CHECK: scf.for
// CHECK: memref.copy
// CHECK: scf.for
// CHECK: %[[ROW:.*]] = memref.subview %[[OFFCHIP]][0, 0, %{{.*}}, 0] [1, 1, 1, 10]
// CHECK: "imc.dma"(%[[ROW]], %{{.*}}) {{.*}}sizes = array<i64: 1, 1, 1, 10>
// CHECK: %[[LOADED:.*]] = bufferization.to_tensor %{{.*}} restrict : memref<1x1x4x10xf32, strided<[40, 40, 10, 1]>, 1> to tensor<1x1x4x10xf32>
// CHECK: %[[ROWS:.*]] = tensor.concat dim(1) %[[IN_PLACE]], %[[LOADED]] {imc.join} : (tensor<1x3x4x10xf32>, tensor<1x1x4x10xf32>) -> tensor<1x4x4x10xf32>
// CHECK: "imc.im2col"(%[[ROWS]])
// CHECK: memref.dealloc %[[DRAM]]
// CHECK: "imc.spad_free"(%[[CHUNK]])
// CHECK: "imc.spad_free"(%[[SLAB2]])
// CHECK-NOT: tensor.extract_slice %[[Y1]]
// SPLIT: "conv2": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) read in row windows: 3 of 4 planes (rows of one channel) read in place from the scratchpad, 1 streamed from DRAM through a slab (4 rows) at offset 1,344
// SPLIT: "conv1": remark: [imc-place-buffers] layer 'conv1': 400 B of DRAM traffic for stored tensors (spills), bound 0 B: 1x4x10x10xf32 (1,600 B) read by 1 stage(s): 400 B written to DRAM, 400 B read back
// SPLIT: remark: [imc-check-buffers] 5 scratchpad buffers, peak 1360 bytes of 2048: placement verified

// With 1 KiB, the whole tensor goes through DRAM and the slab.
// ALLDRAM: "conv2": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) read in row windows: 0 of 4 planes (rows of one channel) read in place from the scratchpad, 4 streamed from DRAM through a slab (4 rows) at offset 320
// ALLDRAM: remark: [imc-check-buffers] 3 scratchpad buffers, peak 768 bytes of 1024: placement verified

// With 3 KiB it stays on chip: no slab, no DMA.
// RESIDENT: "conv2": remark: [imc-place-buffers] 1x4x10x10xf32 (1,600 B) read in row windows: 4 of 4 planes (rows of one channel) read in place from the scratchpad
// RESIDENT: spill traffic 0 B
// RESIDENT: remark: [imc-check-buffers] 2 scratchpad buffers, peak 1600 bytes of 3072: placement verified
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
