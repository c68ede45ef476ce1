// RUN: imc-opt %s --mlir-print-op-generic | FileCheck %s
// RUN: imc-opt %s --mlir-print-debuginfo | FileCheck %s --check-prefix=LOC

// CHECK: "func.func"() <{function_type = () -> (), sym_name = "f"}>
// CHECK: "func.return"() : () -> ()
// LOC: loc(
func.func @f() {
  return
}
