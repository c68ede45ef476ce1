// A placed program executed by imc-run: DRAM traffic counted from its DMAs,
// checked against arithmetic done by hand.
// RUN: %PYTHON -c "import numpy as np; np.save('%t.npy', np.ones((8, 32), np.float32))"
// RUN: imc-opt %s --hardware %S/../../Inputs/spad-1k.toml --mlir-print-debuginfo -p 'builtin.module(imc-place-buffers{tile-bytes=256}, imc-check-buffers)' | imc-run - --input %t.npy | FileCheck %s
// The transfers lowered to DMA loops move the same DRAM bytes:
// RUN: imc-opt %s --hardware %S/../../Inputs/spad-1k.toml --mlir-print-debuginfo -p 'builtin.module(imc-place-buffers{tile-bytes=256}, imc-lower-transfers, imc-check-buffers)' | imc-run - --input %t.npy | FileCheck %s

// x = ones(8x32), w = 0.5 everywhere (a splat constant: an immediate, no DRAM
// bytes): y = x w = 16, z = y w = 256, v = z w = 4096.
// Scratchpad 1 KiB, 256 B staging: 768 B for stored tensors. While l2 runs,
// y and z (1,024 B each) are live: the plan spills all of y (written by l1,
// read by l2: 1,024 B each way) and the last 256 B of z (written by l2, read
// by l3). With the call's input (1,024 B read) and output (1,024 B written):
// DRAM reads 1,024 + 1,024 + 256 = 2,304, writes 1,024 + 1,024 + 256 = 2,304.

// CHECK: result #0: float32[8, 32] min 4096 max 4096
// CHECK: <inputs/outputs> {{ +}}1,024 {{ +}}1,024
// CHECK: l1 {{ +}}0 {{ +}}1,024
// CHECK: l2 {{ +}}1,024 {{ +}}256
// CHECK: l3 {{ +}}256 {{ +}}0
// CHECK: total {{ +}}2,304 {{ +}}2,304
#l1 = loc("l1")
#l2 = loc("l2")
#l3 = loc("l3")
func.func @main(%x: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %w = arith.constant dense<0.5> : tensor<32x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l1)
  %z = linalg.matmul ins(%y, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l2)
  %v = linalg.matmul ins(%z, %w : tensor<8x32xf32>, tensor<32x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32> loc(#l3)
  return %v : tensor<8x32xf32>
}
