// RUN: imc-opt --list-passes | FileCheck %s

// CHECK: imc passes:
// CHECK: test-imc-fail
// CHECK-NEXT: message=
