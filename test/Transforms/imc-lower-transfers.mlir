// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-lower-transfers, imc-check-buffers)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-1k.toml -p 'builtin.module(imc-lower-transfers, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// A store of 200 elements in tiles of 32 through two staging buffers
// (double buffering): three trips of two tiles in a loop, each filling both
// buffers before its two DMAs; then the last 8 elements through buffer 0.
// CHECK-LABEL: func.func @store
// CHECK: %[[A:.*]] = "imc.spad_alloc"() {offset = 512 : i64, size = 128 : i64} : () -> memref<32xf32, 1>
// CHECK: %[[B:.*]] = "imc.spad_alloc"() {offset = 640 : i64, size = 128 : i64} : () -> memref<32xf32, 1>
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:   %[[P:.*]] = tensor.extract_slice %arg0[%[[I]]] [32] [1]
// CHECK:   bufferization.materialize_in_destination %[[P]] in writable %[[A]]
// CHECK:   bufferization.materialize_in_destination %{{.*}} in writable %[[B]]
// CHECK:   "imc.dma"(%[[A]], %{{.*}})
// CHECK:   "imc.dma"(%[[B]], %{{.*}})
// CHECK: }
// CHECK: "imc.spad_free"(%[[A]])
// CHECK: "imc.spad_free"(%[[B]])
// CHECK: %[[T:.*]] = "imc.spad_alloc"() {offset = 512 : i64, size = 32 : i64} : () -> memref<8xf32, 1>
// CHECK: %[[W:.*]] = memref.subview %arg1[208] [8] [1]
// CHECK: "imc.dma"(%[[T]], %[[W]])
// CHECK: "imc.spad_free"(%[[T]])
// CHECK-NOT: imc.transfer
// REMARK: remark: [imc-check-buffers] 3 scratchpad buffers, peak 256 bytes of 1024: placement verified
func.func @store(%t: tensor<200xf32>, %dram: memref<300xf32>) {
  "imc.transfer_out"(%t, %dram) {buffers = 2 : i64, offset = 16 : i64, staging = 512 : i64, tile = 32 : i64} : (tensor<200xf32>, memref<300xf32>) -> ()
  return
}

// -----

// A load of 100 elements in tiles of 32 through one staging buffer: three
// trips in a loop that carries the result, then the last 4 elements.
// CHECK-LABEL: func.func @load
// CHECK: %[[E:.*]] = tensor.empty() : tensor<100xf32>
// CHECK: %[[S:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 128 : i64} : () -> memref<32xf32, 1>
// CHECK: %[[R:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[E]])
// CHECK:   "imc.dma"(%{{.*}}, %[[S]])
// CHECK:   %[[V:.*]] = bufferization.to_tensor %[[S]]
// CHECK:   tensor.insert_slice %[[V]] into %[[ACC]][%[[I]]] [32] [1]
// CHECK: "imc.spad_free"(%[[S]])
// CHECK: %[[S2:.*]] = "imc.spad_alloc"() {offset = 0 : i64, size = 16 : i64} : () -> memref<4xf32, 1>
// CHECK: "imc.dma"(%{{.*}}, %[[S2]])
// CHECK: %[[L:.*]] = tensor.insert_slice %{{.*}} into %[[R]][96] [4] [1]
// CHECK: "imc.spad_free"(%[[S2]])
// CHECK: return %[[L]] : tensor<100xf32>
// REMARK: remark: [imc-check-buffers] 2 scratchpad buffers, peak 128 bytes of 1024: placement verified
func.func @load(%dram: memref<100xf32>) -> tensor<100xf32> {
  %t = "imc.transfer_in"(%dram) {buffers = 1 : i64, offset = 0 : i64, staging = 0 : i64, tile = 32 : i64} : (memref<100xf32>) -> tensor<100xf32>
  return %t : tensor<100xf32>
}
