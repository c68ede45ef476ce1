// A tiled stage reading a stored tensor in row windows, executed by imc-run
// (2 KiB scratchpad): 2 of the tensor's 4 planes stay on chip (stored and
// read in place), the other 2 are written to DRAM row tile by row tile, once,
// and their rows are loaded once each through a slab that keeps the halo.
// RUN: %PYTHON -c "import numpy as np; np.save('%t.npy', np.ones((1, 4, 12, 12), np.float32))"
// RUN: imc-opt %s --hardware %S/../../Inputs/spad-2k.toml --mlir-print-debuginfo -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | imc-run - --input %t.npy | FileCheck %s

// x = ones(1x4x12x12), w1 = 1, w2 = 2: conv1 (no padding) gives 4 * 9 = 36
// everywhere, conv2 gives 36 * 36 * 2 = 2592.
// conv1 reads the input's 4 x 12 x 12 x 4 = 2,304 B by row DMAs plus its 144
// 8-bit weights, and writes the DRAM planes (2 x 10 x 10 x 4 = 800 B) once;
// conv2 reads those planes' rows once (800 B) plus its 144 weights. The
// output's 1,024 B are written at the call boundary.
// CHECK: result #0: float32[1, 4, 8, 8] min 2592 max 2592 mean 2592
// CHECK: <inputs/outputs> {{ +}}0 {{ +}}1,024
// CHECK: conv1 {{ +}}2,448 {{ +}}800
// CHECK: conv2 {{ +}}944 {{ +}}0
// CHECK: total {{ +}}3,392 {{ +}}1,824
func.func @main(%x: tensor<1x4x12x12xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %w2 = arith.constant dense<2.0> : tensor<4x4x3x3xf32>
  %e10 = tensor.empty() : tensor<1x4x10x10xf32>
  %f10 = linalg.fill ins(%zero : f32) outs(%e10 : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32>
  %y1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x4x12x12xf32>, tensor<4x4x3x3xf32>) outs(%f10 : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32> loc("conv1")
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%y1, %w2 : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv2")
  return %y2 : tensor<1x4x8x8xf32>
}
