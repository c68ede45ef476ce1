// A linear layer in linalg-on-tensors: y = x W^T.
func.func @main(%x: tensor<4x256xf32>, %w: tensor<192x256xf32>) -> tensor<4x192xf32> {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x192xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<4x192xf32>) -> tensor<4x192xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
         ins(%x, %w : tensor<4x256xf32>, tensor<192x256xf32>) outs(%acc : tensor<4x192xf32>) -> tensor<4x192xf32>
  return %y : tensor<4x192xf32>
}
