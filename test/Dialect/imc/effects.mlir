// RUN: imc-opt %s --split-input-file -p 'builtin.module(canonicalize, cse)' | FileCheck %s

// The imc ops declare their memory effects (docs/dialect.md, "Traits"), so
// upstream CSE and canonicalization keep what touches memory and drop what
// is dead: a DMA writes its target (two identical DMAs both stay), a
// scratchpad buffer nothing uses is dead, a transfer moves data both times.
// CHECK-LABEL: func.func @effects
// CHECK-NOT: offset = 512
// CHECK: %[[B:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64}
// CHECK-COUNT-2: "imc.dma"(%{{.*}}, %[[B]])
// CHECK: "imc.spad_free"(%[[B]])
// CHECK-COUNT-2: "imc.transfer_out"
// CHECK-COUNT-2: "imc.transfer_in"
func.func @effects(%d: memref<16xf32>, %t: tensor<16xf32>) -> (tensor<16xf32>, tensor<16xf32>) {
  %dead = "imc.spad_alloc"() {offset = 512 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  %b = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>
  "imc.dma"(%d, %b) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  "imc.dma"(%d, %b) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>} : (memref<16xf32>, memref<16xf32, 1>) -> ()
  "imc.spad_free"(%b) : (memref<16xf32, 1>) -> ()
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 8 : i64} : (tensor<16xf32>, memref<16xf32>) -> ()
  "imc.transfer_out"(%t, %d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 8 : i64} : (tensor<16xf32>, memref<16xf32>) -> ()
  %l0 = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 8 : i64} : (memref<16xf32>) -> tensor<16xf32>
  %l1 = "imc.transfer_in"(%d) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 8 : i64} : (memref<16xf32>) -> tensor<16xf32>
  return %l0, %l1 : tensor<16xf32>, tensor<16xf32>
}

// -----

// Two programs of the same tile both write crossbar cells: both stay (the
// MVMs that read them are Pure: the identical one is merged).
// CHECK-LABEL: func.func @programs
// CHECK-COUNT-2: "imc.program"
// CHECK-COUNT-1: "imc.mvm"
// CHECK-NOT: "imc.mvm"
func.func @programs(%w: tensor<64x32xf32>, %x: tensor<1x64xf32>) -> (tensor<1x32xf32>, tensor<1x32xf32>, !imc.xbar<128 : i64, 128 : i64>) {
  %a = "imc.program"(%w) {array = 0 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x32xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %b = "imc.program"(%w) {array = 0 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x32xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %y = "imc.mvm"(%a, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x64xf32>) -> tensor<1x32xf32>
  %z = "imc.mvm"(%a, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x64xf32>) -> tensor<1x32xf32>
  return %y, %z, %b : tensor<1x32xf32>, tensor<1x32xf32>, !imc.xbar<128 : i64, 128 : i64>
}
