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

A stride-1 consumer with "same" padding (`k - 1 = 2p`, e.g. a 3x3 conv or
pooling with padding 1) reads `k - p - 1 = p` rows past the trip's: it runs
`p` rows behind (`WindowFusion.lag`). The line buffer holds the last `k - 1`
producer rows; the trip at producer row `i` computes consumer rows `[i - p,
i - p + R)` and inserts the ones at or below row 0 (the first trip's first
`p` rows are above the output and trimmed off: `p` rows of extra work for
the consumer, none for the producer), and the last trip also computes the
last `p` rows from the line buffer and `p` rows of bottom padding (an
`scf.if` on the last trip). That copy of the consumer programs the same
weight tiles as the main one: `imc-place-crossbars` puts them on the same
crossbars, so they are programmed once.

When the consumer's result feeds, through elementwise ops, a 1x1 stride-1
convolution (MobileNetV2's projection after its depthwise conv),
`fuse_row_local` moves those ops and the convolution into the loop too:
row `r` of each needs row `r` of the one before only, so every tile the loop
inserts into its accumulator (the last trip's lagging rows too) goes through
them first, and the loop yields the convolution's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg, scf, tensor

from imc.ir.utils import (
    constant_init,
    dense_i64s,
    extract_slice,
    index_constant,
    indexing_maps,
    insert_root,
    is_identity_map,
    rebuild_init,
    single_user,
    tensor_type,
)
from imc.transforms.placement import is_elementwise

__all__ = ["WindowFusion", "plan_window_fusion", "fuse_window", "row_local_chain", "fuse_row_local", "row_local_elementwise", "accumulator_inserts", "pad_columns", "hoist_before", "splat", "trimmed_tile"]

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
    lag: int = 0  # consumer rows behind the producer's (stride 1, "same" padding: its bottom padding)

    @property
    def carried(self) -> int:
        """Rows the line buffer holds: the top padding's, or `kernel - 1` when lagging."""
        return self.kernel - 1 if self.lag else self.top

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
    user = single_user(producer_result)
    pad = None
    if user is not None and user.name == "tensor.pad":
        pad, user = user, single_user(user.results[0])
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
        value = yielded_constant(pad)
        if value is None:
            return None
    height = ir.RankedTensorType(producer_result.type).shape[2]
    out_rows = ir.RankedTensorType(user.results[0].type).shape[2]
    if user.name != "linalg.pooling_nchw_max" and value is not None and ir.FloatAttr(value).value != 0.0:
        return None
    fits = kernel - top <= stride and (out_rows - 1) * stride - top + kernel <= height
    if fits and top <= stride and height == out_rows * stride:
        return WindowFusion(user, pad, kernel, stride, top, left, right, value)
    if stride == 1 and top >= 1 and kernel - 1 == 2 * top and bottom == top and out_rows == height:
        # "same" padding at stride 1: the consumer runs `top` rows behind.
        return WindowFusion(user, pad, kernel, stride, top, left, right, value, lag=top)
    return None


def fuse_window(loop, fusion: WindowFusion) -> ir.Operation:
    """Rewrites `loop` (an `scf.for` over producer rows whose only result is
    assembled by `tensor.insert_slice %tile into %acc[0, 0, %iv, 0]`, read
    only by the consumer) into a loop that yields the consumer's result and
    carries the line buffer; the consumer, its pad and `loop` are left dead
    (for canonicalize). Returns the new loop.

    With `fusion.lag` (stride 1, "same" padding) the trip at producer row `i`
    computes consumer rows `[i - lag, i - lag + R)` from the `kernel - 1`
    carried rows and its own `R` and inserts those at or below row 0 (the
    first trip's first `lag` rows, above the output, are dropped: a tile
    trimmed to `R - max(lag - i, 0)` rows, `trimmed_tile`); the last trip also
    computes the last `lag` rows from the carried rows and the bottom
    padding."""
    body = loop.regions[0].blocks[0]
    old_yield = body.operations[-1]
    insert = old_yield.operands[0].owner.operation
    tile = insert.operands[0]
    n, c, rows, width = ir.RankedTensorType(tile.type).shape
    consumer = fusion.consumer
    out_t = ir.RankedTensorType(consumer.results[0].type)
    et = out_t.element_type
    out_rows, lag, carried = rows // fusion.stride, fusion.lag, fusion.carried
    loc = loop.location
    init = consumer.operands[2]
    # An init computed from constants (zeros, a broadcast bias) is built per
    # tile; any other is computed whole before the loop and sliced.
    rebuilt = constant_init(init)
    hoist_before(loop, [consumer.operands[1], *(rebuilt.operands[:1] if rebuilt is not None else [init])])
    with ir.InsertionPoint(loop), loc:
        # (every row of the accumulator is inserted by a trip)
        iter_args = [init if rebuilt is None else tensor.EmptyOp(list(out_t.shape), et).result]
        if lag and rebuilt is None:  # the tiles' inits: `lag` rows above the output's (any values: those rows are dropped)
            shape = list(out_t.shape)
            top_rows = extract_slice(init, [0, 0, 0, 0], [shape[0], shape[1], lag, shape[3]])
            init = tensor.concat(tensor_type([shape[0], shape[1], shape[2] + lag, shape[3]], et), 2, [top_rows, init])
        if carried:
            iter_args.append(splat([n, c, carried, width], et, fusion.value))
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
    insert.erase()  # (it still reads the moved tile)
    body.arguments[0].replace_all_uses_with(new.induction_variable)
    _drop_accumulator(acc)
    iv = new.induction_variable
    with ir.InsertionPoint(new_yield), consumer.location:
        window = tile
        need = rows if lag else (out_rows - 1) * fusion.stride + fusion.kernel - fusion.top
        if need < rows:
            window = extract_slice(tile, [0, 0, 0, 0], [n, c, need, width])
        if carried:
            window = tensor.concat(tensor_type([n, c, carried + need, width], et), 2, [new.inner_iter_args[1], window])
        row = arith.DivUIOp(iv, index_constant(fusion.stride)).result if fusion.stride > 1 else iv
        acc = new.inner_iter_args[0]
        consumed = _consume(fusion, window, row, out_rows, rebuilt or init)
        stored = _insert_lagging(consumed, acc, iv, lag) if lag else _insert(consumed, acc, row)
        yields = [stored]
        if carried and lag:
            yields.append(extract_slice(window, [0, 0, need, 0], [n, c, carried, width]))
        elif carried:
            yields.append(extract_slice(tile, [0, 0, rows - carried, 0], [n, c, carried, width]))
        if lag:  # the last trip also computes the last `lag` rows, from the bottom padding
            last = arith.SubIOp(loop.operands[1], loop.operands[2]).result
            is_last = arith.CmpIOp(arith.CmpIPredicate.eq, iv, last).result
            branch = scf.IfOp(is_last, [stored.type], has_else=True)
            with ir.InsertionPoint(branch.then_block):
                bottom = splat([n, c, fusion.top, width], et, fusion.value)
                tail = tensor.concat(tensor_type([n, c, carried + fusion.top, width], et), 2, [yields[1], bottom])
                last_rows = _consume(fusion, tail, index_constant(out_t.shape[2]), lag, rebuilt or init)
                scf.YieldOp([_insert(last_rows, stored, index_constant(out_t.shape[2] - lag))])
            with ir.InsertionPoint(branch.else_block):
                scf.YieldOp([stored])
            yields[0] = branch.results[0]
    for i, v in enumerate(yields):
        new_yield.operands[i] = v
    consumer.results[0].replace_all_uses_with(new.results[0])
    # The old loop, pad and consumer are dead now: the caller's canonicalize
    # erases them (erasing them here would leave the handles it holds dangling).
    return new.operation


def _consume(fusion: WindowFusion, window, row, count: int, init) -> ir.Value:
    """The consumer applied to `window` (rows; padded here with the padding
    value's columns): `count` rows, their init rows `[row, row + count)` of
    `init`, or `init` (a `constant_init` op) built for them."""
    consumer = fusion.consumer
    n, c, _, _ = ir.RankedTensorType(window.type).shape
    et = ir.RankedTensorType(window.type).element_type
    window = pad_columns(window, fusion.left, fusion.right, fusion.value)
    out_t = ir.RankedTensorType(consumer.results[0].type)
    shape = [n, out_t.shape[1], count, out_t.shape[3]]
    strides = [1, 1, 1, 1]
    if isinstance(init, ir.Value):
        tile_init = tensor.ExtractSliceOp(tensor_type(shape, et), init, [row], [], [], [0, 0, _DYN, 0], shape, strides).result
    else:
        tile_init = rebuild_init(init, shape)
    build = getattr(linalg, consumer.name.split(".", 1)[1])
    return build(window, consumer.operands[1], outs=[tile_init], strides=dense_i64s(consumer, "strides", 1, 2), dilations=[1, 1])


def _insert(tile, acc, row) -> ir.Value:
    """`acc` with rows `[row, row + n)` set to `tile` (n rows)."""
    shape = ir.RankedTensorType(tile.type).shape
    return tensor.InsertSliceOp(tile, acc, [row], [], [], [0, 0, _DYN, 0], shape, [1, 1, 1, 1]).result


def _insert_lagging(tile, acc, iv, lag: int) -> ir.Value:
    """`acc` with `tile`'s rows, output rows `[iv - lag, iv - lag + R)`, set
    where they are at or below row 0: its first `max(lag - iv, 0)` rows
    (the first trip's, above the output) are trimmed off (`trimmed_tile`)."""
    n, c, rows, w = ir.RankedTensorType(tile.type).shape
    et = ir.RankedTensorType(tile.type).element_type
    c0, c_lag = index_constant(0), index_constant(lag)
    skip = arith.MaxSIOp(arith.SubIOp(c_lag, iv).result, c0).result
    count = arith.SubIOp(index_constant(rows), skip).result
    at = arith.MaxSIOp(arith.SubIOp(iv, c_lag).result, c0).result
    kept_t = tensor_type([n, c, _DYN, w], et)
    kept = tensor.ExtractSliceOp(kept_t, tile, [skip], [count], [], [0, 0, _DYN, 0], [n, c, _DYN, w], [1, 1, 1, 1]).result
    return tensor.InsertSliceOp(kept, acc, [at], [count], [], [0, 0, _DYN, 0], [n, c, _DYN, w], [1, 1, 1, 1]).result


def accumulator_inserts(loop, index: int = 0) -> list:
    """The `tensor.insert_slice`s (any depth: the last trip's `scf.if` too)
    that insert row tiles into `loop`'s iteration argument `index` (its first)."""
    acc = loop.regions[0].blocks[0].arguments[index + 1]
    inserts = []

    def visit(op):
        if op.name == "tensor.insert_slice" and insert_root(op.operands[1]) == acc:
            inserts.append(op)
        return ir.WalkResult.ADVANCE

    loop.walk(visit)
    return inserts


def trimmed_tile(insert) -> tuple[ir.Operation, int]:
    """(op, operand number) where the tile an `insert_slice` of a fused loop
    inserts enters: the trim of `_insert_lagging` when there is one (the
    whole tile is what row-local ops after the consumer apply to), else the
    insert's source."""
    source = insert.operands[0]
    owner = source.owner
    if not isinstance(owner, ir.Block) and owner.operation.name == "tensor.extract_slice":
        trim = owner.operation
        if not ir.RankedTensorType(source.type).has_static_shape and ir.RankedTensorType(trim.operands[0].type).has_static_shape:
            return trim, 0
    return insert, 0


def hoist_before(loop, values) -> None:
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


def pad_columns(rows, left: int, right: int, value) -> ir.Value:
    """`rows` (N x C x H x W) with `left` and `right` columns of the padding
    `value` (a float attribute) at its sides."""
    if not left and not right:
        return rows
    t = ir.RankedTensorType(rows.type)
    n, c, h, w = t.shape
    parts = [rows]
    if left:
        parts.insert(0, splat([n, c, h, left], t.element_type, value))
    if right:
        parts.append(splat([n, c, h, right], t.element_type, value))
    return tensor.concat(tensor_type([n, c, h, w + left + right], t.element_type), 3, parts)


def splat(shape, et, value) -> ir.Value:
    attr = ir.DenseElementsAttr.get_splat(tensor_type(shape, et), value)
    return arith.ConstantOp(tensor_type(shape, et), attr).result


def yielded_constant(op) -> ir.Attribute | None:
    """The constant the region of `op` (a `tensor.pad` or `tensor.generate`) yields, or None."""
    block = op.regions[0].blocks[0]
    yielded = block.operations[-1].operands[0]
    owner = yielded.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "arith.constant":
        return None
    return owner.operation.attributes["value"]


# -- row-local consumers after a fused loop -------------------------------------------


def row_local_chain(value) -> list:
    """The ops after `value` (a fused loop's result rows, N x C x H x W) that
    each compute a row of their result from the same row of the previous one,
    up to and including the first 1x1 stride-1 convolution: elementwise ops
    (identity maps on the chain's value and the result; other operands
    without the row dimension, e.g. per-channel batch-norm vectors) and the
    convolution (weights and an init computed from constants, `constant_init`:
    zeros or a broadcast bias, as other operands).
    Each op is the single user of the one before. Empty when the chain does
    not end in such a convolution (then nothing is gained by moving it)."""
    chain, current = [], value
    while (op := single_user(current)) is not None:
        if op.name == "linalg.conv_2d_nchw_fchw":
            if op.operands[0] != current or not _pointwise_conv(op):
                return []
            chain.append(op)
            return chain
        if not row_local_elementwise(op, current):
            return []
        chain.append(op)
        current = op.results[0]
    return []


def _pointwise_conv(op) -> bool:
    kernel = list(ir.RankedTensorType(op.operands[1].type).shape)[-2:]
    if kernel != [1, 1] or dense_i64s(op, "strides", 1, 2) != [1, 1] or dense_i64s(op, "dilations", 1, 2) != [1, 1]:
        return False
    return constant_init(op.operands[2]) is not None


def row_local_elementwise(op, value, *, row_operands: bool = False) -> bool:
    """`op` computes row `r` of its result (of `value`'s type) from row `r`
    of `value`: elementwise, identity maps on `value` and the result, a
    payload that does not read its init, other operands without the row
    dimension (per-channel vectors) or, with `row_operands`, tensors of
    `value`'s type read at the same position (a skip branch)."""
    if not is_elementwise(op) or len(op.results) != 1 or op.results[0].type != value.type:
        return False
    n_in = len(op.operands) - 1
    operands = list(op.operands)[:n_in]
    if value not in operands:
        return False
    maps = indexing_maps(op)
    if maps is None:  # a named op: on the chain's value alone, or on row operands of its shape
        return all(v == value or (row_operands and v.type == value.type) for v in operands)
    if not is_identity_map(maps[-1]) or any(True for _ in op.regions[0].blocks[0].arguments[n_in].uses):
        return False  # a permuted result, or a payload that reads its init
    for operand, m in zip(operands, maps):
        if operand == value or "d2" in m.split("->")[1]:
            if not is_identity_map(m) or operand.type != value.type:
                return False
            if operand != value and not row_operands:
                return False  # another tensor read row by row (its rows would need slicing)
    return True


def fuse_row_local(loop, chain) -> None:
    """Moves `chain` (`row_local_chain` of the loop's first result) into
    `loop`, whose first result is assembled from row tiles inserted into its
    first iteration argument: each inserted tile (`trimmed_tile`) goes
    through the chain first, the iteration argument takes the chain's result
    type (its rows as before), and the chain's result is replaced by the
    loop's. The chain, dead, is erased (its first op read the loop's result)."""
    with loop.location:
        _fuse_row_local(loop, chain)
    for op in reversed(chain):
        op.erase()


def _fuse_row_local(loop, chain) -> None:
    view = loop.results[0]
    body = loop.regions[0].blocks[0]
    acc = body.arguments[1]
    last = chain[-1]
    channels = ir.RankedTensorType(last.results[0].type).shape[1]
    inserts = accumulator_inserts(loop)
    outside, prev = [], view  # the chain's other operands, defined before the loop
    for op in chain:
        n_in = len(op.operands) - 1
        outside += [v for v in list(op.operands)[:n_in] if v != prev]
        if op.name == "linalg.conv_2d_nchw_fchw":
            outside += constant_init(op.operands[2]).operands[:1]  # the fill's value, the bias
        prev = op.results[0]
    hoist_before(loop, outside)
    for insert in inserts:
        enters, index = trimmed_tile(insert)
        tile, prev = enters.operands[index], view
        with ir.InsertionPoint(enters), insert.location:
            for op in chain:
                tile, prev = _clone_on_tile(op, tile, prev), op.results[0]
        enters.operands[index] = tile
        if enters != insert:
            _set_channels(enters, channels)
        _set_channels(insert, channels)
    old_t = ir.RankedTensorType(acc.type)
    new_t = tensor_type([old_t.shape[0], channels, *old_t.shape[2:]], old_t.element_type)
    with ir.InsertionPoint(loop), loop.location:
        loop.operands[3] = tensor.EmptyOp(list(new_t.shape), new_t.element_type).result
    acc.set_type(new_t)
    loop.results[0].set_type(new_t)
    for insert in inserts:
        insert.results[0].set_type(new_t)

    yielded = body.operations[-1].operands[0]  # the last trip's `scf.if`, when lagging
    if not isinstance(yielded.owner, ir.Block) and yielded.owner.operation.name == "scf.if":
        yielded.set_type(new_t)
    last.results[0].replace_all_uses_with(view)


def _set_channels(op, channels: int) -> None:
    """An `insert_slice` / `extract_slice` of N x C x rows x W moved to `channels`."""
    sizes = list(ir.DenseI64ArrayAttr(op.attributes["static_sizes"]))
    sizes[1] = channels
    op.attributes["static_sizes"] = ir.DenseI64ArrayAttr.get(sizes)
    if op.name == "tensor.extract_slice":  # (an insert takes its destination's type: set by the caller)
        t = ir.RankedTensorType(op.results[0].type)
        op.results[0].set_type(tensor_type([t.shape[0], channels, *t.shape[2:]], t.element_type))


def _clone_on_tile(op, tile, value) -> ir.Value:
    """`op` (elementwise, or the 1x1 conv) applied to `tile` where it read
    `value` (the whole rows), with an init of the tile's shape."""
    t = ir.RankedTensorType(tile.type)
    out_shape = [t.shape[0], ir.RankedTensorType(op.results[0].type).shape[1], *t.shape[2:]]
    if op.name == "linalg.conv_2d_nchw_fchw":
        init = rebuild_init(constant_init(op.operands[2]), out_shape)
    else:
        init = tensor.EmptyOp(out_shape, t.element_type).result
    clone = op.clone()
    n_in = len(op.operands) - 1
    for i in range(n_in):
        if op.operands[i] == value:
            clone.operands[i] = tile
    clone.operands[n_in] = init
    clone.results[0].set_type(tensor_type(out_shape, t.element_type))
    return clone.results[0]
