// Loops that move one row per trip (a slab's rows loaded from DRAM, stored
// back) run as one move on the interpreter's fast path
// (`imc.sim.interpreter.transfer_loops`): the same bytes, counters and
// errors as the trips one by one (IMC_INTERPRETER_FAST_PATHS=0).
// RUN: imc-run %s --entry main --json %t.json | FileCheck %s
// RUN: FileCheck %s --check-prefix=JSON < %t.json
// RUN: env IMC_INTERPRETER_FAST_PATHS=0 imc-run %s --entry main --json %t.slow.json | FileCheck %s
// RUN: FileCheck %s --check-prefix=JSON < %t.slow.json

// Eight 8-float rows of a host constant are loaded into a buffer (the
// default chip stores 8-bit activations: 8 B per row), then stored into the
// host output: DRAM reads 8 x 32 B, DRAM writes 8 x 32 B, the scratchpad is
// written 64 B and read 64 B.
// CHECK: result #0: float32[8, 8]
// CHECK: total
// JSON: "totals": {
// JSON-NEXT: "dram_read_bytes": 256,
// JSON-NEXT: "dram_write_bytes": 256,
// JSON-NEXT: "spad_read_bytes": 64,
// JSON-NEXT: "spad_write_bytes": 64,
func.func @main() -> memref<8x8xf32> {
  %a = arith.constant dense<1.0> : memref<8x8xf32>
  %out = memref.alloc() : memref<8x8xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<8x8xf32, 1>
  scf.for %i = %c0 to %c8 step %c1 {
    %src = memref.subview %a[%i, 0] [1, 8] [1, 1] : memref<8x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
    %dst = memref.subview %x[%i, 0] [1, 8] [1, 1] : memref<8x8xf32, 1> to memref<1x8xf32, strided<[8, 1], offset: ?>, 1>
    "imc.dma"(%src, %dst) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 8>, strides = array<i64: 1, 1>} : (memref<1x8xf32, strided<[8, 1], offset: ?>>, memref<1x8xf32, strided<[8, 1], offset: ?>, 1>) -> ()
  }
  scf.for %i = %c0 to %c8 step %c1 {
    %src = memref.subview %x[%i, 0] [1, 8] [1, 1] : memref<8x8xf32, 1> to memref<1x8xf32, strided<[8, 1], offset: ?>, 1>
    %dst = memref.subview %out[%i, 0] [1, 8] [1, 1] : memref<8x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
    "imc.dma"(%src, %dst) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 8>, strides = array<i64: 1, 1>} : (memref<1x8xf32, strided<[8, 1], offset: ?>, 1>, memref<1x8xf32, strided<[8, 1], offset: ?>>) -> ()
  }
  "imc.spad_free"(%x) : (memref<8x8xf32, 1>) -> ()
  return %out : memref<8x8xf32>
}

// Half of the rows are loaded: the store's fifth trip reads bytes no DMA wrote.
// RUN: not imc-run %s --entry half_loaded 2>&1 | FileCheck %s --check-prefix=HALF
// RUN: env IMC_INTERPRETER_FAST_PATHS=0 not imc-run %s --entry half_loaded 2>&1 | FileCheck %s --check-prefix=HALF
// HALF: row-move-loops.mlir:[[# @LINE + 15]]:5: error: 'imc.dma' op reads bytes [32, 40) of scratchpad buffer [0, 256) that no imc.dma or op writes before it
// HALF-NOT: Traceback
func.func @half_loaded() -> memref<8x8xf32> {
  %a = arith.constant dense<1.0> : memref<8x8xf32>
  %out = memref.alloc() : memref<8x8xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<8x8xf32, 1>
  %top = memref.subview %x[0, 0] [4, 8] [1, 1] : memref<8x8xf32, 1> to memref<4x8xf32, strided<[8, 1]>, 1>
  "imc.dma"(%a, %top) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<4x8xf32, strided<[8, 1]>, 1>) -> ()
  scf.for %i = %c0 to %c8 step %c1 {
    %src = memref.subview %x[%i, 0] [1, 8] [1, 1] : memref<8x8xf32, 1> to memref<1x8xf32, strided<[8, 1], offset: ?>, 1>
    %dst = memref.subview %out[%i, 0] [1, 8] [1, 1] : memref<8x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
    "imc.dma"(%src, %dst) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 8>, strides = array<i64: 1, 1>} : (memref<1x8xf32, strided<[8, 1], offset: ?>, 1>, memref<1x8xf32, strided<[8, 1], offset: ?>>) -> ()
  }
  "imc.spad_free"(%x) : (memref<8x8xf32, 1>) -> ()
  return %out : memref<8x8xf32>
}
