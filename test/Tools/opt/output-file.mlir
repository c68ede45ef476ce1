// RUN: imc-opt %s -o %t && FileCheck %s < %t
// RUN: cat %s | imc-opt - | FileCheck %s

// CHECK-LABEL: func.func @f
func.func @f(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
