// RUN: imc-opt %s -p 'builtin.module(imc-map-to-crossbars)' | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(imc-map-to-crossbars)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions, imc-tile{rows=16 cols=8 weight-bits=4}, imc-place-crossbars{crossbars=6 objective=energy}, cse)' --imc-remarks 2>&1 | FileCheck %s --check-prefix=SMALL
// RUN: imc-opt %s -p 'builtin.module(imc-map-contractions, imc-tile{rows=16 cols=8 weight-bits=4}, imc-place-crossbars{crossbars=6}, cse)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=SMALL-TIME
// RUN: imc-opt %s --hardware %S/../Inputs/slow-dram.toml -p 'builtin.module(imc-map-contractions, imc-tile{rows=16 cols=8 weight-bits=4}, imc-place-crossbars{crossbars=6}, cse)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=SLOW-DRAM

// The named pipeline end to end on a conv (via im2col) followed by a linear
// layer with a bias: map -> tile (default 128x128 crossbars, 8-bit weights in
// 2-bit cells: 4 bit slices) -> place -> cse. Placement packs small tiles
// along a crossbar's diagonal: the conv's four 18x4 slice tiles share array 0
// (at rows/cols [0, 0], [18, 4], [36, 8], [54, 12]); the linear's 64x10
// tiles go two per crossbar (arrays 1 and 2, the second at [64, 10]).

// CHECK-LABEL: func.func @conv_linear
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x6x6xf32>)
// CHECK-DAG: %[[WC:.*]] = arith.constant dense<5.000000e-01> : tensor<4x2x3x3xf32>
// CHECK-DAG: %[[WL:.*]] = arith.constant dense<2.500000e-01> : tensor<10x64xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<1.000000e+00> : tensor<1x10xf32>
// CHECK: %[[WCR:.*]] = tensor.collapse_shape %[[WC]] {{\[}}[0], [1, 2, 3]] : tensor<4x2x3x3xf32> into tensor<4x18xf32>
// CHECK: %[[COLS:.*]] = "imc.im2col"(%[[X]]) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x2x6x6xf32>) -> tensor<16x18xf32>
// CHECK: %[[XB0:.*]] = "imc.program"(%[[WCR]]) {array = 0 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<4x18xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: %[[P0:.*]] = "imc.mvm"(%[[XB0]], %[[COLS]]) {adc_bits = 8 : i64, adc_full_scale = 0.000000e+00 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<16x18xf32>) -> tensor<16x4xf32>
// CHECK: "imc.program"(%[[WCR]]) {array = 0 : i64, cell_bits = 2 : i64, offset = array<i64: 18, 4>, slice = 1 : i64
// CHECK: "imc.program"(%[[WCR]]) {array = 0 : i64, cell_bits = 2 : i64, offset = array<i64: 36, 8>, slice = 2 : i64
// CHECK: "imc.program"(%[[WCR]]) {array = 0 : i64, cell_bits = 2 : i64, offset = array<i64: 54, 12>, slice = 3 : i64
// CHECK: %[[ACC:.*]] = "imc.accumulate"(%[[P0]], %{{.*}}, %{{.*}}, %{{.*}}) {shifts = array<i64: 0, 2, 4, 6>} : ({{.*}}) -> tensor<16x4xf32>
// CHECK: %[[EX:.*]] = tensor.expand_shape %[[ACC]] {{\[}}[0, 1, 2], [3]] output_shape [1, 4, 4, 4]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[EX]] : tensor<1x4x4x4xf32>) outs(%{{.*}} : tensor<1x4x4x4xf32>) permutation = [0, 3, 1, 2]
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[T]] {{\[}}[0], [1, 2, 3]] : tensor<1x4x4x4xf32> into tensor<1x64xf32>
// CHECK: %[[XL:.*]] = "imc.program"(%[[WL]]) {array = 1 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<10x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: "imc.mvm"(%[[XL]], %[[FLAT]]) {{.*}} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x64xf32>) -> tensor<1x10xf32>
// CHECK: "imc.program"(%[[WL]]) {array = 1 : i64, cell_bits = 2 : i64, offset = array<i64: 64, 10>, slice = 1 : i64
// CHECK: "imc.program"(%[[WL]]) {array = 2 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 2 : i64
// CHECK: "imc.program"(%[[WL]]) {array = 2 : i64, cell_bits = 2 : i64, offset = array<i64: 64, 10>, slice = 3 : i64
// CHECK: %[[LIN:.*]] = "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 4, 6>} : ({{.*}}) -> tensor<1x10xf32>
// CHECK: %[[Y:.*]] = linalg.add ins(%[[LIN]], %[[B]] : tensor<1x10xf32>, tensor<1x10xf32>)
// CHECK-NOT: linalg.conv
// CHECK-NOT: linalg.matmul
// CHECK-NOT: imc.contract
// CHECK: return %[[Y]]

// REMARK: remark: [imc-map-contractions] mapped 2 contractions to crossbars; left for the digital unit: linalg.add x1, linalg.transpose x1,
// REMARK: remark: [imc-place-crossbars] 8 crossbar tiles placed on 3 of 4096 crossbars (5 share a crossbar with another tile); each weight tile is programmed once

// 16x8 crossbars, 4-bit weights (2 slices): the conv's 18 x 4 weight needs
// row tiles 16 + 2, the linear's 64 x 10 needs 4 row x 2 column tiles: 20
// programs. Only the conv's two 2x4 tail tiles share a crossbar, so they
// need 19 crossbars; the chip has 6, so the five fullest (8x16 linear tiles)
// stay resident and 14 rotate through the sixth (objective=energy: the
// fewest cells reprogrammed per call).
// With the default objective (throughput) the pool widens for time: each
// conv MVM takes 16 pixels x 8 input cycles x 100 ns = 12.8 us and each
// linear MVM 0.8 us; the two conv tail tiles share a crossbar and their
// input, so they compute in one activation (12.8 us). The 3 conv crossbars
// are the busiest and stay resident. Rotating linear tiles take 0.8 + 16
// rows x 85.69 ns of writing = 2.17 us each: on one crossbar 14 of them take
// 30.4 us, on two 8 x 2.17 = 17.4 us, on three (none resident) 6 x 2.17 =
// 13.0 us, the closest to 12.8 that any pool gets; on four the conv tail
// crossbar rotates too (22.9 us). The 16 rotating linear tiles reprogram
// 8 x 128 + 8 x 32 = 1280 cells per call.
// SMALL-TIME: remark: [imc-place-crossbars] 20 crossbar tiles need 19 crossbars but the chip has 6: 3 stay resident, 16 are time-multiplexed over 3 crossbar(s) (widened from 1 to the pool whose busiest crossbar comes closest to the busiest resident one: about 13.0 us against 12.8 us of MVMs and writes per call; objective=energy keeps 1), reprogramming 1280 cells per call
// SMALL: remark: [imc-place-crossbars] 20 crossbar tiles need 19 crossbars but the chip has 6: 5 stay resident, 14 are time-multiplexed over 1 crossbar(s), reprogramming 784 cells per call
// With a 2 MB/s DRAM channel the wider pool's weights (1280 cells re-read per call
// instead of 784) would take longer to read than the MVM time it saves: no widening.
// SLOW-DRAM: remark: [imc-place-crossbars] 20 crossbar tiles need 19 crossbars but the chip has 6: 5 stay resident, 14 are time-multiplexed over 1 crossbar(s), reprogramming 784 cells per call
// SMALL-LABEL: func.func @conv_linear
// SMALL: "imc.program"(%{{.*}}) {array = 5 : i64, {{.*}} : (tensor<4x16xf32>) -> !imc.xbar<16 : i64, 8 : i64>
// SMALL: "imc.program"(%{{.*}}) {array = 5 : i64, {{.*}} : (tensor<4x2xf32>) -> !imc.xbar<16 : i64, 8 : i64>
// SMALL: "imc.program"(%{{.*}}) {array = 5 : i64, {{.*}}offset = array<i64: 2, 4>, {{.*}} : (tensor<4x2xf32>) -> !imc.xbar<16 : i64, 8 : i64>
// SMALL: "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 0, 2>}
// SMALL: "imc.program"(%{{.*}}) {array = 0 : i64, {{.*}} : (tensor<8x16xf32>) -> !imc.xbar<16 : i64, 8 : i64>
// SMALL: tensor.concat dim(1) %{{.*}}, %{{.*}} : (tensor<1x8xf32>, tensor<1x2xf32>) -> tensor<1x10xf32>
func.func @conv_linear(%x: tensor<1x2x6x6xf32>) -> tensor<1x10xf32> {
  %zero = arith.constant 0.0 : f32
  %wc = arith.constant dense<0.5> : tensor<4x2x3x3xf32>
  %wl = arith.constant dense<0.25> : tensor<10x64xf32>
  %bl = arith.constant dense<1.0> : tensor<1x10xf32>
  %e = tensor.empty() : tensor<1x4x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%x, %wc : tensor<1x2x6x6xf32>, tensor<4x2x3x3xf32>) outs(%init : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %flat = tensor.collapse_shape %c [[0], [1, 2, 3]] : tensor<1x4x4x4xf32> into tensor<1x64xf32>
  %et = tensor.empty() : tensor<64x10xf32>
  %wt = linalg.transpose ins(%wl : tensor<10x64xf32>) outs(%et : tensor<64x10xf32>) permutation = [1, 0]
  %y = linalg.matmul ins(%flat, %wt : tensor<1x64xf32>, tensor<64x10xf32>) outs(%bl : tensor<1x10xf32>) -> tensor<1x10xf32>
  return %y : tensor<1x10xf32>
}
