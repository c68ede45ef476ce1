// RUN: imc-opt %s --hardware %S/../Inputs/spad-20k.toml -p 'builtin.module(imc-tile-rows{fit-rows=4 chain-loops=true})' | FileCheck %s
// RUN: imc-opt %s --hardware %S/../Inputs/spad-20k.toml -p 'builtin.module(imc-tile-rows{fit-rows=4 chain-loops=false})' | FileCheck %s --check-prefix=APART
// RUN: imc-opt %s --hardware %S/../Inputs/spad-20k.toml -p 'builtin.module(imc-tile-rows{fit-rows=4 chain-loops=true}, imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=PLACED

// MobileNetV2's first stages, small (test_loop_chain.py's `_mobilenet_start`
// imported, its weights made splats): the stem (3x3 conv of stride 2, ReLU6),
// a block of expansion 1 (depthwise 3x3 conv, 1x1 projection to 16 x 48 x 48,
// 36 KiB at 8 bits: beyond the 20 KiB scratchpad) and a block of stride 2.
// The stem's loop makes two rows per trip, the depthwise conv one row behind
// (its last row in the last trip's scf.if); the next block's loop reads
// them as plain two-row slices at its induction variable, two rows per trip.
// Chained (`imc.transforms.loop_chain`, plain windows), the block runs two
// trips behind (its rows are made one trip later, and a first or last loop
// of one trip would be inlined): the stem alone for rows [0, 4), both from
// row 4 on, the block's last two trips after. Each trip pushes its two rows
// onto a line buffer of three rows (2 x 2 - 1: from the first row of the
// block's next window on), and the block's window is the first two of the
// five; the last loop pushes the stem's last row, then zero rows. The
// stem's output is never assembled and nothing is stored between the
// stages.
// APART: %[[Y:.*]]:2 = scf.for %{{.*}} = %c0 to %c48 step %c2 iter_args({{.*}}) -> (tensor<1x16x48x48xf32>, tensor<1x32x2x48xf32>)
// APART: scf.for %{{.*}} = %c0 to %c48 step %c2
// APART: tensor.extract_slice %[[Y]]#0[0, 0, %{{.*}}, 0] [1, 16, 2, 48]
// CHECK-LABEL: func.func @main
// CHECK: %[[P:.*]]:2 = scf.for %{{.*}} = %c0 to %c4 step %c2 iter_args({{.*}}) -> (tensor<1x32x2x48xf32>, tensor<1x16x3x48xf32>)
// CHECK: %[[ROWS:.*]] = tensor.concat dim(2) %{{.*}}, %{{.*}} : (tensor<1x16x3x48xf32>, tensor<1x16x2x48xf32>) -> tensor<1x16x5x48xf32>
// CHECK: tensor.extract_slice %[[ROWS]][0, 0, 2, 0] [1, 16, 3, 48]
// CHECK: %[[F:.*]]:5 = scf.for %{{.*}} = %c4 to %c48 step %c2 iter_args(%{{.*}} = %[[P]]#0, %{{.*}} = %[[P]]#1, {{.*}}) -> (tensor<1x32x2x48xf32>, tensor<1x16x3x48xf32>, tensor<1x16x1x48xf32>, tensor<1x24x24x24xf32>, tensor<1x96x1x48xf32>)
// CHECK: scf.if
// CHECK: scf.yield %{{.*}} : tensor<1x16x1x48xf32>
// CHECK: %[[ROWS2:.*]] = tensor.concat dim(2) %{{.*}}, %{{.*}} : (tensor<1x16x3x48xf32>, tensor<1x16x2x48xf32>) -> tensor<1x16x5x48xf32>
// CHECK: %[[WIN:.*]] = tensor.extract_slice %[[ROWS2]][0, 0, 0, 0] [1, 16, 2, 48]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[WIN]],
// CHECK: %[[E:.*]]:4 = scf.for %{{.*}} = %c44 to %c48 step %c2 iter_args(%{{.*}} = %[[F]]#1, %{{.*}} = %{{.*}}, %{{.*}} = %[[F]]#3, %{{.*}} = %[[F]]#4) -> (tensor<1x16x3x48xf32>, tensor<1x16x4x48xf32>, tensor<1x24x24x24xf32>, tensor<1x96x1x48xf32>)
// CHECK: return %[[E]]#2
// PLACED: 1 stored tensors over 2 stages
// PLACED: placement verified
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> ()>
module {
  func.func @main(%arg0: tensor<1x3x96x96xf32>) -> tensor<1x24x24x24xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<6.000000e+00> : tensor<f32>
    %cst_1 = arith.constant dense<0.000000e+00> : tensor<f32>
    %cst_2 = arith.constant dense<1.562500e-02> : tensor<24xf32>
    %cst_3 = arith.constant dense<3.125000e-02> : tensor<24x96x1x1xf32>
    %cst_4 = arith.constant dense<4.687500e-02> : tensor<96xf32>
    %cst_5 = arith.constant dense<6.250000e-02> : tensor<96xf32>
    %cst_6 = arith.constant dense<7.812500e-02> : tensor<96x16x1x1xf32>
    %cst_7 = arith.constant dense<9.375000e-02> : tensor<16xf32>
    %cst_8 = arith.constant dense<1.093750e-01> : tensor<16x32x1x1xf32>
    %cst_9 = arith.constant dense<1.250000e-01> : tensor<32xf32>
    %cst_10 = arith.constant dense<1.406250e-01> : tensor<32x3x3x3xf32>
    %cst_11 = arith.constant dense<1.562500e-01> : tensor<32xf32>
    %cst_12 = arith.constant dense<1.718750e-01> : tensor<32x3x3xf32>
    %cst_13 = arith.constant dense<1.875000e-01> : tensor<96x3x3xf32>
    %padded = tensor.pad %arg0 low[0, 0, 1, 1] high[0, 0, 1, 1] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst : f32
    } : tensor<1x3x96x96xf32> to tensor<1x3x98x98xf32>
    %0 = tensor.empty() : tensor<1x32x48x48xf32>
    %broadcasted = linalg.broadcast ins(%cst_11 : tensor<32xf32>) outs(%0 : tensor<1x32x48x48xf32>) dimensions = [0, 2, 3] 
    %1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%padded, %cst_10 : tensor<1x3x98x98xf32>, tensor<32x3x3x3xf32>) outs(%broadcasted : tensor<1x32x48x48xf32>) -> tensor<1x32x48x48xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1, %cst_1 : tensor<1x32x48x48xf32>, tensor<f32>) outs(%0 : tensor<1x32x48x48xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf ogt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x32x48x48xf32>
    %3 = linalg.generic {indexing_maps = [#map1, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_0, %2 : tensor<f32>, tensor<1x32x48x48xf32>) outs(%0 : tensor<1x32x48x48xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf olt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x32x48x48xf32>
    %padded_14 = tensor.pad %3 low[0, 0, 1, 1] high[0, 0, 1, 1] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst : f32
    } : tensor<1x32x48x48xf32> to tensor<1x32x50x50xf32>
    %broadcasted_15 = linalg.broadcast ins(%cst_9 : tensor<32xf32>) outs(%0 : tensor<1x32x48x48xf32>) dimensions = [0, 2, 3] 
    %4 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%padded_14, %cst_12 : tensor<1x32x50x50xf32>, tensor<32x3x3xf32>) outs(%broadcasted_15 : tensor<1x32x48x48xf32>) -> tensor<1x32x48x48xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%4, %cst_1 : tensor<1x32x48x48xf32>, tensor<f32>) outs(%0 : tensor<1x32x48x48xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf ogt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x32x48x48xf32>
    %6 = linalg.generic {indexing_maps = [#map1, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_0, %5 : tensor<f32>, tensor<1x32x48x48xf32>) outs(%0 : tensor<1x32x48x48xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf olt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x32x48x48xf32>
    %7 = tensor.empty() : tensor<1x16x48x48xf32>
    %broadcasted_16 = linalg.broadcast ins(%cst_7 : tensor<16xf32>) outs(%7 : tensor<1x16x48x48xf32>) dimensions = [0, 2, 3] 
    %8 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%6, %cst_8 : tensor<1x32x48x48xf32>, tensor<16x32x1x1xf32>) outs(%broadcasted_16 : tensor<1x16x48x48xf32>) -> tensor<1x16x48x48xf32>
    %9 = tensor.empty() : tensor<1x96x48x48xf32>
    %broadcasted_17 = linalg.broadcast ins(%cst_5 : tensor<96xf32>) outs(%9 : tensor<1x96x48x48xf32>) dimensions = [0, 2, 3] 
    %10 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%8, %cst_6 : tensor<1x16x48x48xf32>, tensor<96x16x1x1xf32>) outs(%broadcasted_17 : tensor<1x96x48x48xf32>) -> tensor<1x96x48x48xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%10, %cst_1 : tensor<1x96x48x48xf32>, tensor<f32>) outs(%9 : tensor<1x96x48x48xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf ogt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x96x48x48xf32>
    %12 = linalg.generic {indexing_maps = [#map1, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_0, %11 : tensor<f32>, tensor<1x96x48x48xf32>) outs(%9 : tensor<1x96x48x48xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf olt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x96x48x48xf32>
    %padded_18 = tensor.pad %12 low[0, 0, 1, 1] high[0, 0, 1, 1] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst : f32
    } : tensor<1x96x48x48xf32> to tensor<1x96x50x50xf32>
    %13 = tensor.empty() : tensor<1x96x24x24xf32>
    %broadcasted_19 = linalg.broadcast ins(%cst_4 : tensor<96xf32>) outs(%13 : tensor<1x96x24x24xf32>) dimensions = [0, 2, 3] 
    %14 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%padded_18, %cst_13 : tensor<1x96x50x50xf32>, tensor<96x3x3xf32>) outs(%broadcasted_19 : tensor<1x96x24x24xf32>) -> tensor<1x96x24x24xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%14, %cst_1 : tensor<1x96x24x24xf32>, tensor<f32>) outs(%13 : tensor<1x96x24x24xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf ogt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x96x24x24xf32>
    %16 = linalg.generic {indexing_maps = [#map1, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_0, %15 : tensor<f32>, tensor<1x96x24x24xf32>) outs(%13 : tensor<1x96x24x24xf32>) {
    ^bb0(%in: f32, %in_21: f32, %out: f32):
      %19 = arith.cmpf olt, %in, %in_21 : f32
      %20 = arith.select %19, %in, %in_21 : f32
      linalg.yield %20 : f32
    } -> tensor<1x96x24x24xf32>
    %17 = tensor.empty() : tensor<1x24x24x24xf32>
    %broadcasted_20 = linalg.broadcast ins(%cst_2 : tensor<24xf32>) outs(%17 : tensor<1x24x24x24xf32>) dimensions = [0, 2, 3] 
    %18 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%16, %cst_3 : tensor<1x96x24x24xf32>, tensor<24x96x1x1xf32>) outs(%broadcasted_20 : tensor<1x24x24x24xf32>) -> tensor<1x24x24x24xf32>
    return %18 : tensor<1x24x24x24xf32>
  }
}
