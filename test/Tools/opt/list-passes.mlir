// RUN: imc-opt --list-passes | FileCheck %s

// CHECK: imc passes:
// CHECK: test-imc-fail
// CHECK-NEXT: message=

// Integer options show their range (checked where the option enters).
// RUN: imc-opt --list-passes | FileCheck %s --check-prefix=RANGE
// RANGE: imc-tile
// RANGE: rows=from hardware crossbar rows [1, 65536]
