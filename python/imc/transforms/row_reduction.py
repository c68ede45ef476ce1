"""A global pooling of a row loop's output, folded into the loop.

`imc-tile-rows` builds a row loop whose trip `i` makes rows `[R i, R i + R)`
of its output `Y` and inserts them into an accumulator that assembles `Y`
(MobileNetV2's last 1x1 convolution, its batch norm and ReLU6). When the only
reader of `Y` is a reduction over its rows and columns into `N x C x 1 x 1`
(the sum of a global average pooling, or a global max pooling: a
`linalg.generic` whose body combines its input and output with `addf`,
`maximumf`, `minimumf`, `maxnumf` or `minnumf`), `fold_reduction` makes the
loop carry that reduction instead: each trip reduces its own rows into it
(the same `linalg.generic` on the trip's rows, its output the carried value),
so `Y` is never assembled and never stored; a trip's rows live for the trip.

Built for a loop over the `H` rows of `Y` in trips of `R` rows (bounds `0,
H, R`, `R` dividing `H`), whose trip inserts rows `[R i, R i + R)` of `Y`
(checked trip by trip, `imc.ir.trip_values.slice_rows`) and does not lag
(no last-trip `scf.if`). The loop body may read its accumulator only for
that insert and as the destination of ops that do not read it (a
`linalg.generic`'s `outs` whose block argument its body does not use): that
destination becomes a `tensor.empty`.

The sum's order changes (each trip's rows are summed, then added to the
carried sum), so a folded average pooling can differ from the whole
tensor's in the last bits of a float.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import scf, tensor

from imc.ir.trip_values import slice_rows
from imc.ir.utils import clone_into, indexing_maps, is_identity_map, linalg_input_count, loop_bounds

__all__ = ["ReductionPlan", "plan_reduction", "fold_reduction"]

_COMBINERS = frozenset({"arith.addf", "arith.maximumf", "arith.minimumf", "arith.maxnumf", "arith.minnumf"})
"""Combiners for which reducing the rows trip by trip reduces them all (associative, commutative)."""

_POOLED_MAP = "(d0,d1,d2,d3)->(d0,d1,0,0)"  # (the output map, spaces dropped)


@dataclass
class ReductionPlan:
    """What `fold_reduction` needs of a loop and its output's reduction (see `plan_reduction`)."""

    loop: ir.Operation
    reduction: ir.Operation  # the linalg.generic that reduces Y over its rows and columns
    insert: ir.Operation  # the loop's insert of its trip's rows into Y's accumulator
    destinations: list  # extract_slices of the accumulator, only written over (become tensor.empty)


def plan_reduction(loop) -> ReductionPlan | None:
    """The folding of the reduction of `loop`'s output into `loop` (module
    doc), or None when they are not such a loop and reduction."""
    if loop.name != "scf.for" or not loop.results:
        return None
    lower, height, rows = loop_bounds(loop)
    if lower != 0 or None in (height, rows) or rows <= 0 or height % rows:
        return None
    y = loop.results[0]
    y_t = ir.RankedTensorType(y.type)
    if y_t.rank != 4 or not y_t.has_static_shape or y_t.shape[2] != height:
        return None
    uses = list(y.uses)
    if len(uses) != 1 or any(len(list(r.uses)) for r in list(loop.results)[1:]):
        return None  # (the loop moves to the reduction: only it may read the loop)
    reduction = uses[0].owner.operation
    if not _is_pooling(reduction, y):
        return None
    body = loop.regions[0].blocks[0]
    acc = body.arguments[1]
    yielded = body.operations[-1].operands[0]
    if isinstance(yielded.owner, ir.Block) or yielded.owner.operation.name != "tensor.insert_slice":
        return None  # (a lagging loop's last trip inserts its last rows in an scf.if: not folded)
    insert = yielded.owner.operation
    if insert.operands[1] != acc or not _inserts_trip_rows(loop, insert, y_t, rows):
        return None
    destinations = []
    for use in acc.uses:
        user = use.owner.operation
        if user == insert:
            continue
        if user.name != "tensor.extract_slice" or not _only_written_over(user.results[0]):
            return None
        destinations.append(user)
    return ReductionPlan(loop, reduction, insert, destinations)


def _is_pooling(op, y) -> bool:
    """`op` is a `linalg.generic` reducing `y` (N x C x H x W) over H and W
    into N x C x 1 x 1 with one of `_COMBINERS`."""
    if op.name != "linalg.generic" or linalg_input_count(op) != 1 or len(op.operands) != 2 or op.operands[0] != y:
        return False
    maps = indexing_maps(op)
    if maps is None or len(maps) != 2 or not is_identity_map(maps[0]) or maps[1].replace(" ", "") != _POOLED_MAP:
        return False
    reduced = ["reduction" in str(kind) for kind in ir.ArrayAttr(op.attributes["iterator_types"])]
    if reduced != [False, False, True, True]:
        return False
    payload = op.regions[0].blocks[0]
    ops = list(payload.operations)
    if len(ops) != 2 or ops[0].name not in _COMBINERS or ops[1].name != "linalg.yield":
        return False
    combine = ops[0].operation
    return set(combine.operands) == set(payload.arguments) and ops[1].operands[0] == combine.results[0]


def _inserts_trip_rows(loop, insert, y_t, rows: int) -> bool:
    """Whether `insert` writes whole rows of Y, rows `[R i, R i + R)` on trip `i`."""
    sizes, strides = (list(ir.DenseI64ArrayAttr(insert.attributes[k])) for k in ("static_sizes", "static_strides"))
    offsets = list(ir.DenseI64ArrayAttr(insert.attributes["static_offsets"]))
    n, c, height, w = y_t.shape
    if sizes != [n, c, rows, w] or strides != [1, 1, 1, 1] or offsets[0] != 0 or offsets[1] != 0 or offsets[3] != 0:
        return False
    iv = loop.regions[0].blocks[0].arguments[0]
    return all(slice_rows(insert, {iv: start}) == (start, start + rows) for start in range(0, height, rows))


def _only_written_over(value) -> bool:
    """Every use of `value` is a linalg op's `outs` whose block argument its body does not read."""
    uses = list(value.uses)
    if not uses or not ir.RankedTensorType(value.type).has_static_shape:
        return False
    for use in uses:
        op = use.owner.operation
        ins = linalg_input_count(op)
        if ins is None or use.operand_number < ins:
            return False
        args = op.regions[0].blocks[0].arguments if op.regions else None
        if args is None or len(list(args[use.operand_number].uses)):
            return False
    return True


def fold_reduction(plan: ReductionPlan) -> ir.Operation:
    """Rewrites `plan.loop` to carry the reduction of its output (module
    doc); returns the new loop. The old loop and the reduction are erased."""
    loop, reduction = plan.loop, plan.reduction
    body = loop.regions[0].blocks[0]
    init = reduction.operands[1]
    skip = {plan.insert, body.operations[-1], *plan.destinations}
    with ir.InsertionPoint(reduction), loop.location:  # (after the reduction's init)
        new = scf.ForOp(*list(loop.operands)[:3], [init, *list(loop.operands)[4:]])
    mapping = {body.arguments[0]: new.induction_variable}
    mapping.update(zip(list(body.arguments)[2:], list(new.inner_iter_args)[1:]))
    with ir.InsertionPoint(new.body), loop.location:
        for dest in plan.destinations:
            t = ir.RankedTensorType(dest.results[0].type)
            mapping[dest.results[0]] = tensor.EmptyOp(t.shape, t.element_type, loc=dest.location).result
        clone_into([op for op in body.operations if op not in skip], mapping, ir.InsertionPoint(new.body))
        reduced = reduction.clone()
        reduced.operands[0] = mapping[plan.insert.operands[0]]
        reduced.operands[1] = new.inner_iter_args[0]
        scf.YieldOp([reduced.results[0], *(mapping.get(v, v) for v in list(body.operations[-1].operands)[1:])])
    reduction.results[0].replace_all_uses_with(new.results[0])
    reduction.erase()
    loop.erase()
    return new.operation

