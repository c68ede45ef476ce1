"""Views the interpreter hands out instead of copies never leak later writes.

Tensors are immutable values: a buffer written after a tensor was read from
it must not change that tensor.  Covers `imc.transfer_in` (it returns a
read-only view of its DRAM window when no later op can write the buffer)
and the cached static `tensor.extract_slice` / `collapse_shape` /
`expand_shape`.
"""

import numpy as np
import pytest
from torch_mlir import ir

from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.interpreter import Interpreter
from imc.sim.runtime import Runner

# x[0:8] goes to a scratchpad buffer, x[8:16] to DRAM (two 4-element tiles
# through a staging buffer), both are loaded back and joined.  `{between}` is
# placed between the DRAM load and the join, `{after}` after the join; both may
# store y's second half into the same DRAM buffer.
_STORED = """
func.func @main(%x: tensor<16xf32>, %y: tensor<16xf32>) -> (tensor<16xf32>, tensor<8xf32>) {{
  %dram = memref.alloc() : memref<8xf32>
  %spad = "imc.spad_alloc"() {{offset = 0 : i64, size = 32 : i64}} : () -> memref<8xf32, 1>
  %xa = tensor.extract_slice %x[0] [8] [1] : tensor<16xf32> to tensor<8xf32>
  bufferization.materialize_in_destination %xa in writable %spad : (tensor<8xf32>, memref<8xf32, 1>) -> ()
  %xb = tensor.extract_slice %x[8] [8] [1] : tensor<16xf32> to tensor<8xf32>
  "imc.transfer_out"(%xb, %dram) {{buffers = 1 : i64, offset = 0 : i64, staging = 64 : i64, tile = 4 : i64}} : (tensor<8xf32>, memref<8xf32>) -> ()
  %t0 = bufferization.to_tensor %spad : memref<8xf32, 1> to tensor<8xf32>
  %l = "imc.transfer_in"(%dram) {{buffers = 1 : i64, offset = 0 : i64, staging = 64 : i64, tile = 4 : i64}} : (memref<8xf32>) -> tensor<8xf32>
{between}
  %cat = "imc.join"(%t0, %l) {{dim = 0 : i64}} : (tensor<8xf32>, tensor<8xf32>) -> tensor<16xf32>
{after}
  "imc.spad_free"(%spad) : (memref<8xf32, 1>) -> ()
  return %cat, {second} : tensor<16xf32>, tensor<8xf32>
}}
"""

# Stores y[8:16] into %dram (as the store above does for x).
_OVERWRITE = """
  %yb{n} = tensor.extract_slice %y[8] [8] [1] : tensor<16xf32> to tensor<8xf32>
  "imc.transfer_out"(%yb{n}, %dram) {{buffers = 1 : i64, offset = 0 : i64, staging = 64 : i64, tile = 4 : i64}} : (tensor<8xf32>, memref<8xf32>) -> ()
"""


def _module(*, between="", after="", second="%xb"):
    return _STORED.format(between=between, after=after, second=second)


def _run(text):
    x = np.arange(16, dtype=np.float32)
    y = -np.arange(16, dtype=np.float32) - 100
    with make_context() as ctx:
        module = ir.Module.parse(text, context=ctx)
        runner = Runner(module, Hardware.resolve("default"))
        outs = [runner(x, y) for _ in range(2)]
        steps = runner.interpreter._get_compiled("main").body.steps
        views = [op for _, op, _, _ in steps if op.name == "imc.transfer_in" and op.static.as_view]
        return x, y, outs, views


def test_load_of_a_buffer_never_written_again_is_a_view():
    """The DRAM buffer is stored only before the load: the loaded tensor (also
    returned, not only joined) may share it."""
    x, _, outs, views = _run(_module(second="%l"))
    assert len(views) == 1
    for cat, l in outs:
        np.testing.assert_array_equal(cat, x)
        np.testing.assert_array_equal(l, x[8:])


@pytest.mark.parametrize("where", ["between", "after"])
def test_a_later_store_keeps_the_copy(where):
    """A DRAM store after the load (before or after the join that reads it,
    the loaded tensor also returned): the load must copy."""
    x, _, outs, views = _run(_module(**{where: _OVERWRITE.format(n=1)}, second="%l"))
    assert not views
    for cat, l in outs:
        np.testing.assert_array_equal(cat, x)  # not y
        np.testing.assert_array_equal(l, x[8:])


def test_a_store_in_a_later_loop_keeps_the_copy():
    """A store nested in a loop after the load counts as the loop."""
    loop = """
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c1 step %c1 {{
{store}
  }}
""".format(store=_OVERWRITE.format(n=1))
    x, _, outs, views = _run(_module(after=loop, second="%l"))
    assert not views
    for _, l in outs:
        np.testing.assert_array_equal(l, x[8:])


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
    from imc.sim.interpreter import InterpreterError

    with make_context() as ctx:
        interp = Interpreter(ir.Module.parse(_DYNAMIC_SLICE, context=ctx))
        for n in (5, 3, 7):
            t = np.arange(n, dtype=np.float32) + n
            np.testing.assert_array_equal(interp.run("main", [t])[0], t[1:3])
        with pytest.raises(InterpreterError, match="slice out of bounds"):
            interp.run("main", [np.zeros(2, dtype=np.float32)])
