// RUN: imc-opt %s --split-input-file --verify-diagnostics -p 'builtin.module(imc-check-buffers)'

// A valid placement: two loaded windows added in place, half-buffer DMAs
// through subviews that together cover the buffer, a loop with a constant
// trip count whose body writes before it reads, an scf.if whose branches both
// write, and a buffer reusing freed bytes. Peak: %x, %y and %z live at once,
// 128 + 128 + 64 = 320 bytes. The default chip stores 8-bit activations, so
// an f32 element is 1 byte of its buffer (a 4x8 buffer uses 32 of its 128 B).
// expected-remark @+1 {{4 scratchpad buffers, peak 320 bytes of 262144: placement verified}}
module {
func.func @valid(%c: i1) -> memref<8x8xf32> {
  %a = arith.constant dense<1.0> : memref<8x8xf32>
  %b = arith.constant dense<2.0> : memref<64xf32>
  %out = memref.alloc() : memref<8x8xf32>
  %o1 = memref.alloc() : memref<64xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  %y = "imc.spad_alloc"() {offset = 128 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  %x0 = memref.subview %x[0, 0] [2, 8] [1, 1] : memref<4x8xf32, 1> to memref<2x8xf32, strided<[8, 1]>, 1>
  %x1 = memref.subview %x[2, 0] [2, 8] [1, 1] : memref<4x8xf32, 1> to memref<2x8xf32, strided<[8, 1], offset: 16>, 1>
  "imc.dma"(%a, %x0) {offsets = array<i64: 0, 0>, sizes = array<i64: 2, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<2x8xf32, strided<[8, 1]>, 1>) -> ()
  "imc.dma"(%a, %x1) {offsets = array<i64: 2, 0>, sizes = array<i64: 2, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<2x8xf32, strided<[8, 1], offset: 16>, 1>) -> ()
  scf.if %c {
    "imc.dma"(%a, %y) {offsets = array<i64: 4, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<4x8xf32, 1>) -> ()
  } else {
    linalg.copy ins(%x : memref<4x8xf32, 1>) outs(%y : memref<4x8xf32, 1>)
  }
  linalg.add ins(%x, %y : memref<4x8xf32, 1>, memref<4x8xf32, 1>) outs(%x : memref<4x8xf32, 1>)
  %z = "imc.spad_alloc"() {offset = 256 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  scf.for %i = %c0 to %c4 step %c1 {
    "imc.dma"(%b, %z) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<64xf32>, memref<16xf32, 1>) -> ()
    "imc.dma"(%z, %o1) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<64xf32>) -> ()
  }
  "imc.dma"(%z, %o1) {offsets = array<i64: 16>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<64xf32>) -> ()
  "imc.dma"(%x, %out) {offsets = array<i64: 4, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<8x8xf32>) -> ()
  "imc.spad_free"(%y) : (memref<4x8xf32, 1>) -> ()
  "imc.spad_free"(%z) : (memref<16xf32, 1>) -> ()
  %w = "imc.spad_alloc"() {offset = 128 : i64, size = 192 : i64} : () -> memref<48xf32, 1>
  %s = memref.collapse_shape %x [[0, 1]] : memref<4x8xf32, 1> into memref<32xf32, 1>
  %w0 = memref.subview %w[16] [32] [1] : memref<48xf32, 1> to memref<32xf32, strided<[1], offset: 16>, 1>
  memref.copy %s, %w0 : memref<32xf32, 1> to memref<32xf32, strided<[1], offset: 16>, 1>
  %c20 = arith.constant 20 : index
  %v = memref.load %w[%c20] : memref<48xf32, 1>
  "imc.spad_free"(%w) : (memref<48xf32, 1>) -> ()
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  return %out : memref<8x8xf32>
}
}

// -----

func.func @overlap() {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  // expected-error @+1 {{'imc.spad_alloc' op scratchpad buffer %1 [64, 192) overlaps the live buffer %0 [0, 128) allocated at line}}
  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  return
}

// -----

// A transfer's staging buffers are live while it runs.
func.func @staging_overlap(%t: tensor<64xf32>) {
  %dram = memref.alloc() : memref<64xf32>
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  // expected-error @+1 {{'imc.transfer_out' op staging area [64, 80) overlaps the live buffer %0 [0, 128) allocated at line}}
  "imc.transfer_out"(%t, %dram) {buffers = 1 : i64, offset = 0 : i64, staging = 64 : i64, tile = 16 : i64} : (tensor<64xf32>, memref<64xf32>) -> ()
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  "imc.transfer_out"(%t, %dram) {buffers = 1 : i64, offset = 0 : i64, staging = 64 : i64, tile = 16 : i64} : (tensor<64xf32>, memref<64xf32>) -> ()
  return
}

// Without a hardware attribute the default preset (256 KiB) applies; the
// op verifier only checks capacity when the module carries one.
func.func @capacity() {
  // expected-error @+1 {{scratchpad buffer %0 [262080, 262208) exceeds the scratchpad capacity of 262144 bytes}}
  %x = "imc.spad_alloc"() {offset = 262080 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  // expected-error @+1 {{scratchpad buffer %1 [32, 64) starts at offset 32, not a multiple of the 64-byte scratchpad alignment}}
  %y = "imc.spad_alloc"() {offset = 32 : i64, size = 32 : i64} : () -> memref<8xf32, 1>
  return
}

// -----

func.func @never_loaded(%out: memref<4x8xf32>) {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  // expected-error @+1 {{'imc.dma' op reads bytes [0, 32) of scratchpad buffer %0 [0, 128) that no imc.dma or op writes before it on every path}}
  "imc.dma"(%x, %out) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<4x8xf32>) -> ()
  return
}

// -----

// Only rows 0 and 2 are loaded (a strided subview); reading the whole
// buffer misses rows 1 and 3: bytes [32, 64) and [96, 128).
func.func @partial(%a: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  %even = memref.subview %x[0, 0] [2, 8] [2, 1] : memref<4x8xf32, 1> to memref<2x8xf32, strided<[16, 1]>, 1>
  "imc.dma"(%a, %even) {offsets = array<i64: 0, 0>, sizes = array<i64: 2, 8>, strides = array<i64: 2, 1>} : (memref<4x8xf32>, memref<2x8xf32, strided<[16, 1]>, 1>) -> ()
  // Reading the loaded rows is fine.
  "imc.dma"(%even, %out) {offsets = array<i64: 0, 0>, sizes = array<i64: 2, 8>, strides = array<i64: 1, 1>} : (memref<2x8xf32, strided<[16, 1]>, 1>, memref<4x8xf32>) -> ()
  // expected-error @+1 {{reads bytes [8, 16) and 1 more range(s), 16 bytes in all of scratchpad buffer %0 [0, 128)}}
  "imc.dma"(%x, %out) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<4x8xf32>) -> ()
  return
}

// -----

func.func @use_after_free(%a: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  "imc.dma"(%a, %x) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32>, memref<4x8xf32, 1>) -> ()
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  // expected-error @+1 {{'imc.dma' op uses scratchpad buffer %0 [0, 128) after its imc.spad_free}}
  "imc.dma"(%x, %out) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (memref<4x8xf32, 1>, memref<4x8xf32>) -> ()
  // expected-error @+1 {{'imc.spad_free' op frees scratchpad buffer %0 [0, 128) that is already freed}}
  "imc.spad_free"(%x) : (memref<4x8xf32, 1>) -> ()
  return
}

// -----

// A loop without a constant trip count may run zero times: its writes do
// not count after it. Inside, a read is not covered by a write later in the
// body (that write belongs to the previous iteration).
func.func @loop(%a: memref<16xf32>, %out: memref<16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @+1 {{'imc.dma' op reads bytes [64, 80) of scratchpad buffer %1 [64, 128)}}
    "imc.dma"(%y, %out) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32>) -> ()
    "imc.dma"(%a, %x) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
    "imc.dma"(%a, %y) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  }
  // expected-error @+1 {{'imc.dma' op reads bytes [0, 16) of scratchpad buffer %0 [0, 64)}}
  "imc.dma"(%x, %out) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32>) -> ()
  return
}

// -----

// A buffer allocated in a loop body and not freed there overlaps itself in
// the next iteration: certainly when the trips are followed (constant
// bounds), possibly when the trip count is unknown.
func.func @loop_leak(%a: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  scf.for %i = %c0 to %c3 step %c1 {
    // expected-error @+1 {{scratchpad buffer %0 [0, 64) is allocated again while its allocation from an earlier loop iteration is still live (not freed on every path)}}
    %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
    "imc.dma"(%a, %x) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  }
  return
}

// -----

func.func @loop_leak_unknown_trips(%a: memref<16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @+1 {{scratchpad buffer %0 [0, 64) is allocated again while its allocation from an earlier loop iteration may be still live (not freed on every path)}}
    %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
    "imc.dma"(%a, %x) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  }
  return
}

// -----

// Followed trips: a tensor stored row tile by row tile (two rows per trip,
// through a view at the trip's row) is written whole after the loop, and a
// halo slab is valid: each trip moves the previous trip's last row to the
// top (a trip's reads are covered by the trip before it) and loads the next
// rows below it. The first trip, which keeps nothing, is told apart by an
// scf.if on the induction variable.
// expected-remark @+1 {{2 scratchpad buffers, peak 384 bytes of 262144: placement verified (4 loop trips followed one by one)}}
module {
func.func @rows(%a: memref<8x8xf32>, %out: memref<8x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %y = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<8x8xf32, 1>
  %slab = "imc.spad_alloc"() {offset = 256 : i64, size = 128 : i64} : () -> memref<4x8xf32, 1>
  scf.for %i = %c0 to %c8 step %c2 {
    %first = arith.cmpi eq, %i, %c0 : index
    scf.if %first {
      %top = memref.subview %slab[0, 0] [3, 8] [1, 1] : memref<4x8xf32, 1> to memref<3x8xf32, strided<[8, 1]>, 1>
      "imc.dma"(%a, %top) {offsets = array<i64: 0, 0>, sizes = array<i64: 3, 8>, strides = array<i64: 1, 1>} : (memref<8x8xf32>, memref<3x8xf32, strided<[8, 1]>, 1>) -> ()
    } else {
      %last = memref.subview %slab[2, 0] [1, 8] [1, 1] : memref<4x8xf32, 1> to memref<1x8xf32, strided<[8, 1], offset: 16>, 1>
      %top = memref.subview %slab[0, 0] [1, 8] [1, 1] : memref<4x8xf32, 1> to memref<1x8xf32, strided<[8, 1]>, 1>
      memref.copy %last, %top : memref<1x8xf32, strided<[8, 1], offset: 16>, 1> to memref<1x8xf32, strided<[8, 1]>, 1>
      %below = memref.subview %slab[1, 0] [2, 8] [1, 1] : memref<4x8xf32, 1> to memref<2x8xf32, strided<[8, 1], offset: 8>, 1>
      %next = arith.addi %i, %c1 : index
      %src = memref.subview %a[%next, 0] [2, 8] [1, 1] : memref<8x8xf32> to memref<2x8xf32, strided<[8, 1], offset: ?>>
      memref.copy %src, %below : memref<2x8xf32, strided<[8, 1], offset: ?>> to memref<2x8xf32, strided<[8, 1], offset: 8>, 1>
    }
    %window = memref.subview %slab[0, 0] [3, 8] [1, 1] : memref<4x8xf32, 1> to memref<3x8xf32, strided<[8, 1]>, 1>
    %tile = memref.subview %y[%i, 0] [2, 8] [1, 1] : memref<8x8xf32, 1> to memref<2x8xf32, strided<[8, 1], offset: ?>, 1>
    %rows = memref.subview %window[0, 0] [2, 8] [1, 1] : memref<3x8xf32, strided<[8, 1]>, 1> to memref<2x8xf32, strided<[8, 1]>, 1>
    memref.copy %rows, %tile : memref<2x8xf32, strided<[8, 1]>, 1> to memref<2x8xf32, strided<[8, 1], offset: ?>, 1>
  }
  memref.copy %y, %out : memref<8x8xf32, 1> to memref<8x8xf32>
  "imc.spad_free"(%slab) : (memref<4x8xf32, 1>) -> ()
  "imc.spad_free"(%y) : (memref<8x8xf32, 1>) -> ()
  return
}
}

// -----

// Followed trips that store rows [0, 6) of 8: reading the whole buffer
// after the loop misses rows 6 and 7.
func.func @rows_missed(%a: memref<2x8xf32>, %out: memref<8x8xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c6 = arith.constant 6 : index
  %y = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<8x8xf32, 1>
  scf.for %i = %c0 to %c6 step %c2 {
    %tile = memref.subview %y[%i, 0] [2, 8] [1, 1] : memref<8x8xf32, 1> to memref<2x8xf32, strided<[8, 1], offset: ?>, 1>
    "imc.dma"(%a, %tile) {offsets = array<i64: 0, 0>, sizes = array<i64: 2, 8>, strides = array<i64: 1, 1>} : (memref<2x8xf32>, memref<2x8xf32, strided<[8, 1], offset: ?>, 1>) -> ()
  }
  // expected-error @+1 {{reads bytes [48, 64) of scratchpad buffer %0 [0, 256) that no imc.dma or op writes before it on every path}}
  memref.copy %y, %out : memref<8x8xf32, 1> to memref<8x8xf32>
  "imc.spad_free"(%y) : (memref<8x8xf32, 1>) -> ()
  return
}

// -----

// A trip that reads rows no earlier trip wrote: the first trip reads the
// row "kept" from a trip before it.
func.func @halo_unwritten(%a: memref<8x8xf32>, %out: memref<1x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %slab = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<2x8xf32, 1>
  scf.for %i = %c0 to %c4 step %c1 {
    %top = memref.subview %slab[0, 0] [1, 8] [1, 1] : memref<2x8xf32, 1> to memref<1x8xf32, strided<[8, 1]>, 1>
    %bottom = memref.subview %slab[1, 0] [1, 8] [1, 1] : memref<2x8xf32, 1> to memref<1x8xf32, strided<[8, 1], offset: 8>, 1>
    // expected-error @+1 {{reads bytes [8, 16) of scratchpad buffer %0 [0, 64) that no imc.dma or op writes before it on every path}}
    memref.copy %bottom, %top : memref<1x8xf32, strided<[8, 1], offset: 8>, 1> to memref<1x8xf32, strided<[8, 1]>, 1>
    %src = memref.subview %a[%i, 0] [1, 8] [1, 1] : memref<8x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
    memref.copy %src, %bottom : memref<1x8xf32, strided<[8, 1], offset: ?>> to memref<1x8xf32, strided<[8, 1], offset: 8>, 1>
  }
  "imc.spad_free"(%slab) : (memref<2x8xf32, 1>) -> ()
  return
}

// -----

// A trip whose view leaves its buffer: rows [%i, %i + 3) of 8 in the trip
// at row 6.
func.func @trip_out_of_bounds(%a: memref<3x8xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %y = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<8x8xf32, 1>
  scf.for %i = %c0 to %c8 step %c2 {
    // expected-error @+1 {{view of scratchpad buffer %0 [0, 256) takes [6, 9) of a dimension of 8 in a trip of its loop}}
    %tile = memref.subview %y[%i, 0] [3, 8] [1, 1] : memref<8x8xf32, 1> to memref<3x8xf32, strided<[8, 1], offset: ?>, 1>
    "imc.dma"(%a, %tile) {offsets = array<i64: 0, 0>, sizes = array<i64: 3, 8>, strides = array<i64: 1, 1>} : (memref<3x8xf32>, memref<3x8xf32, strided<[8, 1], offset: ?>, 1>) -> ()
  }
  "imc.spad_free"(%y) : (memref<8x8xf32, 1>) -> ()
  return
}

// -----

// scf.if: a write in one branch only does not count after it; a free in one
// branch makes later uses errors.
func.func @branches(%c: i1, %a: memref<16xf32>, %out: memref<16xf32>) {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  "imc.dma"(%a, %y) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  scf.if %c {
    "imc.dma"(%a, %x) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
    "imc.spad_free"(%y) : (memref<16xf32, 1>) -> ()
  }
  // expected-error @+1 {{'linalg.copy' op reads bytes [0, 16) of scratchpad buffer %0 [0, 64)}}
  linalg.copy ins(%x : memref<16xf32, 1>) outs(%out : memref<16xf32>)
  // expected-error @+1 {{'imc.dma' op uses scratchpad buffer %1 [64, 128) after its imc.spad_free on some path}}
  "imc.dma"(%y, %out) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32>) -> ()
  return
}

// -----

// scf.if on a constant condition: only the branch taken runs (the write in
// `then` counts after it; the free in `else` never happens).
// expected-remark @+1 {{1 scratchpad buffers, peak 64 bytes of 262144: placement verified}}
module {
func.func @constant_branch(%a: memref<16xf32>, %out: memref<16xf32>) {
  %true = arith.constant true
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  scf.if %true {
    "imc.dma"(%a, %x) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  } else {
    "imc.spad_free"(%x) : (memref<16xf32, 1>) -> ()
  }
  linalg.copy ins(%x : memref<16xf32, 1>) outs(%out : memref<16xf32>)
  "imc.spad_free"(%x) : (memref<16xf32, 1>) -> ()
  return
}
}

// -----

// linalg.matmul accumulates into its out: reading it before a write is an
// error (linalg.fill first would make it valid).
func.func @accumulate(%a: memref<4x4xf32>) {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<4x4xf32, 1>
  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 64 : i64} : () -> memref<4x4xf32, 1>
  "imc.dma"(%a, %x) {offsets = array<i64: 0, 0>, sizes = array<i64: 4, 4>, strides = array<i64: 1, 1>} : (memref<4x4xf32>, memref<4x4xf32, 1>) -> ()
  // expected-error @+1 {{'linalg.matmul' op reads bytes [64, 80) of scratchpad buffer %1 [64, 128)}}
  linalg.matmul ins(%x, %x : memref<4x4xf32, 1>, memref<4x4xf32, 1>) outs(%y : memref<4x4xf32, 1>)
  return
}

// -----

// Element-precise scalar accesses with constant indices.
func.func @scalars(%v: f32) -> f32 {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  memref.store %v, %x[%c1] : memref<16xf32, 1>
  %ok = memref.load %x[%c1] : memref<16xf32, 1>
  // expected-error @+1 {{'memref.load' op reads bytes [2, 3) of scratchpad buffer %0 [0, 64)}}
  %bad = memref.load %x[%c2] : memref<16xf32, 1>
  %s = arith.addf %ok, %bad : f32
  return %s : f32
}

// -----

// A callee's buffers must not overlap the caller's live ones.
func.func @callee(%a: memref<16xf32>) {
  %t = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  "imc.dma"(%a, %t) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  "imc.spad_free"(%t) : (memref<16xf32, 1>) -> ()
  return
}

func.func @caller(%a: memref<16xf32>) {
  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<32xf32, 1>
  // expected-error @+1 {{'func.call' op calls @callee, whose scratchpad buffer %0 [0, 64) overlaps the live buffer %0 [0, 128)}}
  func.call @callee(%a) : (memref<16xf32>) -> ()
  "imc.spad_free"(%x) : (memref<32xf32, 1>) -> ()
  return
}

// -----

// Scratchpad memrefs that do not come from an imc.spad_alloc in the same
// function cannot be checked.
func.func @untraced(%x: memref<16xf32, 1>, %out: memref<16xf32>) {
  // expected-error @+1 {{'imc.dma' op operand #0 is a scratchpad memref (memref<16xf32, 1>) that cannot be traced to an imc.spad_alloc}}
  "imc.dma"(%x, %out) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32>) -> ()
  return
}

// -----

// Allocate and free inside nested loops with unknown trip counts: no
// self-overlap, and the buffer loaded before the loops stays valid.
// expected-remark @+1 {{2 scratchpad buffers, peak 128 bytes of 262144: placement verified}}
module {
func.func @nested_loops(%a: memref<16xf32>, %out: memref<16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  "imc.dma"(%a, %y) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  scf.for %i = %c0 to %n step %c1 {
    scf.for %j = %c0 to %n step %c1 {
      %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
      linalg.copy ins(%y : memref<16xf32, 1>) outs(%x : memref<16xf32, 1>)
      "imc.dma"(%x, %out) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32>) -> ()
      "imc.spad_free"(%x) : (memref<16xf32, 1>) -> ()
    }
  }
  "imc.dma"(%y, %out) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32, 1>, memref<16xf32>) -> ()
  "imc.spad_free"(%y) : (memref<16xf32, 1>) -> ()
  return
}
}
