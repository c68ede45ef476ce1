// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions)' | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions{map-activation-matmuls=true})' | FileCheck %s --check-prefix=ACT

// Weight-stationary contractions become imc.contract on the weight itself
// (never a copy); everything else stays for the digital unit with a remark.

// CHECK-LABEL: func.func @matmul_const
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<4x3xf32>
// CHECK-NOT: linalg.matmul
// CHECK: %[[Y:.*]] = "imc.contract"(%[[X]], %[[W]]) {kind = "matmul", transpose_weight = false} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK-NOT: linalg.fill
// CHECK-NOT: linalg.add
// CHECK: return %[[Y]]
func.func @matmul_const(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// nn.Linear as torch-mlir imports it: matmul(x, transpose(W)). The contract
// uses the N x K constant directly and the dead transpose goes away.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<2.000000e+00> : tensor<3x4xf32>
// CHECK-NOT: linalg.transpose
// CHECK: %[[Y:.*]] = "imc.contract"(%[[X]], %[[W]]) {kind = "linear", transpose_weight = true} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
// CHECK-NOT: linalg.transpose
// CHECK: return %[[Y]]
func.func @linear(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<2.0> : tensor<3x4xf32>
  %zero = arith.constant 0.0 : f32
  %et = tensor.empty() : tensor<4x3xf32>
  %wt = linalg.transpose ins(%w : tensor<3x4xf32>) outs(%et : tensor<4x3xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x4xf32>, tensor<4x3xf32>) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// Explicit indexing maps reading B as N x K (B transposed).
// CHECK-LABEL: func.func @matmul_transpose_b_map
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<3x4xf32>
// CHECK: %[[Y:.*]] = "imc.contract"(%[[X]], %[[W]]) {kind = "linear", transpose_weight = true} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
// CHECK: return %[[Y]]
func.func @matmul_transpose_b_map(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.0> : tensor<3x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%x, %w : tensor<2x4xf32>, tensor<3x4xf32>) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// A matmul written as linalg.generic (mulf + addf over one reduction).
// CHECK-LABEL: func.func @generic_matmul
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<4x3xf32>
// CHECK-NOT: linalg.generic
// CHECK: %[[Y:.*]] = "imc.contract"(%[[X]], %[[W]]) {kind = "generic", transpose_weight = false} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @generic_matmul(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%init : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// A non-zero initial value (a bias) is added after the contraction.
// CHECK-LABEL: func.func @bias_init
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[B:.*]]: tensor<2x3xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<4x3xf32>
// CHECK: %[[C:.*]] = "imc.contract"(%[[X]], %[[W]]) {kind = "matmul", transpose_weight = false}
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK: %[[Y:.*]] = linalg.add ins(%[[C]], %[[B]] : tensor<2x3xf32>, tensor<2x3xf32>) outs(%[[E]] : tensor<2x3xf32>)
// CHECK: return %[[Y]]
func.func @bias_init(%x: tensor<2x4xf32>, %bias: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%bias : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// Stride 2 after an explicit tensor.pad: im2col of the padded input, 5x5
// output positions, filter F x (C*KH*KW) = 4 x 18 used transposed.
// CHECK-LABEL: func.func @conv_stride_pad
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<4x2x3x3xf32>
// CHECK: %[[P:.*]] = tensor.pad
// CHECK: %[[WR:.*]] = tensor.collapse_shape %[[W]] {{\[}}[0], [1, 2, 3]] : tensor<4x2x3x3xf32> into tensor<4x18xf32>
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[P]]) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>} : (tensor<1x2x11x11xf32>) -> tensor<25x18xf32>
// CHECK: %[[C:.*]] = "imc.contract"(%[[COLS]], %[[WR]]) {kind = "conv2d", transpose_weight = true} : (tensor<25x18xf32>, tensor<4x18xf32>) -> tensor<25x4xf32>
// CHECK: %[[EX:.*]] = tensor.expand_shape %[[C]] {{\[}}[0, 1, 2], [3]] output_shape [1, 5, 5, 4]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[EX]] : tensor<1x5x5x4xf32>) outs(%{{.*}} : tensor<1x4x5x5xf32>) permutation = [0, 3, 1, 2]
// CHECK-NOT: linalg.conv
// CHECK: return %[[T]]
func.func @conv_stride_pad(%x: tensor<1x2x9x9xf32>) -> tensor<1x4x5x5xf32> {
  %w = arith.constant dense<1.0> : tensor<4x2x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x9x9xf32> to tensor<1x2x11x11xf32>
  %e = tensor.empty() : tensor<1x4x5x5xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
      ins(%p, %w : tensor<1x2x11x11xf32>, tensor<4x2x3x3xf32>) outs(%init : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  return %y : tensor<1x4x5x5xf32>
}

// CHECK-LABEL: func.func @conv_1x1
// CHECK-SAME: (%[[X:.*]]: tensor<1x8x4x4xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<16x8x1x1xf32>
// CHECK: %[[WR:.*]] = tensor.collapse_shape %[[W]] {{\[}}[0], [1, 2, 3]] : tensor<16x8x1x1xf32> into tensor<16x8xf32>
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[X]]) {dilations = array<i64: 1, 1>, kernel = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x8x4x4xf32>) -> tensor<16x8xf32>
// CHECK: "imc.contract"(%[[COLS]], %[[WR]]) {kind = "conv2d", transpose_weight = true} : (tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<16x16xf32>
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x4x4x16xf32>) outs(%{{.*}} : tensor<1x16x4x4xf32>) permutation = [0, 3, 1, 2]
func.func @conv_1x1(%x: tensor<1x8x4x4xf32>) -> tensor<1x16x4x4xf32> {
  %w = arith.constant dense<1.0> : tensor<16x8x1x1xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x16x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x16x4x4xf32>) -> tensor<1x16x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x8x4x4xf32>, tensor<16x8x1x1xf32>) outs(%init : tensor<1x16x4x4xf32>) -> tensor<1x16x4x4xf32>
  return %y : tensor<1x16x4x4xf32>
}

// Dilation 2: a 3x3 kernel spans 5 pixels, so 9x9 -> 5x5.
// CHECK-LABEL: func.func @conv_dilated
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x9x9xf32>)
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[X]]) {dilations = array<i64: 2, 2>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x2x9x9xf32>) -> tensor<25x18xf32>
// CHECK: "imc.contract"(%[[COLS]], %{{.*}}) {kind = "conv2d", transpose_weight = true} : (tensor<25x18xf32>, tensor<3x18xf32>) -> tensor<25x3xf32>
func.func @conv_dilated(%x: tensor<1x2x9x9xf32>) -> tensor<1x3x5x5xf32> {
  %w = arith.constant dense<1.0> : tensor<3x2x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x5x5xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x5x5xf32>) -> tensor<1x3x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x2x9x9xf32>, tensor<3x2x3x3xf32>) outs(%init : tensor<1x3x5x5xf32>) -> tensor<1x3x5x5xf32>
  return %y : tensor<1x3x5x5xf32>
}

// CHECK-LABEL: func.func @conv1d
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x10xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<6x4x3xf32>
// CHECK: %[[WR:.*]] = tensor.collapse_shape %[[W]] {{\[}}[0], [1, 2]] : tensor<6x4x3xf32> into tensor<6x12xf32>
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[X]]) {dilations = array<i64: 1>, kernel = array<i64: 3>, strides = array<i64: 1>} : (tensor<2x4x10xf32>) -> tensor<16x12xf32>
// CHECK: %[[C:.*]] = "imc.contract"(%[[COLS]], %[[WR]]) {kind = "conv1d", transpose_weight = true} : (tensor<16x12xf32>, tensor<6x12xf32>) -> tensor<16x6xf32>
// CHECK: %[[EX:.*]] = tensor.expand_shape %[[C]] {{\[}}[0, 1], [2]] output_shape [2, 8, 6]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[EX]] : tensor<2x8x6xf32>) outs(%{{.*}} : tensor<2x6x8xf32>) permutation = [0, 2, 1]
// CHECK: return %[[T]]
func.func @conv1d(%x: tensor<2x4x10xf32>) -> tensor<2x6x8xf32> {
  %w = arith.constant dense<1.0> : tensor<6x4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x6x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x6x8xf32>) -> tensor<2x6x8xf32>
  %y = linalg.conv_1d_ncw_fcw {dilations = dense<1> : vector<1xi64>, strides = dense<1> : vector<1xi64>}
      ins(%x, %w : tensor<2x4x10xf32>, tensor<6x4x3xf32>) outs(%init : tensor<2x6x8xf32>) -> tensor<2x6x8xf32>
  return %y : tensor<2x6x8xf32>
}

// Grouped conv (groups = 2) as torch-mlir imports it: one im2col of the
// whole input (its columns group-major) and one grouped contract whose
// weight is the G x F_g x (C_g*3*3) reshape of the constant (no copy, no
// per-group ops).
// CHECK-LABEL: func.func @grouped_conv
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<4x2x3x3xf32>
// CHECK: %[[XG:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 5, 5]
// CHECK: %[[WG:.*]] = tensor.expand_shape %[[W]] {{\[}}[0, 1], [2], [3], [4]] output_shape [2, 2, 2, 3, 3]
// CHECK: %[[X:.*]] = tensor.collapse_shape %[[XG]] {{\[}}[0], [1, 2], [3], [4]] : tensor<1x2x2x5x5xf32> into tensor<1x4x5x5xf32>
// CHECK: %[[WR:.*]] = tensor.collapse_shape %[[WG]] {{\[}}[0], [1], [2, 3, 4]] : tensor<2x2x2x3x3xf32> into tensor<2x2x18xf32>
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[X]]) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x4x5x5xf32>) -> tensor<9x36xf32>
// CHECK: %[[C:.*]] = "imc.contract"(%[[COLS]], %[[WR]]) {kind = "conv2d", transpose_weight = true} : (tensor<9x36xf32>, tensor<2x2x18xf32>) -> tensor<9x4xf32>
// CHECK-NOT: "imc.contract"
// CHECK: %[[EX:.*]] = tensor.expand_shape %[[C]] {{\[}}[0, 1, 2], [3, 4]] output_shape [1, 3, 3, 2, 2]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[EX]] : tensor<1x3x3x2x2xf32>) outs(%{{.*}} : tensor<1x2x2x3x3xf32>) permutation = [0, 3, 4, 1, 2]
// CHECK: return %[[T]]
func.func @grouped_conv(%x: tensor<1x4x5x5xf32>) -> tensor<1x2x2x3x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x2x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 5, 5] : tensor<1x4x5x5xf32> into tensor<1x2x2x5x5xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 2, 2, 3, 3] : tensor<4x2x3x3xf32> into tensor<2x2x2x3x3xf32>
  %e = tensor.empty() : tensor<1x2x2x3x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x3x3xf32>) -> tensor<1x2x2x3x3xf32>
  %y = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%xg, %wg : tensor<1x2x2x5x5xf32>, tensor<2x2x2x3x3xf32>) outs(%init : tensor<1x2x2x3x3xf32>) -> tensor<1x2x2x3x3xf32>
  return %y : tensor<1x2x2x3x3xf32>
}

// Depthwise: one grouped contract, a group per channel (1 filter of 3*3
// weights each), its filters a reshape of the constant (as torch-mlir
// imports a groups == channels Conv2d).
// CHECK-LABEL: func.func @depthwise(
// CHECK-SAME: %[[X:.*]]: tensor<1x3x5x5xf32>)
// CHECK: %[[W4:.*]] = arith.constant dense<1.000000e+00> : tensor<3x1x3x3xf32>
// CHECK: %[[W3:.*]] = tensor.collapse_shape %[[W4]]
// CHECK: %[[W2:.*]] = tensor.collapse_shape %[[W3]] {{\[}}[0], [1, 2]] : tensor<3x3x3xf32> into tensor<3x9xf32>
// CHECK: %[[W:.*]] = tensor.expand_shape %[[W2]] {{\[}}[0], [1, 2]] output_shape [3, 1, 9] : tensor<3x9xf32> into tensor<3x1x9xf32>
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[X]]) {{.*}} : (tensor<1x3x5x5xf32>) -> tensor<9x27xf32>
// CHECK: %[[C:.*]] = "imc.contract"(%[[COLS]], %[[W]]) {kind = "conv2d", transpose_weight = true} : (tensor<9x27xf32>, tensor<3x1x9xf32>) -> tensor<9x3xf32>
// CHECK-NOT: "imc.contract"
// CHECK: %[[EX:.*]] = tensor.expand_shape %[[C]] {{\[}}[0, 1, 2], [3]] output_shape [1, 3, 3, 3]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[EX]] : tensor<1x3x3x3xf32>) outs(%{{.*}} : tensor<1x3x3x3xf32>) permutation = [0, 3, 1, 2]
// CHECK-NOT: linalg.depthwise
// CHECK: return %[[T]]
func.func @depthwise(%x: tensor<1x3x5x5xf32>) -> tensor<1x3x3x3xf32> {
  %w4 = arith.constant dense<1.0> : tensor<3x1x3x3xf32>
  %w = tensor.collapse_shape %w4 [[0, 1], [2], [3]] : tensor<3x1x3x3xf32> into tensor<3x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x3x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %w : tensor<1x3x5x5xf32>, tensor<3x3x3xf32>) outs(%init : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// A function argument marked {imc.weight} (a parameter passed in rather
// than frozen) is a weight like a constant.
// CHECK-LABEL: func.func @weight_argument
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[W:.*]]: tensor<4x3xf32> {imc.weight})
// CHECK-NOT: linalg.matmul
// CHECK: %[[Y:.*]] = "imc.contract"(%[[X]], %[[W]]) {kind = "matmul", transpose_weight = false} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK: return %[[Y]]
func.func @weight_argument(%x: tensor<2x4xf32>, %w: tensor<4x3xf32> {imc.weight}) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// Activation x activation (attention's QK^T, AV): no weight, so it stays on
// the digital unit with a remark; map-activation-matmuls=true maps it anyway.
// CHECK-LABEL: func.func @activation_matmul
// CHECK: linalg.matmul
// CHECK-NOT: imc.contract
// ACT-LABEL: func.func @activation_matmul
// ACT-SAME: (%[[A:.*]]: tensor<2x4xf32>, %[[B:.*]]: tensor<4x3xf32>)
// ACT-NOT: linalg.matmul
// ACT: %[[Y:.*]] = "imc.contract"(%[[A]], %[[B]]) {kind = "matmul", transpose_weight = false} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// ACT: return %[[Y]]
func.func @activation_matmul(%a: tensor<2x4xf32>, %b: tensor<4x3xf32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // REMARK: imc-map-contractions.mlir:[[# @LINE + 1]]:8: remark: [imc-map-contractions] 'linalg.matmul' stays on the digital unit: both operands are activations (set map-activation-matmuls=true to reprogram per call)
  %y = linalg.matmul ins(%a, %b : tensor<2x4xf32>, tensor<4x3xf32>) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @activation_batch_matmul
// CHECK-SAME: (%[[A:.*]]: tensor<2x3x4xf32>, %[[B:.*]]: tensor<2x4x5xf32>)
// CHECK: linalg.batch_matmul ins(%[[A]], %[[B]] : tensor<2x3x4xf32>, tensor<2x4x5xf32>)
// CHECK-NOT: imc.contract
func.func @activation_batch_matmul(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3x5xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  // REMARK: imc-map-contractions.mlir:[[# @LINE + 1]]:8: remark: [imc-map-contractions] 'linalg.batch_matmul' stays on the digital unit
  %y = linalg.batch_matmul ins(%a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%init : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  return %y : tensor<2x3x5xf32>
}

// The summary names what is left for the digital unit.
// REMARK: remark: [imc-map-contractions] mapped 12 contractions to crossbars; left for the digital unit: {{.*}}linalg.add x1, linalg.batch_matmul x1, {{.*}}linalg.matmul x1,
