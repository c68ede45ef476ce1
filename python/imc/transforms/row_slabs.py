"""Input rows of a tiled stage streamed through a scratchpad slab that keeps
the halo (used by `imc-place-buffers`).

A stage tiled by `imc-tile-rows` is an `scf.for` whose trip reads rows
`[lo, lo + n)` of its input with a `tensor.extract_slice` (then pads them to
the slab the convolution needs). Consecutive trips overlap by the
convolution's halo. `stream_rows` replaces that read, for an input held in
DRAM, by a scratchpad *slab* buffer updated in place each trip:

* the rows the previous trip loaded that this one still needs move to the
  top of the slab (`memref.copy`, one row at a time, on chip);
* the rows no trip has loaded yet are loaded below them (`imc.dma`, one row
  at a time);
* the trip reads the slab's first `n` rows (`bufferization.to_tensor`).

So every input byte is loaded from DRAM once. The previous trip's window is
the same index arithmetic evaluated at `iv - step` (cloned from the loop
body); the first trip keeps nothing. Every row a trip reads is one it or an
earlier trip wrote, which `imc-check-buffers` proves by following the trips.

A rank-3 [1, M, K] source (the rows of a matmul stage, `imc-tile-rows`),
read as `tensor.extract_slice %x[0, %lo, 0] [1, n, K]`, is one *plane*:
it is handled as [1, 1, M, K] (the trip's rows are collapsed back to
[1, n, K]); it has no halo, so each trip loads its own rows.

`load_rows` does this for any 4-D DRAM buffer with the source's rows (for
example the DRAM planes of a stored tensor) and returns the trip's rows;
`view_rows` reads the same window in place from a 4-D scratchpad buffer (the
on-chip planes); `stream_rows` replaces the read by `load_rows` of the
whole source.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, tensor

from imc.dialects.imc import DmaOp, SpadAllocOp, SpadFreeOp, stored_element_bytes
from imc.ir.utils import (
    collapse,
    defining_op,
    expand,
    extract_slice,
    i64_array,
    i64_attr,
    index_constant,
    is_inside,
    reassociation,
)

__all__ = [
    "RowSlab",
    "as_plane",
    "expand_buffer",
    "find_row_slabs",
    "frame_view",
    "load_frame_rows",
    "load_rows",
    "plane_shape",
    "row_view",
    "stream_rows",
    "store_frame_rows",
    "view_along",
    "view_frame_rows",
    "view_rows",
]

_DYN = ir.ShapedType.get_dynamic_size()
_NO_DATA = ("tensor.empty", "arith.constant", "linalg.fill")  # init operands carry no input rows
_PLANE_GROUPS = ([0, 1], [2], [3])  # [1, M, K] <-> the plane [1, 1, M, K]
_FRAME_GROUPS = [[0], [1, 2], [3], [4]]  # [1, P * k, n, w] <-> [1, P, k, n, w] (`frame_view`)


@dataclass
class RowSlab:
    """One row-window read in a tiled stage's loop."""

    loop: ir.Operation  # the stage's scf.for
    read: ir.Operation  # tensor.extract_slice %source[0, 0, %lo, 0] [N, C, %n or n, W]
    source: ir.Value  # defined outside the loop
    rows: int  # the most rows a trip reads (the slab's height)
    elem: int = 4  # bytes per element in the scratchpad (`stored_element_bytes`)

    @property
    def shape(self) -> list[int]:
        """The source's shape as planes (`plane_shape`)."""
        return plane_shape(ir.RankedTensorType(self.source.type).shape)

    @property
    def nbytes(self) -> int:
        n, c, _, w = self.shape
        return n * c * self.rows * w * self.elem


def _static(op, name) -> list[int]:
    return list(ir.DenseI64ArrayAttr(op.attributes[name]))


def find_row_slabs(loop, hardware=None) -> list[RowSlab]:
    """The row-window reads in `loop` (any depth) of values defined outside it:
    rank-4 `tensor.extract_slice`s with a dynamic offset (and a static or
    dynamic size) in dimension 2 only, unit strides and whole other
    dimensions; rank-3 ones of a [1, M, K] source with a dynamic offset and
    a static size in dimension 1 only (`_rank3_window`). A slab's bytes are
    as `hardware` stores its elements (`stored_element_bytes`)."""
    out = []

    def slab(op, src, rows):
        et = ir.RankedTensorType(src.type).element_type
        return RowSlab(loop, op, src, rows, stored_element_bytes(et, hardware))

    def visit(op):
        if op.name != "tensor.extract_slice":
            return ir.WalkResult.ADVANCE
        src = op.operands[0]
        t = ir.RankedTensorType(src.type)
        if t.rank == 3 and t.has_static_shape and _outside(src, loop):
            rows = _rank3_window(op)
            if rows:
                out.append(slab(op, src, rows))
            return ir.WalkResult.ADVANCE
        if t.rank != 4 or not t.has_static_shape or not _outside(src, loop):
            return ir.WalkResult.ADVANCE
        offsets, sizes, strides = (_static(op, k) for k in ("static_offsets", "static_sizes", "static_strides"))
        shape = list(t.shape)
        if offsets != [0, 0, _DYN, 0] or strides != [1, 1, 1, 1]:
            return ir.WalkResult.ADVANCE
        if [sizes[0], sizes[1], sizes[3]] != [shape[0], shape[1], shape[3]]:
            return ir.WalkResult.ADVANCE
        rows = sizes[2] if sizes[2] != _DYN else min(shape[2], _slab_rows(op, shape[2]))
        out.append(slab(op, src, rows))
        return ir.WalkResult.ADVANCE

    loop.walk(visit)
    return out


def plane_shape(shape) -> list[int]:
    """`shape` as [N, C, H, W] planes: a rank-3 [1, M, K] (the rows of a
    matmul stage) is the one plane [1, 1, M, K]; rank 4 as it is."""
    shape = list(shape)
    return [1, *shape] if len(shape) == 3 else shape


def _outside(src, loop) -> bool:
    """`src` carries data and is defined outside `loop`."""
    defining = defining_op(src)
    if defining is None:  # a block argument: of the loop's body, or of an enclosing block
        defining = src.owner.owner.operation
    return defining != loop and not is_inside(defining, loop) and defining.name not in _NO_DATA


def _rank3_window(read) -> int:
    """Rows of `tensor.extract_slice %x[0, %lo, 0] [1, n, K] [1, 1, 1]` of a
    [1, M, K] `%x` (n static), else 0."""
    shape = list(ir.RankedTensorType(read.operands[0].type).shape)
    offsets, sizes, strides = (_static(read, k) for k in ("static_offsets", "static_sizes", "static_strides"))
    if shape[0] != 1 or offsets != [0, _DYN, 0] or strides != [1, 1, 1] or len(read.operands) != 2:
        return 0
    if sizes[0] != 1 or sizes[2] != shape[2] or sizes[1] == _DYN:
        return 0
    return sizes[1]


def _as_rows(rows: ir.Value, read) -> ir.Value:
    """The trip's [1, 1, n, K] rows as the [1, n, K] a rank-3 `read` reads
    (`rows` itself for a rank-4 read)."""
    t = ir.RankedTensorType(read.results[0].type)
    if t.rank == 4:
        return rows
    return tensor.CollapseShapeOp(t, rows, reassociation(_PLANE_GROUPS)).result


def as_plane(buf: ir.Value) -> ir.Value:
    """A rank-3 [1, M, K] buffer viewed as the plane [1, 1, M, K] (a 4-D
    buffer itself)."""
    t = ir.MemRefType(buf.type)
    if t.rank == 4:
        return buf
    return expand_buffer(buf, plane_shape(t.shape), _PLANE_GROUPS)


def expand_buffer(buf: ir.Value, shape, groups) -> ir.Value:
    """`memref.expand_shape` of `buf` to static `shape` (reassociation
    `groups`), in `buf`'s memory space."""
    t = ir.MemRefType(buf.type)
    result = ir.MemRefType.get(list(shape), t.element_type, memory_space=t.memory_space)
    return memref.ExpandShapeOp(result, buf, reassociation(groups), [], list(shape)).result


def _slab_rows(read, height: int) -> int:
    """Rows of the static tensor the read's rows are padded to (else the
    whole height): follows single users through elementwise ops to the pad."""
    v = read.results[0]
    for _ in range(16):
        uses = list(v.uses)
        if len(uses) != 1:
            break
        user = uses[0].owner.operation
        rt = ir.RankedTensorType(user.results[0].type) if user.results else None
        if rt is None or rt.rank != 4:
            break
        if user.name == "tensor.pad" and rt.has_static_shape:
            return rt.shape[2]
        v = user.results[0]
    return height


def _clone_at(value, loop, iv, replacement, ip, memo):
    """`value` computed with the loop's induction variable replaced: the ops
    of its backward slice inside `loop` are cloned at `ip`."""
    if value == iv:
        return replacement
    owner = value.owner
    if isinstance(owner, ir.Block):
        return value
    op = owner.operation
    if not is_inside(op, loop):
        return value
    for v, c in memo:
        if v == value:
            return c
    operands = [_clone_at(o, loop, iv, replacement, ip, memo) for o in op.operands]
    clone = op.clone(ip=ip)
    for i, o in enumerate(operands):
        clone.operands[i] = o
    for r, c in zip(op.results, clone.results):
        memo.append((r, c))
    return clone.results[list(op.results).index(value)] if len(op.results) > 1 else clone.results[0]


def view_along(buf, dim: int, start, count) -> ir.Value:
    """`[start, start + count)` (ints or index values) of dimension `dim` of
    the buffer `buf` (any rank: 4-D planes, or the [1, M, K] rows of a
    matmul stage), whole in the others, as a view with `buf`'s strides and
    memory space."""
    t = ir.MemRefType(buf.type)
    strides, base = t.get_strides_and_offset()
    static_start = start if isinstance(start, int) else _DYN
    static_count = count if isinstance(count, int) else _DYN
    dynamic = _DYN in (static_start, base) or any(x == _DYN for x in strides)
    offset = _DYN if dynamic else base + static_start * strides[dim]
    offsets, sizes = [0] * t.rank, list(t.shape)
    offsets[dim], sizes[dim] = static_start, static_count
    rt = ir.MemRefType.get(sizes, t.element_type, layout=ir.StridedLayoutAttr.get(offset, strides), memory_space=t.memory_space)
    dyn_offsets = [] if static_start != _DYN else [start]
    dyn_sizes = [] if static_count != _DYN else [count]
    return memref.SubViewOp(rt, buf, dyn_offsets, dyn_sizes, [], offsets, sizes, [1] * t.rank).result


def row_view(buf, row, count) -> ir.Value:
    """Rows `[row, row + count)` of the 4-D buffer `buf` (dimension 2)."""
    return view_along(buf, 2, row, count)


def _window(read, rows: int):
    """(first row, row count, whether the count is dynamic) of a row read."""
    lo = read.operands[1]
    dynamic_count = len(read.operands) == 3
    return lo, (read.operands[2] if dynamic_count else rows), dynamic_count


def _rows_type(read, shape) -> ir.RankedTensorType:
    """The read's tensor type with dimensions 0 and 1 of `shape` (of a
    rank-3 read: [1, 1, n, K], its rows as one plane)."""
    t = ir.RankedTensorType(read.results[0].type)
    return ir.RankedTensorType.get([shape[0], shape[1], *plane_shape(t.shape)[2:]], t.element_type)


def stream_rows(slab: RowSlab, dram: ir.Value, offset: int, *, loc) -> None:
    """Rewrites `slab.read` to read a scratchpad slab at byte `offset` that
    `dram` (the source's DRAM buffer, memref of the source's shape) fills."""
    rows = load_rows(slab, dram, offset, loc=loc)
    slab.read.results[0].replace_all_uses_with(rows)
    slab.read.erase()


def view_rows(slab: RowSlab, buf: ir.Value, *, loc) -> ir.Value:
    """The rows `slab.read` reads, taken from the 4-D scratchpad buffer `buf`
    (rows as in the source, any leading dimensions) in place: a view and a
    `bufferization.to_tensor`, inserted before the read."""
    with loc, ir.InsertionPoint(slab.read):
        lo, count, _ = _window(slab.read, slab.rows)
        view = row_view(buf, lo, count)
        shape = ir.MemRefType(buf.type).shape
        rows = bufferization.ToTensorOp(_rows_type(slab.read, shape), view, restrict=True).result
        return _as_rows(rows, slab.read)


def frame_view(buf: ir.Value, h: int, w: int, k: int) -> ir.Value:
    """The contiguous 1-D buffer `buf`, which holds planes [1, P, h, k * w]
    of a tensor X, viewed as the tensor Y written over X row by row with
    1/k of its width and up to k times its channels
    (`imc.transforms.in_place.rows_alike`): [1, P, k, h, w], where Y's
    channel p * k + g, row r, column c is X's plane p, row r, column
    g * w + c (a Y of fewer channels takes the first planes of the view).
    Row r of Y takes the bytes of row r of X. A `memref.transpose` of `buf`
    as [1, P, h, k, w]."""
    t = ir.MemRefType(buf.type)
    p = t.shape[0] // (h * k * w)
    rows = expand_buffer(buf, [1, p, h, k, w], [[0, 1, 2, 3, 4]])
    strides = [p * h * k * w, h * k * w, w, k * w, 1]
    rt = ir.MemRefType.get([1, p, k, h, w], t.element_type, layout=ir.StridedLayoutAttr.get(0, strides), memory_space=t.memory_space)
    return memref.TransposeOp(rt, rows, ir.AffineMapAttr.get(ir.AffineMap.get_permutation([0, 1, 3, 2, 4]))).result


def view_frame_rows(slab: RowSlab, view: ir.Value, *, loc) -> ir.Value:
    """The rows `slab.read` reads, taken in place from a `frame_view`
    [1, P, k, h, w] of the scratchpad: the [1, P * k, n, w] of Y's channels
    the view holds, inserted before the read."""
    with loc, ir.InsertionPoint(slab.read):
        lo, count, _ = _window(slab.read, slab.rows)
        return load_frame_rows(view, lo, count)


def load_frame_rows(view: ir.Value, lo, count) -> ir.Value:
    """Rows [lo, lo + count) (ints or index values) of the Y channels a
    `frame_view` [1, P, k, h, w] holds, as the tensor [1, P * k, count, w]
    (at the insertion point)."""
    rows = view_along(view, 3, lo, count)
    _, p, k, n, w = ir.MemRefType(rows.type).shape
    et = ir.MemRefType(view.type).element_type
    split = bufferization.ToTensorOp(ir.RankedTensorType.get([1, p, k, n, w], et), rows, restrict=True).result
    return collapse(split, _FRAME_GROUPS)


def store_frame_rows(tile: ir.Value, view: ir.Value, first: int, lo, *, loc) -> None:
    """Stores Y's channels [first * k, (first + P) * k) of the row tile
    `tile` ([1, C, R, w]: rows [lo, lo + R) of Y; `lo` an int or index value) into
    the `frame_view` [1, P, k, h, w] `view`, in place."""
    _, p, k, _, w = ir.MemRefType(view.type).shape
    rows = ir.RankedTensorType(tile.type).shape[2]
    with loc:
        piece = extract_slice(tile, [0, first * k, 0, 0], [1, p * k, rows, w])
        split = expand(piece, [1, p, k, rows, w], _FRAME_GROUPS)
        bufferization.MaterializeInDestinationOp(None, split, view_along(view, 3, lo, rows), writable=True)


def load_rows(slab: RowSlab, dram: ir.Value, offset: int, *, loc) -> ir.Value:
    """The rows `slab.read` reads, loaded from the 4-D DRAM buffer `dram`
    (rows as in the source, any leading dimensions) through a scratchpad slab
    at byte `offset` that keeps the rows the next trip reads again (the slab
    has `dram`'s leading dimensions and `slab.rows` rows). Returns the tensor
    of the trip's rows, defined before the read."""
    with loc:
        return _load_rows(slab, dram, offset)


def _load_rows(slab: RowSlab, dram: ir.Value, offset: int) -> ir.Value:
    loop, read = slab.loop, slab.read
    if ir.MemRefType(dram.type).rank == 3:
        with ir.InsertionPoint(loop):
            dram = as_plane(dram)
    n, c, _, w = ir.MemRefType(dram.type).shape
    et = ir.RankedTensorType(slab.source.type).element_type
    slab_t = ir.MemRefType.get([n, c, slab.rows, w], et, memory_space=i64_attr(1))
    nbytes = n * c * slab.rows * w * slab.elem
    fl = loop.operands
    lb, step = fl[0], fl[2]
    with ir.InsertionPoint(loop):
        buf = SpadAllocOp(i64_attr(offset), i64_attr(nbytes), slab_t).result
    with ir.InsertionPoint.after(loop):
        SpadFreeOp(buf)
    iv = ir.Value(loop.regions[0].blocks[0].arguments[0])
    lo, count, dynamic_count = _window(read, slab.rows)
    ip = ir.InsertionPoint(read)
    with ip:
        c0, c1 = index_constant(0), index_constant(1)
        count = count if dynamic_count else index_constant(slab.rows)
        hi = arith.AddIOp(lo, count).result
        prev_iv = arith.SubIOp(iv, step).result
        memo: list = []
        prev_lo = _clone_at(lo, loop, iv, prev_iv, ip, memo)
        prev_count = _clone_at(count, loop, iv, prev_iv, ip, memo) if dynamic_count else count
        prev_hi = arith.AddIOp(prev_lo, prev_count).result
        first = arith.CmpIOp(arith.CmpIPredicate.eq, iv, lb).result
        prev_lo = arith.SelectOp(first, lo, prev_lo).result
        prev_hi = arith.SelectOp(first, lo, prev_hi).result
        keep = arith.MaxSIOp(arith.SubIOp(prev_hi, lo).result, c0).result
        shift = arith.SubIOp(lo, prev_lo).result
        # Rows still needed move up, in ascending order (the source is below).
        move = scf.ForOp(c0, keep, c1)
        with ir.InsertionPoint(move.body):
            r = move.induction_variable
            src = row_view(buf, arith.AddIOp(r, shift).result, 1)
            dst = row_view(buf, r, 1)
            memref.CopyOp(src, dst)
            scf.YieldOp([])
        # Rows not loaded yet come from DRAM, one row per DMA.
        start = arith.AddIOp(lo, keep).result
        load = scf.ForOp(start, hi, c1)
        with ir.InsertionPoint(load.body):
            r = load.induction_variable
            src = row_view(dram, r, 1)
            dst = row_view(buf, arith.SubIOp(r, lo).result, 1)
            DmaOp(src, dst, i64_array([0, 0, 0, 0]), i64_array([n, c, 1, w]), i64_array([1, 1, 1, 1]))
            scf.YieldOp([])
        view = row_view(buf, 0, count if dynamic_count else slab.rows)
        rows = bufferization.ToTensorOp(_rows_type(read, [n, c]), view, restrict=True).result
        return _as_rows(rows, read)
