"""``bufferization`` dialect: conversions between tensors and buffers.

Buffers handed out by ``to_buffer``/``to_memref`` are fresh writable copies
(tensor values may be read-only views that are shared), except for a
``read_only`` ``to_buffer``, which is the tensor's own array; ``to_tensor`` returns
the buffer itself (its ``restrict`` contract says nobody writes it afterwards).
"""

from __future__ import annotations

import numpy as np

from .core import element_dtype, impl
from .tensor import static_shape


@impl("bufferization.to_tensor")
def to_tensor(interp, op, args):
    return (args[0],)


def _to_buffer(interp, op, args):
    if op.static is None:
        op.static = "read_only" in op.ir.attributes
    if op.static:  # the program promises not to write it: a view
        return (args[0],)
    return (np.array(args[0], copy=True),)


impl("bufferization.to_buffer")(_to_buffer)
impl("bufferization.to_memref")(_to_buffer)
impl("bufferization.clone")(_to_buffer)


@impl("bufferization.alloc_tensor")
def alloc_tensor(interp, op, args):
    t = op.result_types[0]
    seg = op.static
    if seg is None:
        from torch_mlir import ir

        seg = op.static = list(ir.DenseI32ArrayAttr(op.ir.attributes["operandSegmentSizes"]))
    if seg[1]:
        return (np.array(args[seg[0]], copy=True),)
    return (np.empty(static_shape(t, args[: seg[0]]), dtype=element_dtype(t)),)


@impl("bufferization.materialize_in_destination")
def materialize_in_destination(interp, op, args):
    src, dest = args
    if op.result_types:
        return (np.array(src, dtype=dest.dtype, copy=True),)
    dest[...] = src
    return ()


@impl("bufferization.dealloc_tensor")
def dealloc_tensor(interp, op, args):
    return ()
