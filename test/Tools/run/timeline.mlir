// Timelines computed by hand (docs/interpreter.md, "Timeline"). The test chip
// (Inputs/timeline.toml): an MVM input cycle takes 1 us on its crossbar, a
// digital op 1 ns on the one digital unit, a DRAM byte 1 ns on the one channel;
// scratchpad bytes (1e-6 ns) and programming (0 ns) do not show.

// Two layers pipelined: four rows, each through layer a (array 0) and then
// layer b (array 1). Row t's a runs in [t, t+1] us, its b in [t+1, t+2] us:
// the last b ends at 5 us, then the 32 B result leaves (32 ns): 5.032 us,
// where one layer after the other would take 8 us. Bound: each array reads 4
// times (4 us). The longest dependency chain is one row's a, b and the
// result (2.032 us). A stream of calls: the next call's a waits for array 0 only,
// so a call ends every 4 us. Cold: the two 1 B weight reads from DRAM come
// first (the first a starts at 1 ns): 5.033 us. Head-body-tail bound
// (imc.sim.timeline_bound): array 1's first b cannot start before a row's a
// (1 us), it reads 4 us, and the result leaves after its last (32 ns):
// 5.032 us, this schedule (array 0: 0 + 4 + 1.032 us, the same).
// RUN: imc-run %s --entry pipeline --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=PIPE
// PIPE: timeline: a warm call takes 5.032 us on an idle chip (1.26x its resource bound 4.000 us, crossbars-bound; 2.48x its longest dependency chain 2.032 us; 1.00x its head-body-tail bound 5.032 us (xbar1: 1.000 before, 4.000 busy, 0.032 after)), a cold call 5.033 us; calls in a stream end every 4.000 us
// PIPE: layer_a {{ +}}0.000 {{ +}}4.000 {{ +}}4.000
// PIPE: layer_b {{ +}}1.000 {{ +}}5.000 {{ +}}4.000
func.func @pipeline() -> tensor<4x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %x = arith.constant dense<1.0> : tensor<4x2xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %init = tensor.empty() : tensor<4x2xf32>
  %pa = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64> loc("layer_a")
  %pb = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64> loc("layer_b")
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %init) -> (tensor<4x2xf32>) {
    %xi = tensor.extract_slice %x[%i, 0] [1, 2] [1, 1] : tensor<4x2xf32> to tensor<1x2xf32>
    %a = "imc.mvm"(%pa, %xi) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32> loc("layer_a")
    %b = "imc.mvm"(%pb, %a) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32> loc("layer_b")
    %next = tensor.insert_slice %b into %acc[%i, 0] [1, 2] [1, 1] : tensor<1x2xf32> into tensor<4x2xf32> loc("layer_b")
    scf.yield %next : tensor<4x2xf32>
  }
  return %r : tensor<4x2xf32>
}

// A duplicated bottleneck: layer b takes two input cycles (2 us per row).
// On one array (@bottleneck) row t's b runs in [2t+1, 2t+3] us: 9 us, +32 ns
// for the result; bound 8 us (array 1), a call every 8 us. With b's weights
// on arrays 1 and 2 (@duplicated), even rows use one copy and odd rows the
// other: b runs in [1,3], [2,4], [3,5], [4,6] us: 6.032 us; bound 4 us
// (arrays 0, 1 and 2 each read 4 us), a call every 4 us. Either way the
// longest dependency chain is one row's a and b and the result (3.032 us).
// Head-body-tail bound: on one array, 1 + 8 + 0.032 us (array 1), the
// makespan; duplicated, array 0's last a still has a b (2 us) and the result
// after it: 0 + 4 + 2.032 us, the makespan again.
// RUN: imc-run %s --entry bottleneck --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=ONE
// ONE: timeline: a warm call takes 9.032 us on an idle chip (1.13x its resource bound 8.000 us, crossbars-bound; 2.98x its longest dependency chain 3.032 us; 1.00x its head-body-tail bound 9.032 us (xbar1: 1.000 before, 8.000 busy, 0.032 after)), a cold call 9.033 us; calls in a stream end every 8.000 us
// RUN: imc-run %s --entry duplicated --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=TWO
// TWO: timeline: a warm call takes 6.032 us on an idle chip (1.51x its resource bound 4.000 us, crossbars-bound; 1.99x its longest dependency chain 3.032 us; 1.00x its head-body-tail bound 6.032 us (xbar0: 0.000 before, 4.000 busy, 2.032 after)), a cold call 6.033 us; calls in a stream end every 4.000 us
func.func @bottleneck() -> tensor<4x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %x = arith.constant dense<1.0> : tensor<4x2xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %init = tensor.empty() : tensor<4x2xf32>
  %pa = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %pb = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %r = scf.for %i = %c0 to %c4 step %c2 iter_args(%acc = %init) -> (tensor<4x2xf32>) {
    %j = arith.addi %i, %c1 : index
    %xi = tensor.extract_slice %x[%i, 0] [1, 2] [1, 1] : tensor<4x2xf32> to tensor<1x2xf32>
    %xj = tensor.extract_slice %x[%j, 0] [1, 2] [1, 1] : tensor<4x2xf32> to tensor<1x2xf32>
    %ai = "imc.mvm"(%pa, %xi) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %bi = "imc.mvm"(%pb, %ai) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 16 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %aj = "imc.mvm"(%pa, %xj) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %bj = "imc.mvm"(%pb, %aj) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 16 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %acc1 = tensor.insert_slice %bi into %acc[%i, 0] [1, 2] [1, 1] : tensor<1x2xf32> into tensor<4x2xf32>
    %acc2 = tensor.insert_slice %bj into %acc1[%j, 0] [1, 2] [1, 1] : tensor<1x2xf32> into tensor<4x2xf32>
    scf.yield %acc2 : tensor<4x2xf32>
  }
  return %r : tensor<4x2xf32>
}
func.func @duplicated() -> tensor<4x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %x = arith.constant dense<1.0> : tensor<4x2xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %init = tensor.empty() : tensor<4x2xf32>
  %pa = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %pb = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 1 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %pc = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 2 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %r = scf.for %i = %c0 to %c4 step %c2 iter_args(%acc = %init) -> (tensor<4x2xf32>) {
    %j = arith.addi %i, %c1 : index
    %xi = tensor.extract_slice %x[%i, 0] [1, 2] [1, 1] : tensor<4x2xf32> to tensor<1x2xf32>
    %xj = tensor.extract_slice %x[%j, 0] [1, 2] [1, 1] : tensor<4x2xf32> to tensor<1x2xf32>
    %ai = "imc.mvm"(%pa, %xi) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %bi = "imc.mvm"(%pb, %ai) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 16 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %aj = "imc.mvm"(%pa, %xj) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %bj = "imc.mvm"(%pc, %aj) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 16 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %acc1 = tensor.insert_slice %bi into %acc[%i, 0] [1, 2] [1, 1] : tensor<1x2xf32> into tensor<4x2xf32>
    %acc2 = tensor.insert_slice %bj into %acc1[%j, 0] [1, 2] [1, 1] : tensor<1x2xf32> into tensor<4x2xf32>
    scf.yield %acc2 : tensor<4x2xf32>
  }
  return %r : tensor<4x2xf32>
}

// A digital-bound layer: 100 elements through a body of 50 ops on the one
// digital unit (5,000 ns), between the 400 B input arriving and the 400 B
// result leaving (400 ns each): 5.800 us; bound 5 us (digital), with the
// input before and the result after it 5.800 us (head-body-tail).
// RUN: imc-run %s --entry digital --random-inputs --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=DIGITAL
// DIGITAL: timeline: a warm call takes 5.800 us on an idle chip (1.16x its resource bound 5.000 us, digital-bound; 1.00x its longest dependency chain 5.800 us; 1.00x its head-body-tail bound 5.800 us (digital: 0.400 before, 5.000 busy, 0.400 after))
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @digital(%x: tensor<1x100xf32>) -> tensor<1x100xf32> {
  %e = tensor.empty() : tensor<1x100xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<1x100xf32>) outs(%e : tensor<1x100xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v0 = arith.addf %in, %in : f32
    %v1 = arith.addf %v0, %in : f32
    %v2 = arith.addf %v1, %in : f32
    %v3 = arith.addf %v2, %in : f32
    %v4 = arith.addf %v3, %in : f32
    %v5 = arith.addf %v4, %in : f32
    %v6 = arith.addf %v5, %in : f32
    %v7 = arith.addf %v6, %in : f32
    %v8 = arith.addf %v7, %in : f32
    %v9 = arith.addf %v8, %in : f32
    %v10 = arith.addf %v9, %in : f32
    %v11 = arith.addf %v10, %in : f32
    %v12 = arith.addf %v11, %in : f32
    %v13 = arith.addf %v12, %in : f32
    %v14 = arith.addf %v13, %in : f32
    %v15 = arith.addf %v14, %in : f32
    %v16 = arith.addf %v15, %in : f32
    %v17 = arith.addf %v16, %in : f32
    %v18 = arith.addf %v17, %in : f32
    %v19 = arith.addf %v18, %in : f32
    %v20 = arith.addf %v19, %in : f32
    %v21 = arith.addf %v20, %in : f32
    %v22 = arith.addf %v21, %in : f32
    %v23 = arith.addf %v22, %in : f32
    %v24 = arith.addf %v23, %in : f32
    %v25 = arith.addf %v24, %in : f32
    %v26 = arith.addf %v25, %in : f32
    %v27 = arith.addf %v26, %in : f32
    %v28 = arith.addf %v27, %in : f32
    %v29 = arith.addf %v28, %in : f32
    %v30 = arith.addf %v29, %in : f32
    %v31 = arith.addf %v30, %in : f32
    %v32 = arith.addf %v31, %in : f32
    %v33 = arith.addf %v32, %in : f32
    %v34 = arith.addf %v33, %in : f32
    %v35 = arith.addf %v34, %in : f32
    %v36 = arith.addf %v35, %in : f32
    %v37 = arith.addf %v36, %in : f32
    %v38 = arith.addf %v37, %in : f32
    %v39 = arith.addf %v38, %in : f32
    %v40 = arith.addf %v39, %in : f32
    %v41 = arith.addf %v40, %in : f32
    %v42 = arith.addf %v41, %in : f32
    %v43 = arith.addf %v42, %in : f32
    %v44 = arith.addf %v43, %in : f32
    %v45 = arith.addf %v44, %in : f32
    %v46 = arith.addf %v45, %in : f32
    %v47 = arith.addf %v46, %in : f32
    %v48 = arith.addf %v47, %in : f32
    %v49 = arith.addf %v48, %in : f32
    linalg.yield %v49 : f32
  } -> tensor<1x100xf32>
  return %y : tensor<1x100xf32>
}

// A DMA-bound loop: four 256 B rows loaded into one scratchpad buffer,
// incremented there (64 digital ops) and stored: each row's load waits for
// the previous row's store to have read the buffer, so a row takes
// 256 + 64 + 256 ns: 2.304 us against the DRAM bound of 8 x 256 ns; the
// buffer makes the four rows one dependency chain (2.304 us). Head-body-tail
// bound: over all the channel's steps 0 + 2.048 + 0 us, but over its last
// store alone (a subset bounds the call too) 2.048 + 0.256 + 0 us: three rows
// and the last row's load and add come before it (3 x 576 + 256 + 64 ns).
// RUN: imc-run %s --entry single_buffer --random-inputs --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=SINGLE
// SINGLE: timeline: a warm call takes 2.304 us on an idle chip (1.12x its resource bound 2.048 us, dram-bound; 1.00x its longest dependency chain 2.304 us; 1.00x its head-body-tail bound 2.304 us (dram: 2.048 before, 0.256 busy, 0.000 after))
// Double buffering: rows alternate between two buffers, so the next row's
// load overlaps this row's add and the channel never waits: 2.048 us; the
// longest chain is two rows through one buffer (2 x 576 ns).
// RUN: imc-run %s --entry double_buffer --random-inputs --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=DOUBLE
// DOUBLE: timeline: a warm call takes 2.048 us on an idle chip (1.00x its resource bound 2.048 us, dram-bound; 1.78x its longest dependency chain 1.152 us; 1.00x its head-body-tail bound 2.048 us (dram: 0.000 before, 2.048 busy, 0.000 after))
func.func @single_buffer(%in: memref<4x64xf32>, %out: memref<4x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %one = arith.constant 1.0 : f32
  %a = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<1x64xf32, 1>
  scf.for %i = %c0 to %c4 step %c1 {
    %src = memref.subview %in[%i, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<1x64xf32, strided<[64, 1], offset: ?>>
    %dst = memref.subview %out[%i, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<1x64xf32, strided<[64, 1], offset: ?>>
    "imc.dma"(%src, %a) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 64>, strides = array<i64: 1, 1>} : (memref<1x64xf32, strided<[64, 1], offset: ?>>, memref<1x64xf32, 1>) -> ()
    linalg.add ins(%a, %a : memref<1x64xf32, 1>, memref<1x64xf32, 1>) outs(%a : memref<1x64xf32, 1>)
    "imc.dma"(%a, %dst) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 64>, strides = array<i64: 1, 1>} : (memref<1x64xf32, 1>, memref<1x64xf32, strided<[64, 1], offset: ?>>) -> ()
  }
  "imc.spad_free"(%a) : (memref<1x64xf32, 1>) -> ()
  return
}
func.func @double_buffer(%in: memref<4x64xf32>, %out: memref<4x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %a = "imc.spad_alloc"() {offset = 0 : i64, size = 256 : i64} : () -> memref<1x64xf32, 1>
  %b = "imc.spad_alloc"() {offset = 256 : i64, size = 256 : i64} : () -> memref<1x64xf32, 1>
  scf.for %i = %c0 to %c4 step %c2 {
    %j = arith.addi %i, %c1 : index
    %si = memref.subview %in[%i, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<1x64xf32, strided<[64, 1], offset: ?>>
    %sj = memref.subview %in[%j, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<1x64xf32, strided<[64, 1], offset: ?>>
    %di = memref.subview %out[%i, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<1x64xf32, strided<[64, 1], offset: ?>>
    %dj = memref.subview %out[%j, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<1x64xf32, strided<[64, 1], offset: ?>>
    "imc.dma"(%si, %a) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 64>, strides = array<i64: 1, 1>} : (memref<1x64xf32, strided<[64, 1], offset: ?>>, memref<1x64xf32, 1>) -> ()
    "imc.dma"(%sj, %b) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 64>, strides = array<i64: 1, 1>} : (memref<1x64xf32, strided<[64, 1], offset: ?>>, memref<1x64xf32, 1>) -> ()
    linalg.add ins(%a, %a : memref<1x64xf32, 1>, memref<1x64xf32, 1>) outs(%a : memref<1x64xf32, 1>)
    linalg.add ins(%b, %b : memref<1x64xf32, 1>, memref<1x64xf32, 1>) outs(%b : memref<1x64xf32, 1>)
    "imc.dma"(%a, %di) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 64>, strides = array<i64: 1, 1>} : (memref<1x64xf32, 1>, memref<1x64xf32, strided<[64, 1], offset: ?>>) -> ()
    "imc.dma"(%b, %dj) {offsets = array<i64: 0, 0>, sizes = array<i64: 1, 64>, strides = array<i64: 1, 1>} : (memref<1x64xf32, 1>, memref<1x64xf32, strided<[64, 1], offset: ?>>) -> ()
  }
  "imc.spad_free"(%b) : (memref<1x64xf32, 1>) -> ()
  "imc.spad_free"(%a) : (memref<1x64xf32, 1>) -> ()
  return
}

// Shared activations (docs/interpreter.md, "Shared activations"): two tiles
// packed along the diagonal of array 0 (rows 0-1 x cols 0-1 and rows 2-3 x
// cols 2-3, e.g. two bit slices of one weight) read by MVMs of the same input
// are one activation of the array: a and b both run in [0, 1] us, then c
// (reading a) in [1, 2] us; the two 8 B results leave after it: 2.016 us.
// Bound: the array reads twice (2 us), not three times. Cold, b's tile
// arrives after a began (its 1 B weight read from DRAM is the second), so b
// reads on its own: a [0.001, 1.001], b and c after it, 3.017 us. When b
// reads another input (@apart), the array reads three times, warm or cold.
// RUN: imc-run %s --entry shared --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=SHARED
// SHARED: timeline: a warm call takes 2.016 us on an idle chip (1.01x its resource bound 2.000 us, crossbars-bound; 1.00x its longest dependency chain 2.016 us; 1.00x its head-body-tail bound 2.016 us (xbar0: 0.000 before, 2.000 busy, 0.016 after)), a cold call 3.017 us; calls in a stream end every 2.000 us
// RUN: imc-run %s --entry apart --hardware %S/../../Inputs/timeline.toml --timeline | FileCheck %s --check-prefix=APART
// APART: timeline: a warm call takes 3.016 us on an idle chip (1.01x its resource bound 3.000 us, crossbars-bound; 1.50x its longest dependency chain 2.016 us; 1.00x its head-body-tail bound 3.016 us (xbar0: 0.000 before, 3.000 busy, 0.016 after)), a cold call 3.017 us; calls in a stream end every 3.000 us
func.func @shared() -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %x = arith.constant dense<1.0> : tensor<1x2xf32>
  %p0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p1 = "imc.program"(%w) {offset = array<i64: 2, 2>, array = 0 : i64, cell_bits = 2 : i64, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %a = "imc.mvm"(%p0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %b = "imc.mvm"(%p1, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %c = "imc.mvm"(%p0, %a) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
  return %b, %c : tensor<1x2xf32>, tensor<1x2xf32>
}
func.func @apart() -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %x = arith.constant dense<1.0> : tensor<1x2xf32>
  %x2 = arith.constant dense<2.0> : tensor<1x2xf32>
  %p0 = "imc.program"(%w) {offset = array<i64: 0, 0>, array = 0 : i64, cell_bits = 2 : i64, slice = 0 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %p1 = "imc.program"(%w) {offset = array<i64: 2, 2>, array = 0 : i64, cell_bits = 2 : i64, slice = 1 : i64, transpose = false, weight_bits = 8 : i64} : (tensor<2x2xf32>) -> !imc.xbar<4 : i64, 4 : i64>
  %a = "imc.mvm"(%p0, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %b = "imc.mvm"(%p1, %x2) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %c = "imc.mvm"(%p0, %a) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 8 : i64, input_bits = 8 : i64} : (!imc.xbar<4 : i64, 4 : i64>, tensor<1x2xf32>) -> tensor<1x2xf32>
  return %b, %c : tensor<1x2xf32>, tensor<1x2xf32>
}
