// A tensor stored to a DRAM buffer and read back counts DRAM bytes once each
// way (`materialize_in_destination` into DRAM, `to_tensor` of DRAM).
// RUN: imc-run %s --random-inputs | FileCheck %s

// The input (16 B) and the output (16 B) cross at the call at their host
// dtype; the store and the load of %y are the layer's, at the default chip's
// 8-bit activations (4 B each).
// Allocating the buffer moves nothing.
// CHECK: <inputs/outputs> {{ +}}16 {{ +}}16
// CHECK: spill {{ +}}4 {{ +}}4 {{ +}}0 {{ +}}0
// CHECK: total {{ +}}20 {{ +}}20
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %buf = memref.alloc() : memref<4xf32> loc("spill")
  bufferization.materialize_in_destination %x in writable %buf : (tensor<4xf32>, memref<4xf32>) -> () loc("spill")
  %y = bufferization.to_tensor %buf : memref<4xf32> to tensor<4xf32> loc("spill")
  %e = tensor.empty() : tensor<4xf32>
  %z = linalg.add ins(%y, %y : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32> loc("add")
  memref.dealloc %buf : memref<4xf32> loc("spill")
  return %z : tensor<4xf32>
}
