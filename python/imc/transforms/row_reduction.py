"""A global pooling of a row loop's output, folded into the loop.

`imc-tile-rows` builds row loops that assemble their output `Y` (N x C x H x
W) trip by trip (`imc.transforms.row_inserts`: trip `i` inserts rows
`[R i - lag, R i - lag + R)`, a lagging loop's last trip its last `lag`
rows too; MobileNetV2's last 1x1 convolution, its batch norm and ReLU6, or
ResNet's last block). When the only reader of `Y` is a reduction over its
rows and columns into `N x C x 1 x 1` (the sum of a global average pooling,
or a global max pooling: a `linalg.generic` whose body combines its input
and output with `addf`, `maximumf`, `minimumf`, `maxnumf` or `minnumf`),
`fold_reduction` makes the loop carry that reduction instead: where the
loop inserted rows of `Y`, it reduces them into the carried value (the same
`linalg.generic` on those rows, its output the carried value), so `Y` is
never assembled and never stored; a trip's rows live for the trip.

The loop body may read its accumulator only for the insert and as the
destination of ops that do not read it (a `linalg.generic`'s `outs` whose
block argument its body does not use): that destination becomes a
`tensor.empty`.

The sum's order changes (each trip's rows are summed, then added to the
carried sum), so a folded average pooling can differ from the whole
tensor's in the last bits of a float.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import scf, tensor

from imc.ir.utils import clone_into, indexing_maps, is_identity_map, linalg_input_count
from imc.transforms.row_inserts import RowInserts, row_inserts

__all__ = ["ReductionPlan", "plan_reduction", "fold_reduction"]

_COMBINERS = frozenset({"arith.addf", "arith.maximumf", "arith.minimumf", "arith.maxnumf", "arith.minnumf"})
"""Combiners for which reducing the rows trip by trip reduces them all (associative, commutative)."""

_POOLED_MAP = "(d0,d1,d2,d3)->(d0,d1,0,0)"  # (the output map, spaces dropped)


@dataclass
class ReductionPlan:
    """What `fold_reduction` needs of a loop and its output's reduction (see `plan_reduction`)."""

    loop: ir.Operation
    reduction: ir.Operation  # the linalg.generic that reduces Y over its rows and columns
    inserts: RowInserts  # how the loop inserts the rows of Y
    destinations: list  # extract_slices of the accumulator, only written over (become tensor.empty)


def plan_reduction(loop) -> ReductionPlan | None:
    """The folding of the reduction of `loop`'s output into `loop` (module
    doc), or None when they are not such a loop and reduction."""
    if loop.name != "scf.for" or not loop.results:
        return None
    y = loop.results[0]
    uses = list(y.uses)
    if len(uses) != 1 or any(len(list(r.uses)) for r in list(loop.results)[1:]):
        return None  # (the loop moves to the reduction: only it may read the loop)
    reduction = uses[0].owner.operation
    if not _is_pooling(reduction, y):
        return None
    inserts = row_inserts(loop)  # (checked trip by trip: last)
    if inserts is None:
        return None
    destinations = []
    for use in loop.regions[0].blocks[0].arguments[1].uses:
        user = use.owner.operation
        if user == inserts.insert:
            continue
        if user.name != "tensor.extract_slice" or not _only_written_over(user.results[0]):
            return None
        destinations.append(user)
    return ReductionPlan(loop, reduction, inserts, destinations)


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
    loop, reduction, inserts = plan.loop, plan.reduction, plan.inserts
    body = loop.regions[0].blocks[0]
    with ir.InsertionPoint(reduction), loop.location:  # (after the reduction's init)
        new = scf.ForOp(*list(loop.operands)[:3], [reduction.operands[1], *list(loop.operands)[4:]])
    mapping = {body.arguments[0]: new.induction_variable}
    mapping.update(zip(list(body.arguments)[2:], list(new.inner_iter_args)[1:]))
    ip = ir.InsertionPoint(new.body)
    with ip, loop.location:
        for dest in plan.destinations:
            t = ir.RankedTensorType(dest.results[0].type)
            mapping[dest.results[0]] = tensor.EmptyOp(t.shape, t.element_type, loc=dest.location).result
        skip = {inserts.insert, inserts.drain_if, body.operations[-1], *plan.destinations}
        clone_into([op for op in body.operations if op not in skip], mapping, ip)
        pooled = _reduce(reduction, mapping[inserts.insert.operands[0]], new.inner_iter_args[0])
        if inserts.drain_if is not None:  # (the last trip also reduces the last `lag` rows)
            drain = scf.IfOp(mapping[inserts.drain_if.operands[0]], [pooled.type], has_else=True)
            then_block = inserts.drain_if.regions[0].blocks[0]
            with ir.InsertionPoint(drain.then_block):
                inner = ir.InsertionPoint(drain.then_block)
                clone_into([op for op in then_block.operations if op not in (inserts.drain_insert, then_block.operations[-1])], mapping, inner)
                scf.YieldOp([_reduce(reduction, mapping[inserts.drain_insert.operands[0]], pooled)])
            with ir.InsertionPoint(drain.else_block):
                scf.YieldOp([pooled])
            pooled = drain.results[0]
        scf.YieldOp([pooled, *(mapping.get(v, v) for v in list(body.operations[-1].operands)[1:])])
    reduction.results[0].replace_all_uses_with(new.results[0])
    reduction.erase()
    loop.erase()
    return new.operation


def _reduce(reduction, rows, into) -> ir.Value:
    """A copy of `reduction` (at the current insertion point) reducing `rows` into `into`."""
    reduced = reduction.clone()
    reduced.operands[0] = rows
    reduced.operands[1] = into
    return reduced.results[0]
