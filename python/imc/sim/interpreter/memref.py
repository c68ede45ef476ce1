"""``memref`` dialect: buffers are writable NumPy arrays; views share memory.

``memref.subview``, ``expand_shape``/``collapse_shape``, ``transpose`` and ``cast`` return
NumPy views of the source buffer (an InterpreterError is raised when a
reshape would need a copy), so writes through a view reach the buffer.
"""

from __future__ import annotations

import numpy as np

from torch_mlir import ir

from .core import DYNAMIC, check_index, element_dtype, impl
from .tensor import _index, _reduced_shape, _slice_static, _slices, mixed_values, static_shape
from .transfer_loops import register_block_move


def _alloc(interp, op, args):
    if op.static is None:  # (shape, dtype) of a static buffer, decoded once; False if dynamic
        t = op.result_types[0]
        op.static = False if DYNAMIC in t.shape else (tuple(t.shape), element_dtype(t))
    if op.static:
        return (np.empty(op.static[0], dtype=op.static[1]),)
    t = op.result_types[0]
    n_dyn = sum(1 for s in t.shape if s == DYNAMIC)
    return (np.empty(static_shape(t, args[:n_dyn]), dtype=element_dtype(t)),)


impl("memref.alloc")(_alloc)
impl("memref.alloca")(_alloc)


@impl("memref.dealloc")
def dealloc(interp, op, args):
    return ()


@impl("memref.subview")
def subview(interp, op, args):
    src = args[0]
    o, s, st = _slices(op, args[1:])
    r = src[_index(o, s, st, src.shape, op)]
    rshape = _slice_static(op)[5]
    if len(rshape) != r.ndim:
        r = _view_reshape(op, r, _reduced_shape(s, rshape))
    return (r,)


def _view_reshape(op, x, shape):
    v = x.view()
    try:
        v.shape = tuple(shape)
    except AttributeError:
        raise op.error(f"reshaping a view of shape {x.shape} to {tuple(shape)} would need a copy") from None
    return v


@impl("memref.transpose")
def transpose(interp, op, args):
    if op.static is None:  # the permutation, decoded once: result dim i is source dim perm[i]
        m = ir.AffineMapAttr(op.ir.attributes["permutation"]).value
        op.static = tuple(ir.AffineDimExpr(e).position for e in m.results)
    return (args[0].transpose(op.static),)


@impl("memref.copy")
def copy(interp, op, args):
    src, dst = args
    if np.shape(src) != np.shape(dst):
        raise op.error(f"copy between shapes {np.shape(src)} and {np.shape(dst)}")
    dst[...] = src
    return ()


def _copy_rows(interp, op, src, dst, trips):
    """`memref.copy` of `trips` views at once (`transfer_loops`)."""
    if src.shape != dst.shape:
        raise op.error(f"copy between shapes {src.shape[1:]} and {dst.shape[1:]}")
    dst[...] = src


register_block_move("memref.copy", _copy_rows)


@impl("memref.load")
def load(interp, op, args):
    m = args[0]
    idx = tuple(int(i) for i in args[1:])
    check_index(op, idx, m.shape)
    return (m[idx],)


@impl("memref.store")
def store(interp, op, args):
    v, m = args[0], args[1]
    idx = tuple(int(i) for i in args[2:])
    check_index(op, idx, m.shape)
    m[idx] = v
    return ()


@impl("memref.cast")
def cast(interp, op, args):
    return (args[0],)


@impl("memref.dim")
def dim(interp, op, args):
    return (int(np.shape(args[0])[int(args[1])]),)


@impl("memref.expand_shape")
def expand_shape(interp, op, args):
    src = args[0]
    shape = op.result_types[0].shape
    if DYNAMIC in shape:
        static = list(ir.DenseI64ArrayAttr(op.ir.attributes["static_output_shape"]))
        shape = mixed_values(static, iter(args[1:]))
    return (_view_reshape(op, src, shape),)


@impl("memref.collapse_shape")
def collapse_shape(interp, op, args):
    src = args[0]
    grps = [[int(ir.IntegerAttr(i).value) for i in g] for g in op.ir.attributes["reassociation"]]
    shape = [int(np.prod([src.shape[i] for i in g], dtype=np.int64)) for g in grps]
    return (_view_reshape(op, src, shape),)


@impl("memref.get_global")
def get_global(interp, op, args):
    st = op.static
    if st is None:
        name = ir.FlatSymbolRefAttr(op.ir.attributes["name"]).value
        st = op.static = _global_value(interp, op, name)
    return (st,)


def _global_value(interp, op, name):
    body = interp._module_op.regions[0].blocks[0]
    for g in body.operations:
        if g.operation.name == "memref.global" and ir.StringAttr(g.attributes["sym_name"]).value == name:
            t = ir.TypeAttr(g.attributes["type"]).value
            if "initial_value" not in g.attributes:
                return np.zeros(tuple(t.shape), dtype=element_dtype(t))
            init = g.attributes["initial_value"]
            if isinstance(init, ir.DenseElementsAttr):
                arr = np.array(np.asarray(init), dtype=element_dtype(t))
                return np.array(np.broadcast_to(arr, tuple(t.shape)))
            if str(init).startswith("dense_resource"):
                return np.array(interp.resource_array(init, t))
            return np.zeros(tuple(t.shape), dtype=element_dtype(t))  # uninitialized
    raise op.error(f"no memref.global named '{name}'")
