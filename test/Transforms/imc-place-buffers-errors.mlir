// RUN: imc-opt %s --split-input-file --verify-diagnostics --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{tile-bytes=1024})'
// RUN: not imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-place-buffers{entry=nope})' 2>&1 | FileCheck %s --check-prefix=ENTRY

// Staging buffers that fill the scratchpad leave nothing for stored tensors.
// expected-error @+1 {{staging buffers of 1,024 B (tile-bytes=1024, double-buffer=false) leave no room in the 1,024 B scratchpad}}
module {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// The pass places tensor programs once; memref buffers mean it already ran.
module {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @+1 {{'memref.alloc': imc-place-buffers expects tensor IR without buffers (already placed?)}}
    %b = memref.alloc() : memref<4xf32>
    return %x : tensor<4xf32>
  }
}

// ENTRY: error: 'builtin.module' op no function @nope to place buffers in

// -----

// A declaration has nothing to place (found by the fuzz suite: an IndexError
// escaped the pass).
// expected-error @+1 {{'builtin.module' op @main is a declaration with no body to place buffers in}}
module {
  func.func private @main(tensor<4xf32>) -> tensor<4xf32>
}
