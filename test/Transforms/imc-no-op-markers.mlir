// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tile-rows, imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers{double-buffer=true}, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-tiled)' | FileCheck %s

// A program compiled with a whole pipeline says what the chip does in its ops
// (issue 13): a stored tensor's moves are `imc.transfer_out`/`transfer_in`,
// its parts are joined by `imc.join`, and no op carries an `imc.*`
// attribute of its own (only the module: its hardware and its placement's
// capacity bound). Three 8x32 matmuls on a 1 KiB scratchpad: y and part of
// z spill to DRAM.
// CHECK: module attributes {{.*}}
// CHECK-NOT: {{[{,] *imc\.[a-z_]+}}
// CHECK: "imc.transfer_out"
// CHECK-NOT: {{[{,] *imc\.[a-z_]+}}
// CHECK: "imc.transfer_in"
// CHECK-NOT: {{[{,] *imc\.[a-z_]+}}
// CHECK: "imc.join"
// CHECK-NOT: {{[{,] *imc\.[a-z_]+}}
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
