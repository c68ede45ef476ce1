"""A fused row loop's elementwise epilogue (a residual block's batch norm, add
and ReLU) moved into the loop (used by `imc-tile-rows`).

After `imc.transforms.line_buffer` fuses a windowed consumer into a row-tiled
convolution loop (a ResNet block's conv2 into conv1's loop), the ops that
finish the block — its batch norm, the residual add of the block's input and
the ReLU — still run after the loop, on whole tensors: the block's output
exists only when the loop has ended, so the next block cannot start on its
first rows, and the add is a whole-tensor step. `fuse_epilogue` moves them
into the loop: every row tile the loop inserts into its accumulator (the
lagging last rows too) goes through them first.

An epilogue op computes row `r` of its result from row `r` of the value
before it (`row_local_epilogue`): elementwise, identity maps on that value
and the result, and each other operand either without the row dimension
(per-channel vectors) or a tensor of the same shape read at the same
position (the *row operand*: the skip branch). Inside the loop, a tile of
rows `[o, o + n)` of the output reads rows `[o, o + n)` of each row operand.

Built for a residual block: a loop whose consumer runs `lag` rows behind
(stride 1, "same" padding) and an epilogue with one row operand. Trip `i`
(producer rows `[i, i + R)`) inserts output rows `[i - lag, i - lag + R)`
(the first trip's first `lag` rows are above the output and trimmed off)
and the last trip also rows `[H - lag, H)`, so each trip needs the row
operand's rows `[i - lag, i + R)`:

* when the row operand is the input of the loop's stride-1 "same"
  convolution (the identity skip), they are rows of the padded window that
  convolution reads already (a zero row above row 0 on the first trip):
  no second read;
* when the row operand is the input of the loop's 1x1 convolution (the
  identity skip of a MobileNetV2 block, whose expansion reads the trip's
  own rows `[i, i + R)` only), the trip keeps the last `lag` of those rows
  for the next trip in a line buffer (an iteration argument, zeros before
  the first trip: the rows above the output, trimmed off): its rows
  `[i - lag, i + R)` are the carried rows and its own, each input row read
  once;
* when the row operand is a downsample branch (`skip_branch`: a 1x1
  convolution without padding, of stride `s`, of the input `B` of the
  loop's first convolution, itself of stride `s`, and elementwise ops after
  it, none read by anything else), the trip computes the branch's rows
  `[i, i + R)` from the rows of `B` that convolution reads already (its
  padded window: no second read of `B`) and keeps the last `lag` of them
  for the next trip in a line buffer (an iteration argument, zeros before
  the first trip: the rows above the output, trimmed off), so its rows
  `[i - lag, i + R)` are the carried rows and its own. Each row of the
  branch is computed once, and the branch's output is never stored:
  `imc-tile-rows` leaves the branch's stage untiled for this (its
  `_without_absorbed_skips`);
* otherwise (a downsample branch's output) the trip reads rows
  `[max(i - lag, 0), +R + lag)` of it once (one row window, so
  `imc-place-buffers` streams it or views it in place like any other) and
  lines them up with the output rows: on the first trip behind `lag` rows of
  zeros, after it as they are.
"""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, scf, tensor

from imc.ir.utils import (
    constant_init,
    constant_int,
    dense_i64s,
    extract_slice,
    index_constant,
    loop_bounds,
    rebuild_init,
    single_user,
    tensor_type,
)
from imc.transforms.line_buffer import accumulator_inserts, hoist_before, row_local_elementwise, splat, trimmed_tile

__all__ = ["row_local_epilogue", "fuse_epilogue", "skip_branch", "row_operands"]

_DYN = ir.ShapedType.get_dynamic_size()


def row_local_epilogue(value) -> list:
    """The ops after `value` (a fused loop's result rows, N x C x H x W),
    each the single user of the one before and each computing row `r` of its
    result (of `value`'s type) from row `r` of the one before and of its row
    operands (module docstring). Empty when the first user is no such op."""
    chain, current = [], value
    while (op := single_user(current)) is not None and row_local_elementwise(op, current, row_operands=True):
        chain.append(op)
        current = op.results[0]
    return chain


def row_operands(chain, value) -> list:
    """The chain's other operands read row by row (the skip branch), in order, once each."""
    out, prev = [], value
    for op in chain:
        for v in list(op.operands)[: len(op.operands) - 1]:
            if v != prev and v.type == value.type and v not in out:
                out.append(v)
        prev = op.results[0]
    return out


def fuse_epilogue(loop, chain, lag: int) -> bool:
    """Moves `chain` (`row_local_epilogue` of the loop's first result) into
    `loop`, whose first result is assembled from row tiles inserted into its
    first iteration argument (`lag`: the rows its consumer runs behind).
    Returns False, changing nothing, when the loop's inserts are not of the
    forms the module docstring describes."""
    view = loop.results[0]
    body = loop.regions[0].blocks[0]
    iv = body.arguments[0]
    inserts = accumulator_inserts(loop)
    entries = [trimmed_tile(op) for op in inserts]
    skips = row_operands(chain, view)
    lb, ub, step = loop_bounds(loop)
    height = ir.RankedTensorType(view.type).shape[2]
    if not inserts or not lag or len(skips) != 1:
        return False
    x = skips[0]
    if lb != 0 or not step or step < lag or ub != height or ub % step:
        return False
    window = _input_window(loop, x, step)
    own_rows = None  # the trip's rows of `x`, read by its 1x1 convolution
    if window is not None and window[1] < lag:
        if window[1] == 0 and ir.RankedTensorType(window[0].type).shape[2] == step:
            own_rows = window
        window = None
    branch = source_window = None
    if window is None and own_rows is None and (branch := skip_branch(x, loop)) is not None:
        strides = dense_i64s(branch[0], "strides", 1, 2)
        source_window = _input_window(loop, branch[0].operands[0], step, strides[0])
        columns = strides[1] * (ir.RankedTensorType(x.type).shape[3] - 1) + 1  # of the source, read by the branch
        if strides[0] != strides[1] or source_window is None or source_window[2] + columns > ir.RankedTensorType(source_window[0].type).shape[3]:
            branch = None
    if window is None and branch is None and own_rows is None and ub // step < 2:
        return False  # (a row window of `x` of `step + lag` rows would not fit it)
    starts = []  # per insert: its tile's first row in the trip's rows of `x`
    for (enters, _), insert in zip(entries, inserts):
        count = ir.RankedTensorType(enters.operands[0].type).shape[2]
        if enters != insert and count == step:
            starts.append(0)  # the trip's own rows (trimmed on the first trip)
        elif enters == insert and _insert_rows(insert) == (height - lag, lag):
            starts.append(step)  # the last trip's last rows
        else:
            return False
    with loop.location:
        inside = [view] + [op.results[0] for op in chain]
        outside = [v for op in chain for v in list(op.operands)[: len(op.operands) - 1] if v not in inside]
        if branch is not None:  # (computed in the loop: its own operands move before it instead)
            outside = [v for v in outside if v != x] + _branch_operands(branch)
        hoist_before(loop, outside)
        n, c, _, w = ir.RankedTensorType(x.type).shape
        if window is not None:  # the rows the trip's convolution reads already
            source, top, left = window
            with ir.InsertionPoint.after(source.owner):
                rows_of_x = extract_slice(source, [0, 0, top - lag, left], [n, c, step + lag, w])
        elif branch is not None or own_rows is not None:  # the trip's own rows, behind the rows the last trip kept
            et = ir.RankedTensorType(x.type).element_type
            with ir.InsertionPoint(loop):
                above = splat([n, c, lag, w], et, ir.FloatAttr.get(et, 0.0))  # (rows above the output: trimmed off)
            loop = _with_iter_arg(loop, above)
            view, body = loop.results[0], loop.regions[0].blocks[0]
            source, top, left = source_window if branch is not None else own_rows
            with ir.InsertionPoint.after(source.owner):
                if branch is not None:  # computed from the rows of its source the trip reads
                    b_t = ir.RankedTensorType(branch[0].operands[0].type)
                    rows_of_b = extract_slice(source, [0, 0, top, left], [b_t.shape[0], b_t.shape[1], strides[0] * (step - 1) + 1, columns])
                    own = _on_rows(branch, rows_of_b, step)
                else:
                    own = extract_slice(source, [0, 0, 0, left], [n, c, step, w])
                rows_of_x = tensor.concat(tensor_type([n, c, lag + step, w], et), 2, [body.arguments[-1], own])
                kept = extract_slice(own, [0, 0, step - lag, 0], [n, c, lag, w])
            terminator = body.operations[-1]
            terminator.operands[len(terminator.operands) - 1] = kept
        else:  # a row window of its own
            with ir.InsertionPoint.at_block_begin(body):
                rows_of_x = _lagged_window(x, iv, step, lag)
        for i, (insert, (enters, index)) in enumerate(zip(inserts, entries)):
            tile = enters.operands[index]
            count = ir.RankedTensorType(tile.type).shape[2]
            with ir.InsertionPoint(enters), insert.location:
                tiles = {x: extract_slice(rows_of_x, [0, 0, starts[i], 0], [n, c, count, w])}
                prev = view
                for op in chain:
                    tile, prev = _clone_on_tile(op, tile, prev, tiles), op.results[0]
            enters.operands[index] = tile
    chain[-1].results[0].replace_all_uses_with(view)
    return True


def skip_branch(x, loop=None) -> list | None:
    """The ops that compute `x` (a residual block's downsample branch), in
    order: a 1x1 `linalg.conv_2d_nchw_fchw` without padding (any stride; its
    init a `constant_init`: zeros or a broadcast bias) of a tensor computed
    before `loop` (when given), then elementwise ops that each compute row
    `r` of their result from row `r` of the one before; each result read only
    by the next op, `x` only by its reader. None for any other `x`."""
    if single_user(x) is None:
        return None
    chain, current = [], x
    while True:
        owner = current.owner
        if isinstance(owner, ir.Block):
            return None
        op = owner.operation
        if op.name == "linalg.conv_2d_nchw_fchw":
            break
        inputs = [v for v in list(op.operands)[: len(op.operands) - 1] if v.type == current.type]
        if len(inputs) != 1 or single_user(inputs[0]) is None or not row_local_elementwise(op, inputs[0]):
            return None
        chain.append(op)
        current = inputs[0]
    kernel = list(ir.RankedTensorType(op.operands[1].type).shape)[-2:]
    if kernel != [1, 1] or constant_init(op.operands[2]) is None:
        return None
    source = op.operands[0]
    if loop is not None and not _before(source, loop):
        return None
    chain.append(op)
    return chain[::-1]


def _before(value, loop) -> bool:
    """`value` is defined before `loop`, in the same block (or is an argument of an enclosing block)."""
    owner = value.owner
    if isinstance(owner, ir.Block):
        return True
    op = owner.operation
    return op.block == loop.block and op.is_before_in_block(loop)


def _branch_operands(branch) -> list:
    """What the branch's ops read other than the branch's own values (its
    source, weights, biases and the convolution's init operands)."""
    conv = branch[0]
    out = [conv.operands[0], conv.operands[1], *constant_init(conv.operands[2]).operands[:1]]
    prev = conv.results[0]
    for op in branch[1:]:
        out += [v for v in list(op.operands)[: len(op.operands) - 1] if v != prev]
        prev = op.results[0]
    return out


def _on_rows(branch, rows, count: int) -> ir.Value:
    """The branch's ops applied to `rows` of its source (the rows of `count`
    output rows), at the current insertion point: `count` rows of its result."""
    conv = branch[0]
    out_t = ir.RankedTensorType(conv.results[0].type)
    shape = [out_t.shape[0], out_t.shape[1], count, out_t.shape[3]]
    init = rebuild_init(constant_init(conv.operands[2]), shape)
    clone = conv.clone()
    clone.operands[0] = rows
    clone.operands[2] = init
    clone.results[0].set_type(tensor_type(shape, out_t.element_type))
    tile, prev = clone.results[0], conv.results[0]
    for op in branch[1:]:
        tile, prev = _clone_on_tile(op, tile, prev, {}), op.results[0]
    return tile


def _with_iter_arg(loop, init):
    """`loop` with one more iteration argument, initialised to `init` and
    yielded unchanged (the caller sets what the new loop yields for it):
    the body moves into the new loop, `loop`'s results are replaced by the
    new loop's, and `loop` is left dead with an empty body (for canonicalize)."""
    body = loop.regions[0].blocks[0]
    old_yield = body.operations[-1]
    with ir.InsertionPoint(loop), loop.location:
        new = scf.ForOp(loop.operands[0], loop.operands[1], loop.operands[2], [*list(loop.operands)[3:], init])
    new_body = new.regions[0].blocks[0]
    with ir.InsertionPoint(new_body), loop.location:
        new_yield = scf.YieldOp([*old_yield.operands, new_body.arguments[len(new_body.arguments) - 1]])
    for op in list(body.operations):
        if op != old_yield:
            op.move_before(new_yield)
    for old, arg in zip(body.arguments, new_body.arguments):
        old.replace_all_uses_with(arg)
    for i, arg in enumerate(list(body.arguments)[1:]):
        old_yield.operands[i] = arg  # (the dead loop yields its own arguments)
    for old, result in zip(loop.results, new.results):
        old.replace_all_uses_with(result)
    return new.operation


def _input_window(loop, x, step: int, stride: int = 1):
    """(the padded rows of `x` the trip's convolution reads, its top and left
    padding) when the loop's root is a convolution of `x` of `stride` `s`
    with odd kernels and "same" padding (rows `[s i - top, s (i + step - 1)
    - top + kh)` of `x`, zero rows outside it), else None."""
    body = loop.regions[0].blocks[0]
    n, c, _, w = ir.RankedTensorType(x.type).shape
    for op in body.operations:
        op = op.operation
        if op.name not in _CONVS or dense_i64s(op, "strides", 1, 2) != [stride, stride] or dense_i64s(op, "dilations", 1, 2) != [1, 1]:
            continue
        source = op.operands[0]
        kh, kw = ir.RankedTensorType(op.operands[1].type).shape[-2:]
        rows = stride * (step - 1) + kh
        shape = list(ir.RankedTensorType(source.type).shape)
        # (strided, the padding columns that no window reaches are left off)
        width = shape[3] == w + kw - 1 if stride == 1 else w <= shape[3] <= w + kw - 1
        if kh % 2 == 0 or kw % 2 == 0 or shape[:3] != [n, c, rows] or not width:
            continue
        if not isinstance(source.owner, ir.Block) and _reads(source.owner.operation, x, body, 3):
            return source, (kh - 1) // 2, (kw - 1) // 2
    return None


_CONVS = ("linalg.conv_2d_nchw_fchw", "linalg.depthwise_conv_2d_nchw_chw")


def _reads(op, x, body, depth: int) -> bool:
    """`op` (any op nested in it) or, up to `depth` producers back inside `body`, reads `x`."""
    found = []

    def visit(o):
        if any(v == x for v in o.operands):
            found.append(o)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    if found:
        return True
    if depth == 0:
        return False
    for v in op.operands:
        owner = v.owner
        if not isinstance(owner, ir.Block) and owner.operation.parent == body.owner and _reads(owner.operation, x, body, depth - 1):
            return True
    return False


def _insert_rows(insert):
    """(row offset: an int, or an index value when dynamic; row count) an
    `insert_slice` of whole other dimensions writes with a static count; else None."""
    offsets, sizes = (list(ir.DenseI64ArrayAttr(insert.attributes[k])) for k in ("static_offsets", "static_sizes"))
    if len(offsets) != 4 or _DYN in sizes or offsets[:2] != [0, 0] or offsets[3] != 0:
        return None
    if offsets[2] != _DYN:
        return offsets[2], sizes[2]
    if len(insert.operands) != 3:
        return None
    offset = insert.operands[2]
    static = constant_int(offset)
    return (offset if static is None else static), sizes[2]


def _lagged_window(x, iv, step: int, lag: int):
    """Rows `[iv - lag, iv + step)` of `x`, the `lag` rows above row 0 zeros:
    `x`'s rows from `max(iv - lag, 0)` (one row window), behind `lag` zero
    rows, sliced from row `min(iv, lag)`."""
    t = ir.RankedTensorType(x.type)
    n, c, _, w = t.shape
    et = t.element_type
    c_lag, c0 = index_constant(lag), index_constant(0)
    low = arith.MaxSIOp(arith.SubIOp(iv, c_lag).result, c0).result
    shape = [n, c, step + lag, w]
    window = tensor.ExtractSliceOp(tensor_type(shape, et), x, [low], [], [], [0, 0, _DYN, 0], shape, [1, 1, 1, 1]).result
    zeros = splat([n, c, lag, w], et, ir.FloatAttr.get(et, 0.0))
    padded = tensor.concat(tensor_type([n, c, step + 2 * lag, w], et), 2, [zeros, window])
    skip = arith.MinSIOp(iv, c_lag).result
    return tensor.ExtractSliceOp(tensor_type(shape, et), padded, [skip], [], [], [0, 0, _DYN, 0], shape, [1, 1, 1, 1]).result


def _clone_on_tile(op, tile, value, tiles) -> ir.Value:
    """`op` applied to `tile` where it read `value`, and to the row operands'
    `tiles` where it read them, with an init of the tile's shape."""
    t = ir.RankedTensorType(tile.type)
    init = tensor.EmptyOp(list(t.shape), t.element_type).result
    clone = op.clone()
    n_in = len(op.operands) - 1
    for i in range(n_in):
        v = op.operands[i]
        if v == value:
            clone.operands[i] = tile
        elif v in tiles:
            clone.operands[i] = tiles[v]
    clone.operands[n_in] = init
    clone.results[0].set_type(t)
    return clone.results[0]
