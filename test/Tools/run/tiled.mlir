// A stage tiled over output rows (imc-tile-rows) and placed (imc-place-buffers)
// executed by imc-run: the input is loaded by per-row DMAs into a slab that
// keeps the halo, so each input byte crosses from DRAM once.
// RUN: %PYTHON -c "import numpy as np; np.save('%t.npy', np.ones((1, 4, 8, 8), np.float32))"
// RUN: imc-opt %s --hardware %S/../../Inputs/spad-1k.toml --mlir-print-debuginfo -p 'builtin.module(imc-tile-rows{rows=2}, imc-map-to-crossbars, imc-place-buffers{tile-bytes=64}, imc-check-buffers)' | imc-run - --input %t.npy | FileCheck %s

// x = ones(1x4x8x8), w = 1 everywhere, 3x3 conv with padding 1, then ReLU:
// 36 inside, 24 on the edges, 16 in the corners. 4 tiles of 2 output rows
// read 4 input rows each (16 row reads), but only the 8 rows exist: DRAM
// reads are the input's 4 x 8 x 8 x 4 = 1,024 B (not 2,048) plus the
// weights programmed once (144 8-bit weights = 144 B), all in the conv's
// layer (the tiled stage's loop is the conv's); writes the output's 1,024 B
// at the call boundary.
// CHECK: result #0: float32[1, 4, 8, 8] min 16 max 36 mean 30.25
// CHECK: <inputs/outputs> {{ +}}0 {{ +}}1,024
// CHECK: conv {{ +}}1,168 {{ +}}0
// CHECK: relu {{ +}}0 {{ +}}0
// CHECK: total {{ +}}1,168 {{ +}}1,024
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32> loc("conv")
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x10x10xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> loc("conv")
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x8xf32> loc("relu")
  return %r : tensor<1x4x8x8xf32>
}
