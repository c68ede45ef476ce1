// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{tile-bytes=256 overlap-calls=true}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{tile-bytes=256 overlap-calls=true}, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// `overlap-calls`: stored tensors get bytes of their own when that moves no
// more DRAM bytes, so that the next call's l2 can write its output while
// this call's l4 still reads %v. A 1 KiB scratchpad with tile-bytes=256
// leaves 768 B: three 256-byte tensors fit side by side (without the option
// %v reuses %y's bytes, offset 0: imc-place-buffers.mlir).
// CHECK-LABEL: func.func @fits_apart
// CHECK: "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64}
// CHECK: "imc.spad_alloc"() {offset = 256 : i64, size = 256 : i64}
// CHECK: "imc.spad_alloc"() {offset = 512 : i64, size = 256 : i64}
// CHECK-NOT: imc.dma
// REMARK: remark: [imc-place-buffers] 3 stored tensors over 4 stages; scratchpad peak 768 of 768 B (+ 256 B staging); spill traffic 0 B, capacity bound 0 B
// REMARK: remark: [imc-place-buffers] overlap-calls: every stored tensor and row slab at bytes of its own
#l1 = loc("l1")
#l2 = loc("l2")
#l3 = loc("l3")
#l4 = loc("l4")
func.func @fits_apart(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
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

// Four 256-byte tensors do not fit side by side in 768 B: apart, one would
// go to DRAM, so they share bytes. Without the option %v takes the bytes %y
// freed at m2, right before it (imc-place-buffers.mlir), so on the timeline
// m3's first write waits for m2's last read of %y; with it no tensor takes
// bytes freed within the stage before it (linger 1; linger 2 and 4 would
// need a fourth 256-byte slot): %v goes to 512 and %t takes %y's bytes.
// CHECK-LABEL: func.func @shares_bytes
// CHECK: "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64}
// CHECK: "imc.spad_alloc"() {offset = 256 : i64, size = 256 : i64}
// CHECK: "imc.spad_alloc"() {offset = 512 : i64, size = 256 : i64}
// CHECK: "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64}
// CHECK-NOT: imc.dma
// REMARK: remark: [imc-place-buffers] overlap-calls: stored tensors and row slabs share bytes (at bytes of their own they would not fit or would move more DRAM bytes), so a call's first stages wait for the call before to free them; none takes bytes freed within 1 stage(s) before it (more would move more DRAM bytes), so a stage's first writes need not wait for the last reads of the tensors that died just before it
#m1 = loc("m1")
#m2 = loc("m2")
#m3 = loc("m3")
#m4 = loc("m4")
#m5 = loc("m5")
func.func @shares_bytes(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#m1)
  %z = linalg.matmul ins(%y, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#m2)
  %v = linalg.matmul ins(%z, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#m3)
  %t = linalg.matmul ins(%v, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#m4)
  %u = linalg.matmul ins(%t, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32> loc(#m5)
  return %u : tensor<8x8xf32>
}
