"""Fusing a windowed consumer into a row-tiled convolution loop through a line buffer.

`imc-tile-rows{line-buffers=true}` tiles a convolution stage over its output
rows in tiles of `R * s` rows and then moves the op that reads the stage's
output in row windows (a pooling, or a convolution such as a MobileNet
depthwise one; `s` its row stride) into the same loop (`fuse_window`): each
trip applies it to the rows the trip has just computed together with the
last `p` rows of the previous trip (`p` its top padding), which the loop
carries in an iteration argument, the *line buffer* (its first value is `p`
rows of the padding value). Every row of the stage's output is computed
once, and the output is never stored whole.

Trip `i` (producer rows `[i, i + R*s)`, consumer rows `[i/s, i/s + R)`):
consumer row `o` reads padded rows `[o*s, o*s + k)`, i.e. producer rows
`[o*s - p, o*s - p + k)`, so the trip needs producer rows `[i - p, i + (R-1)*s
+ k - p)`: the `p` carried rows and the trip's own, provided `k - p <= s`
(the window never reaches past the trip's rows) and the last consumer row
needs no bottom padding. Columns are padded with the padding value (constant
splats).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg, scf, tensor

from imc.ir_utils import dense_i64s, extract_slice, index_constant, tensor_type

__all__ = ["WindowFusion", "plan_window_fusion", "fuse_window"]

_DYN = ir.ShapedType.get_dynamic_size()


WINDOW_OPS = (
    "linalg.pooling_nchw_max",
    "linalg.pooling_nchw_sum",
    "linalg.conv_2d_nchw_fchw",
    "linalg.depthwise_conv_2d_nchw_chw",
)
"""Consumers `fuse_window` moves into a loop (NCHW, window rows = the
second-to-last dimension of their second operand)."""


@dataclass
class WindowFusion:
    """A windowed consumer (`pad` then `consumer`, or `consumer` alone) after a conv stage."""

    consumer: ir.Operation
    pad: ir.Operation | None
    kernel: int  # window rows
    stride: int  # row stride
    top: int  # padding rows above (the line buffer's height)
    left: int
    right: int
    value: ir.Attribute | None  # the padding value (a float attribute), None without a pad

    def conv_rows(self, rows: int) -> int:
        """Producer rows one trip computes for `rows` consumer rows."""
        return rows * self.stride


def plan_window_fusion(producer_result: ir.Value) -> WindowFusion | None:
    """The fusion of the `WINDOW_OPS` op that reads `producer_result` (the
    conv stage's result, through at most one constant `tensor.pad` of rows
    and columns) as its input, or None when there is none or it cannot be
    fused without recomputation (window taller than stride plus padding,
    bottom padding read, dilation, padding of N or C, a sum or convolution
    padded with a non-zero value)."""
    user = _single_user(producer_result)
    pad = None
    if user is not None and user.name == "tensor.pad":
        pad, user = user, _single_user(user.results[0])
    if user is None or user.name not in WINDOW_OPS or len(user.operands) != 3:
        return None
    if user.operands[0] != (pad.results[0] if pad is not None else producer_result):
        return None
    if dense_i64s(user, "dilations", 1, 2) != [1, 1]:
        return None
    kernel = list(ir.RankedTensorType(user.operands[1].type).shape)[-2]
    stride = dense_i64s(user, "strides", 1, 2)[0]
    top = left = right = bottom = 0
    value = None
    if pad is not None:
        low, high = (list(ir.DenseI64ArrayAttr(pad.attributes[k])) for k in ("static_low", "static_high"))
        if _DYN in low + high or low[:2] != [0, 0] or high[:2] != [0, 0]:
            return None
        top, left, bottom, right = low[2], low[3], high[2], high[3]
        value = _pad_value(pad)
        if value is None:
            return None
    height = ir.RankedTensorType(producer_result.type).shape[2]
    out_rows = ir.RankedTensorType(user.results[0].type).shape[2]
    if kernel - top > stride or (out_rows - 1) * stride - top + kernel > height:
        return None  # the window reaches past the trip's rows, or into the bottom padding
    if top > stride or height != out_rows * stride:
        return None  # trips of R * stride conv rows cover the conv rows exactly
    if user.name != "linalg.pooling_nchw_max" and value is not None and ir.FloatAttr(value).value != 0.0:
        return None
    return WindowFusion(user, pad, kernel, stride, top, left, right, value)


def fuse_window(loop, fusion: WindowFusion) -> ir.Operation:
    """Rewrites `loop` (an `scf.for` over producer rows whose only result is
    assembled by `tensor.insert_slice %tile into %acc[0, 0, %iv, 0]`, read
    only by the consumer) into a loop that yields the consumer's result and
    carries the line buffer; the consumer, its pad and `loop` are left dead
    (for canonicalize). Returns the new loop."""
    body = loop.regions[0].blocks[0]
    old_yield = list(body.operations)[-1]
    insert = old_yield.operands[0].owner.operation
    tile = insert.operands[0]
    n, c, rows, width = ir.RankedTensorType(tile.type).shape
    consumer = fusion.consumer
    out_t = ir.RankedTensorType(consumer.results[0].type)
    et = out_t.element_type
    out_rows = rows // fusion.stride
    loc = loop.location
    _hoist_before(loop, [consumer.operands[1], consumer.operands[2]])
    with ir.InsertionPoint(loop), loc:
        iter_args = [consumer.operands[2]]  # the consumer's full-size init
        if fusion.top:
            iter_args.append(_splat([n, c, fusion.top, width], et, fusion.value))
        new = scf.ForOp(loop.operands[0], loop.operands[1], loop.operands[2], iter_args)
    new_body = new.body
    with ir.InsertionPoint(new_body), loc:
        new_yield = scf.YieldOp(list(new.inner_iter_args))
    acc = body.arguments[1]
    for op in list(body.operations):
        if op == old_yield or op == insert:
            continue
        op.move_before(new_yield)
    # The old loop keeps its yield of the (now dead) insert's destination.
    old_yield.operands[0] = acc
    body.arguments[0].replace_all_uses_with(new.induction_variable)
    _drop_accumulator(acc)
    with ir.InsertionPoint(new_yield), consumer.location:
        window = tile
        need = (out_rows - 1) * fusion.stride + fusion.kernel - fusion.top
        if need < rows:
            window = extract_slice(tile, [0, 0, 0, 0], [n, c, need, width])
        if fusion.top:
            carry = new.inner_iter_args[1]
            window = tensor.concat(tensor_type([n, c, fusion.top + need, width], et), 2, [carry, window])
        if fusion.left or fusion.right:
            h = ir.RankedTensorType(window.type).shape[2]
            parts = [window]
            if fusion.left:
                parts.insert(0, _splat([n, c, h, fusion.left], et, fusion.value))
            if fusion.right:
                parts.append(_splat([n, c, h, fusion.right], et, fusion.value))
            window = tensor.concat(tensor_type([n, c, h, width + fusion.left + fusion.right], et), 3, parts)
        row = arith.DivUIOp(new.induction_variable, index_constant(fusion.stride)).result
        out_shape = [n, out_t.shape[1], out_rows, out_t.shape[3]]
        init = tensor.ExtractSliceOp(
            tensor_type(out_shape, et), consumer.operands[2], [row], [], [], [0, 0, _DYN, 0], out_shape, [1, 1, 1, 1]
        ).result
        build = getattr(linalg, consumer.name.split(".", 1)[1])
        result = build(
            window,
            consumer.operands[1],
            outs=[init],
            strides=dense_i64s(consumer, "strides", 1, 2),
            dilations=[1, 1],
        )
        acc_out = new.inner_iter_args[0]
        stored = tensor.InsertSliceOp(
            result, acc_out, [row], [], [], [0, 0, _DYN, 0], out_shape, [1, 1, 1, 1]
        ).result
        yields = [stored]
        if fusion.top:
            yields.append(extract_slice(tile, [0, 0, rows - fusion.top, 0], [n, c, fusion.top, width]))
    for i, v in enumerate(yields):
        new_yield.operands[i] = v
    consumer.results[0].replace_all_uses_with(new.results[0])
    # The old loop, pad and pooling are dead now: the caller's canonicalize
    # erases them (erasing them here would leave the handles it holds dangling).
    return new.operation


def _hoist_before(loop, values) -> None:
    """Moves the ops defining `values` (and, first, their operands' ops) that
    sit after `loop` in its block to just before it."""
    order = {op: i for i, op in enumerate(loop.operation.block.operations)}
    at = order[loop]

    def hoist(value):
        owner = value.owner
        if isinstance(owner, ir.Block):
            return
        op = owner.operation
        if order.get(op, -1) <= at:
            return
        for operand in op.operands:
            hoist(operand)
        op.move_before(loop)
        order[op] = at - 0.5

    for v in values:
        hoist(v)


def _drop_accumulator(acc: ir.Value) -> None:
    """Replaces the conv accumulator's slices (destinations of the tile's
    ops) by empty tensors: the loop no longer assembles the conv output."""
    for use in list(acc.uses):
        op = use.owner.operation
        if op.name == "tensor.extract_slice" and ir.RankedTensorType(op.results[0].type).has_static_shape:
            t = ir.RankedTensorType(op.results[0].type)
            with ir.InsertionPoint(op), op.location:
                empty = tensor.EmptyOp(list(t.shape), t.element_type).result
            op.results[0].replace_all_uses_with(empty)
            op.erase()


def _splat(shape, et, value) -> ir.Value:
    attr = ir.DenseElementsAttr.get_splat(tensor_type(shape, et), value)
    return arith.ConstantOp(tensor_type(shape, et), attr).result


def _pad_value(pad) -> ir.Attribute | None:
    """The constant a `tensor.pad` yields, or None."""
    block = pad.regions[0].blocks[0]
    yielded = list(block.operations)[-1].operands[0]
    owner = yielded.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "arith.constant":
        return None
    return owner.operation.attributes["value"]


def _single_user(value):
    uses = list(value.uses)
    return uses[0].owner.operation if len(uses) == 1 else None
