// RUN: imc-opt %s -p 'builtin.module(canonicalize, test-imc-fail)' --mlir-print-ir-after-all 2>&1 >/dev/null | FileCheck %s

// CHECK: IR Dump After CanonicalizerPass: canonicalize
// CHECK: IR Dump After test-imc-fail
func.func @f() {
  return
}
