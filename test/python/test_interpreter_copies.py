"""Views the interpreter hands out instead of copies never leak later writes.

Tensors are immutable values: a buffer written after a tensor was read from
it must not change that tensor.  Covers the transfer-load fast path (a load
loop joined by `tensor.concat {imc.join}` may return a view of its DRAM
window) and the cached static `tensor.extract_slice` / `collapse_shape` /
`expand_shape`.
"""

import json

import numpy as np
import pytest
from torch_mlir import ir

from imc.context import make_context
from imc.hardware import Hardware
from imc.interpreter import Interpreter
from imc.interpreter.scf import loads_as_views
from imc.runtime import Runner

# x[0:8] goes to a scratchpad buffer, x[8:16] to DRAM (two 4-element tiles
# through a staging buffer), both are loaded back and joined.  `{between}` is
# placed between the DRAM load and the join, `{after}` after the join; both may
# store y's second half into the same DRAM buffer.
_STORED = """
func.func @main(%x: tensor<16xf32>, %y: tensor<16xf32>) -> (tensor<16xf32>, tensor<8xf32>) {{
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %dram = memref.alloc() : memref<8xf32>
  %spad = "imc.spad_alloc"() {{offset = 0 : i64, size = 32 : i64}} : () -> memref<8xf32, 1>
  %stage = "imc.spad_alloc"() {{offset = 64 : i64, size = 16 : i64}} : () -> memref<4xf32, 1>
  %xa = tensor.extract_slice %x[0] [8] [1] : tensor<16xf32> to tensor<8xf32>
  bufferization.materialize_in_destination %xa in writable %spad : (tensor<8xf32>, memref<8xf32, 1>) -> ()
  %xb = tensor.extract_slice %x[8] [8] [1] : tensor<16xf32> to tensor<8xf32>
  scf.for %i = %c0 to %c8 step %c4 {{
    %w = memref.subview %dram[%i] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: ?>>
    %p = tensor.extract_slice %xb[%i] [4] [1] : tensor<8xf32> to tensor<4xf32>
    bufferization.materialize_in_destination %p in writable %stage : (tensor<4xf32>, memref<4xf32, 1>) -> ()
    "imc.dma"(%stage, %w) {{offsets = array<i64: 0>, sizes = array<i64: 4>, strides = array<i64: 1>}} : (memref<4xf32, 1>, memref<4xf32, strided<[1], offset: ?>>) -> ()
  }} {{imc.transfer}}
  %t0 = bufferization.to_tensor %spad : memref<8xf32, 1> to tensor<8xf32>
  %e = tensor.empty() : tensor<8xf32>
  %l = scf.for %i = %c0 to %c8 step %c4 iter_args(%acc = %e) -> (tensor<8xf32>) {{
    %w = memref.subview %dram[%i] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: ?>>
    "imc.dma"(%w, %stage) {{offsets = array<i64: 0>, sizes = array<i64: 4>, strides = array<i64: 1>}} : (memref<4xf32, strided<[1], offset: ?>>, memref<4xf32, 1>) -> ()
    %v = bufferization.to_tensor %stage : memref<4xf32, 1> to tensor<4xf32>
    %s = tensor.insert_slice %v into %acc[%i] [4] [1] : tensor<4xf32> into tensor<8xf32>
    scf.yield %s : tensor<8xf32>
  }} {{imc.transfer}}
{between}
  %cat = tensor.concat dim(0) %t0, %l {{imc.join}} : (tensor<8xf32>, tensor<8xf32>) -> tensor<16xf32>
{after}
  "imc.spad_free"(%stage) : (memref<4xf32, 1>) -> ()
  "imc.spad_free"(%spad) : (memref<8xf32, 1>) -> ()
  return %cat, {second} : tensor<16xf32>, tensor<8xf32>
}}
"""

# Stores y[8:16] into %dram (as the store loop above does for x).
_OVERWRITE = """
  %yb{n} = tensor.extract_slice %y[8] [8] [1] : tensor<16xf32> to tensor<8xf32>
  scf.for %i = %c0 to %c8 step %c4 {{
    %w = memref.subview %dram[%i] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: ?>>
    %p = tensor.extract_slice %yb{n}[%i] [4] [1] : tensor<8xf32> to tensor<4xf32>
    bufferization.materialize_in_destination %p in writable %stage : (tensor<4xf32>, memref<4xf32, 1>) -> ()
    "imc.dma"(%stage, %w) {{offsets = array<i64: 0>, sizes = array<i64: 4>, strides = array<i64: 1>}} : (memref<4xf32, 1>, memref<4xf32, strided<[1], offset: ?>>) -> ()
  }} {{imc.transfer}}
"""


def _module(*, between="", after="", second="%xb"):
    return _STORED.format(between=between, after=after, second=second)


def _run(text, fast=True):
    x = np.arange(16, dtype=np.float32)
    y = -np.arange(16, dtype=np.float32) - 100
    with make_context() as ctx:
        module = ir.Module.parse(text, context=ctx)
        runner = Runner(module, Hardware.resolve("default"))
        runner.interpreter.fast_paths = fast
        outs = [runner(x, y) for _ in range(2)]
        steps = runner.interpreter._get_compiled("main").body.steps
        views = [op for _, op, _, _ in steps if op.name == "scf.for" and getattr(op.static, "view", False)]
        return x, y, outs, views, runner.report.to_json()


def test_joined_load_is_a_view_and_later_stores_do_not_leak():
    x, _, outs, views, _ = _run(_module(after=_OVERWRITE.format(n=1)))
    assert len(views) == 1, "the joined load loop should be allowed to return a view"
    for cat, xb in outs:
        np.testing.assert_array_equal(cat, x)  # not y: the join copied before the store
        np.testing.assert_array_equal(xb, x[8:])


def test_load_of_a_buffer_never_written_again_is_a_view():
    """The DRAM buffer is stored only before the load: the loaded tensor (also
    returned, not only joined) may share it."""
    x, _, outs, views, _ = _run(_module(second="%l"))
    assert len(views) == 1
    for cat, l in outs:
        np.testing.assert_array_equal(cat, x)
        np.testing.assert_array_equal(l, x[8:])


def test_store_between_load_and_join_keeps_the_copy():
    """A DRAM store between the load loop and the join: the load must copy."""
    x, _, outs, views, _ = _run(_module(between=_OVERWRITE.format(n=1)))
    assert not views
    for cat, _ in outs:
        np.testing.assert_array_equal(cat, x)


def test_load_read_by_more_than_the_join_keeps_the_copy():
    """The loaded tensor is also returned; a later store must not change it."""
    x, _, outs, views, _ = _run(_module(after=_OVERWRITE.format(n=1), second="%l"))
    assert not views
    for cat, l in outs:
        np.testing.assert_array_equal(cat, x)
        np.testing.assert_array_equal(l, x[8:])


@pytest.mark.parametrize(
    "kw",
    [
        dict(after=_OVERWRITE.format(n=1)),
        dict(between=_OVERWRITE.format(n=1)),
        dict(second="%l"),
        dict(after=_OVERWRITE.format(n=1), second="%l"),
    ],
)
def test_views_change_no_value_or_counter(kw, monkeypatch):
    """With the view rewriter, without it (loads copy) and on the general
    path: the same outputs; with and without it the same report, byte for
    byte (the general path attributes the loop ops to more layers, with the
    same totals)."""
    from imc.interpreter import core

    text = _module(**kw)
    _, _, viewed, _, viewed_report = _run(text, fast=True)
    _, _, general, _, general_report = _run(text, fast=False)
    monkeypatch.setattr(core, "_BLOCK_REWRITERS", [f for f in core._BLOCK_REWRITERS if f is not loads_as_views])
    _, _, copied, views, copied_report = _run(text, fast=True)
    assert not views
    for a, b, c in zip(viewed, copied, general):
        assert all(u.tobytes() == v.tobytes() == w.tobytes() for u, v, w in zip(a, b, c))
    assert viewed_report == copied_report
    assert json.loads(viewed_report)["totals"] == json.loads(general_report)["totals"]


def test_rewriter_ignores_blocks_without_transfer_loops():
    steps = [(None, type("Op", (), {"name": "tensor.empty"})(), [], [0])]
    assert loads_as_views(None, steps, [0], []) is steps


# Views of a function argument that is a memref: writes after the tensor
# reads must not show through (to_tensor copies are not involved: the
# slices/reshapes are of a tensor built from the buffer by a copy).
_RESHAPES = """
func.func @main(%m: memref<4x6xf32>) -> (tensor<24xf32>, tensor<2x12xf32>, tensor<3xf32>) {
  %t = bufferization.to_tensor %m : memref<4x6xf32> to tensor<4x6xf32>
  %c = tensor.collapse_shape %t [[0, 1]] : tensor<4x6xf32> into tensor<24xf32>
  %e = tensor.expand_shape %c [[0, 1]] output_shape [2, 12] : tensor<24xf32> into tensor<2x12xf32>
  %s = tensor.extract_slice %t[1, 2] [1, 3] [1, 1] : tensor<4x6xf32> to tensor<3xf32>
  %cst = arith.constant 7.0 : f32
  linalg.fill ins(%cst : f32) outs(%m : memref<4x6xf32>)
  return %c, %e, %s : tensor<24xf32>, tensor<2x12xf32>, tensor<3xf32>
}
"""


def test_cached_static_reshapes_and_slices_follow_their_source():
    """Repeated calls with other data give that data (the per-op caches keep
    only shapes and indices, never values)."""
    with make_context() as ctx:
        interp = Interpreter(ir.Module.parse(_RESHAPES.replace(
            "  linalg.fill ins(%cst : f32) outs(%m : memref<4x6xf32>)\n", ""), context=ctx))
        for k in range(3):
            m = (np.arange(24, dtype=np.float32) * (k + 1)).reshape(4, 6)
            c, e, s = interp.run("main", [m])
            np.testing.assert_array_equal(c, m.ravel())
            np.testing.assert_array_equal(e, m.reshape(2, 12))
            np.testing.assert_array_equal(s, m[1, 2:5])


_DYNAMIC_SLICE = """
func.func @main(%t: tensor<?xf32>) -> tensor<2xf32> {
  %s = tensor.extract_slice %t[1] [2] [1] : tensor<?xf32> to tensor<2xf32>
  return %s : tensor<2xf32>
}
"""


def test_cached_static_slice_rechecks_a_new_source_shape():
    from imc.interpreter import InterpreterError

    with make_context() as ctx:
        interp = Interpreter(ir.Module.parse(_DYNAMIC_SLICE, context=ctx))
        for n in (5, 3, 7):
            t = np.arange(n, dtype=np.float32) + n
            np.testing.assert_array_equal(interp.run("main", [t])[0], t[1:3])
        with pytest.raises(InterpreterError, match="slice out of bounds"):
            interp.run("main", [np.zeros(2, dtype=np.float32)])
