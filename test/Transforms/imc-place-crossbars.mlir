// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars)' | FileCheck %s
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{pack=false})' | FileCheck %s --check-prefix=NOPACK
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=4 pool=2})' | FileCheck %s --check-prefix=POOL2
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=4 pool=2})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=POOL2-REMARK
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=4})' | FileCheck %s --check-prefix=POOL1
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=4})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=POOL1-REMARK
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=4 pool=2 pack=false})' --imc-remarks 2>&1 | FileCheck %s --check-prefix=NOPACK-POOL2
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=4 pool=1})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=FIXED1-REMARK
// RUN: imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{crossbars=3})' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=ALL3-REMARK
// RUN: not imc-opt %s --split-input-file -p 'builtin.module(imc-place-crossbars{pool=-1})' 2>&1 | FileCheck %s --check-prefix=ERR

// Three tiles, none of which fits next to the previous one: arrays 0, 1, 2
// in program order, on every chip size.
// CHECK-LABEL: func.func @fits
// CHECK: "imc.program"(%{{.*}}) {array = 0 : i64, {{.*}}slice = 0 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 1 : i64, {{.*}}slice = 1 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 2 : i64, {{.*}}slice = 0 : i64
// CHECK-NOT: array = -1
// CHECK-NOT: offset = array<i64: {{[1-9]}}
// CHECK-NOT: offset = array<i64: 0, {{[1-9]}}
// REMARK: remark: [imc-place-crossbars] 3 crossbar tiles placed on 3 of 4096 crossbars; each weight tile is programmed once
// POOL2-LABEL: func.func @fits
// POOL2: array = 0 : i64
// POOL2: array = 1 : i64
// POOL2: array = 2 : i64
// POOL2-REMARK: remark: [imc-place-crossbars] 3 crossbar tiles placed on 3 of 4 crossbars; each weight tile is programmed once
// ERR: imc-opt: error: option 'pool' of pass 'imc-place-crossbars' = -1 is out of range [0, 68719476736]
func.func @fits(%a: tensor<128x128xf32>, %b: tensor<4x4xf32>, %x: tensor<1x128xf32>) -> (tensor<1x128xf32>, tensor<1x128xf32>) {
  %xa0 = "imc.program"(%a) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 4 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %xa1 = "imc.program"(%a) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 4 : i64, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %xb = "imc.program"(%b) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<4x4xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %p0 = "imc.mvm"(%xa0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x128xf32>
  %p1 = "imc.mvm"(%xa1, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64} : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x128xf32>
  %y = "imc.accumulate"(%p0, %p1) {shifts = array<i64: 0, 4>} : (tensor<1x128xf32>, tensor<1x128xf32>) -> tensor<1x128xf32>
  return %y, %x : tensor<1x128xf32>, tensor<1x128xf32>
}

// -----

// Small tiles share a crossbar along its diagonal (disjoint rows and
// columns), in program order; a transposed 8x40 tile occupies 40 rows x 8
// columns. 32x16 at [0, 0] and the transposed tile at [32, 16] share array
// 0; 64x80 does not fit below-right of them (32 + 40 + 64 > 128 rows) and
// opens array 1, where 10x10 joins it at [64, 80].
// CHECK-LABEL: func.func @packed
// CHECK-SAME: (%[[A:.*]]: tensor<32x16xf32>, %[[B:.*]]: tensor<8x40xf32>, %[[C:.*]]: tensor<64x80xf32>, %[[D:.*]]: tensor<10x10xf32>)
// CHECK: "imc.program"(%[[A]]) {array = 0 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64
// CHECK: "imc.program"(%[[B]]) {array = 0 : i64, cell_bits = 8 : i64, offset = array<i64: 32, 16>, slice = 0 : i64, transpose = true
// CHECK: "imc.program"(%[[C]]) {array = 1 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64
// CHECK: "imc.program"(%[[D]]) {array = 1 : i64, cell_bits = 8 : i64, offset = array<i64: 64, 80>, slice = 0 : i64
// REMARK: remark: [imc-place-crossbars] 4 crossbar tiles placed on 2 of 4096 crossbars (2 share a crossbar with another tile); each weight tile is programmed once
// NOPACK-LABEL: func.func @packed
// NOPACK: "imc.program"(%{{.*}}) {array = 0 : i64
// NOPACK: "imc.program"(%{{.*}}) {array = 1 : i64
// NOPACK: "imc.program"(%{{.*}}) {array = 2 : i64
// NOPACK: "imc.program"(%{{.*}}) {array = 3 : i64
// NOPACK-NOT: offset = array<i64: {{[1-9]}}
// NOPACK-NOT: offset = array<i64: 0, {{[1-9]}}
// NOPACK-LABEL: func.func @multiplexed
func.func @packed(%a: tensor<32x16xf32>, %b: tensor<8x40xf32>, %c: tensor<64x80xf32>, %d: tensor<10x10xf32>) {
  %0 = "imc.program"(%a) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<32x16xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %1 = "imc.program"(%b) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = true, weight_bits = 8 : i64} : (tensor<8x40xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %2 = "imc.program"(%c) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x80xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %3 = "imc.program"(%d) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<10x10xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// Six tiles of different sizes (cells: 256, 16384, 4096, 8192, 64, 10000).
// Packed, the 8x8 and 100x100 tiles share a crossbar, so they need 5
// crossbars with 256, 16384, 4096, 8192 and 10064 cells.
// With 4 crossbars and a pool of 2, the 2 fullest crossbars (16384 and 10064
// cells) stay resident on arrays 0 and 1; the other 3 rotate over arrays 2
// and 3 in program order: array 2 alternates the 16x16 and 128x64 tiles,
// reprogramming 256 + 8192 = 8448 cells per call, while the 64x64 tile has
// array 3 to itself and is programmed once (the first call programs all
// 38992 cells).
// With a pool of 1 the 3 fullest stay resident (arrays 0..2) and 2 rotate
// through array 3 (256 + 4096 = 4352 cells).
// Without packing (6 crossbars), a pool of 2 keeps the 16384- and
// 10000-cell tiles resident and reprograms 256 + 4096 + 8192 + 64 = 12608.
// CHECK-LABEL: func.func @multiplexed
// CHECK: "imc.program"(%{{.*}}) {array = 0 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 1 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 2 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 3 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 4 : i64
// CHECK: "imc.program"(%{{.*}}) {array = 4 : i64, {{.*}}offset = array<i64: 8, 8>
// REMARK: remark: [imc-place-crossbars] 6 crossbar tiles placed on 5 of 4096 crossbars (1 share a crossbar with another tile); each weight tile is programmed once
// POOL2-LABEL: func.func @multiplexed
// POOL2-SAME: (%[[T16:.*]]: tensor<16x16xf32>, %[[T128:.*]]: tensor<128x128xf32>, %[[T64:.*]]: tensor<64x64xf32>, %[[T128X64:.*]]: tensor<128x64xf32>, %[[T8:.*]]: tensor<8x8xf32>, %[[T100:.*]]: tensor<100x100xf32>)
// POOL2: "imc.program"(%[[T16]]) {array = 2 : i64
// POOL2: "imc.program"(%[[T128]]) {array = 0 : i64
// POOL2: "imc.program"(%[[T64]]) {array = 3 : i64
// POOL2: "imc.program"(%[[T128X64]]) {array = 2 : i64
// POOL2: "imc.program"(%[[T8]]) {array = 1 : i64
// POOL2: "imc.program"(%[[T100]]) {array = 1 : i64, {{.*}}offset = array<i64: 8, 8>
// POOL2-REMARK: remark: [imc-place-crossbars] 6 crossbar tiles need 5 crossbars but the chip has 4: 2 stay resident, 3 are time-multiplexed over 2 crossbar(s), reprogramming 8448 cells per call (2 programming events; the first call programs 38992 cells)
// POOL1-LABEL: func.func @multiplexed
// POOL1: "imc.program"(%{{.*}}) {array = 3 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 0 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 3 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 1 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 2 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 2 : i64
// POOL1-REMARK: remark: [imc-place-crossbars] 6 crossbar tiles need 5 crossbars but the chip has 4: 3 stay resident, 2 are time-multiplexed over 1 crossbar(s), reprogramming 4352 cells per call (2 programming events; the first call programs 38992 cells)
// NOPACK-POOL2: remark: [imc-place-crossbars] 6 crossbar tiles need 6 crossbars but the chip has 4: 2 stay resident, 4 are time-multiplexed over 2 crossbar(s), reprogramming 12608 cells per call
// NOPACK-POOL2-LABEL: func.func @multiplexed
// NOPACK-POOL2: "imc.program"(%{{.*}}) {array = 2 : i64
// NOPACK-POOL2: "imc.program"(%{{.*}}) {array = 0 : i64
// NOPACK-POOL2: "imc.program"(%{{.*}}) {array = 3 : i64
// NOPACK-POOL2: "imc.program"(%{{.*}}) {array = 2 : i64
// NOPACK-POOL2: "imc.program"(%{{.*}}) {array = 3 : i64
// NOPACK-POOL2: "imc.program"(%{{.*}}) {array = 1 : i64
func.func @multiplexed(%t16: tensor<16x16xf32>, %t128: tensor<128x128xf32>, %t64: tensor<64x64xf32>,
                       %t128x64: tensor<128x64xf32>, %t8: tensor<8x8xf32>, %t100: tensor<100x100xf32>) {
  %0 = "imc.program"(%t16) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<16x16xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %1 = "imc.program"(%t128) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %2 = "imc.program"(%t64) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<64x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %3 = "imc.program"(%t128x64) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %4 = "imc.program"(%t8) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<8x8xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %5 = "imc.program"(%t100) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<100x100xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// Two functions and no @main: the tiles of both are placed, but there is no
// call to replay, so the remark gives no per-call programming figures.
// CHECK-LABEL: func.func @first
// CHECK: array = 0 : i64
// CHECK-LABEL: func.func @second
// CHECK: array = 1 : i64
// REMARK: remark: [imc-place-crossbars] 2 crossbar tiles placed on 2 of 4096 crossbars; no entry function @main to replay, so no per-call programming figures
func.func @first(%w: tensor<128x128xf32>) {
  %0 = "imc.program"(%w) {array = -1 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}
func.func @second(%w: tensor<128x128xf32>) {
  %0 = "imc.program"(%w) {array = -1 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  return
}

// -----

// Two loops of 4 trips, each programming three full tiles (6 crossbars'
// worth) on 4 crossbars. With a fixed pool of 1, the first loop's tiles
// stay resident and the second loop's three rotate through one crossbar,
// evicting each other on every trip: 12 programming events per call. The
// automatic pool (the default) is the fewest rotating crossbars P with
// which every loop keeps all but P of its tiles resident: P = 1 would need
// 2 + 2 residents on 3 crossbars, P = 2 needs 1 + 1 on 2. So B and E stay
// resident (arrays 0 and 1) and C, D, F, G rotate over arrays 2 and 3 in
// program order: per call F and G evicted C and D on the call before, so
// each of the four is programmed once per call, on its loop's first trip.
// With 3 crossbars P = 3: none stays resident, each loop programs its
// tiles once per call.
// REMARK: remark: [imc-place-crossbars] 6 crossbar tiles placed on 6 of 4096 crossbars; each weight tile is programmed once (98304 cells on the first call)
// POOL1-LABEL: func.func @loops
// POOL1: "imc.program"(%{{.*}}) {array = 0 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 2 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 3 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 1 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 2 : i64
// POOL1: "imc.program"(%{{.*}}) {array = 3 : i64
// POOL1-REMARK: remark: [imc-place-crossbars] 6 crossbar tiles need 6 crossbars but the chip has 4: 2 stay resident, 4 are time-multiplexed over 2 crossbar(s) (each loop keeps all but that many of its tiles resident: each once per call, not on every trip), reprogramming 65536 cells per call (4 programming events; the first call programs 98304 cells)
// ALL3-REMARK: remark: [imc-place-crossbars] 6 crossbar tiles need 6 crossbars but the chip has 3: 0 stay resident, 6 are time-multiplexed over 3 crossbar(s) (each loop keeps all but that many of its tiles resident: each once per call, not on every trip), reprogramming 98304 cells per call (6 programming events; the first call programs 98304 cells)
// FIXED1-REMARK: remark: [imc-place-crossbars] 6 crossbar tiles need 6 crossbars but the chip has 4: 3 stay resident, 3 are time-multiplexed over 1 crossbar(s), reprogramming 196608 cells per call (12 programming events; the first call programs 245760 cells)
func.func @loops(%b: tensor<128x128xf32>, %c: tensor<128x128xf32>, %d: tensor<128x128xf32>, %e: tensor<128x128xf32>, %f: tensor<128x128xf32>, %g: tensor<128x128xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %bx = "imc.program"(%b) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
    %cx = "imc.program"(%c) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
    %dx = "imc.program"(%d) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  }
  scf.for %i = %c0 to %c4 step %c1 {
    %ex = "imc.program"(%e) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
    %fx = "imc.program"(%f) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
    %gx = "imc.program"(%g) {offset = array<i64: 0, 0>, array = -1 : i64, cell_bits = 8 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<128x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  }
  return
}

// -----

// No programs: nothing to place, no remark.
// CHECK-LABEL: func.func @no_programs
// CHECK-NEXT: return
// REMARK-NOT: remark
func.func @no_programs() {
  return
}
