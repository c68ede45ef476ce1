"""Reference interpreter on upstream dialects vs PyTorch eager."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch
import torch.nn as nn
from torch_mlir import fx, ir

from imc.sim.interpreter import Interpreter, InterpreterError, register
from imc.sim.interpreter.math import erf

RTOL, ATOL = 1e-4, 1e-5


def _check(model, *inputs, rtol=RTOL, atol=ATOL):
    model = model.eval()
    module = fx.export_and_import(model, *inputs, output_type="linalg-on-tensors")
    interp = Interpreter(module)
    outs = interp.run("main", [x.numpy() for x in inputs])
    with torch.no_grad():
        ref = model(*inputs)
    refs = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        r = r.numpy()
        assert o.dtype == r.dtype, (o.dtype, r.dtype)
        assert o.shape == r.shape
        np.testing.assert_allclose(o, r, rtol=rtol, atol=atol)
    # A second run reuses the compiled function and gives the same answer.
    again = interp.run("main", [x.numpy() for x in inputs])
    for a, b in zip(outs, again):
        np.testing.assert_array_equal(a, b)
    return module, interp


def test_mlp():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8), nn.Tanh(), nn.Linear(8, 4), nn.Sigmoid())
    _check(m, torch.randn(5, 16))


class _SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 6, 3, padding=2, dilation=2)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 10)

    def forward(self, x):
        y = self.pool(torch.relu(self.conv2(torch.relu(self.conv(x)))))
        logits = self.fc(y.flatten(1))
        return logits, torch.argmax(logits, dim=-1), nn.functional.avg_pool2d(y, 2)


def test_small_cnn():
    torch.manual_seed(1)
    _check(_SmallCnn(), torch.randn(2, 3, 16, 16))


def test_depthwise_conv():
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6), nn.BatchNorm2d(6), nn.ReLU6())
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    _check(m, torch.randn(1, 6, 9, 9))


def test_transformer_encoder_layer():
    torch.manual_seed(3)
    m = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True)
    _check(m, torch.randn(2, 10, 32))


class _Attention(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.ln = nn.LayerNorm(d)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        att = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / 4.0, dim=-1)
        return self.ln(nn.functional.gelu(torch.bmm(att, v)) + x)


def test_hand_written_attention_and_batch_matmul():
    torch.manual_seed(4)
    _check(_Attention(), torch.randn(3, 7, 16))


class _Bmm(nn.Module):
    def forward(self, a, b):
        return torch.bmm(a, b), torch.matmul(a, b.transpose(1, 2).transpose(1, 2)).sum(dim=1)


def test_batch_matmul():
    torch.manual_seed(5)
    _check(_Bmm(), torch.randn(4, 5, 6), torch.randn(4, 6, 3))


_MAPS = {
    "ab": "affine_map<(d0, d1, d2) -> (d0, d2)>",
    "ba": "affine_map<(d0, d1, d2) -> (d2, d0)>",
    "bc": "affine_map<(d0, d1, d2) -> (d2, d1)>",
    "cb": "affine_map<(d0, d1, d2) -> (d1, d2)>",
    "out": "affine_map<(d0, d1, d2) -> (d0, d1)>",
    "bmk": "affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>",
    "bkm": "affine_map<(d0, d1, d2, d3) -> (d0, d3, d1)>",
    "bkn": "affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>",
    "bnk": "affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>",
    "bout": "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>",
}


@pytest.mark.parametrize(
    "op,a_map,b_map,out_map,a_shape,b_shape,c_shape,expect",
    [
        ("matmul", "ab", "bc", "out", (3, 5), (5, 4), (3, 4), lambda a, b: a @ b),
        ("matmul", "ab", "cb", "out", (3, 5), (4, 5), (3, 4), lambda a, b: a @ b.T),
        ("matmul", "ba", "bc", "out", (5, 3), (5, 4), (3, 4), lambda a, b: a.T @ b),
        ("batch_matmul", "bkm", "bnk", "bout", (2, 5, 3), (2, 4, 5), (2, 3, 4),
         lambda a, b: a.transpose(0, 2, 1) @ b.transpose(0, 2, 1)),
        ("batch_matmul", "bmk", "bkn", "bout", (2, 3, 5), (2, 5, 4), (2, 3, 4), lambda a, b: a @ b),
    ],
)
def test_contraction_with_indexing_maps(op, a_map, b_map, out_map, a_shape, b_shape, c_shape, expect):
    """Explicit indexing maps (transposed operands) accumulate into the init,
    like the einsum they denote."""
    def ty(shape):
        return "tensor<" + "x".join(map(str, shape)) + "xf32>"

    maps = ", ".join(_MAPS[m] for m in (a_map, b_map, out_map))
    module = _parse(
        f"""
        func.func @main(%a: {ty(a_shape)}, %b: {ty(b_shape)}, %c: {ty(c_shape)}) -> {ty(c_shape)} {{
          %0 = linalg.{op} indexing_maps = [{maps}] ins(%a, %b : {ty(a_shape)}, {ty(b_shape)})
                 outs(%c : {ty(c_shape)}) -> {ty(c_shape)}
          return %0 : {ty(c_shape)}
        }}
        """
    )
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in (a_shape, b_shape, c_shape))
    (out,) = Interpreter(module).run("main", [a, b, c])
    np.testing.assert_allclose(out, expect(a, b) + c, rtol=1e-5, atol=1e-6)


def test_erf_accuracy():
    """float32: the rational approximation is within 8 ulp and 5e-7 of the
    exact erf over [-6, 6] and tiny normal inputs; special values are exact."""
    x = np.concatenate([
        np.linspace(-6, 6, 2_000_001, dtype=np.float32),
        np.logspace(-37, 0, 20_000, dtype=np.float32),
        -np.logspace(-37, 0, 20_000, dtype=np.float32),
    ])
    exact = scipy.special.erf(x.astype(np.float64))
    got = erf(x)
    assert got.dtype == np.float32
    err = np.abs(got.astype(np.float64) - exact)
    assert err.max() <= 5e-7
    ulps = err / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 8
    spot = x[::5000]
    np.testing.assert_allclose(erf(spot), [math.erf(float(v)) for v in spot], atol=5e-7, rtol=0)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 10.0, -1e30], np.float32)
    got = erf(special)
    assert np.isnan(got[0]) and list(got[1:3]) == [1.0, -1.0] and list(got[5:]) == [1.0, -1.0]
    assert got[3] == 0 and not np.signbit(got[3]) and np.signbit(got[4])
    # float64 stays SciPy's (within an ulp); non-contiguous and in-place forms agree.
    x64 = np.linspace(-6, 6, 10001)
    np.testing.assert_array_equal(erf(x64), scipy.special.erf(x64))
    big = np.linspace(-3, 3, 3 * 70_000, dtype=np.float32).reshape(3, 70_000)
    want = erf(np.ascontiguousarray(big))
    np.testing.assert_array_equal(erf(big.T), want.T)
    inplace = big.copy()
    erf(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, want)


def _parse(text):
    ctx = ir.Context()
    ctx.allow_unregistered_dialects = True
    with ctx, ir.Location.unknown():
        return ir.Module.parse(text)


def test_unsupported_op_names_op_and_location():
    module = _parse(
        """
        func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {
          %0 = "test.foo"(%a) : (tensor<2xf32>) -> tensor<2xf32> loc("model.py":12:4)
          return %0 : tensor<2xf32>
        }
        """
    )
    with pytest.raises(InterpreterError) as e:
        Interpreter(module).run("main", [np.zeros(2, np.float32)])
    assert "'test.foo'" in str(e.value)
    assert 'loc("model.py":12:4)' in str(e.value)


_SCF_IR = """
func.func @main(%t: tensor<4xf32>, %n: index) -> (tensor<4xf32>, f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %r:2 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %t, %s = %zero) -> (tensor<4xf32>, f32) {
    %x = tensor.extract %acc[%i] : tensor<4xf32>
    %y = arith.mulf %x, %x : f32
    %s2 = arith.addf %s, %y : f32
    %big = arith.cmpf ogt, %y, %x : f32
    %v = scf.if %big -> (f32) {
      scf.yield %y : f32
    } else {
      scf.yield %x : f32
    }
    %acc2 = tensor.insert %v into %acc[%i] : tensor<4xf32>
    scf.yield %acc2, %s2 : tensor<4xf32>, f32
  }
  return %r#0, %r#1 : tensor<4xf32>, f32
}
func.func @oob(%t: tensor<4xf32>) -> f32 {
  %c9 = arith.constant 9 : index loc("bad.py":3:1)
  %x = tensor.extract %t[%c9] : tensor<4xf32> loc("bad.py":3:2)
  return %x : f32
}
"""


def test_scf_loop_and_runtime_error():
    module = _parse(_SCF_IR)
    interp = Interpreter(module)
    t = np.array([0.5, 2.0, -3.0, 4.0], np.float32)
    out, s = interp.run("main", [t, 3])
    np.testing.assert_allclose(out, [0.5, 4.0, 9.0, 4.0])
    assert s.dtype == np.float32 and s == np.float32(0.25 + 4.0 + 9.0)
    with pytest.raises(InterpreterError) as e:
        interp.run("oob", [t])
    assert "tensor.extract" in str(e.value) and 'loc("bad.py":3:2)' in str(e.value)


_MEMREF_IR = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @main(%a: memref<3x4xf32>, %b: memref<4x2xf32>) -> (tensor<3x2xf32>, tensor<3xf32>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<3x2xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<3x2xf32>)
  linalg.matmul ins(%a, %b : memref<3x4xf32>, memref<4x2xf32>) outs(%c : memref<3x2xf32>)
  %rows = memref.alloc() : memref<3xf32>
  linalg.fill ins(%zero : f32) outs(%rows : memref<3xf32>)
  %sub = memref.subview %a[0, 1] [3, 3] [1, 1] : memref<3x4xf32> to memref<3x3xf32, strided<[4, 1], offset: 1>>
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%sub : memref<3x3xf32, strided<[4, 1], offset: 1>>) outs(%rows : memref<3xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %m = arith.maximumf %x, %acc : f32
    linalg.yield %m : f32
  }
  %t = bufferization.to_tensor %c restrict : memref<3x2xf32> to tensor<3x2xf32>
  %r = bufferization.to_tensor %rows restrict : memref<3xf32> to tensor<3xf32>
  return %t, %r : tensor<3x2xf32>, tensor<3xf32>
}
"""


def test_memref_linalg_writes_into_buffers():
    module = _parse(_MEMREF_IR)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    c, rows = Interpreter(module).run("main", [a, b])
    np.testing.assert_allclose(c, a @ b, rtol=1e-6)
    np.testing.assert_array_equal(rows, np.maximum(a[:, 1:].max(axis=1), 0.0))


def test_memref_transpose_is_a_view_that_writes_reach():
    # Rows of a [1, 2, 4, 2, 3] buffer seen as [1, 2, 2, 4, 3]: written
    # through the transposed view, read back through the buffer.
    module = _parse(
        """
        func.func @main(%v: tensor<1x2x2x1x3xf32>) -> tensor<48xf32> {
          %buf = memref.alloc() : memref<48xf32>
          %zero = arith.constant 0.0 : f32
          linalg.fill ins(%zero : f32) outs(%buf : memref<48xf32>)
          %split = memref.expand_shape %buf [[0, 1, 2, 3, 4]] output_shape [1, 2, 4, 2, 3] : memref<48xf32> into memref<1x2x4x2x3xf32>
          %t = memref.transpose %split (d0, d1, d2, d3, d4) -> (d0, d1, d3, d2, d4)
              : memref<1x2x4x2x3xf32> to memref<1x2x2x4x3xf32, strided<[48, 24, 3, 6, 1]>>
          %row = memref.subview %t[0, 0, 0, 2, 0] [1, 2, 2, 1, 3] [1, 1, 1, 1, 1]
              : memref<1x2x2x4x3xf32, strided<[48, 24, 3, 6, 1]>> to memref<1x2x2x1x3xf32, strided<[48, 24, 3, 6, 1], offset: 12>>
          bufferization.materialize_in_destination %v in writable %row
              : (tensor<1x2x2x1x3xf32>, memref<1x2x2x1x3xf32, strided<[48, 24, 3, 6, 1], offset: 12>>) -> ()
          %out = bufferization.to_tensor %buf restrict : memref<48xf32> to tensor<48xf32>
          return %out : tensor<48xf32>
        }
        """
    )
    v = np.arange(1, 13, dtype=np.float32).reshape(1, 2, 2, 1, 3)
    (out,) = Interpreter(module).run("main", [v])
    expect = np.zeros((1, 2, 4, 2, 3), np.float32)
    expect[:, :, 2:3] = v.transpose(0, 1, 3, 2, 4)  # view [p, g, r, c] is buffer [p, r, g, c]
    np.testing.assert_array_equal(out, expect.reshape(-1))


def test_hooks_and_registered_impls():
    module = _parse(
        """
        func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {
          %0 = "test.double"(%a) : (tensor<2xf32>) -> tensor<2xf32>
          %1 = "test.double"(%0) : (tensor<2xf32>) -> tensor<2xf32>
          return %1 : tensor<2xf32>
        }
        """
    )

    class Counter:
        def __init__(self):
            self.names = []

        def on_op(self, op, args, results):
            self.names.append(op.name)

    counter = Counter()
    interp = Interpreter(module, hooks=counter)
    interp.register("test.double", lambda interp, op, args: [args[0] * 2])
    (out,) = interp.run("main", [np.array([1.0, -2.0], np.float32)])
    np.testing.assert_array_equal(out, [4.0, -8.0])
    assert counter.names == ["test.double", "test.double"]
    # Global registration is seen by new interpreters.
    register("test.double", lambda interp, op, args: [args[0] * 3])
    (out,) = Interpreter(module).run("main", [np.array([1.0, -2.0], np.float32)])
    np.testing.assert_array_equal(out, [9.0, -18.0])


def test_hooks_wants_filters_ops_asked_once():
    """`wants(op)` is asked once per op; `on_op` runs only for wanted ops,
    including ops in linalg bodies."""
    module = _parse(
        """
        #id = affine_map<(d0) -> (d0)>
        func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
          %e = tensor.empty() : tensor<4xf32>
          %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
              ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) {
          ^bb0(%x: f32, %o: f32):
            %s = arith.mulf %x, %x : f32
            %t = arith.addf %s, %x : f32
            linalg.yield %t : f32
          } -> tensor<4xf32>
          %1 = arith.negf %0 : tensor<4xf32>
          return %1 : tensor<4xf32>
        }
        """
    )

    class Picky:
        def __init__(self):
            self.asked, self.seen = [], []

        def wants(self, op):
            self.asked.append(op.name)
            return op.name in ("arith.addf", "arith.negf")

        def on_op(self, op, args, results):
            self.seen.append(op.name)

    hooks = Picky()
    interp = Interpreter(module, hooks=hooks)
    x = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    for _ in range(2):
        (out,) = interp.run("main", [x])
        np.testing.assert_array_equal(out, -(x * x + x))
    assert hooks.seen == ["arith.addf", "arith.negf"] * 2
    assert sorted(hooks.asked) == sorted(set(hooks.asked))  # once per op
    assert {"arith.mulf", "arith.addf", "arith.negf", "linalg.generic"} <= set(hooks.asked)


def test_input_validation():
    module = _parse(
        """
        func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {
          return %a : tensor<2xf32>
        }
        """
    )
    interp = Interpreter(module)
    with pytest.raises(InterpreterError, match="dtype float64"):
        interp.run("main", [np.zeros(2)])
    with pytest.raises(InterpreterError, match="no function 'nope'"):
        interp.run("nope", [])



def test_integer_semantics_keep_width():
    module = _parse(
        """
        func.func @main(%a: tensor<4xi32>, %b: tensor<4xi32>, %i: index)
            -> (tensor<4xi1>, tensor<4xi32>, tensor<4xi32>, i1, tensor<4xf32>) {
          %c = arith.cmpi ult, %a, %b : tensor<4xi32>
          %d = arith.divsi %a, %b : tensor<4xi32>
          %r = arith.remsi %a, %b : tensor<4xi32>
          %c5 = arith.constant 5 : index
          %u = arith.cmpi ult, %i, %c5 : index
          %f = arith.sitofp %a : tensor<4xi32> to tensor<4xf32>
          return %c, %d, %r, %u, %f : tensor<4xi1>, tensor<4xi32>, tensor<4xi32>, i1, tensor<4xf32>
        }
        """
    )
    a = np.array([7, -7, 7, -7], np.int32)
    b = np.array([2, 2, -2, -2], np.int32)
    c, d, r, u, f = Interpreter(module).run("main", [a, b, 3])
    np.testing.assert_array_equal(c, [False, False, True, True])  # -2 is huge unsigned
    assert d.dtype == np.int32 and r.dtype == np.int32 and f.dtype == np.float32
    np.testing.assert_array_equal(d, [3, -3, -3, 3])  # truncating division
    np.testing.assert_array_equal(r, [1, -1, 1, -1])
    assert bool(u)
