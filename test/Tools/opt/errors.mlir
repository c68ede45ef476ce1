// Errors are one line, exit code 1, no Python traceback.
// RUN: not imc-opt %S/Inputs/malformed.mlir 2>&1 | FileCheck %s --check-prefix=PARSE
// PARSE: malformed.mlir:4:23: error: expected attribute name
// PARSE-NOT: Traceback

// RUN: not imc-opt %s -p 'builtin.module(canonicalise)' 2>&1 | FileCheck %s --check-prefix=PASS
// PASS: imc-opt: error: unknown pass 'canonicalise' (did you mean 'canonicalize'?)
// PASS-NOT: Traceback

// RUN: not imc-opt %s -p 'builtin.module(test-imc-fail{mesage=x})' 2>&1 | FileCheck %s --check-prefix=OPTION
// OPTION: imc-opt: error: unknown option 'test-imc-fail{mesage}' (did you mean 'message'?)

// RUN: not imc-opt %s -p 'builtin.module(canonicalize{no-such=1})' 2>&1 | FileCheck %s --check-prefix=UPSTREAM
// UPSTREAM: imc-opt: error: unknown option 'no-such'

// Pass options are range-checked where they enter (no "std::bad_cast" from
// a 20-digit crossbar size), with a message naming the pass and the option.
// RUN: not imc-opt %s -p 'builtin.module(imc-tile{rows=99999999999999999999})' 2>&1 | FileCheck %s --check-prefix=RANGE
// RANGE: imc-opt: error: option 'rows' of pass 'imc-tile' = 99999999999999999999 is out of range [1, 65536]
// RANGE-NOT: crashed
// RUN: not imc-opt %s -p 'builtin.module(imc-tile{adc-bits=-1})' 2>&1 | FileCheck %s --check-prefix=RANGE-ADC
// RANGE-ADC: imc-opt: error: option 'adc-bits' of pass 'imc-tile' = -1 is out of range [0, 16]
// RUN: not imc-opt %s -p 'builtin.module(imc-tile-rows{rows=-1})' 2>&1 | FileCheck %s --check-prefix=RANGE-ROWS
// RANGE-ROWS: imc-opt: error: option 'rows' of pass 'imc-tile-rows' = -1 is out of range [0, 2147483648]
// RUN: not imc-opt %s -p 'builtin.module(imc-place-buffers{tile-bytes=-5})' 2>&1 | FileCheck %s --check-prefix=RANGE-TILE
// RANGE-TILE: imc-opt: error: option 'tile-bytes' of pass 'imc-place-buffers' = -5 is out of range [0, 281474976710656]

// A named pipeline takes no options (they were dropped before).
// RUN: not imc-opt %s -p 'builtin.module(imc-tiled{double-buffer=true})' 2>&1 | FileCheck %s --check-prefix=PIPELINE
// PIPELINE: imc-opt: error: pipeline 'imc-tiled' takes no options (in 'imc-tiled{double-buffer=true}'): spell out its passes, imc-tile-rows{fit-rows=4}, imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true objective=latency}, cse, imc-quantize-activations, imc-place-buffers{overlap-calls=true}, imc-check-buffers, imc-group-contractions, and give the options to the pass they belong to

// RUN: not imc-opt %s --no-such-flag 2>&1 | FileCheck %s --check-prefix=FLAG
// FLAG: imc-opt: error: unrecognized arguments: --no-such-flag

// RUN: not imc-opt %S/Inputs/does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: imc-opt: error: {{.*}}does-not-exist.mlir: cannot read: No such file or directory

// A failing pass: its diagnostics, then a repro command line.
// RUN: not imc-opt %s -p 'builtin.module(test-imc-fail{message="no crossbar left"})' 2>&1 | FileCheck %s --check-prefix=FAIL
// FAIL: errors.mlir:[[# @LINE + 4]]:3: error: 'func.return' op no crossbar left
// FAIL: imc-opt: pass pipeline failed; reproduce with: imc-opt {{.*}}imc-repro-{{.*}}.mlir --pass-pipeline=
// FAIL-NOT: Traceback
func.func @f() {
  return {imc.test_fail}
}
