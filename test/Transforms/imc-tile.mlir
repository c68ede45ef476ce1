// RUN: imc-opt %s -p 'builtin.module(imc-tile)' | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(imc-tile)' --hardware default | FileCheck %s
// RUN: imc-opt %s -p 'builtin.module(imc-tile{rows=64 cols=32 weight-bits=4 cell-bits=2 input-bits=6 dac-bits=2 adc-bits=0})' | FileCheck %s --check-prefix=OPT

// Default hardware: 128x128 crossbars, 8-bit weights in 2-bit cells (4 bit
// slices, shifts 0, 2, 4, 6), 8-bit inputs through 1-bit DACs, 8-bit ADCs.

// K = 200, N = 150: row tiles 128 + 72, column tiles 128 + 22. Every tile is a
// slice of the weight constant, programmed once per bit slice; the row tiles
// of one column tile accumulate together, the column tiles are concatenated.
// CHECK-LABEL: func.func @uneven
// CHECK-SAME: (%[[X:.*]]: tensor<4x200xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<200x150xf32>
// CHECK-NOT: arith.constant
// CHECK-DAG: %[[X0:.*]] = tensor.extract_slice %[[X]][0, 0] [4, 128] [1, 1] : tensor<4x200xf32> to tensor<4x128xf32>
// CHECK-DAG: %[[X1:.*]] = tensor.extract_slice %[[X]][0, 128] [4, 72] [1, 1] : tensor<4x200xf32> to tensor<4x72xf32>
// CHECK: %[[T00:.*]] = tensor.extract_slice %[[W]][0, 0] [128, 128] [1, 1] : tensor<200x150xf32> to tensor<128x128xf32>
// CHECK: %[[XB0:.*]] = "imc.program"(%[[T00]]) {array = -1 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: %[[P0:.*]] = "imc.mvm"(%[[XB0]], %[[X0]]) {adc_bits = 8 : i64, adc_full_scale = 0.000000e+00 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<4x128xf32>) -> tensor<4x128xf32>
// CHECK: %[[XB1:.*]] = "imc.program"(%[[T00]]) {{.*}}slice = 1 : i64
// CHECK: %[[P1:.*]] = "imc.mvm"(%[[XB1]], %[[X0]])
// CHECK: %[[XB2:.*]] = "imc.program"(%[[T00]]) {{.*}}slice = 2 : i64
// CHECK: %[[P2:.*]] = "imc.mvm"(%[[XB2]], %[[X0]])
// CHECK: %[[XB3:.*]] = "imc.program"(%[[T00]]) {{.*}}slice = 3 : i64
// CHECK: %[[P3:.*]] = "imc.mvm"(%[[XB3]], %[[X0]])
// CHECK: %[[T10:.*]] = tensor.extract_slice %[[W]][128, 0] [72, 128] [1, 1] : tensor<200x150xf32> to tensor<72x128xf32>
// CHECK: %[[XB4:.*]] = "imc.program"(%[[T10]]) {{.*}}slice = 0 : i64{{.*}} : (tensor<72x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: %[[P4:.*]] = "imc.mvm"(%[[XB4]], %[[X1]]) {{.*}} : (!imc.xbar<128 : i64, 128 : i64>, tensor<4x72xf32>) -> tensor<4x128xf32>
// CHECK-COUNT-3: "imc.mvm"(%{{.*}}, %[[X1]])
// CHECK: %[[A0:.*]] = "imc.accumulate"(%[[P0]], %[[P1]], %[[P2]], %[[P3]], %[[P4]], %{{.*}}, %{{.*}}, %{{.*}}) {shifts = array<i64: 0, 2, 4, 6, 0, 2, 4, 6>} : ({{.*}}) -> tensor<4x128xf32>
// CHECK: %[[T01:.*]] = tensor.extract_slice %[[W]][0, 128] [128, 22] [1, 1] : tensor<200x150xf32> to tensor<128x22xf32>
// CHECK-COUNT-4: "imc.program"(%[[T01]])
// CHECK: %[[T11:.*]] = tensor.extract_slice %[[W]][128, 128] [72, 22] [1, 1] : tensor<200x150xf32> to tensor<72x22xf32>
// CHECK: "imc.program"(%[[T11]]) {{.*}}slice = 0 : i64{{.*}} : (tensor<72x22xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: "imc.mvm"(%{{.*}}, %[[X1]]) {{.*}} : (!imc.xbar<128 : i64, 128 : i64>, tensor<4x72xf32>) -> tensor<4x22xf32>
// CHECK: %[[A1:.*]] = "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 4, 6, 0, 2, 4, 6>} : ({{.*}}) -> tensor<4x22xf32>
// CHECK: %[[Y:.*]] = tensor.concat dim(1) %[[A0]], %[[A1]] : (tensor<4x128xf32>, tensor<4x22xf32>) -> tensor<4x150xf32>
// CHECK-NOT: imc.contract
// CHECK: return %[[Y]]

// rows=64 cols=32 (weight 200x150): 4 row tiles (64, 64, 64, 8) x 5 column
// tiles (32 x 4, 22); 4-bit weights in 2-bit cells: 2 slices, shifts 0, 2.
// OPT-LABEL: func.func @uneven
// OPT-SAME: (%[[X:.*]]: tensor<4x200xf32>)
// OPT: %[[W:.*]] = arith.constant
// OPT: tensor.extract_slice %[[X]][0, 192] [4, 8] [1, 1] : tensor<4x200xf32> to tensor<4x8xf32>
// OPT: %[[T:.*]] = tensor.extract_slice %[[W]][0, 0] [64, 32] [1, 1] : tensor<200x150xf32> to tensor<64x32xf32>
// OPT: "imc.program"(%[[T]]) {array = -1 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 4 : i64} : (tensor<64x32xf32>) -> !imc.xbar<64 : i64, 32 : i64>
// OPT: "imc.mvm"(%{{.*}}, %{{.*}}) {adc_bits = 0 : i64, adc_full_scale = 0.000000e+00 : f32, dac_bits = 2 : i64, input_bits = 6 : i64} : (!imc.xbar<64 : i64, 32 : i64>, tensor<4x64xf32>) -> tensor<4x32xf32>
// OPT: "imc.program"(%[[T]]) {{.*}}slice = 1 : i64
// OPT-NOT: slice = 2
// OPT: tensor.extract_slice %[[W]][192, 0] [8, 32] [1, 1] : tensor<200x150xf32> to tensor<8x32xf32>
// OPT: "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 0, 2, 0, 2, 0, 2>} : ({{.*}}) -> tensor<4x32xf32>
// OPT: tensor.extract_slice %[[W]][192, 128] [8, 22] [1, 1] : tensor<200x150xf32> to tensor<8x22xf32>
// OPT: tensor.concat dim(1) %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x32xf32>, tensor<4x32xf32>, tensor<4x32xf32>, tensor<4x32xf32>, tensor<4x22xf32>) -> tensor<4x150xf32>
func.func @uneven(%x: tensor<4x200xf32>) -> tensor<4x150xf32> {
  %w = arith.constant dense<1.0> : tensor<200x150xf32>
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<4x200xf32>, tensor<200x150xf32>) -> tensor<4x150xf32>
  return %y : tensor<4x150xf32>
}

// A transposed (N x K, nn.Linear) weight that fits one crossbar is programmed
// whole with transpose = true: no slice, no copy.
// CHECK-LABEL: func.func @transposed_fits
// CHECK-SAME: (%[[X:.*]]: tensor<2x100xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<40x100xf32>
// CHECK-NOT: tensor.extract_slice
// CHECK: %[[XB:.*]] = "imc.program"(%[[W]]) {array = -1 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<40x100xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: "imc.mvm"(%[[XB]], %[[X]]) {{.*}} : (!imc.xbar<128 : i64, 128 : i64>, tensor<2x100xf32>) -> tensor<2x40xf32>
// CHECK: %[[Y:.*]] = "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 4, 6>} : ({{.*}}) -> tensor<2x40xf32>
// CHECK: return %[[Y]]
func.func @transposed_fits(%x: tensor<2x100xf32>) -> tensor<2x40xf32> {
  %w = arith.constant dense<1.0> : tensor<40x100xf32>
  %y = "imc.contract"(%x, %w) {kind = "linear", transpose_weight = true} : (tensor<2x100xf32>, tensor<40x100xf32>) -> tensor<2x40xf32>
  return %y : tensor<2x40xf32>
}

// Transposed and larger than a crossbar (N = 150, K = 130): tiles are slices
// [c0, r0] [cols, rows] of the N x K weight, programmed with transpose = true.
// OPT-LABEL: func.func @transposed_tiles
// OPT-SAME: (%[[X:.*]]: tensor<3x130xf32>)
// OPT: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<150x130xf32>
// OPT: %[[T:.*]] = tensor.extract_slice %[[W]][0, 0] [32, 64] [1, 1] : tensor<150x130xf32> to tensor<32x64xf32>
// OPT: "imc.program"(%[[T]]) {array = -1 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = true, weight_bits = 4 : i64} : (tensor<32x64xf32>) -> !imc.xbar<64 : i64, 32 : i64>
// OPT: tensor.extract_slice %[[W]][0, 64] [32, 64] [1, 1] : tensor<150x130xf32> to tensor<32x64xf32>
// OPT: %[[T2:.*]] = tensor.extract_slice %[[W]][0, 128] [32, 2] [1, 1] : tensor<150x130xf32> to tensor<32x2xf32>
// OPT: "imc.program"(%[[T2]]) {{.*}}transpose = true{{.*}} : (tensor<32x2xf32>) -> !imc.xbar<64 : i64, 32 : i64>
// OPT: tensor.extract_slice %[[W]][128, 128] [22, 2] [1, 1] : tensor<150x130xf32> to tensor<22x2xf32>
// OPT: tensor.concat dim(1) {{.*}} -> tensor<3x150xf32>
// OPT-LABEL: func.func @rank3
func.func @transposed_tiles(%x: tensor<3x130xf32>) -> tensor<3x150xf32> {
  %w = arith.constant dense<1.0> : tensor<150x130xf32>
  %y = "imc.contract"(%x, %w) {kind = "linear", transpose_weight = true} : (tensor<3x130xf32>, tensor<150x130xf32>) -> tensor<3x150xf32>
  return %y : tensor<3x150xf32>
}

// A rank-3 input is collapsed to 2-D for the crossbars and the result
// expanded back.
// CHECK-LABEL: func.func @rank3
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<16x8xf32>
// CHECK: %[[X2:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x3x16xf32> into tensor<6x16xf32>
// CHECK: %[[XB:.*]] = "imc.program"(%[[W]]) {{.*}}slice = 0 : i64, transpose = false{{.*}} : (tensor<16x8xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: "imc.mvm"(%[[XB]], %[[X2]]) {{.*}} -> tensor<6x8xf32>
// CHECK: %[[A:.*]] = "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 4, 6>} : ({{.*}}) -> tensor<6x8xf32>
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[A]] {{\[}}[0, 1], [2]] output_shape [2, 3, 8] : tensor<6x8xf32> into tensor<2x3x8xf32>
// CHECK: return %[[Y]]
func.func @rank3(%x: tensor<2x3x16xf32>) -> tensor<2x3x8xf32> {
  %w = arith.constant dense<1.0> : tensor<16x8xf32>
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<2x3x16xf32>, tensor<16x8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// A grouped contraction (20 groups of 9 inputs x 1 output, as a depthwise
// 3x3 conv maps): as many groups as fit one crossbar's rows (128 / 9 = 14)
// in one tile of diagonal blocks, programmed as a rank-3 slice of the
// weight and read by one MVM on the groups' input columns; then the other 6.
// CHECK-LABEL: func.func @groups
// CHECK-SAME: (%[[X:.*]]: tensor<4x180xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<20x1x9xf32>
// CHECK: %[[X0:.*]] = tensor.extract_slice %[[X]][0, 0] [4, 126] [1, 1]
// CHECK: %[[W0:.*]] = tensor.extract_slice %[[W]][0, 0, 0] [14, 1, 9] [1, 1, 1] : tensor<20x1x9xf32> to tensor<14x1x9xf32>
// CHECK: %[[P0:.*]] = "imc.program"(%[[W0]]) {{.*}}slice = 0 : i64, transpose = true{{.*}} : (tensor<14x1x9xf32>) -> !imc.xbar<128 : i64, 128 : i64>
// CHECK: "imc.mvm"(%[[P0]], %[[X0]]) {{.*}} : (!imc.xbar<128 : i64, 128 : i64>, tensor<4x126xf32>) -> tensor<4x14xf32>
// CHECK: %[[A0:.*]] = "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 4, 6>} : ({{.*}}) -> tensor<4x14xf32>
// CHECK: %[[X1:.*]] = tensor.extract_slice %[[X]][0, 126] [4, 54] [1, 1]
// CHECK: %[[W1:.*]] = tensor.extract_slice %[[W]][14, 0, 0] [6, 1, 9] [1, 1, 1]
// CHECK: "imc.program"(%[[W1]]) {{.*}} : (tensor<6x1x9xf32>)
// CHECK: "imc.mvm"(%{{.*}}, %[[X1]]) {{.*}} -> tensor<4x6xf32>
// CHECK: %[[A1:.*]] = "imc.accumulate"({{.*}}) -> tensor<4x6xf32>
// CHECK: %[[Y:.*]] = tensor.concat dim(1) %[[A0]], %[[A1]] : (tensor<4x14xf32>, tensor<4x6xf32>) -> tensor<4x20xf32>
// CHECK: return %[[Y]]
// 64 rows: 7 groups per tile (2 bit slices of 4-bit weights each).
// OPT-LABEL: func.func @groups
// OPT-COUNT-2: "imc.program"(%{{.*}}) {{.*}} : (tensor<7x1x9xf32>) -> !imc.xbar<64 : i64, 32 : i64>
// OPT: "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2>} : ({{.*}}) -> tensor<4x7xf32>
// OPT-COUNT-2: "imc.program"(%{{.*}}) {{.*}} : (tensor<7x1x9xf32>)
// OPT-COUNT-2: "imc.program"(%{{.*}}) {{.*}} : (tensor<6x1x9xf32>)
// OPT: tensor.concat dim(1) {{.*}} -> tensor<4x20xf32>
func.func @groups(%x: tensor<4x180xf32>) -> tensor<4x20xf32> {
  %w = arith.constant dense<1.0> : tensor<20x1x9xf32>
  %y = "imc.contract"(%x, %w) {kind = "conv2d", transpose_weight = true} : (tensor<4x180xf32>, tensor<20x1x9xf32>) -> tensor<4x20xf32>
  return %y : tensor<4x20xf32>
}

// A group taller than the crossbar (200 inputs > 128 rows) is tiled on its
// own: its 2-D weight, row tiles of 128 and 72 accumulated.
// CHECK-LABEL: func.func @large_groups
// CHECK: %[[G0:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<1x3x200xf32> into tensor<3x200xf32>
// CHECK: tensor.extract_slice %[[G0]][0, 0] [3, 128] [1, 1]
// CHECK: tensor.extract_slice %[[G0]][0, 128] [3, 72] [1, 1]
// CHECK: "imc.accumulate"({{.*}}) {shifts = array<i64: 0, 2, 4, 6, 0, 2, 4, 6>} : ({{.*}}) -> tensor<2x3xf32>
// CHECK: tensor.extract_slice %{{.*}}[1, 0, 0] [1, 3, 200] [1, 1, 1]
// CHECK: tensor.concat dim(1) %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
func.func @large_groups(%x: tensor<2x400xf32>) -> tensor<2x6xf32> {
  %w = arith.constant dense<1.0> : tensor<2x3x200xf32>
  %y = "imc.contract"(%x, %w) {kind = "conv2d", transpose_weight = true} : (tensor<2x400xf32>, tensor<2x3x200xf32>) -> tensor<2x6xf32>
  return %y : tensor<2x6xf32>
}

// Nothing to tile: the function is unchanged.
// CHECK-LABEL: func.func @no_contract
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<4x4xf32>)
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<2.000000e+00> : tensor<4xf32>
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: %[[S:.*]] = linalg.add ins(%[[X]], %[[C]] : tensor<4xf32>, tensor<4xf32>) outs(%[[E]] : tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: return %[[S]] : tensor<4xf32>
// CHECK-NEXT: }
func.func @no_contract(%x: tensor<4xf32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<2.0> : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %s = linalg.add ins(%x, %c : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %s : tensor<4xf32>
}
