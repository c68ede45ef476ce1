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
  // expected-error @+1 {{'imc.spad_alloc' op offset = 96 is not aligned to 64 bytes}}
  %b = "imc.spad_alloc"() {offset = 96 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
  return
}
