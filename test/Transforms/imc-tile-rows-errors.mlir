// RUN: imc-opt %s --split-input-file --verify-diagnostics -p 'builtin.module(imc-tile-rows)'

// A declaration has nothing to tile (found by the fuzz suite: an IndexError
// escaped the pass).
// expected-error @+1 {{'builtin.module' op @main is a declaration with no body to tile}}
module {
  func.func private @main(tensor<4xf32>) -> tensor<4xf32>
}

