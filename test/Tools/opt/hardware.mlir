// --hardware attaches the chip description to the module; bad descriptions
// are one line, exit 1, no traceback.
// RUN: imc-opt %s --hardware isaac | FileCheck %s
// RUN: imc-opt %s --hardware %S/../../Hardware/Inputs/good_small.toml | FileCheck %s --check-prefix=FILE
// RUN: not imc-opt %s --hardware %S/../../Hardware/Inputs/bad_range.toml 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not imc-opt %s --hardware %S/../../Hardware/Inputs/unknown_key.toml 2>&1 | FileCheck %s --check-prefix=KEY
// RUN: not imc-opt %s --hardware no-such-chip 2>&1 | FileCheck %s --check-prefix=PRESET

// CHECK: module attributes {imc.hardware = {{{.*}}name = "isaac"
// FILE: module attributes {imc.hardware =
// RANGE: imc-opt: error: hardware file '{{.*}}bad_range.toml': crossbar.rows = 0 is out of range
// RANGE-NOT: Traceback
// KEY: imc-opt: error: hardware file '{{.*}}unknown_key.toml': unknown key
// KEY-NOT: Traceback
// PRESET: imc-opt: error: {{.*}}no-such-chip
// PRESET-NOT: Traceback
func.func @f() {
  return
}
