"""A row loop's padded windows of a tensor defined before it.

Tiling a convolution with padding over row tiles (`imc-tile-rows`) reads
each trip's rows of its input `x` as an `scf.if`: zero rows when the
trip's window lies wholly in the padding, else the rows of `x` in it
(`tensor.extract_slice`) padded with zero rows and columns (`tensor.pad`).
`row_window` finds such a window and its rows, `[s i + a0, s i + a0 +
rows)` at the loop's induction variable `i`, by evaluating its index
arithmetic trip by trip (`imc.ir.trip_values`); `padded_rows` builds one
(used by `imc.transforms.loop_chain`, which feeds such windows from line
buffers and reads a chained loop's input once per tick).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, scf, tensor

from imc.ir.trip_values import evaluate, slice_rows
from imc.ir.utils import defining_op, index_constant, is_inside, loop_bounds, tensor_type
from imc.transforms.line_buffer import splat, yielded_constant

__all__ = ["RowWindow", "row_window", "padded_rows"]

_DYN = ir.ShapedType.get_dynamic_size()


@dataclass
class RowWindow:
    """A loop's padded window of a tensor `x` defined before it: an `scf.if`
    of zero rows or `x`'s rows `[s i + a0, s i + a0 + rows)` (`i` the loop's
    induction variable) padded with zero rows outside `x` and `left` /
    `right` zero columns (`row_window`, checked trip by trip)."""

    op: ir.Operation
    x: ir.Value
    scale: int
    a0: int
    rows: int
    left: int
    right: int


def row_window(op, loop) -> RowWindow | None:
    """`op` as a `RowWindow` of `loop` (an `scf.if` of zeros or a padded row
    slice of a tensor defined before `loop`, `_zero_or_padded`), its rows
    checked trip by trip, else None."""
    if len(op.results) != 1:
        return None
    found = _zero_or_padded(op, loop)
    if found is None:
        return None
    pad, read = found
    iv = loop.regions[0].blocks[0].arguments[0]
    lower, upper, step = loop_bounds(loop)
    if None in (lower, upper, step) or step <= 0:
        return None
    rows = ir.RankedTensorType(op.results[0].type).shape[2]
    x = read.operands[0]
    height = ir.RankedTensorType(x.type).shape[2]
    starts = []
    for i in range(lower, upper, step):
        values = {iv: i}
        low, read_rows, empty = evaluate(pad.operands[1], values), slice_rows(read, values), evaluate(op.operands[0], values)
        if None in (low, read_rows, empty):
            return None
        first = read_rows[0] - low
        if bool(empty) != (read_rows[1] <= read_rows[0]) or read_rows != (min(max(first, 0), height), min(max(first + rows, 0), height)):
            return None
        starts.append(first)
    if len(starts) < 2 or (starts[1] - starts[0]) % step:
        return None
    scale = (starts[1] - starts[0]) // step
    if any(a != scale * i + starts[0] - scale * lower for a, i in zip(starts, range(lower, upper, step))):
        return None
    low, high = (list(ir.DenseI64ArrayAttr(pad.attributes[k])) for k in ("static_low", "static_high"))
    return RowWindow(op, x, scale, starts[0] - scale * lower, rows, low[3], high[3])


def _zero_or_padded(op, loop):
    """(the pad, the read) when the `scf.if` `op` yields zeros (a
    `tensor.generate` of 0.0) or a `tensor.pad` with zeros, of whole rows, of
    a row slice of a tensor defined before `loop`, else None."""
    then_v, else_v = (r.blocks[0].operations[-1].operands[0] for r in op.regions)
    generate, pad = defining_op(then_v), defining_op(else_v)
    if generate is None or pad is None or generate.name != "tensor.generate" or pad.name != "tensor.pad":
        return None
    if any(_float(yielded_constant(o)) != 0.0 for o in (generate, pad)):
        return None
    read = defining_op(pad.operands[0])
    if read is None or read.name != "tensor.extract_slice":
        return None
    x = read.operands[0]
    owner = defining_op(x)
    if owner is not None and (owner == loop or is_inside(owner, loop)):
        return None
    offsets, sizes, strides = (list(ir.DenseI64ArrayAttr(read.attributes[k])) for k in ("static_offsets", "static_sizes", "static_strides"))
    x_shape = list(ir.RankedTensorType(x.type).shape)
    if len(x_shape) != 4 or offsets != [0, 0, _DYN, 0] or strides != [1, 1, 1, 1] or [sizes[0], sizes[1], sizes[3]] != [x_shape[0], x_shape[1], x_shape[3]]:
        return None
    low, high = (list(ir.DenseI64ArrayAttr(pad.attributes[k])) for k in ("static_low", "static_high"))
    if low[:2] != [0, 0] or high[:2] != [0, 0] or low[2] != _DYN or _DYN in (low[3], high[3]):
        return None
    return pad, read


def _float(attr) -> float | None:
    """`attr`'s value when it is a float attribute, else None."""
    if attr is None:
        return None
    try:
        return ir.FloatAttr(attr).value
    except ValueError:
        return None


def padded_rows(w: RowWindow, a, count: int) -> ir.Value:
    """Rows `[a, a + count)` of `w.x` (`a` an index value), zero rows
    outside it, `w.left` / `w.right` zero columns: an `scf.if` of zeros or
    the rows read and padded, as tiling builds a window."""
    x_t = ir.RankedTensorType(w.x.type)
    n, c, height, width = x_t.shape
    et = x_t.element_type
    c0, c_h = index_constant(0), index_constant(height)
    lo = arith.MinSIOp(arith.MaxSIOp(a, c0).result, c_h).result
    hi = arith.MinSIOp(arith.MaxSIOp(arith.AddIOp(a, index_constant(count)).result, c0).result, c_h).result
    present = arith.SubIOp(hi, lo).result
    above = arith.SubIOp(lo, a).result
    below = arith.SubIOp(arith.SubIOp(index_constant(count), above).result, present).result
    out_t = tensor_type([n, c, count, width + w.left + w.right], et)
    branch = scf.IfOp(arith.CmpIOp(arith.CmpIPredicate.eq, present, c0).result, [out_t], has_else=True)
    with ir.InsertionPoint(branch.then_block):
        scf.YieldOp([splat(list(out_t.shape), et, ir.FloatAttr.get(et, 0.0))])
    with ir.InsertionPoint(branch.else_block):
        read = tensor.ExtractSliceOp(tensor_type([n, c, _DYN, width], et), w.x, [lo], [present], [], [0, 0, _DYN, 0], [n, c, _DYN, width], [1, 1, 1, 1]).result
        pad = tensor.PadOp(out_t, read, [above], [below], [0, 0, _DYN, w.left], [0, 0, _DYN, w.right])
        block = pad.regions[0].blocks.append(*[ir.IndexType.get()] * 4)
        with ir.InsertionPoint(block):
            tensor.YieldOp(arith.ConstantOp(et, ir.FloatAttr.get(et, 0.0)).result)
        scf.YieldOp([pad.result])
    return branch.results[0]
