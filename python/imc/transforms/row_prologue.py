"""The row-local stage before a matmul chain (a transformer's LayerNorm) run
in the chain's row loop (used by `imc-tile-rows`).

A BERT layer normalises the attention block's output (the residual sum)
over its features before the feed-forward block reads it, and the
feed-forward block reads the normalised tensor twice: its first linear,
and the residual add after its second linear. As torch-mlir imports it, a
LayerNorm is a run of `linalg.generic`s over the [1, tokens, features]
tensor: sums over the features into `1 x tokens x 1` (the mean, the
variance), divisions, differences and squares, and the scale and shift by
per-feature vectors. Run as a stage of its own it starts when its whole
input exists (the attention loop's last trip) and stores its whole output,
so the feed-forward loop waits for the attention loop to end.

Every op of it computes token `r` of its result from token `r` of its
operands, so `imc-tile-rows` runs it in the feed-forward loop instead
(`row_prologue` finds it, `squeeze` prepares it): each trip normalises its
rows of the stage's input (the attention loop's result), and the first
linear and the residual add read those rows within the trip. The
normalised tensor is never stored, and a trip needs only its own input
rows: it can start as soon as the attention loop has written them.

The stage computing a chain's input is a *row-local prologue* when:

* each of its ops is a `linalg.generic` whose iteration dimension at the
  input's row position (its second-to-last dimension, the ones before it of
  size 1) is parallel, appears once in every operand of the input's rank,
  at that position (row `r` of the result reads row `r` of each), and not
  in the operands of lower rank (per-feature vectors); reductions over the
  features and unit dimensions (`1 x tokens x 1` row sums) are allowed;
* it reads one tensor computed outside it, of the chain input's type (the
  prologue's input), besides constants (vectors, fills, empty inits);
* none of its values but the chain's input is read outside it.

Tile-and-fuse derives a producer's tile from its output map, which must be
a projected permutation: `squeeze` computes the row sums without their
unit dimension (`imc.ir.utils.squeezed`) when the loop is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir

from imc.ir.utils import constant_fill, defining_op, single_user, squeezed

__all__ = ["RowPrologue", "row_prologue", "squeeze"]

_CONSTANT_OPS = ("arith.constant", "tensor.empty")


@dataclass
class RowPrologue:
    """A row-local stage (module docstring): its `ops` in program order,
    the tensor it reads row by row (`input`), its result (`output`: the
    chain's input) and its layer's name."""

    ops: list
    input: ir.Value
    output: ir.Value
    layer: str


def row_prologue(value, program) -> RowPrologue | None:
    """The stage of `program` (`imc.transforms.placement`) that computes
    `value` (a matmul chain's input) when it is a row-local prologue
    (module docstring), else None."""
    producer = defining_op(value)
    k = program.stage_of.get(producer) if producer is not None else None
    if k is None:
        return None
    stage = program.stages[k]
    shape = list(ir.RankedTensorType(value.type).shape)
    if len(shape) < 2 or any(n != 1 for n in shape[:-2]):
        return None
    if not all(_row_local(op, len(shape)) for op in stage.ops):
        return None
    sources = _outside_reads(stage.ops)
    if len(sources) != 1 or sources[0].type != value.type or not _kept_inside(stage.ops, value):
        return None
    return RowPrologue(list(stage.ops), sources[0], value, stage.layer)


def squeeze(prologue: RowPrologue) -> tuple[list, list]:
    """(the prologue's ops, the reshapes between them), ready to fuse into
    a loop over rows: each op whose result keeps reduced dimensions as unit
    dimensions is replaced by one computing it without them
    (`imc.ir.utils.squeezed`), between a collapse of its init and an
    expansion of its result. Rewrites the IR (same values): call it once,
    when the loop is built."""
    ops, views = [], []
    for op in prologue.ops:
        new = squeezed(op)
        if new is not op:  # (`op` was erased)
            views += [defining_op(new.operands[len(new.operands) - 1]), single_user(new.results[0])]
        ops.append(new)
    return ops, views


def _row_local(op, rank: int) -> bool:
    """`op` computes row `r` of its result from row `r` of its operands of
    `rank` dimensions (the row the second-to-last) and reads no row of its
    lower-rank operands (module docstring)."""
    if op.name != "linalg.generic" or len(op.results) != 1:
        return False
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    if len(maps[-1].results) != rank:
        return False
    row = _dim_position(maps[-1].results[rank - 2])
    if row is None or "parallel" not in str(ir.ArrayAttr(op.attributes["iterator_types"])[row]):
        return False
    for m in maps:
        dims = [_dim_position(e) for e in m.results]
        if len(dims) == rank and (dims[rank - 2] != row or dims.count(row) != 1):
            return False
        if len(dims) != rank and row in dims:
            return False
    return True


def _dim_position(expr) -> int | None:
    """The position of an affine dimension expression, else None."""
    try:
        return ir.AffineDimExpr(expr).position
    except ValueError:
        return None


def _outside_reads(ops) -> list:
    """The tensors `ops` read that none of them computes, other than
    constants (an `arith.constant`, a `tensor.empty`, a fill or broadcast of
    a constant), once each."""
    members, out = set(ops), []
    for op in ops:
        for v in op.operands:
            producer = defining_op(v)
            if producer in members or v in out or not isinstance(v.type, ir.RankedTensorType):
                continue
            if producer is not None and (producer.name in _CONSTANT_OPS or constant_fill(v) is not None):
                continue
            out.append(v)
    return out


def _kept_inside(ops, value) -> bool:
    """Only `ops` read their results, other than `value`."""
    members = set(ops)
    for op in ops:
        for r in op.results:
            if r != value and any(use.owner not in members for use in r.uses):
                return False
    return True
