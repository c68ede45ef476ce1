"""A self-attention run over tiles of query rows (used by `imc-tile-rows`).

A transformer layer as torch-mlir imports it computes its queries, keys
and values with three projections, splits them into heads (reshape and
transpose: the keys to heads x d x tokens), multiplies queries by keys
(`linalg.batch_matmul`, the scores), takes a softmax over the keys,
multiplies the probabilities by the values (the context), merges the heads
and applies the output projection and the residual add. Run op by op, the
queries, the transposed queries, the scores' stage output (the context)
and the projection's input are stored between stages; in a BERT-base
layer at 8 bits that is 98,304 B each, which spill on a 256 KiB
scratchpad.

Every query row's result needs only that row of the queries, all keys and
all values: row `r` of the scores, of the softmax (it reduces over keys)
and of the context depend on query row `r` alone. `attention_rows` finds
the ops from the query projection to the output projection's consumers
(the residual add), so that `imc-tile-rows` tiles them together over query
rows: each trip projects its rows of the input, computes their scores,
probabilities and context and projects them out. Only the keys and values
are computed before the loop, and every trip reads them whole, so
`imc-place-buffers` keeps them whole on chip (or fails); `imc-tile-rows`
fuses only when they and a trip's rows fit beside the staging buffer.

Two rewrites make the ops fusable, both semantics-preserving and done as
soon as an attention is found:

* the keys' and values' transposes (and the elementwise ops on them, a
  scale) move right after their projection, so that `imc.transforms.placement`, which
  runs a transpose in the stage it reads from when that stage comes just
  before, stores only the transposed keys and values;
* a reduction whose result keeps the reduced dimension as a unit dimension
  (the softmax's row sum, `1 x H x M x 1`, an output map with a constant 0)
  is computed without it and expanded back (`imc.ir.utils.squeezed`): tile-and-fuse
  derives a producer's tile from its output map, which must be a projected
  permutation for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir

from imc.ir.utils import RESHAPE_OPS, defining_op, single_user, squeezed
from imc.transforms.placement import is_elementwise

__all__ = ["AttentionRows", "attention_rows"]

BATCH_MATMUL = "linalg.batch_matmul"
_FREE = ("tensor.empty", "arith.constant")


@dataclass
class AttentionRows:
    """The ops of a self-attention run over query rows: `ops` (no views) and
    `views` (the reshapes between them) from the query projection (`anchor`,
    its matmul; `input`, what it reads) to `root` (the output projection's
    last consumer); `keys` and `values` as the scores and context batch
    matmuls read them whole on every trip; `scores` the scores' value (heads
    x queries x keys); `output` the output projection's matmul; `across` the
    bytes of the stored tensors live across the attention (produced before
    the query projection, read after the output projection)."""

    anchor: ir.Operation
    ops: list
    views: list
    root: ir.Operation
    input: ir.Value
    keys: ir.Value
    values: ir.Value
    scores: ir.Value
    output: ir.Operation
    across: int = 0


def attention_rows(proj, program, by_anchor: dict) -> AttentionRows | None:
    """The attention whose output projection is `proj` (a matmul stage of
    `imc-tile-rows`: `anchor`, `ops`, `root`, `input`, `fence`, `hidden`),
    or None.

    `proj`'s input must be computed by a stage of `program`
    (`imc.transforms.placement`) with exactly two batch matmuls: the scores (queries x
    keys) and the context (probabilities x values), the scores' left
    operand coming through reshapes, transposes and elementwise ops from a
    matmul stage of `by_anchor` (the query projection). The ops are the
    query projection's, those on the way, the attention's except those that
    only prepare the keys and values (the right operands of the two batch
    matmuls: they stay before the loop) and `proj`'s."""
    core_op = defining_op(proj.input)
    k = program.stage_of.get(core_op) if core_op is not None else None
    if k is None:
        return None
    core = program.stages[k].ops
    bmms = [op for op in core if op.name == BATCH_MATMUL]
    if len(bmms) != 2:
        return None
    scores, context = bmms
    query, path = _query_projection(scores.operands[0], by_anchor)
    if query is None or query is proj or query.hidden is not None:
        return None
    # The reductions are squeezed before the keys' and values' ops move: a
    # move may clone their operands, and an op's hash follows its operands.
    kv = _producers_within(core, [scores.operands[1], context.operands[1]])
    chains = _chains(kv)
    core = [squeezed(op) if op not in kv else op for op in core]
    for chain in chains:
        _hoist(chain)
    kv = _producers_within(core, [scores.operands[1], context.operands[1]])
    allowed = set(query.ops) | (set(core) - kv) | set(proj.ops) | set(path)
    inside = _backward_within(proj.root, allowed)
    if scores not in inside or context not in inside or query.anchor not in inside:
        return None
    views = [op for op in inside if op.name in RESHAPE_OPS]
    first, last = program.stage_of[query.anchor], program.stage_of[proj.anchor]
    across = sum(t.size for t in program.tensors if t.producer < first and t.last > last)
    return AttentionRows(
        query.anchor, [op for op in inside if op.name not in RESHAPE_OPS], views + query.fence + proj.fence,
        proj.root, query.input, scores.operands[1], context.operands[1], scores.results[0], proj.anchor, across,
    )


def _query_projection(value, by_anchor: dict) -> tuple:
    """(the matmul stage of `by_anchor` that `value`, the scores' left
    operand, comes from through reshapes, transposes and elementwise ops
    (first operands), its root on the way; the ops on the way), or (None, [])."""
    seen = []
    while (op := defining_op(value)) is not None and op not in by_anchor:
        if op.name not in RESHAPE_OPS and op.name != "linalg.transpose" and not is_elementwise(op):
            return None, []
        seen.append(op)
        value = op.operands[0]
    query = by_anchor.get(op) if op is not None else None
    if query is None or (query.root != query.anchor and query.root not in seen):
        return None, []
    return query, seen


def _chains(ops: set) -> list[list]:
    """`ops` as chains: each op the single user of the one before, the first
    reading no op of `ops`."""
    chains = []
    for op in ops:
        if defining_op(op.operands[0]) in ops:
            continue
        chain = [op]
        while (user := single_user(chain[-1].results[0])) is not None and user in ops:
            chain.append(user)
        chains.append(chain)
    return chains


def _hoist(chain: list) -> bool:
    """Moves `chain`, with the reshapes between, right after the op that
    computes what its first op reads (a key or value projection). An operand
    defined later by a `tensor.empty` or a constant is cloned before its
    user; any other keeps the chain where it is (False)."""
    views = []
    anchor = defining_op(chain[0].operands[0])
    while anchor is not None and anchor.name in RESHAPE_OPS and single_user(anchor.results[0]) is not None:
        views.insert(0, anchor)
        anchor = defining_op(anchor.operands[0])
    if anchor is None or anchor.block != chain[0].block:
        return False
    chain = views + chain
    members = set(chain)
    nested = []

    def collect(o):
        nested.append(o.operation)
        return ir.WalkResult.ADVANCE

    for op in chain:
        op.walk(collect)
    late = []
    for op in nested:
        for i, v in enumerate(op.operands):
            d = defining_op(v)
            if d is None or d == anchor or d in members or d.block != anchor.block or d.is_before_in_block(anchor):
                continue
            if d.name not in _FREE or len(d.operands):
                return False
            late.append((op, i, d))
    at = anchor
    for op in chain:
        op.move_after(at)
        at = op
    for op, i, d in late:
        with ir.InsertionPoint(op):
            op.operands[i] = d.clone().results[0]
    return True


def _producers_within(ops, values) -> set:
    """The ops of `ops` that `values` are computed from (through any op of
    `ops`, and reshapes)."""
    members, found, todo = set(ops), set(), list(values)
    while todo:
        op = defining_op(todo.pop())
        while op is not None and op.name in RESHAPE_OPS and op not in members:
            op = defining_op(op.operands[0])
        if op is None or op not in members or op in found:
            continue
        found.add(op)
        todo.extend(op.operands)
    return found


def _backward_within(root, allowed: set) -> list:
    """`root` and the ops of `allowed` it is computed from, with the reshapes
    between them (in no particular order)."""
    found, todo = {root}, list(root.operands)
    while todo:
        op = defining_op(todo.pop())
        if op is None or op in found:
            continue
        if op in allowed or op.name in RESHAPE_OPS:
            found.add(op)
            todo.extend(op.operands)
    return list(found)
