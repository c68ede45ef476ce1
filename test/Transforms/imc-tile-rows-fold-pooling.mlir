// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' | FileCheck %s
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows)' --imc-remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: imc-opt %s --split-input-file --hardware %S/../Inputs/spad-2k.toml -p 'builtin.module(imc-tile-rows{fold-pooling=false})' | FileCheck %s --check-prefix=OFF

// A conv + ReLU stage whose output (1x4x16x16, 4 KiB: more than the 2 KiB
// scratchpad) only a global average pooling reads (its sum over rows and
// columns, then the division; what torch's adaptive_avg_pool2d((1, 1))
// imports as). The conv's row loop carries the sum instead of its output:
// each trip adds its rows' sums into it, so the output is never assembled.
// The division stays after the loop.
// CHECK-LABEL: func.func @conv_relu_mean
// CHECK: %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<1x4x1x1xf32>
// CHECK: %[[LOOP:.*]] = scf.for %[[I:.*]] = %c0 to %c16 step %[[R:.*]] iter_args(%[[SUM:.*]] = %[[ZEROS]]) -> (tensor<1x4x1x1xf32>)
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x4x[[ROWS:[0-9]+]]x16xf32>
// CHECK: %[[RELU:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<1x4x[[ROWS]]x16xf32>)
// CHECK-NOT: tensor.insert_slice
// CHECK: %[[NEXT:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[RELU]] : tensor<1x4x[[ROWS]]x16xf32>) outs(%[[SUM]] : tensor<1x4x1x1xf32>)
// CHECK: arith.addf
// CHECK: scf.yield %[[NEXT]] : tensor<1x4x1x1xf32>
// CHECK: %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[LOOP]] : tensor<1x4x1x1xf32>)
// CHECK: arith.divf
// CHECK: return %[[MEAN]]
// REMARK: "pool": remark: [imc-tile-rows] global pooling folded into the row loop of 'conv': each trip reduces its rows into the 1x4x1x1 result the loop carries (16 B); the 1x4x16x16 input (4,096 B) is never assembled or stored
// OFF-LABEL: func.func @conv_relu_mean
// OFF: %[[LOOP:.*]] = scf.for {{.*}} -> (tensor<1x4x16x16xf32>)
// OFF: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[LOOP]] : tensor<1x4x16x16xf32>)
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#pooled = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
#conv = loc("conv")
#relu = loc("relu")
#pool = loc("pool")
func.func @conv_relu_mean(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %count = arith.constant 256.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#conv)
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x16x16xf32>) outs(%e : tensor<1x4x16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x16x16xf32> loc(#relu)
  %se = tensor.empty() : tensor<1x4x1x1xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<1x4x1x1xf32>) -> tensor<1x4x1x1xf32>
  %s = linalg.generic {indexing_maps = [#id, #pooled], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%r : tensor<1x4x16x16xf32>) outs(%sf : tensor<1x4x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x4x1x1xf32> loc(#pool)
  %mean = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x1x1xf32>) outs(%se : tensor<1x4x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %count : f32
    linalg.yield %d : f32
  } -> tensor<1x4x1x1xf32> loc(#pool)
  return %mean : tensor<1x4x1x1xf32>
}

// -----

// The same stage's output also returned: it is assembled anyway, and the
// pooling stays after the loop.
// CHECK-LABEL: func.func @conv_relu_mean_and_rows
// CHECK: %[[LOOP:.*]] = scf.for {{.*}} -> (tensor<1x4x16x16xf32>)
// CHECK: tensor.insert_slice
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[LOOP]] : tensor<1x4x16x16xf32>)
// CHECK: return
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#pooled = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
#conv = loc("conv")
#pool = loc("pool")
func.func @conv_relu_mean_and_rows(%x: tensor<1x4x16x16xf32>) -> (tensor<1x4x1x1xf32>, tensor<1x4x16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#conv)
  %se = tensor.empty() : tensor<1x4x1x1xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<1x4x1x1xf32>) -> tensor<1x4x1x1xf32>
  %s = linalg.generic {indexing_maps = [#id, #pooled], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%y : tensor<1x4x16x16xf32>) outs(%sf : tensor<1x4x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x4x1x1xf32> loc(#pool)
  return %s, %y : tensor<1x4x1x1xf32>, tensor<1x4x16x16xf32>
}

// -----

// A global max pooling (the maximum over rows and columns, from -inf)
// folds the same way: each trip takes the maximum of its rows and the
// carried maximum.
// CHECK-LABEL: func.func @conv_global_max
// CHECK: %[[NINF:.*]] = linalg.fill {{.*}} -> tensor<1x4x1x1xf32>
// CHECK: %[[LOOP:.*]] = scf.for {{.*}} iter_args(%[[MAX:.*]] = %[[NINF]]) -> (tensor<1x4x1x1xf32>)
// CHECK: %[[CONV:.*]] = linalg.conv_2d_nchw_fchw
// CHECK-NOT: tensor.insert_slice
// CHECK: %[[NEXT:.*]] = linalg.generic {{.*}} ins(%[[CONV]] : tensor<1x4x{{[0-9]+}}x16xf32>) outs(%[[MAX]] : tensor<1x4x1x1xf32>)
// CHECK: arith.maximumf
// CHECK: scf.yield %[[NEXT]]
// CHECK: return %[[LOOP]]
// REMARK: "pool": remark: [imc-tile-rows] global pooling folded into the row loop of 'conv'
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#pooled = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
#conv = loc("conv")
#pool = loc("pool")
func.func @conv_global_max(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %w = arith.constant dense<1.0> : tensor<4x4x3x3xf32>
  %pad = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32> loc(#conv)
  %e = tensor.empty() : tensor<1x4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
      ins(%pad, %w : tensor<1x4x18x18xf32>, tensor<4x4x3x3xf32>) outs(%f : tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> loc(#conv)
  %se = tensor.empty() : tensor<1x4x1x1xf32>
  %sf = linalg.fill ins(%ninf : f32) outs(%se : tensor<1x4x1x1xf32>) -> tensor<1x4x1x1xf32>
  %s = linalg.generic {indexing_maps = [#id, #pooled], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%y : tensor<1x4x16x16xf32>) outs(%sf : tensor<1x4x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<1x4x1x1xf32> loc(#pool)
  return %s : tensor<1x4x1x1xf32>
}
