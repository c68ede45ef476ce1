// RUN: imc-opt %s --split-input-file --verify-diagnostics
// A wrong expectation makes --verify-diagnostics fail and name both sides:
// RUN: sed 's/must be positive/WRONG TEXT/' %s > %t.mlir
// RUN: not imc-opt %t.mlir --split-input-file --verify-diagnostics 2> %t.err
// RUN: FileCheck %s --check-prefix=MISMATCH < %t.err

// MISMATCH: error: unexpected error: 'imc.spad_alloc' op size = 0 must be positive
// MISMATCH: error: expected error "WRONG TEXT" was not produced

func.func @bad_size() {
  // expected-error @+1 {{must be positive}}
  %0 = "imc.spad_alloc"() {offset = 0 : i64, size = 0 : i64} : () -> memref<4xf32, 1>
  return
}

// -----

func.func @error_on_this_line() {
  %0 = "imc.spad_alloc"() {offset = -64 : i64, size = 16 : i64} : () -> memref<4xf32, 1> // expected-error {{must be non-negative}}
  return
}

// -----

// expected-error @below {{'func.return' op has 1 operands, but enclosing function (@parse_error) returns 0}}
func.func @parse_error(%a: f32) { return %a : f32 }
