// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions)' | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions{map-activation-matmuls=true})' | FileCheck %s

// A matmul on memrefs (bufferized or placed IR) stays as it is, even with
// map-activation-matmuls: contractions are mapped on tensors only (this was
// "pass crashed: ValueError", found by the fuzz suite).
// CHECK-LABEL: func.func @memref_matmul
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<4x4xf32>, memref<4x4xf32>)
// CHECK-NOT: imc.contract
func.func @memref_matmul(%a: memref<4x4xf32>, %b: memref<4x4xf32>, %c: memref<4x4xf32>) {
  linalg.matmul ins(%a, %b : memref<4x4xf32>, memref<4x4xf32>) outs(%c : memref<4x4xf32>)
  return
}
