"""`imc-group-contractions`: one `imc.tiled_contract` per tiled contraction."""

from dataclasses import dataclass

from torch_mlir import ir

from imc.dialects.imc import TiledContractOp, YieldOp
from imc.dialects.imc_ops import accumulate_terms
from imc.ir.utils import WEIGHT_VIEW_OPS, constant_source, find_nested, operands_including_nested
from imc.transforms.pass_base import ImcPass

# Ops that only view memory: moving a group past them changes nothing.
_PURE_MEMORY_READS = frozenset({"bufferization.to_tensor"})
# Ops a group never moves past once it reads its input: they may write
# memory, touch crossbars or transfer control.
_UNSAFE_PREFIXES = ("imc.", "scf.", "func.", "memref.", "bufferization.", "cf.")
_CROSSBAR_OPS = frozenset({"imc.program", "imc.mvm", TiledContractOp.OPERATION_NAME})
# The ops a contraction may hold (`accumulate_terms` looks through these only).
_MEMBER_OPS = frozenset(
    {"imc.program", "imc.mvm", "imc.accumulate", "imc.im2col", "tensor.concat", *WEIGHT_VIEW_OPS}
)


@dataclass(frozen=True)
class ImcGroupContractions(ImcPass):
    """Wraps each tiled contraction's crossbar ops in one `imc.tiled_contract`.

    A contraction is a `tensor.concat` along dimension 1 of `imc.accumulate`s
    that read one input `x` (the column tiles of `x @ W`, each accumulate read
    by the concat alone), or one such accumulate read by anything else. Each
    accumulate must decode as one column tile
    (`imc.dialects.imc_ops.accumulate_terms`: each partial sum an `imc.mvm`
    of an `imc.program`'s crossbar, or a `tensor.concat` of the MVMs of a
    tile's copies on row blocks of `x`), and its programs must feed only the
    contraction's MVMs, its MVMs only its accumulates. The op takes along,
    when nothing else reads them, the slices of `x` the MVMs read, the view
    chains of the weights the programs read and the `imc.im2col` that makes
    `x` (two contractions of one `x` share those, which then stay before
    both).

    The op takes the place of the contraction's output (the concat, or the
    accumulate) and yields it; the ops in between that are not in the group
    stay before it, so the group must be able to move past them: after its
    first op that reads `x`, none may write memory, touch crossbars,
    transfer control, work on memrefs or read the output; before it (only
    programs of constant weights and their views move that far) none may
    touch crossbars. A contraction that cannot move stays as it is.

    imc's pipelines run this pass last: the interpreter executes the op in
    one step or as its body's ops (`docs/interpreter.md`, "Fast paths"), and
    the analyses and the timeline see the body's ops. The pass walks the IR
    once and keeps every op.

    Docs: docs/dialect.md (`imc.tiled_contract`); docs/interpreter.md ("Fast paths").
    """

    name = "imc-group-contractions"
    summary = "Group each tiled contraction's crossbar ops into one imc.tiled_contract"

    def run(self, module, state) -> None:
        for block in _blocks_with_accumulates(module.operation if hasattr(module, "operation") else module):
            for members in _groups(block):
                _wrap(members)


def _blocks_with_accumulates(root) -> list:
    """The blocks holding an `imc.accumulate`, inner blocks first (one walk)."""
    found: dict = {}

    def visit(op):
        if op.name == "imc.accumulate":
            found.setdefault(op.block, None)
        return ir.WalkResult.ADVANCE

    root.walk(visit, ir.WalkOrder.POST_ORDER)
    return list(found)


def _contractions(ops, users, producer) -> list[tuple]:
    """(output op, accumulates) per contraction of a block: the
    `tensor.concat` along dimension 1 that joins accumulates of one input
    (each read only by it), or one accumulate read by anything else."""
    decoded, memo, found, joined = {}, {}, [], set()
    for op in ops:  # (in block order: a concat's accumulates come before it)
        if op.name == "imc.accumulate":
            terms = accumulate_terms(op, producer, memo)
            if terms is not None:
                decoded[op] = terms
            continue
        if op.name != "tensor.concat" or ir.IntegerAttr(op.attributes["dim"]).value != 1:
            continue
        accs = [producer(v) for v in op.operands]
        if all(a in decoded and len(users(v)) == 1 for a, v in zip(accs, op.operands)):
            accs = [decoded[a] for a in accs]
            if len({a.x for a in accs}) == 1 and len({a.accumulate for a in accs}) == len(accs):
                found.append((op, accs))
                joined.update(a.accumulate for a in accs)
    found += [(op, [terms]) for op, terms in decoded.items() if op not in joined]
    return found


def _groups(block) -> list[list]:
    """The contractions of `block` that can become one op: each a list of
    its ops in block order (see `ImcGroupContractions`)."""
    ops = [v.operation for v in block.operations]
    index = {op: i for i, op in enumerate(ops)}
    defined: dict = {}  # value -> index of the op that defines it, for the ops a contraction may hold
    read: dict = {}  # value -> indices of the ops that read it (themselves or in their regions)
    for i, op in enumerate(ops):
        if op.name in _MEMBER_OPS:
            for r in op.results:
                defined[r] = i
        for v in _reads(op):
            read.setdefault(v, []).append(i)

    def users(value) -> list[int]:
        return read.get(value, ())

    def producer(value):
        j = defined.get(value)
        return None if j is None else ops[j]

    constants: dict = {}

    def constant_weight(value) -> bool:
        found = constants.get(value)
        if found is None:
            found = constants[value] = constant_source(value, WEIGHT_VIEW_OPS) is not None
        return found

    found, removed = [], set()
    for output, accs in sorted(_contractions(ops, users, producer), key=lambda c: index[c[0]]):
        out = index[output]
        core, program_idx, x_slices, candidates = {out}, set(), set(), set()
        for decoded in accs:
            core.add(index[decoded.accumulate])
            core.update(index[c] for c in decoded.joins)
            for term in decoded.terms:
                core.update((index[term.mvm], index[term.program]))
                program_idx.add(index[term.program])
                slices = {index[s] for s in term.slices}
                x_slices |= slices
                candidates |= slices
                value = term.program.operands[0]
                while (j := defined.get(value)) is not None:
                    view = ops[j]
                    if view.name not in WEIGHT_VIEW_OPS or len(view.operands) != 1:
                        break
                    candidates.add(j)
                    value = view.operands[0]
        if core & removed:
            continue
        # programs feed only the contraction's MVMs, MVMs only its accumulates
        if any(u not in core for j in core - {out} for r in ops[j].results for u in users(r)):
            continue
        im2col = defined.get(accs[0].x)
        if im2col is not None and ops[im2col].name == "imc.im2col":
            candidates.add(im2col)
        programs_const = all(constant_weight(ops[p].operands[0]) for p in program_idx)
        # Optional members before the first core op widen the span the group
        # moves across; if that span is unsafe, they stay where they are.
        first = min(core)
        for allowed in (candidates - removed, {j for j in candidates - removed if j > first}):
            trial = set(core)
            for j in sorted(allowed, reverse=True):
                if all(u in trial for r in ops[j].results for u in users(r)):
                    trial.add(j)
            weight_side = program_idx | {j for j in trial - core if ops[j].name in WEIGHT_VIEW_OPS and j not in x_slices}
            x_first = min(trial - weight_side)
            if _span_is_safe(ops, trial, removed, ops[out].results[0], x_first, programs_const):
                removed |= trial
                found.append([ops[j] for j in sorted(trial)])
                break
    return found


def _span_is_safe(ops, members, removed, result, x_first, programs_const) -> bool:
    """True if the group can move to its last member (see `ImcGroupContractions`)."""
    for j in range(min(members), max(members) + 1):
        if j in members:
            continue
        if j in removed:
            return False
        op = ops[j]
        if j < x_first and programs_const:
            if _touches_crossbars(op):
                return False
            continue
        if op.name not in _PURE_MEMORY_READS:
            if op.name.startswith(_UNSAFE_PREFIXES):
                return False
            if any(isinstance(v.type, ir.MemRefType) for v in list(op.operands) + list(op.results)):
                return False
        if any(v == result for v in _reads(op)):
            return False
    return True


def _reads(op) -> list:
    """The values `op` reads, in its regions too (`operands_including_nested`)."""
    return list(operands_including_nested(op))


def _touches_crossbars(op) -> bool:
    """True if `op` (or an op nested in it) programs or reads crossbars, or
    calls a function (which might)."""

    def crossbar_op(o) -> bool:
        return o.name in _CROSSBAR_OPS or o.name.startswith("func.")

    return crossbar_op(op) or find_nested(op, crossbar_op) is not None


def _wrap(members: list) -> None:
    """Moves `members` (in block order; the last is the contraction's
    output) into a new `imc.tiled_contract` at its place."""
    output = members[-1]
    result = output.results[0]
    loc = output.location
    tc = ir.Operation.create(
        TiledContractOp.OPERATION_NAME, results=[result.type], regions=1, loc=loc, ip=ir.InsertionPoint(output)
    )
    body = tc.regions[0].blocks.append()
    yielded = ir.Operation.create(YieldOp.OPERATION_NAME, operands=[result], loc=loc, ip=ir.InsertionPoint(body))
    for op in members:
        op.move_before(yielded)
    result.replace_all_uses_except(tc.results[0], yielded)
