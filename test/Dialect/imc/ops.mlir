// RUN: imc-opt %s | imc-opt | FileCheck %s
// RUN: imc-opt %s --mlir-print-op-generic | imc-opt | FileCheck %s

// CHECK-LABEL: func.func @crossbar
func.func @crossbar(%x: tensor<8x512xf32>, %w: tensor<1024x512xf32>, %t: tensor<128x64xf32>, %v: tensor<1x128xf32>) -> (tensor<8x1024xf32>, tensor<1x64xf32>) {
  // CHECK: %[[Y:.*]] = "imc.contract"(%{{.*}}, %{{.*}}) {kind = "linear", transpose_weight = true} : (tensor<8x512xf32>, tensor<1024x512xf32>) -> tensor<8x1024xf32>
  %y = "imc.contract"(%x, %w) {kind = "linear", transpose_weight = true} : (tensor<8x512xf32>, tensor<1024x512xf32>) -> tensor<8x1024xf32>
  // CHECK: %[[XB:.*]] = "imc.program"(%{{.*}}) {array = 3 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 0>, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %xb = "imc.program"(%t) {offset = array<i64: 0, 0>, array = 3 : i64, cell_bits = 2 : i64, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  // CHECK: %[[P:.*]] = "imc.mvm"(%[[XB]], %{{.*}}) {adc_bits = 8 : i64, adc_full_scale = 0.000000e+00 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  // CHECK: "imc.mvm"(%[[XB]], %{{.*}}) {adc_bits = 8 : i64, adc_full_scale = 4.125000e+02 : f32, dac_bits = 1 : i64, input_bits = 8 : i64}
  %q = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 412.5 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  // CHECK: "imc.accumulate"(%[[P]], %[[P]]) {shifts = array<i64: 0, 2>} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  %s = "imc.accumulate"(%p, %p) {shifts = array<i64: 0, 2>} : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
  // CHECK: "imc.quantize"(%{{.*}}) {bits = 8 : i64, high = 0.000000e+00 : f32, low = 0.000000e+00 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  %u = "imc.quantize"(%s) {bits = 8 : i64, high = 0.0 : f32, low = 0.0 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  // CHECK: "imc.quantize"(%{{.*}}) {bits = 4 : i64, high = 6.500000e+00 : f32, low = -2.000000e+00 : f32}
  %c = "imc.quantize"(%u) {bits = 4 : i64, high = 6.5 : f32, low = -2.0 : f32} : (tensor<1x64xf32>) -> tensor<1x64xf32>
  return %y, %s : tensor<8x1024xf32>, tensor<1x64xf32>
}

// Grouped: a contract over 32 groups of 9 inputs x 1 output, and a tile of
// 14 such groups as diagonal blocks (126 rows x 14 columns of the crossbar).
// CHECK-LABEL: func.func @groups
func.func @groups(%x: tensor<64x288xf32>, %w: tensor<32x1x9xf32>, %t: tensor<14x1x9xf32>, %v: tensor<64x126xf32>) -> (tensor<64x32xf32>, tensor<64x14xf32>) {
  // CHECK: "imc.contract"(%{{.*}}, %{{.*}}) {kind = "conv2d", transpose_weight = true} : (tensor<64x288xf32>, tensor<32x1x9xf32>) -> tensor<64x32xf32>
  %y = "imc.contract"(%x, %w) {kind = "conv2d", transpose_weight = true} : (tensor<64x288xf32>, tensor<32x1x9xf32>) -> tensor<64x32xf32>
  // CHECK: %[[XB:.*]] = "imc.program"(%{{.*}}) {array = 0 : i64, cell_bits = 2 : i64, offset = array<i64: 2, 114>, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<14x1x9xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %xb = "imc.program"(%t) {offset = array<i64: 2, 114>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<14x1x9xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  // CHECK: "imc.mvm"(%[[XB]], %{{.*}}) {{.*}} : (!imc.xbar<128 : i64, 128 : i64>, tensor<64x126xf32>) -> tensor<64x14xf32>
  %p = "imc.mvm"(%xb, %v) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<64x126xf32>) -> tensor<64x14xf32>
  return %y, %p : tensor<64x32xf32>, tensor<64x14xf32>
}

// CHECK-LABEL: func.func @scratchpad
func.func @scratchpad(%dram: memref<64x64xf32>) {
  // CHECK: %[[B:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
  %buf = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
  // CHECK: "imc.dma"(%{{.*}}, %[[B]]) {offsets = array<i64: 0, 32>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  "imc.dma"(%dram, %buf) {offsets = array<i64: 0, 32>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
  // CHECK: "imc.dma"(%[[B]], %{{.*}}) {offsets = array<i64: 32, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<32x32xf32, 1>, memref<64x64xf32>) -> ()
  %half = memref.subview %buf[0, 0] [16, 32] [1, 1] : memref<32x32xf32, 1> to memref<16x32xf32, strided<[32, 1]>, 1>
  "imc.dma"(%buf, %dram) {offsets = array<i64: 32, 0>, sizes = array<i64: 32, 32>, strides = array<i64: 1, 1>} : (memref<32x32xf32, 1>, memref<64x64xf32>) -> ()
  // CHECK: "imc.spad_free"(%[[B]]) : (memref<32x32xf32, 1>) -> ()
  "imc.spad_free"(%buf) : (memref<32x32xf32, 1>) -> ()
  return
}

// CHECK-LABEL: func.func @transfers
func.func @transfers(%t: tensor<200xf32>, %dram: memref<300xf32>) -> tensor<100xf32> {
  // CHECK: "imc.transfer_out"(%{{.*}}, %{{.*}}) {buffers = 2 : i64, offset = 16 : i64, staging = 512 : i64, tile = 32 : i64} : (tensor<200xf32>, memref<300xf32>) -> ()
  "imc.transfer_out"(%t, %dram) {buffers = 2 : i64, offset = 16 : i64, staging = 512 : i64, tile = 32 : i64} : (tensor<200xf32>, memref<300xf32>) -> ()
  // CHECK: "imc.transfer_in"(%{{.*}}) {buffers = 1 : i64, offset = 200 : i64, staging = 0 : i64, tile = 64 : i64} : (memref<300xf32>) -> tensor<100xf32>
  %l = "imc.transfer_in"(%dram) {buffers = 1 : i64, offset = 200 : i64, staging = 0 : i64, tile = 64 : i64} : (memref<300xf32>) -> tensor<100xf32>
  return %l : tensor<100xf32>
}

// CHECK-LABEL: func.func @join
func.func @join(%a: tensor<192xf32>, %b: tensor<64xf32>, %c: tensor<1x2x?x10xf32>, %d: tensor<1x3x?x10xf32>) -> (tensor<256xf32>, tensor<1x5x?x10xf32>) {
  // CHECK: "imc.join"(%{{.*}}, %{{.*}}) {dim = 0 : i64} : (tensor<192xf32>, tensor<64xf32>) -> tensor<256xf32>
  %j = "imc.join"(%a, %b) {dim = 0 : i64} : (tensor<192xf32>, tensor<64xf32>) -> tensor<256xf32>
  // CHECK: "imc.join"(%{{.*}}, %{{.*}}) {dim = 1 : i64} : (tensor<1x2x?x10xf32>, tensor<1x3x?x10xf32>) -> tensor<1x5x?x10xf32>
  %k = "imc.join"(%c, %d) {dim = 1 : i64} : (tensor<1x2x?x10xf32>, tensor<1x3x?x10xf32>) -> tensor<1x5x?x10xf32>
  return %j, %k : tensor<256xf32>, tensor<1x5x?x10xf32>
}

// CHECK-LABEL: func.func @im2col
func.func @im2col(%x: tensor<1x16x10x10xf32>, %y: tensor<2x4x9xf32>) -> (tensor<16x144xf32>, tensor<10x12xf32>) {
  // CHECK: "imc.im2col"(%{{.*}}) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>} : (tensor<1x16x10x10xf32>) -> tensor<16x144xf32>
  %c = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>} : (tensor<1x16x10x10xf32>) -> tensor<16x144xf32>
  // CHECK: "imc.im2col"(%{{.*}}) {dilations = array<i64: 2>, kernel = array<i64: 3>, strides = array<i64: 1>} : (tensor<2x4x9xf32>) -> tensor<10x12xf32>
  %d = "imc.im2col"(%y) {dilations = array<i64: 2>, kernel = array<i64: 3>, strides = array<i64: 1>} : (tensor<2x4x9xf32>) -> tensor<10x12xf32>
  return %c, %d : tensor<16x144xf32>, tensor<10x12xf32>
}

// One tiled contraction in a region: two column tiles joined.
// CHECK-LABEL: func.func @tiled_contract
func.func @tiled_contract(%x: tensor<2x64xf32>, %w: tensor<64x96xf32>) -> tensor<2x96xf32> {
  // CHECK: %[[Y:.*]] = "imc.tiled_contract"() ({
  %y = "imc.tiled_contract"() ({
    // CHECK: tensor.extract_slice
    %w0 = tensor.extract_slice %w[0, 0] [64, 64] [1, 1] : tensor<64x96xf32> to tensor<64x64xf32>
    // CHECK: "imc.program"
    %xb0 = "imc.program"(%w0) {array = -1 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x64xf32>) -> !imc.xbar<64 : i64, 64 : i64>
    %p0 = "imc.mvm"(%xb0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.000000e+00 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<64 : i64, 64 : i64>, tensor<2x64xf32>) -> tensor<2x64xf32>
    // CHECK: %[[A0:.*]] = "imc.accumulate"
    %a0 = "imc.accumulate"(%p0) {shifts = array<i64: 0>} : (tensor<2x64xf32>) -> tensor<2x64xf32>
    %w1 = tensor.extract_slice %w[0, 64] [64, 32] [1, 1] : tensor<64x96xf32> to tensor<64x32xf32>
    %xb1 = "imc.program"(%w1) {array = -1 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x32xf32>) -> !imc.xbar<64 : i64, 64 : i64>
    %p1 = "imc.mvm"(%xb1, %x) {adc_bits = 8 : i64, adc_full_scale = 0.000000e+00 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<64 : i64, 64 : i64>, tensor<2x64xf32>) -> tensor<2x32xf32>
    // CHECK: %[[A1:.*]] = "imc.accumulate"
    %a1 = "imc.accumulate"(%p1) {shifts = array<i64: 0>} : (tensor<2x32xf32>) -> tensor<2x32xf32>
    // CHECK: %[[J:.*]] = tensor.concat dim(1) %[[A0]], %[[A1]]
    %j = tensor.concat dim(1) %a0, %a1 : (tensor<2x64xf32>, tensor<2x32xf32>) -> tensor<2x96xf32>
    // CHECK: "imc.yield"(%[[J]]) : (tensor<2x96xf32>) -> ()
    "imc.yield"(%j) : (tensor<2x96xf32>) -> ()
  // CHECK: }) : () -> tensor<2x96xf32>
  }) : () -> tensor<2x96xf32>
  // CHECK: return %[[Y]]
  return %y : tensor<2x96xf32>
}
