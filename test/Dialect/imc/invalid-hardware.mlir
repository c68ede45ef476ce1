// RUN: imc-opt %s --split-input-file --verify-diagnostics --hardware default

// imc.spad_alloc rules that apply only when the module carries a hardware
// description (`imc.hardware`, attached here by `--hardware default`: a
// scratchpad of 262144 bytes with 64-byte alignment).

// The last byte of the scratchpad: [262080, 262144) fits exactly.
func.func @spad_alloc_fits() {
  %b = "imc.spad_alloc"() {offset = 262080 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  return
}

// -----

func.func @spad_alloc_capacity() {
  // expected-error @+1 {{'imc.spad_alloc' op buffer [262080, 262208) exceeds the scratchpad capacity of 262144 bytes}}
  %b = "imc.spad_alloc"() {offset = 262080 : i64, size = 128 : i64} : () -> memref<16xf32, 1>
  return
}

// -----

func.func @spad_alloc_alignment() {
  // expected-error @+1 {{'imc.spad_alloc' op buffer [96, 4192) starts at offset 96, not a multiple of the 64-byte scratchpad alignment}}
  %b = "imc.spad_alloc"() {offset = 96 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
  return
}

// -----

// imc.transfer_in/transfer_out: their staging buffers, buffer k at
// staging + k * tile * element bytes (8-bit activations: 1 byte each here).
func.func @transfer_staging_fits(%t: tensor<256xf32>, %d: memref<256xf32>) {
  "imc.transfer_out"(%t, %d) {buffers = 2 : i64, offset = 0 : i64, staging = 262016 : i64, tile = 64 : i64} : (tensor<256xf32>, memref<256xf32>) -> ()
  return
}

// -----

func.func @transfer_staging_capacity(%t: tensor<256xf32>, %d: memref<256xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op staging area [262080, 262208) exceeds the scratchpad capacity of 262144 bytes}}
  "imc.transfer_out"(%t, %d) {buffers = 2 : i64, offset = 0 : i64, staging = 262080 : i64, tile = 64 : i64} : (tensor<256xf32>, memref<256xf32>) -> ()
  return
}

// -----

func.func @transfer_staging_alignment(%d: memref<256xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op staging area [32, 96) starts at offset 32, not a multiple of the 64-byte scratchpad alignment}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 32 : i64, tile = 64 : i64} : (memref<256xf32>) -> tensor<256xf32>
  return
}

// -----

func.func @transfer_in_staging_capacity(%d: memref<256xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op staging area [262144, 262208) exceeds the scratchpad capacity of 262144 bytes}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 262144 : i64, tile = 64 : i64} : (memref<256xf32>) -> tensor<256xf32>
  return
}

// -----

func.func @transfer_out_staging_alignment(%t: tensor<256xf32>, %d: memref<256xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op staging area [32, 96) starts at offset 32, not a multiple of the 64-byte scratchpad alignment}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 32 : i64, tile = 64 : i64} : (tensor<256xf32>, memref<256xf32>) -> ()
  return
}
