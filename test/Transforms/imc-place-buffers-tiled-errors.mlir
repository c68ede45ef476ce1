// RUN: not imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows{rows=1}, imc-map-to-crossbars, imc-place-buffers)' 2>&1 | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows, imc-map-to-crossbars, imc-place-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=UNTILED

// One output row of this conv already needs 3 input rows of 4 x 40 floats
// (1,920 B): the slab cannot fit a 1 KiB scratchpad. Tiled anyway
// (rows=1), imc-place-buffers says so; by default imc-tile-rows leaves the
// stage whole.
// CHECK: "conv": error: 'scf.for' op the row slabs of this tiled stage (1,920 B) and the staging buffers (64 B) do not fit the 1,024 B scratchpad
// UNTILED: "conv": remark: [imc-tile-rows] not tiled: 1 output rows need a 1,920 B input slab and a 608 B output tile, more than the 960 B the scratchpad has beside a staging buffer; left to imc-place-buffers as a whole stage
// UNTILED-NOT: : error:
func.func @main(%x: tensor<1x4x8x40xf32>) -> tensor<1x4x6x38xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %e = tensor.empty() : tensor<1x4x6x38xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x6x38xf32>) -> tensor<1x4x6x38xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x4x8x40xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x6x38xf32>) -> tensor<1x4x6x38xf32> loc("conv")
  return %y : tensor<1x4x6x38xf32>
}
