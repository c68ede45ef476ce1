// Scratchpad buffers, DMA and their runtime checks, with hand-computed traffic.
// RUN: imc-run %s --entry main --json %t.json | FileCheck %s
// RUN: FileCheck %s --check-prefix=JSON < %t.json

// Load two 4x8 f32 windows (128 B each) into the scratchpad, add them there,
// store the sum: DRAM reads 256 B, DRAM writes 128 B (the constant and the
// returned buffer are host float32). The default chip stores 8-bit
// activations, so the scratchpad side counts 1 B per element: the loads write
// 2 x 32 B, the add reads 2 x 32 B and writes 32 B, the store reads 32 B
// (plus the fill of the 256 B DRAM output, counted as a write).
// CHECK: result #0: float32[8, 8]
// CHECK: total
// JSON: "totals": {
// JSON-NEXT: "dram_read_bytes": 256,
// JSON-NEXT: "dram_write_bytes": 128,
// JSON-NEXT: "spad_read_bytes": 96,
// JSON-NEXT: "spad_write_bytes": 352,
func.func @main() -> memref<8x8xf32> {
  %a = arith.constant dense<1.0> : memref<8x8xf32>
  %out = memref.alloc() : memref<8x8xf32>
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%out : memref<8x8xf32>)
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  %y = "imc.spad_alloc"() {offset = 128 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.dma"(%a, %x) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<4x8xf32, 1>) -> ()
  "imc.dma"(%a, %y) {offsets = array<i64: 4, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<4x8xf32, 1>) -> ()
  linalg.add ins(%x, %y : memref<4x8xf32, 1>, memref<4x8xf32, 1>) outs(%x : memref<4x8xf32, 1>)
  "imc.dma"(%x, %out) {offsets = array<i64: 2, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<8x8xf32>) -> ()
  "imc.spad_free"(%y) : (memref<4x8xf32, 1>) -> ()
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  return %out : memref<8x8xf32>
}

// RUN: not imc-run %s --entry never_loaded 2>&1 | FileCheck %s --check-prefix=UNLOADED
// UNLOADED: scratchpad.mlir:[[# @LINE + 5]]:3: error: 'imc.dma' op reads bytes [0, 32) of scratchpad buffer [0, 128) that no imc.dma or op writes before it
// UNLOADED-NOT: Traceback
func.func @never_loaded() -> memref<4x8xf32> {
  %out = memref.alloc() : memref<4x8xf32>
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.dma"(%x, %out) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<4x8xf32>) -> ()
  return %out : memref<4x8xf32>
}

// RUN: not imc-run %s --entry overlap 2>&1 | FileCheck %s --check-prefix=OVERLAP
// OVERLAP: scratchpad.mlir:[[# @LINE + 3]]:8: error: 'imc.spad_alloc' op scratchpad buffer [64, 192) overlaps the live buffer [0, 128)
func.func @overlap() {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  return
}

// RUN: not imc-run %s --entry staging_overlap 2>&1 | FileCheck %s --check-prefix=STAGING
// STAGING: scratchpad.mlir:[[# @LINE + 5]]:3: error: 'imc.transfer_out' op staging area [64, 80) overlaps the live buffer [0, 128)
func.func @staging_overlap() {
  %t = arith.constant dense<1.0> : tensor<64xf32>
  %dram = memref.alloc() : memref<64xf32>
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.transfer_out"(%t, %dram) {buffers = 1 : i64, offset = 0 : i64, staging = 64 : i64, tile = 16 : i64} : (tensor<64xf32>, memref<64xf32>) -> ()
  return
}

// RUN: not imc-run %s --entry use_after_free 2>&1 | FileCheck %s --check-prefix=FREED
// FREED: scratchpad.mlir:[[# @LINE + 7]]:3: error: 'imc.dma' op uses scratchpad buffer [0, 128) after its imc.spad_free
func.func @use_after_free() -> memref<4x8xf32> {
  %a = arith.constant dense<1.0> : memref<4x8xf32>
  %out = memref.alloc() : memref<4x8xf32>
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.dma"(%a, %x) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32>, memref<4x8xf32, 1>) -> ()
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  "imc.dma"(%x, %out) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<4x8xf32>) -> ()
  return %out : memref<4x8xf32>
}

// RUN: not imc-run %s --entry double_free 2>&1 | FileCheck %s --check-prefix=DOUBLE
// DOUBLE: error: 'imc.spad_free' op frees scratchpad buffer [0, 128) that is already freed
func.func @double_free() {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  return
}

// Compute ops are checked too: linalg.add reads a buffer nothing wrote.
// RUN: not imc-run %s --entry compute_reads_unloaded 2>&1 | FileCheck %s --check-prefix=COMPUTE
// COMPUTE: scratchpad.mlir:[[# @LINE + 6]]:3: error: 'linalg.add' op reads bytes [128, 160) of scratchpad buffer [128, 256) that no imc.dma or op writes before it
func.func @compute_reads_unloaded() {
  %a = arith.constant dense<1.0> : memref<4x8xf32>
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  %y = "imc.spad_alloc"() {offset = 128 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.dma"(%a, %x) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32>, memref<4x8xf32, 1>) -> ()
  linalg.add ins(%x, %y : memref<4x8xf32, 1>, memref<4x8xf32, 1>) outs(%x : memref<4x8xf32, 1>)
  return
}
