// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// A model input read in row windows by a tiled stage (4 trips of 2 output
// rows; each trip reads input rows [2i - 1, 2i + 3) clipped to [0, 8)) is
// streamed through a 4-row scratchpad slab below the staging buffer: rows
// the previous trip loaded that this trip needs move up on chip, the others
// are loaded by one DMA per row, and the trip reads the slab's first rows.
// Nothing fills the slab before the loop: imc-check-buffers follows the
// trips, each reading only rows it or the trip before it loaded.
// CHECK-LABEL: func.func @main
// CHECK: %[[IN:.*]] = bufferization.to_buffer %arg0 read_only : tensor<1x4x8x8xf32> to memref<1x4x8x8xf32>
// CHECK: %[[SLAB:.*]] = "imc.spad_alloc"() {offset = 448 : i64, size = 512 : i64} : () -> memref<1x4x4x8xf32, 1>
// CHECK-NOT: linalg.fill
// CHECK: scf.for %[[IV:.*]] = %c0 to %c8 step %c2
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[IV]], %c0
// CHECK: scf.for
// CHECK: memref.copy {{.*}} : memref<1x4x1x8xf32, strided<[128, 32, 8, 1], offset: ?>, 1> to memref<1x4x1x8xf32, strided<[128, 32, 8, 1], offset: ?>, 1>
// CHECK: scf.for
// CHECK: %[[ROW:.*]] = memref.subview %[[IN]][0, 0, %{{.*}}, 0] [1, 4, 1, 8]
// CHECK: "imc.dma"(%[[ROW]], %{{.*}}) {offsets = array<i64: 0, 0, 0, 0>, sizes = array<i64: 1, 4, 1, 8>, strides = array<i64: 1, 1, 1, 1>}
// CHECK: %[[VIEW:.*]] = memref.subview %[[SLAB]][0, 0, 0, 0] [1, 4, %{{.*}}, 8]
// CHECK: %[[ROWS:.*]] = bufferization.to_tensor %[[VIEW]] restrict
// CHECK: tensor.pad %[[ROWS]]
// CHECK: "imc.im2col"
// CHECK: "imc.mvm"
// CHECK: "imc.spad_free"(%[[SLAB]])
// CHECK-NOT: tensor.extract_slice %arg0
// REMARK: remark: [imc-place-buffers] model input streamed in rows through a 512 B slab (4 rows) at offset 448: each row loaded once, the halo kept on chip
// REMARK: remark: [imc-place-buffers] 0 stored tensors over 1 stages; scratchpad peak 0 of 960 B (+ 64 B staging; row slabs up to 512 B in 1 tiled stage(s)); spill traffic 0 B, capacity bound 0 B
// REMARK: remark: [imc-check-buffers] 1 scratchpad buffers, peak 512 bytes of 1024: placement verified
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc("conv")
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv")
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x8xf32> loc("relu")
  return %r : tensor<1x4x8x8xf32>
}
