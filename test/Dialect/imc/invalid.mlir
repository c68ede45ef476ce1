// RUN: imc-opt %s --split-input-file --verify-diagnostics

// Negative tests of the imc dialect verifiers (dialects/imc.py): one case per
// rule of every op's `verify_invariants` and per generic field check of
// `_check_fields`. Hardware-dependent rules live in invalid-hardware.mlir.

//===----------------------------------------------------------------------===//
// Generic field checks (_check_fields)
//===----------------------------------------------------------------------===//

// Missing attribute.
func.func @missing_attribute(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op requires attribute 'kind'}}
  %y = "imc.contract"(%x, %w) {transpose_weight = false} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// Missing attribute of an op without a declared attribute kind (`shifts: Any`).
func.func @missing_any_attribute(%p: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.accumulate' op requires attribute 'shifts'}}
  %s = "imc.accumulate"(%p) : (tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

// Wrong attribute kind: string attribute expected.
func.func @string_attribute_kind(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op attribute 'kind' must be of kind string attribute}}
  %y = "imc.contract"(%x, %w) {kind = 3 : i64, transpose_weight = false} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// Wrong attribute kind: integer attribute expected.
func.func @integer_attribute_kind() {
  // expected-error @+1 {{'imc.spad_alloc' op attribute 'size' must be of kind integer attribute}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = "4096"} : () -> memref<32x32xf32, 1>
  return
}

// -----

// Wrong operand kind: ranked tensor expected.
func.func @operand_kind(%x: tensor<*xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op operand 'input' must be of kind ranked tensor, got tensor<*xf32>}}
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<*xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// Wrong operand kind: a union constraint (ranked tensor or memref).
func.func @operand_union_kind(%t: vector<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op operand 'weight' must be of kind ranked tensor or memref, got vector<128x64xf32>}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (vector<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// Wrong operand kind: a dialect type (!imc.xbar) expected.
func.func @operand_xbar_kind(%xb: tensor<128x128xf32>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op operand 'xbar' must be of kind !imc.xbar, got tensor<128x128xf32>}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (tensor<128x128xf32>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

// -----

// Wrong operand kind in a variadic operand group.
func.func @variadic_operand_kind(%p: tensor<1x64xf32>, %q: memref<1x64xf32>) {
  // expected-error @+1 {{'imc.accumulate' op operand 'partials' must be of kind ranked tensor, got memref<1x64xf32>}}
  %s = "imc.accumulate"(%p, %q) {shifts = array<i64: 0, 0>} : (tensor<1x64xf32>, memref<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

// Wrong operand kind: memref expected.
func.func @memref_operand_kind(%t: tensor<32x32xf32>) {
  // expected-error @+1 {{'imc.spad_free' op operand 'buffer' must be of kind memref, got tensor<32x32xf32>}}
  "imc.spad_free"(%t) : (tensor<32x32xf32>) -> ()
  return
}

// -----

// Wrong result kind: ranked tensor expected.
func.func @result_kind(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op result 'result' must be of kind ranked tensor, got tensor<*xf32>}}
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<*xf32>
  return
}

// -----

// Wrong result kind: !imc.xbar expected.
func.func @result_xbar_kind(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op result 'xbar' must be of kind !imc.xbar, got tensor<128x64xf32>}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> tensor<128x64xf32>
  return
}

// -----

// Wrong result kind: memref expected.
func.func @result_memref_kind() {
  // expected-error @+1 {{'imc.spad_alloc' op result 'buffer' must be of kind memref, got tensor<32x32xf32>}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> tensor<32x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// imc.contract
//===----------------------------------------------------------------------===//

// -----

func.func @contract_kind(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op kind 'conv3d' is not one of matmul, linear, batch_matmul, conv1d, conv2d, generic}}
  %y = "imc.contract"(%x, %w) {kind = "conv3d", transpose_weight = false} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @contract_input_rank(%x: tensor<f32>, %w: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.contract' op input must have rank >= 1}}
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<f32>, tensor<1x64xf32>) -> tensor<64xf32>
  return
}

// -----

func.func @contract_weight_rank(%x: tensor<8x512xf32>, %w: tensor<2x2x512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op weight must have rank 2 (or 3: groups), got rank 4}}
  %y = "imc.contract"(%x, %w) {kind = "batch_matmul", transpose_weight = false} : (tensor<8x512xf32>, tensor<2x2x512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// A grouped weight (G x K_g x N_g): the input holds G*K_g = 1024 columns.
func.func @contract_groups_reduction(%x: tensor<8x512xf32>, %w: tensor<2x512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op input reduction size 512 does not match weight reduction size 1024}}
  %y = "imc.contract"(%x, %w) {kind = "conv2d", transpose_weight = false} : (tensor<8x512xf32>, tensor<2x512x64xf32>) -> tensor<8x128xf32>
  return
}

// -----

// Transposed groups (G x N_g x K_g): 4 groups of 3 outputs.
func.func @contract_groups_result(%x: tensor<8x36xf32>, %w: tensor<4x3x9xf32>) {
  // expected-error @+1 {{'imc.contract' op result shape [8, 4] does not match expected [8, 12]}}
  %y = "imc.contract"(%x, %w) {kind = "conv2d", transpose_weight = true} : (tensor<8x36xf32>, tensor<4x3x9xf32>) -> tensor<8x4xf32>
  return
}

// -----

// With transpose_weight = true the weight is N x K (nn.Linear layout): K = 64.
func.func @contract_reduction(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op input reduction size 512 does not match weight reduction size 64}}
  %y = "imc.contract"(%x, %w) {kind = "linear", transpose_weight = true} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x512xf32>
  return
}

// -----

func.func @contract_result_shape(%x: tensor<2x8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op result shape [8, 64] does not match expected [2, 8, 64]}}
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<2x8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @contract_element_type(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op result element type must match the input element type}}
  %y = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf16>
  return
}

//===----------------------------------------------------------------------===//
// imc.im2col
//===----------------------------------------------------------------------===//

// -----

func.func @im2col_kernel_kind(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op kernel must be an array<i64: ...>}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = [3, 3], strides = array<i64: 1, 1>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @im2col_strides_kind(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op strides must be an array<i64: ...>}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = 1 : i64} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @im2col_dilations_kind(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op dilations must be an array<i64: ...>}}
  %c = "imc.im2col"(%x) {dilations = array<i32: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @im2col_kernel_entries(%x: tensor<1x16x10x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op kernel must have 1 or 2 entries, got 3}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1, 1>, kernel = array<i64: 3, 3, 3>, strides = array<i64: 1, 1, 1>} : (tensor<1x16x10x10x10xf32>) -> tensor<512x432xf32>
  return
}

// -----

func.func @im2col_input_rank(%x: tensor<16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op input must have rank 4 (N x C x spatial), got rank 3}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @im2col_strides_entries(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op strides must have 2 entries like kernel}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @im2col_dilations_entries(%x: tensor<1x16x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op dilations must have 1 entries like kernel}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3>, strides = array<i64: 1>} : (tensor<1x16x10xf32>) -> tensor<8x48xf32>
  return
}

// -----

func.func @im2col_positive(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op strides [1, 0] must be positive}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 0>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

// Dilation 5 spreads a 3-tap kernel over 5 * (3 - 1) + 1 = 11 positions.
func.func @im2col_kernel_extent(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op kernel extent 11 exceeds input size 10}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 5>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

// Stride 2: out = (10 - 2 - 1) // 2 + 1 = 4 per dimension, 1 * 4 * 4 = 16 rows.
func.func @im2col_result_shape(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op result shape [64, 144] does not match expected [16, 144]}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @im2col_element_type(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op result element type must match the input element type}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf16>
  return
}

//===----------------------------------------------------------------------===//
// imc.program
//===----------------------------------------------------------------------===//

// -----

func.func @program_geometry(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op crossbar geometry 0x128 must be positive}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<0 : i64, 128 : i64>
  return
}

// -----

func.func @program_tile_rank(%t: memref<128xf32>) {
  // expected-error @+1 {{'imc.program' op weight tile must have rank 2 (or 3: diagonal blocks), got rank 1}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (memref<128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// 16 diagonal blocks of 9 rows x 1 column occupy 144 rows x 16 columns.
func.func @program_blocks_fit(%t: tensor<16x1x9xf32>) {
  // expected-error @+1 {{'imc.program' op weight tile 144x16 does not fit the 128x128 crossbar}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<16x1x9xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// transpose = true: the 64x256 tile occupies 256 rows x 64 columns.
func.func @program_tile_fit(%t: tensor<64x256xf32>) {
  // expected-error @+1 {{'imc.program' op weight tile 256x64 does not fit the 128x128 crossbar}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<64x256xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

func.func @program_offset_kind(%t: tensor<64x64xf32>) {
  // expected-error @+1 {{'imc.program' op offset must be an array<i64: row, col>}}
  %xb = "imc.program"(%t) {offset = array<i64: 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// A 64x64 tile packed at [32, 80] reaches column 144 of a 128-column crossbar.
func.func @program_offset_fit(%t: tensor<64x64xf32>) {
  // expected-error @+1 {{'imc.program' op weight tile 64x64 at offset [32, 80] does not fit the 128x128 crossbar}}
  %xb = "imc.program"(%t) {offset = array<i64: 32, 80>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

func.func @program_cell_bits(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op cell_bits = 0 is out of range [1, 8]}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 0 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

func.func @program_weight_bits(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op weight_bits = 33 is out of range [1, 32]}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 33 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// 8-bit weights in 3-bit cells span ceil(8 / 3) = 3 slices: 0, 1, 2.
func.func @program_slice(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op slice = 3 is out of range [0, 2]}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 3 : i64, slice = 3 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

func.func @program_array(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op array = -2 must be a crossbar index or -1 (unplaced)}}
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -2 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

//===----------------------------------------------------------------------===//
// imc.mvm
//===----------------------------------------------------------------------===//

// -----

func.func @mvm_geometry(%xb: !imc.xbar<128 : i64, -4 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op crossbar geometry 128x-4 must be positive}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, -4 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_input_rank(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<128xf32>) {
  // expected-error @+1 {{'imc.mvm' op input must have rank 2 (batch x rows), got rank 1}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<128xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_result_rank(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op result must have rank 2 (batch x cols), got rank 3}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @mvm_adc_full_scale_negative(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op adc_full_scale must be 0 (uncalibrated) or a positive finite number, got -3.0}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = -3.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_adc_full_scale_without_adc(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op adc_full_scale is set but adc_bits = 0 (no ADC)}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 0 : i64, adc_full_scale = 8.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_input_rows(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x256xf32>) {
  // expected-error @+1 {{'imc.mvm' op input has 256 rows but the crossbar has 128}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x256xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_result_cols(%xb: !imc.xbar<128 : i64, 64 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op result has 128 columns but the crossbar has 64}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 64 : i64>, tensor<1x128xf32>) -> tensor<1x128xf32>
  return
}

// -----

func.func @mvm_batch(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<4x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op result batch 2 does not match input batch 4}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<4x128xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @mvm_dac_bits(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op dac_bits = 0 is out of range [1, 16]}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 0 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_adc_bits(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op adc_bits = 17 is out of range [0, 16]}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 17 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @mvm_input_bits(%xb: !imc.xbar<128 : i64, 128 : i64>, %v: tensor<1x128xf32>) {
  // expected-error @+1 {{'imc.mvm' op input_bits = 0 is out of range [1, 32]}}
  %p = "imc.mvm"(%xb, %v) {adc_bits = 0 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 0 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// imc.accumulate
//===----------------------------------------------------------------------===//

// -----

func.func @accumulate_empty() {
  // expected-error @+1 {{'imc.accumulate' op needs at least one partial sum}}
  %s = "imc.accumulate"() {shifts = array<i64>} : () -> tensor<1x64xf32>
  return
}

// -----

func.func @accumulate_partial_type(%p: tensor<1x64xf32>, %q: tensor<1x32xf32>) {
  // expected-error @+1 {{'imc.accumulate' op partial #1 has type tensor<1x32xf32> but the result has tensor<1x64xf32>}}
  %s = "imc.accumulate"(%p, %q) {shifts = array<i64: 0, 0>} : (tensor<1x64xf32>, tensor<1x32xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @accumulate_shifts_kind(%p: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.accumulate' op shifts must be an array<i64: ...>}}
  %s = "imc.accumulate"(%p, %p) {shifts = [0, 2]} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @accumulate_shifts_count(%p: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.accumulate' op has 2 partial sums but 3 shifts}}
  %s = "imc.accumulate"(%p, %p) {shifts = array<i64: 0, 2, 4>} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @accumulate_shift_range(%p: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.accumulate' op shift = 64 is out of range [0, 63]}}
  %s = "imc.accumulate"(%p, %p) {shifts = array<i64: 0, 64>} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// imc.spad_alloc (without a hardware description)
//===----------------------------------------------------------------------===//

// -----

func.func @spad_alloc_size() {
  // expected-error @+1 {{'imc.spad_alloc' op size = 0 must be positive}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = 0 : i64} : () -> memref<32x32xf32, 1>
  return
}

// -----

func.func @spad_alloc_offset() {
  // expected-error @+1 {{'imc.spad_alloc' op offset = -64 must be non-negative}}
  %b = "imc.spad_alloc"() {offset = -64 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
  return
}

// -----

func.func @spad_alloc_space() {
  // expected-error @+1 {{'imc.spad_alloc' op result must be a scratchpad memref (memory space 1)}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> memref<32x32xf32>
  return
}

// -----

func.func @spad_alloc_static_shape() {
  // expected-error @+1 {{'imc.spad_alloc' op result 'buffer' must have a static shape, got memref<?x32xf32, 1>}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> memref<?x32xf32, 1>
  return
}

// -----

// 32 x 32 x 4 bytes = 4096 bytes.
func.func @spad_alloc_too_small() {
  // expected-error @+1 {{'imc.spad_alloc' op result needs 4096 bytes but only 4095 are allocated}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = 4095 : i64} : () -> memref<32x32xf32, 1>
  return
}

//===----------------------------------------------------------------------===//
// imc.spad_free
//===----------------------------------------------------------------------===//

// -----

func.func @spad_free_space(%b: memref<32x32xf32>) {
  // expected-error @+1 {{'imc.spad_free' op operand must be a scratchpad memref (memory space 1)}}
  "imc.spad_free"(%b) : (memref<32x32xf32>) -> ()
  return
}

//===----------------------------------------------------------------------===//
// imc.dma
//===----------------------------------------------------------------------===//

// -----

func.func @dma_both_dram(%a: memref<64x64xf32>, %b: memref<32x32xf32>) {
  // expected-error @+1 {{'imc.dma' op needs exactly one scratchpad side, but both are in DRAM}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32>) -> ()
  return
}

// -----

func.func @dma_both_spad(%a: memref<64x64xf32, 1>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op needs exactly one scratchpad side, but both are in the scratchpad}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32, 1>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_element_type(%a: memref<64x64xf32>, %b: memref<32x32xf16, 1>) {
  // expected-error @+1 {{'imc.dma' op element types differ: f32 vs f16}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf16, 1>) -> ()
  return
}

// -----

func.func @dma_offsets_kind(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op offsets must be an array<i64: ...>}}
  "imc.dma"(%a, %b) {offsets = dense<0> : tensor<2xi64>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_sizes_kind(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op sizes must be an array<i64: ...>}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i32: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_strides_kind(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op strides must be an array<i64: ...>}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = 1 : i64} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

// The window's rank is the DRAM side's rank (here the target: a store).
func.func @dma_window_rank(%b: memref<32x32xf32, 1>, %a: memref<4x64x64xf32>) {
  // expected-error @+1 {{'imc.dma' op offsets has 2 entries but the DRAM memref has rank 3}}
  "imc.dma"(%b, %a) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<32x32xf32, 1>, memref<4x64x64xf32>) -> ()
  return
}

// -----

func.func @dma_sizes_rank(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op sizes has 3 entries but the DRAM memref has rank 2}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_strides_rank(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op strides has 1 entries but the DRAM memref has rank 2}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_size(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op size 0 in dimension 1 must be positive}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 0>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_stride(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op stride -1 in dimension 0 must be positive}}
  "imc.dma"(%a, %b) {offsets = array<i64: 63, 0>, sizes = array<i64: 32, 32>, strides = array<i64: -1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_offset(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op offset -1 in dimension 1 must be non-negative}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, -1>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

// Last index of dimension 0: 8 + (32 - 1) * 2 = 70 >= 64.
func.func @dma_window_bounds(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op window reaches index 70 in dimension 0 of a DRAM dimension of size 64}}
  "imc.dma"(%a, %b) {offsets = array<i64: 8, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 2, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @dma_spad_shape(%a: memref<64x64xf32>, %b: memref<32x16xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op scratchpad buffer shape [32, 16] does not match sizes [32, 32]}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x16xf32, 1>) -> ()
  return
}

// -----

func.func @operand_count(%x: tensor<8x512xf32>) {
  // expected-error @+1 {{'imc.contract' op expects 2 operands, got 1}}
  %0 = "imc.contract"(%x) {kind = "matmul", transpose_weight = false} : (tensor<8x512xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @result_count(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op expects 1 results, got 0}}
  "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<8x512xf32>, tensor<512x64xf32>) -> ()
  return
}

// -----

func.func @dynamic_operand(%x: tensor<8x?xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op operand 'input' must have a static shape, got tensor<8x?xf32>}}
  %0 = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = false} : (tensor<8x?xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @dynamic_result(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op result 'result' must have a static shape, got tensor<?x144xf32>}}
  %0 = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x16x10x10xf32>) -> tensor<?x144xf32>
  return
}

// -----

func.func @spad_alloc_element_size() {
  // expected-error @+1 {{'imc.spad_alloc' op element type index has no fixed size in bytes}}
  %0 = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> memref<4xindex, 1>
  return
}

// -----

func.func @contract_transpose_flag(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op transpose_weight must be a boolean (true or false)}}
  %0 = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = 5 : i64} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @program_transpose_flag(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op transpose must be a boolean (true or false)}}
  %0 = "imc.program"(%t) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = 5 : i64, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

//===----------------------------------------------------------------------===//
// Attributes the Python bindings cannot read (issue 18): a dense array of an
// element type without a Python class (si32) and an `index`-typed flag are
// diagnostics at the op, not Python exceptions.
//===----------------------------------------------------------------------===//

// -----

func.func @im2col_kernel_si32(%x: tensor<1x16x10x10xf32>) {
  // expected-error @+1 {{'imc.im2col' op kernel must be an array<i64: ...>}}
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<si32: 3, 3>, strides = array<i64: 1, 1>} : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
  return
}

// -----

func.func @accumulate_shifts_si32(%p: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.accumulate' op shifts must be an array<i64: ...>}}
  %s = "imc.accumulate"(%p, %p) {shifts = array<si32: 0, 2>} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @dma_sizes_si32(%a: memref<64x64xf32>, %b: memref<32x32xf32, 1>) {
  // expected-error @+1 {{'imc.dma' op sizes must be an array<i64: ...>}}
  "imc.dma"(%a, %b) {offsets = array<i64: 0, 0>, sizes = array<si32: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  return
}

// -----

func.func @spad_alloc_size_si32() {
  // expected-error @+1 {{'imc.spad_alloc' op attribute 'size' must be of kind integer attribute}}
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = array<si32: 4096>} : () -> memref<32x32xf32, 1>
  return
}

// -----

func.func @program_transpose_index(%t: tensor<128x64xf32>) {
  // expected-error @+1 {{'imc.program' op transpose must be a boolean (true or false)}}
  %0 = "imc.program"(%t) {array = -1 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = 1 : index, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

func.func @contract_transpose_weight_index(%x: tensor<8x512xf32>, %w: tensor<512x64xf32>) {
  // expected-error @+1 {{'imc.contract' op transpose_weight must be a boolean (true or false)}}
  %0 = "imc.contract"(%x, %w) {kind = "matmul", transpose_weight = 0 : index} : (tensor<8x512xf32>, tensor<512x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

func.func @quantize_type_mismatch(%v: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.quantize' op result type tensor<1x32xf32> differs from the input's tensor<1x64xf32>}}
  %q = "imc.quantize"(%v) {bits = 8 : i64, high = 0.0 : f32, low = 0.0 : f32} : (tensor<1x64xf32>) -> tensor<1x32xf32>
  return
}

// -----

func.func @quantize_integers(%v: tensor<1x64xi32>) {
  // expected-error @+1 {{'imc.quantize' op input must be a tensor of floats, got tensor<1x64xi32>}}
  %q = "imc.quantize"(%v) {bits = 8 : i64, high = 0.0 : f32, low = 0.0 : f32} : (tensor<1x64xi32>) -> tensor<1x64xi32>
  return
}

// -----

func.func @quantize_bits(%v: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.quantize' op bits = 0 is out of range [1, 32]}}
  %q = "imc.quantize"(%v) {bits = 0 : i64, high = 0.0 : f32, low = 0.0 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @quantize_range_without_zero(%v: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.quantize' op range [1.0, 2.0] must contain 0 with high > 0 (or be [0, 0]: uncalibrated)}}
  %q = "imc.quantize"(%v) {bits = 8 : i64, high = 2.0 : f32, low = 1.0 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

// -----

func.func @quantize_range_not_finite(%v: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.quantize' op range [-1.0, inf] must be finite}}
  %q = "imc.quantize"(%v) {bits = 8 : i64, high = 0x7F800000 : f32, low = -1.0 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// imc.transfer_in, imc.transfer_out
//===----------------------------------------------------------------------===//

// -----

func.func @transfer_rank(%t: tensor<4x4xf32>, %d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op moves between a 1-D tensor and a 1-D DRAM memref, got tensor<4x4xf32> and memref<16xf32>}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (tensor<4x4xf32>, memref<16xf32>) -> ()
  return
}

// -----

func.func @transfer_in_spad(%d: memref<16xf32, 1>) {
  // expected-error @+1 {{'imc.transfer_in' op memref memref<16xf32, 1> must be in DRAM, not in the scratchpad (memory space 1)}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (memref<16xf32, 1>) -> tensor<16xf32>
  return
}

// -----

func.func @transfer_element_types(%t: tensor<16xf16>, %d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op element types differ: f16 vs f32}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (tensor<16xf16>, memref<16xf32>) -> ()
  return
}

// -----

func.func @transfer_window(%d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op DRAM window [8, 20) is outside the memref's 16 elements}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 8 : i64, staging = 0 : i64, tile = 4 : i64} : (memref<16xf32>) -> tensor<12xf32>
  return
}

// -----

func.func @transfer_tile(%t: tensor<16xf32>, %d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op tile = 0 must be positive}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 0 : i64} : (tensor<16xf32>, memref<16xf32>) -> ()
  return
}

// -----

func.func @transfer_buffers(%t: tensor<16xf32>, %d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op buffers = 3 is out of range [1, 2]}}
  "imc.transfer_out"(%t, %d) {buffers = 3 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (tensor<16xf32>, memref<16xf32>) -> ()
  return
}

// -----

func.func @transfer_staging(%t: tensor<16xf32>, %d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op staging = -64 must be non-negative}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = -64 : i64, tile = 4 : i64} : (tensor<16xf32>, memref<16xf32>) -> ()
  return
}

// -----

func.func @transfer_missing_attribute(%t: tensor<16xf32>, %d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op requires attribute 'staging'}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, tile = 4 : i64} : (tensor<16xf32>, memref<16xf32>) -> ()
  return
}

// -----

func.func @transfer_out_spad(%t: tensor<16xf32>, %d: memref<16xf32, 1>) {
  // expected-error @+1 {{'imc.transfer_out' op memref memref<16xf32, 1> must be in DRAM, not in the scratchpad (memory space 1)}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (tensor<16xf32>, memref<16xf32, 1>) -> ()
  return
}

// -----

func.func @transfer_out_window(%t: tensor<16xf32>, %d: memref<20xf32>) {
  // expected-error @+1 {{'imc.transfer_out' op DRAM window [8, 24) is outside the memref's 20 elements}}
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 8 : i64, staging = 0 : i64, tile = 4 : i64} : (tensor<16xf32>, memref<20xf32>) -> ()
  return
}

// -----

func.func @transfer_in_rank(%d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op moves between a 1-D tensor and a 1-D DRAM memref, got tensor<4x4xf32> and memref<16xf32>}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (memref<16xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @transfer_in_element_types(%d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op element types differ: f16 vs f32}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (memref<16xf32>) -> tensor<16xf16>
  return
}

// -----

func.func @transfer_in_tile(%d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op tile = -1 must be positive}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = -1 : i64} : (memref<16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @transfer_in_buffers(%d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op buffers = 0 is out of range [1, 2]}}
  %t = "imc.transfer_in"(%d) {buffers = 0 : i64, offset = 0 : i64, staging = 0 : i64, tile = 4 : i64} : (memref<16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @transfer_in_staging(%d: memref<16xf32>) {
  // expected-error @+1 {{'imc.transfer_in' op staging = -1 must be non-negative}}
  %t = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = -1 : i64, tile = 4 : i64} : (memref<16xf32>) -> tensor<16xf32>
  return
}

//===----------------------------------------------------------------------===//
// imc.join
//===----------------------------------------------------------------------===//

// -----

func.func @join_rank(%a: tensor<4xf32>, %b: tensor<1x4xf32>) {
  // expected-error @+1 {{'imc.join' op parts and result must have one rank, got tensor<4xf32>, tensor<1x4xf32> and tensor<8xf32>}}
  %j = "imc.join"(%a, %b) {dim = 0 : i64} : (tensor<4xf32>, tensor<1x4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @join_element_type(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'imc.join' op parts and result must have one element type, got tensor<4xf32>, tensor<4xf16> and tensor<8xf32>}}
  %j = "imc.join"(%a, %b) {dim = 0 : i64} : (tensor<4xf32>, tensor<4xf16>) -> tensor<8xf32>
  return
}

// -----

func.func @join_dim(%a: tensor<4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'imc.join' op dim = 1 is out of range [0, 0]}}
  %j = "imc.join"(%a, %b) {dim = 1 : i64} : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @join_sizes(%a: tensor<2x4xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+1 {{'imc.join' op result tensor<5x4xf32> is not tensor<2x4xf32> and tensor<3x5xf32> joined along dimension 0}}
  %j = "imc.join"(%a, %b) {dim = 0 : i64} : (tensor<2x4xf32>, tensor<3x5xf32>) -> tensor<5x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// imc.tiled_contract, imc.yield
//===----------------------------------------------------------------------===//

// -----

func.func @tiled_contract_yields_non_accumulate(%x: tensor<1x64xf32>) -> tensor<1x64xf32> {
  // expected-error @+1 {{'imc.tiled_contract' op must yield an 'imc.accumulate' of its body, or a 'tensor.concat' of them}}
  %y = "imc.tiled_contract"() ({
    "imc.yield"(%x) : (tensor<1x64xf32>) -> ()
  }) : () -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// -----

func.func @tiled_contract_concat_of_non_accumulates(%x: tensor<1x64xf32>) -> tensor<1x128xf32> {
  // expected-error @+1 {{'imc.tiled_contract' op must yield an 'imc.accumulate' of its body, or a 'tensor.concat' of them}}
  %y = "imc.tiled_contract"() ({
    %a = "imc.accumulate"(%x) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
    %j = tensor.concat dim(1) %a, %x : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x128xf32>
    "imc.yield"(%j) : (tensor<1x128xf32>) -> ()
  }) : () -> tensor<1x128xf32>
  return %y : tensor<1x128xf32>
}

// -----

func.func @tiled_contract_result_type(%x: tensor<1x64xf32>) -> tensor<1x32xf32> {
  // expected-error @+1 {{'imc.tiled_contract' op body must yield one value of the result type tensor<1x32xf32>}}
  %y = "imc.tiled_contract"() ({
    %a = "imc.accumulate"(%x) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
    "imc.yield"(%a) : (tensor<1x64xf32>) -> ()
  }) : () -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}

// -----

func.func @tiled_contract_block_arguments(%x: tensor<1x64xf32>) -> tensor<1x64xf32> {
  // expected-error @+1 {{'imc.tiled_contract' op body block must have no arguments}}
  %y = "imc.tiled_contract"() ({
  ^bb0(%i: index):
    %a = "imc.accumulate"(%x) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
    "imc.yield"(%a) : (tensor<1x64xf32>) -> ()
  }) : () -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// -----

func.func @yield_outside(%x: tensor<1x64xf32>) {
  // expected-error @+1 {{'imc.yield' op must end the body of an 'imc.tiled_contract'}}
  "imc.yield"(%x) : (tensor<1x64xf32>) -> ()
}

// -----

func.func @tiled_contract_two_blocks(%x: tensor<1x64xf32>) -> tensor<1x64xf32> {
  // expected-error @+1 {{'imc.tiled_contract' op body must have one block, got 2}}
  %y = "imc.tiled_contract"() ({
    %a = "imc.accumulate"(%x) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
    "imc.yield"(%a) : (tensor<1x64xf32>) -> ()
  ^bb1:
    %b = "imc.accumulate"(%x) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
    "imc.yield"(%b) : (tensor<1x64xf32>) -> ()
  }) : () -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}
