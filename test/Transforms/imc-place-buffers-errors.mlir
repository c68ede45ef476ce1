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

// -----

// Stages tiled by imc-tile-rows (loops computing on crossbars) are not placed yet.
module {
  func.func @main(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    // expected-error @+1 {{'scf.for' computing on crossbars (a stage tiled by imc-tile-rows): placing the buffers of tiled stages is not supported yet}}
    %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%a = %x) -> (tensor<1x1x4x4xf32>) {
      %c = "imc.im2col"(%a) {dilations = array<i64: 1, 1>, kernel = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x1x4x4xf32>) -> tensor<16x1xf32>
      scf.yield %a : tensor<1x1x4x4xf32>
    }
    return %r : tensor<1x1x4x4xf32>
  }
}

// ENTRY: error: 'builtin.module' op no function @nope to place buffers in
