"""Stored tensors written over the tensor they replace (used by `imc-place-buffers`).

A residual block's output `Y = relu(bn(conv2(...)) + X)` has its input
`X`'s shape. When the block's stage is `X`'s last reader, `Y` can take
`X`'s scratchpad bytes: each element of `Y` is written where the same
element of `X` was, once nothing reads that element of `X` any more. The
stage then needs one tensor's bytes, not two (ResNet-18's 56 x 56 blocks
at 8 bits: 200,704 B instead of 401,408 B).

`in_place_pairs(program, slabs)` finds the pairs `(X, Y)` (indices into
`program.tensors`) for which that is safe in both readings of the program:
the IR's (every read of `X` executes before `Y` is stored) and the chip's,
where the stage streams rows (a row of `Y` is written as soon as it is
computed). The conditions:

* `Y` is produced in the stage `k` that reads `X` last; `X` is not a model
  output; both have one type (shape and element type) and stored width, or
  `Y`'s rows fit `X`'s rows (`rows_alike`: a stride-2 block; row `r` of
  `Y` is then written in the bytes of row `r` of `X`,
  `imc.transforms.row_slabs.frame_view`);
* `Y` comes out of the stage's *epilogue*: the elementwise ops (all-parallel,
  identity indexing maps) that lead to `Y` inside the stage; or `Y` is
  the result of the stage's tiled loop itself (its epilogue moved into
  the loop, `imc.transforms.row_epilogue`);
* every op of stage `k` that reads `X` is either an epilogue op reading it
  at the same position (the residual add), or a tiled loop (`scf.for`)
  whose result the epilogue reads (or that makes `Y` itself) and that reads `X` only in row
  windows (`imc.transforms.row_slabs`), where no trip reads a row of `X` that an
  earlier trip has produced the same row of `Y` for: the trips' index
  arithmetic is evaluated for every trip (`_rows_read_ahead`);
* no op of stage `k` reads `X` through a view (a reshape or slice outside a
  loop): positions seen through a view are not followed, so such a pair
  stays apart.
"""

from __future__ import annotations

from torch_mlir import ir

from imc.ir.trip_values import evaluate, slice_rows
from imc.ir.utils import (
    TENSOR_VIEW_OPS,
    indexing_maps,
    insert_root,
    is_identity_map,
    is_inside,
    loop_bounds,
    top_level,
)
from imc.transforms.placement import StagedProgram, is_elementwise
from imc.transforms.row_slabs import find_row_slabs

__all__ = ["fits_frame", "in_place_pairs", "rows_alike"]


def in_place_pairs(program: StagedProgram, slabs=None) -> list[tuple[int, int]]:
    """The `(X, Y)` pairs of `program.tensors` where `Y` may overwrite `X`
    (module docstring); a tensor is overwritten by at most one and overwrites
    at most one (pairs may chain: X -> Y -> Z share one home). `slabs`: the
    row-window reads of the tiled loops (`find_row_slabs`) when the caller
    has them; a loop without is walked here."""
    by_loop = _SlabsByLoop()
    for slab in slabs or ():
        by_loop.setdefault(slab.loop, []).append(slab)
    pairs, overwritten, overwriting = [], set(), set()
    by_last: dict[int, list[int]] = {}
    for i, t in enumerate(program.tensors):
        if not t.output:
            by_last.setdefault(t.last, []).append(i)
    for j, y in enumerate(program.tensors):
        for i in by_last.get(y.producer, []):
            x = program.tensors[i]
            if i in overwritten or j in overwriting or x.producer >= y.producer:
                continue
            if x.elem != y.elem or not rows_alike(x.value.type, y.value.type):
                continue
            if _safe(program, x.value, y.value, y.producer, by_loop):
                pairs.append((i, j))
                overwritten.add(i)
                overwriting.add(j)
                break
    return pairs


def rows_alike(x_type, y_type) -> bool:
    """Whether a tensor of `y_type` can be written over one of `x_type` row
    by row: the same type, or [1, C_y, H_y, W_y] over [1, C_x, H_x, W_x]
    with W_x = k * W_y (k >= 2), C_y a multiple of k, C_y / k <= C_x and
    H_y <= H_x (a stride-2 block: k = 2; ResNet's double the channels,
    C_y / k = C_x).
    Row r of Y then takes the bytes of row r of the first C_y / k planes of
    X (`row_slabs.frame_view`)."""
    if x_type == y_type:
        return True
    x, y = ir.RankedTensorType(x_type), ir.RankedTensorType(y_type)
    if x.element_type != y.element_type or x.rank != 4 or y.rank != 4:
        return False
    if not (x.has_static_shape and y.has_static_shape) or x.shape[0] != 1 or y.shape[0] != 1:
        return False
    return fits_frame(x.shape[1:], y.shape[1:])


def fits_frame(frame, shape) -> bool:
    """Whether a tensor of planes `shape` (C, H, W) can lie in the rows of
    the planes `frame` (C0, H0, W0), its row r in the first C / k planes'
    row r, k = W0 / W >= 2 (`rows_alike`)."""
    (c0, h0, w0), (c, h, w) = frame, shape
    return w < w0 and w0 % w == 0 and c % (w0 // w) == 0 and c // (w0 // w) <= c0 and h <= h0


class _SlabsByLoop(dict):
    """loop -> its row-window reads; a loop not given is walked on first use."""

    def __missing__(self, loop):
        self[loop] = find_row_slabs(loop)
        return self[loop]


def _safe(program: StagedProgram, x: ir.Value, y: ir.Value, stage: int, slabs_of) -> bool:
    epilogue = _epilogue(program, y, stage)
    # The stage's loops whose rows make `Y`: the one that assembles `Y` itself
    # (its epilogue inside), or those the epilogue reads.
    loops = {op for v in [y, *(v for op in epilogue for v in op.operands)] if (op := _loop_of(v)) is not None}
    loops = {op for op in loops if program.stage_of.get(op) == stage}
    if not epilogue and _loop_of(y) not in loops:
        return False
    block = x.owner.operation.block  # X's producer sits in the function's block
    for user, operand, direct in _uses_through_views(x):
        reader = top_level(user, block)
        if program.stage_of.get(reader) != stage:
            continue
        if not direct:
            return False  # read through a reshape or slice: its positions are not checked
        if reader in epilogue:
            if not _reads_in_place(reader, operand):
                return False
        elif reader not in loops or not _rows_read_ahead(reader, x, slabs_of[reader]):
            return False
    return True


def _uses_through_views(value, direct=True):
    """(op, operand number, direct) for every use of `value`, following view
    ops (`TENSOR_VIEW_OPS`) outside loops to their users (then not direct)."""
    for use in value.uses:
        op = use.owner.operation
        if op.name in TENSOR_VIEW_OPS and op.operands[0] == value and op.parent.name == "func.func":
            yield op, use.operand_number, False
            yield from _uses_through_views(op.results[0], False)
        else:
            yield op, use.operand_number, direct


def _epilogue(program: StagedProgram, y: ir.Value, stage: int) -> set:
    """The elementwise ops of `stage` with identity maps that `y` is computed by (walking its operands back)."""
    out, todo = set(), [y]
    while todo:
        v = todo.pop()
        owner = v.owner
        if isinstance(owner, ir.Block):
            continue
        op = owner.operation
        if op in out or program.stage_of.get(op) != stage or not is_elementwise(op) or not _identity_out(op):
            continue
        out.add(op)
        todo.extend(op.operands)
    return out


def _identity_out(op) -> bool:
    maps = indexing_maps(op)
    return maps is None or is_identity_map(maps[-1])


def _reads_in_place(op, operand: int) -> bool:
    """`op` (an epilogue op) reads its operand `operand` at the position it writes."""
    maps = indexing_maps(op)
    return maps is None or (operand < len(maps) and is_identity_map(maps[operand]))


def _loop_of(value):
    """The top-level `scf.for` whose result `value` is, else None."""
    owner = value.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "scf.for":
        return None
    return owner.operation


def _rows_read_ahead(loop, x: ir.Value, slabs) -> bool:
    """No trip of `loop` reads a row of `x` that an earlier trip wrote the
    same row of the loop's result for."""
    slabs = [s for s in slabs if s.source == x]
    reads = {s.read for s in slabs}
    if sum(1 for u in x.uses if u.owner.operation == loop or is_inside(u.owner.operation, loop)) != len(reads):
        return False  # read otherwise than in row windows
    trips = _trips(loop)
    if trips is None:
        return False
    body = loop.regions[0].blocks[0]
    inserts = []

    def visit(op):
        if op.name == "tensor.insert_slice" and len(op.operands) >= 2 and _iteration_argument(insert_root(op.operands[1]), body):
            inserts.append(op)
        return ir.WalkResult.ADVANCE

    loop.walk(visit)
    if not inserts:
        return False
    read_rows, written_rows = [], []
    for iv in trips:
        values = {body.arguments[0]: iv}
        got = [slice_rows(s.read, values) for s in slabs]
        put = [slice_rows(op, values) for op in inserts if _executes(op, loop, values)]
        if any(r is None for r in got + put):
            return False
        read_rows.append(got)
        written_rows.append(put)
    for t, reads in enumerate(read_rows):
        for earlier in written_rows[:t]:
            if any(lo < b and hi > a for lo, hi in reads for a, b in earlier):
                return False
    return True


def _iteration_argument(value, body) -> bool:
    """`value` is one of the loop body's iteration arguments (not the induction variable)."""
    return isinstance(value.owner, ir.Block) and value.owner == body and value != body.arguments[0]


def _trips(loop) -> list[int] | None:
    """The induction variable's values, when the bounds are constants."""
    lo, hi, step = loop_bounds(loop)
    if lo is None or hi is None or not step or step < 0 or (hi - lo) // step > 4096:
        return None
    return list(range(lo, hi, step))


def _executes(op, loop, values) -> bool | None:
    """Whether `op` runs in the trip `values` describes: every `scf.if` around it (up to `loop`) takes its branch."""
    child, parent = op, op.parent
    while parent is not None and parent != loop:
        if parent.name == "scf.if":
            cond = evaluate(parent.operands[0], values)
            if cond is None:
                return None
            in_then = child.parent == parent and _in_region(child, parent.regions[0])
            if bool(cond) != in_then:
                return False
        child, parent = parent, parent.parent
    return True


def _in_region(op, region) -> bool:
    return any(o == op for block in region.blocks for o in block.operations)
