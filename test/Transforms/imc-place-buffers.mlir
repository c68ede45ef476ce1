// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{tile-bytes=256}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{tile-bytes=256}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{tile-bytes=128 double-buffer=true}, imc-check-buffers)' | FileCheck %s --check-prefix=DB

// A scratchpad of 1 KiB (test/Inputs/spad-1k.toml); tile-bytes=256 reserves
// [768, 1024) for the staging buffer, so stored tensors get 768 bytes.

// Fits: four layers, 256-byte tensors between them, at most two live at once.
// %v reuses the bytes of %y, freed after its last reader.
// CHECK-LABEL: func.func @fits
// CHECK-NOT: memref.alloc
// CHECK: %[[Y:.*]] = linalg.matmul {{.*}}%arg0
// CHECK: %[[YB:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<64xf32, 1>
// CHECK: bufferization.materialize_in_destination %{{.*}} in writable %[[YB]]
// CHECK: %[[YT:.*]] = bufferization.to_tensor %[[YB]]
// CHECK: %[[YL:.*]] = tensor.expand_shape %[[YT]] {{\[\[}}0, 1]] output_shape [8, 8]
// CHECK: %[[Z:.*]] = linalg.matmul ins(%[[YL]],
// CHECK: %[[ZB:.*]] = "imc.spad_alloc"() {offset = 256 : i64, size = 256 : i64}
// CHECK: "imc.spad_free"(%[[YB]])
// CHECK: linalg.matmul
// CHECK: %[[VB:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64}
// CHECK: "imc.spad_free"(%[[ZB]])
// CHECK: linalg.matmul
// CHECK: "imc.spad_free"(%[[VB]])
// CHECK-NOT: imc.dma
// REMARK: remark: [imc-place-buffers] 3 stored tensors over 4 stages; scratchpad peak 512 of 768 B (+ 256 B staging); spill traffic 0 B, capacity bound 0 B
// REMARK: remark: [imc-check-buffers] 3 scratchpad buffers, peak 512 bytes of 1024: placement verified
#l1 = loc("l1")
#l2 = loc("l2")
#l3 = loc("l3")
#l4 = loc("l4")
func.func @fits(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#l1)
  %z = linalg.matmul ins(%y, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#l2)
  %v = linalg.matmul ins(%z, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#l3)
  %u = linalg.matmul ins(%v, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#l4)
  return %u : tensor<8x8xf32>
}

// -----

// Does not fit: two 1 KiB tensors live while l2 runs. The capacity bound
// spills 1,024 of their 2,048 bytes (written once, read once: 2,048 B); with
// 768 bytes left after staging the plan keeps 768 B of %z and spills the rest:
// %y (1,024 B) and the last 256 B of %z, each written and read back once
// through the staging buffer in 64-element DMA tiles (2,560 B).
// CHECK-LABEL: func.func @spills
// CHECK: %[[Y:.*]] = linalg.matmul {{.*}}%arg0
// CHECK: %[[YF:.*]] = tensor.collapse_shape %[[Y]]
// CHECK: %[[YD:.*]] = memref.alloc() : memref<256xf32>
// CHECK: "imc.transfer_out"(%[[YF]], %[[YD]]) {buffers = 1 : i64, offset = 0 : i64, staging = 768 : i64, tile = 64 : i64} : (tensor<256xf32>, memref<256xf32>) -> ()
// CHECK: %[[L:.*]] = "imc.transfer_in"(%[[YD]]) {buffers = 1 : i64, offset = 0 : i64, staging = 768 : i64, tile = 64 : i64} : (memref<256xf32>) -> tensor<256xf32>
// CHECK: %[[YL:.*]] = tensor.expand_shape %[[L]]
// CHECK: %[[Z:.*]] = linalg.matmul ins(%[[YL]],
// CHECK: %[[ZF:.*]] = tensor.collapse_shape %[[Z]]
// CHECK: %[[ZS:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 768 : i64} : () -> memref<192xf32, 1>
// CHECK: tensor.extract_slice %[[ZF]][0] [192] [1]
// CHECK: %[[ZD:.*]] = memref.alloc() : memref<64xf32>
// CHECK: memref.dealloc %[[YD]]
// CHECK: %[[A:.*]] = bufferization.to_tensor %[[ZS]] : memref<192xf32, 1> to tensor<192xf32>
// CHECK: %[[C:.*]] = "imc.join"(%[[A]], %{{.*}}) {dim = 0 : i64} : (tensor<192xf32>, tensor<64xf32>) -> tensor<256xf32>
// CHECK: %[[ZL:.*]] = tensor.expand_shape %[[C]]
// CHECK: linalg.matmul ins(%[[ZL]],
// CHECK: memref.dealloc %[[ZD]]
// CHECK: "imc.spad_free"(%[[ZS]])
// REMARK: "l1": remark: [imc-place-buffers] layer 'l1': 1,024 B of DRAM traffic for stored tensors (spills)
// REMARK: "l2": remark: [imc-place-buffers] layer 'l2': 1,280 B of DRAM traffic
// REMARK: remark: [imc-place-buffers] 2 stored tensors over 3 stages; scratchpad peak 768 of 768 B (+ 256 B staging); spill traffic 2,560 B, capacity bound 2,048 B (512 B more: the staging buffers take 256 B
// REMARK: remark: [imc-check-buffers] 5 scratchpad buffers, peak 1024 bytes of 1024: placement verified

// Double buffering: two staging buffers of 128 B at [768, 896) and
// [896, 1024) (`imc-lower-transfers` shows the DMA loops).
// DB-LABEL: func.func @spills
// DB: "imc.transfer_out"(%{{.*}}, %{{.*}}) {buffers = 2 : i64, offset = 0 : i64, staging = 768 : i64, tile = 32 : i64} : (tensor<256xf32>, memref<256xf32>) -> ()
// DB: "imc.transfer_in"(%{{.*}}) {buffers = 2 : i64, offset = 0 : i64, staging = 768 : i64, tile = 32 : i64} : (memref<256xf32>) -> tensor<256xf32>
#l1 = loc("l1")
#l2 = loc("l2")
#l3 = loc("l3")
func.func @spills(%x: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %w = arith.constant dense<0.5> : tensor<32x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l1)
  %z = linalg.matmul ins(%y, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l2)
  %v = linalg.matmul ins(%z, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l3)
  return %v : tensor<8x32xf32>
}
