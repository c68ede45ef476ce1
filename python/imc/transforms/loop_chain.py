"""Two fused row loops in a row, the second fed by the first through a line buffer.

`imc-tile-rows` builds one row loop per fused group (a ResNet block: its two
convolutions through a line buffer, the skip add and ReLU on each row tile).
The next group's loop reads the first's output `Y` in padded row windows, so
`Y` is stored whole between them. `chain_loops` runs the second loop's trips
inside the first's, `d` trips behind, and feeds each of its windows from a
line buffer of `Y`'s last rows (an iteration argument), so `Y` is never
stored whole.

Built for loops of one output row per trip (step 1, from 0 to `H`): the first
(`L1`) inserts row `i - lag` of `Y` at trip `i` (`lag` 0 or 1; with 1, the
first trip's row is above the output and trimmed off, and the last trip
also inserts row `H - 1` in an `scf.if`); the second (`L2`) reads `Y` only
in its padded window of `K` rows (stride 1, "same" padding: rows `[j - p, j
- p + K)` of trip `j`, `p = (K - 1) / 2`, zero rows outside `Y`). Trip `j`
of `L2` needs rows up to `j + p`, which trip `j + p + lag` of `L1` makes:
`d = p + lag`. The chained loops:

* `P`, trips `[0, d)`: `L1`'s body;
* `F`, trips `[d, H)`: `L1`'s body, then `L2`'s at `j = i - d`;
* `E`, trips `[H - d, H)` of `L2`: `L2`'s body, its windows completed by the
  last rows `L1` made on its last trip and the bottom padding.

Each trip of `P` and `F` pushes the row it makes onto the line buffer (a
zero row for a row above the output), which holds `K - 1` rows; `L2`'s window
is the buffer and the pushed row, padded with zero columns. `L1`'s last
`scf.if` yields its last rows instead of inserting them; `E` pushes them,
then zero rows. `L1`'s accumulator is gone: `Y` is never assembled.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, scf, tensor

from imc.ir.utils import constant_int, extract_slice, index_constant, loop_bounds, row_tile_insert, tensor_type, top_level
from imc.transforms.line_buffer import pad_columns, splat

__all__ = ["ChainPlan", "plan_chain", "chain_loops"]

_DYN = ir.ShapedType.get_dynamic_size()


@dataclass
class ChainPlan:
    """What `chain_loops` needs of two loops (see `plan_chain`)."""

    l1: ir.Operation
    l2: ir.Operation
    window_if: ir.Operation  # L2's padded window of Y (an scf.if: zeros, or Y's rows padded)
    insert: ir.Operation  # L1's insert of its row into its accumulator
    trim: ir.Operation | None  # the trimmed row it inserts (with lag)
    drain_if: ir.Operation | None  # L1's last-trip scf.if (with lag)
    drain_insert: ir.Operation | None  # its insert of L1's last rows
    kernel: int  # window rows K
    left: int  # zero columns before and after a window's rows
    right: int
    lag: int
    height: int  # trips, Y's rows

    @property
    def skew(self) -> int:
        """Trips L2 runs behind L1: its window reaches `(K - 1) / 2` rows below
        its output row, which L1 makes `lag` trips after its own row."""
        return (self.kernel - 1) // 2 + self.lag


def plan_chain(l1, l2) -> ChainPlan | None:
    """The chaining of `l2` into `l1` (module doc), or None when they are not
    two such loops."""
    if l1.name != "scf.for" or l2.name != "scf.for" or l1.block != l2.block:
        return None
    b1, b2 = loop_bounds(l1), loop_bounds(l2)
    if None in b1 or b1 != b2 or b1[0] != 0 or b1[2] != 1:
        return None
    height = b1[1]
    if len(l1.results) < 1 or not l2.results or row_tile_insert(l2, l2.results[0]) is not None:
        # (an output the second loop assembles by a plain insert per trip,
        # `imc-place-buffers` stores row tile by row tile in the loop that
        # yields it: chained, its rows would come from two loops)
        return None
    y = l1.results[0]
    y_t = ir.RankedTensorType(y.type)
    if y_t.rank != 4 or y_t.shape[2] != height:
        return None
    uses = list(y.uses)
    if len(uses) != 1:
        return None
    read = uses[0].owner.operation
    body2 = l2.regions[0].blocks[0]
    if read.name != "tensor.extract_slice":
        return None
    window_if = top_level(read, body2)
    if window_if is None or window_if.name != "scf.if" or len(window_if.results) != 1:
        return None
    pad = next((u.owner.operation for u in read.results[0].uses), None)
    if pad is None or pad.name != "tensor.pad" or len(list(read.results[0].uses)) != 1:
        return None
    low, high = (list(ir.DenseI64ArrayAttr(pad.attributes[k])) for k in ("static_low", "static_high"))
    if low[:2] != [0, 0] or high[:2] != [0, 0] or _DYN in (low[3], high[3]):
        return None
    yielded = pad.regions[0].blocks[0].operations[-1].operands[0]
    if isinstance(yielded.owner, ir.Block) or yielded.owner.operation.name != "arith.constant":
        return None
    if ir.FloatAttr(yielded.owner.operation.attributes["value"]).value != 0.0:
        return None
    w_t = ir.RankedTensorType(window_if.results[0].type)
    kernel = w_t.shape[2]
    if kernel % 2 != 1 or w_t.shape[3] != y_t.shape[3] + low[3] + high[3] or w_t.shape[:2] != y_t.shape[:2]:
        return None
    if low[2] != _DYN or not _padding_above(pad.operands[1], body2.arguments[0], (kernel - 1) // 2):
        return None  # (a window that does not start `(K - 1) / 2` rows above its trip's row)
    # L1: its row insert into its accumulator and the last trip's `scf.if`.
    body1 = l1.regions[0].blocks[0]
    acc = body1.arguments[1]
    yield1 = body1.operations[-1]
    last = yield1.operands[0]
    drain_if = drain_insert = None
    if not isinstance(last.owner, ir.Block) and last.owner.operation.name == "scf.if":
        drain_if = last.owner.operation
        then_yield = drain_if.regions[0].blocks[0].operations[-1]
        drain_insert = then_yield.operands[0].owner.operation
        if drain_insert.name != "tensor.insert_slice" or len(drain_if.results) != 1:
            return None
        last = drain_if.regions[1].blocks[0].operations[-1].operands[0]
    if isinstance(last.owner, ir.Block) or last.owner.operation.name != "tensor.insert_slice":
        return None
    insert = last.owner.operation
    if insert.operands[1] != acc or len(list(acc.uses)) != 1:
        return None
    src = insert.operands[0]
    trim = None
    lag = 0
    if not ir.RankedTensorType(src.type).has_static_shape:
        trim = src.owner.operation
        if trim.name != "tensor.extract_slice" or drain_if is None:
            return None
        lag = 1
    elif ir.RankedTensorType(src.type).shape[2] != 1 or drain_if is not None:
        return None
    tile = trim.operands[0] if trim is not None else src
    if ir.RankedTensorType(tile.type).shape != [y_t.shape[0], y_t.shape[1], 1, y_t.shape[3]]:
        return None
    if drain_insert is not None and ir.RankedTensorType(drain_insert.operands[0].type).shape[2] != lag:
        return None
    plan = ChainPlan(l1, l2, window_if, insert, trim, drain_if, drain_insert, kernel, low[3], high[3], lag, height)
    if plan.skew < 2 or height <= plan.skew:
        return None  # (canonicalize would inline a P or E of one trip, whose rows `imc-place-buffers` then would not follow)
    return plan


def _padding_above(value, iv, p: int) -> bool:
    """`value` is `max(p - iv, 0)`: the zero rows above a window of rows
    `[iv - p, iv - p + K)` (what tiling a "same" convolution's pad gives)."""
    op = value.owner
    if isinstance(op, ir.Block) or op.operation.name != "arith.maxsi":
        return False
    a, b = op.operation.operands
    if constant_int(b) != 0 or isinstance(a.owner, ir.Block) or a.owner.operation.name != "arith.subi":
        return False
    lhs, rhs = a.owner.operation.operands
    return constant_int(lhs) == p and rhs == iv


def _clone_into(ops, mapping: dict, ip) -> None:
    """Clones `ops` at `ip`, their operands (and their nested ops') through
    `mapping`, which gains their results."""
    for op in ops:
        clone = op.clone(ip=ip)

        def remap(nested):
            for k, v in enumerate(nested.operands):
                if v in mapping:
                    nested.operands[k] = mapping[v]
            return ir.WalkResult.ADVANCE

        clone.walk(remap)
        for old, new in zip(op.results, clone.results):
            mapping[old] = new


def _push(buffer, row):
    """(`buffer`'s rows and `row` below them, those rows but the first): a
    line buffer's window and the buffer it leaves for the next trip."""
    t = ir.RankedTensorType(buffer.type)
    n, c, k1, w = t.shape
    et = t.element_type
    rows = tensor.concat(tensor_type([n, c, k1 + 1, w], et), 2, [buffer, row])
    return rows, extract_slice(rows, [0, 0, 1, 0], [n, c, k1, w])


def _l1_trip(plan: ChainPlan, mapping: dict, ip, drained=None):
    """L1's body at `ip` (its iv and iter_args already in `mapping`), without
    its accumulator: returns (its yields but the accumulator's, the row it
    makes: zeros above the output, the last-trip `scf.if`'s rows or
    `drained`)."""
    body1 = plan.l1.regions[0].blocks[0]
    skip = {plan.insert, plan.drain_if, body1.operations[-1]}
    _clone_into([op for op in body1.operations if op not in skip], mapping, ip)
    et = ir.RankedTensorType(plan.l1.results[0].type).element_type
    n, c, _, w = ir.RankedTensorType(plan.l1.results[0].type).shape
    with ip:
        if plan.trim is None:
            row = mapping[plan.insert.operands[0]]
        else:  # the trimmed row (none on the first trip) over a zero row
            kept = mapping[plan.trim.results[0]]
            count = tensor.dim(kept, index_constant(2))
            zeros = splat([n, c, 1, w], et, ir.FloatAttr.get(et, 0.0))
            row = tensor.InsertSliceOp(kept, zeros, [], [count], [], [0, 0, 0, 0], [n, c, _DYN, w], [1, 1, 1, 1]).result
        last = None
        if plan.drain_if is not None and drained is not None:
            cond = mapping[plan.drain_if.operands[0]]
            drain_t = plan.drain_insert.operands[0].type
            branch = scf.IfOp(cond, [drain_t], has_else=True)
            then_block = plan.drain_if.regions[0].blocks[0]
            with ir.InsertionPoint(branch.then_block):
                inner = ir.InsertionPoint(branch.then_block)
                _clone_into([op for op in then_block.operations if op not in (plan.drain_insert, then_block.operations[-1])], mapping, inner)
                scf.YieldOp([mapping[plan.drain_insert.operands[0]]])
            with ir.InsertionPoint(branch.else_block):
                scf.YieldOp([drained])
            last = branch.results[0]
    yields = [mapping[v] for v in list(body1.operations[-1].operands)[1:]]
    return yields, row, last


def _l2_trip(plan: ChainPlan, mapping: dict, ip, window) -> list:
    """L2's body at `ip` with `window` for its padded window of Y: its yields."""
    body2 = plan.l2.regions[0].blocks[0]
    mapping[plan.window_if.results[0]] = window
    _clone_into([op for op in body2.operations if op not in (plan.window_if, body2.operations[-1])], mapping, ip)
    return [mapping[v] for v in body2.operations[-1].operands]


def chain_loops(plan: ChainPlan) -> ir.Operation:
    """Rewrites `plan.l1` and `plan.l2` into the loops P, F and E (module
    doc); returns E. The old loops are erased."""
    l1, l2 = plan.l1, plan.l2
    body1, body2 = l1.regions[0].blocks[0], l2.regions[0].blocks[0]
    y_t = ir.RankedTensorType(l1.results[0].type)
    n, c, _, w = y_t.shape
    et = y_t.element_type
    d, height, k = plan.skew, plan.height, plan.kernel
    inits1 = list(l1.operands)[4:]  # (its accumulator's init, operand 3, is dropped)
    inits2 = list(l2.operands)[3:]
    loc = l1.location
    with ir.InsertionPoint(l2), loc:
        zero = ir.FloatAttr.get(et, 0.0)
        c0, c1, c_d, c_h, c_hd = (index_constant(v) for v in (0, 1, d, height, height - d))
        buffer0 = splat([n, c, k - 1, w], et, zero)
        zero_row = splat([n, c, 1, w], et, zero)
        drain0 = splat([n, c, plan.lag, w], et, zero) if plan.lag else None
        # P: trips [0, d) of L1.
        p = scf.ForOp(c0, c_d, c1, [*inits1, buffer0])
        with ir.InsertionPoint(p.body):
            mapping = {body1.arguments[0]: p.induction_variable}
            mapping.update(zip(list(body1.arguments)[2:], p.inner_iter_args))
            yields, row, _ = _l1_trip(plan, mapping, ir.InsertionPoint(p.body))
            _, kept = _push(p.inner_iter_args[-1], row)
            scf.YieldOp([*yields, kept])
        # F: trips [d, H) of L1, each with trip i - d of L2.
        carried1 = list(p.results)[:-1]
        f_inits = [*carried1, p.results[-1], *([drain0] if drain0 is not None else []), *inits2]
        f = scf.ForOp(c_d, c_h, c1, f_inits)
        m1 = len(carried1)
        with ir.InsertionPoint(f.body):
            args = list(f.inner_iter_args)
            mapping = {body1.arguments[0]: f.induction_variable}
            mapping.update(zip(list(body1.arguments)[2:], args[:m1]))
            drained = args[m1 + 1] if drain0 is not None else None
            yields, row, last = _l1_trip(plan, mapping, ir.InsertionPoint(f.body), drained)
            rows, kept = _push(args[m1], row)
            j = arith.SubIOp(f.induction_variable, c_d).result
            rest = args[m1 + 1 + (drain0 is not None):]
            mapping2 = {body2.arguments[0]: j}
            mapping2.update(zip(list(body2.arguments)[1:], rest))
            yields2 = _l2_trip(plan, mapping2, ir.InsertionPoint(f.body), pad_columns(rows, plan.left, plan.right, zero))
            scf.YieldOp([*yields, kept, *([last] if last is not None else []), *yields2])
        # E: trips [H - d, H) of L2: L1's last rows, then zero rows.
        f_res = list(f.results)
        pending0 = f_res[m1 + 1] if drain0 is not None else zero_row
        e = scf.ForOp(c_hd, c_h, c1, [f_res[m1], _rows_of(plan, pending0), *f_res[m1 + 1 + (drain0 is not None):]])
        with ir.InsertionPoint(e.body):
            args = list(e.inner_iter_args)
            pending = args[1]
            row = extract_slice(pending, [0, 0, 0, 0], [n, c, 1, w])
            rows, kept = _push(args[0], row)
            below = _push(pending, zero_row)[1]  # (the rows still to push, then a zero row)
            mapping2 = {body2.arguments[0]: e.induction_variable}
            mapping2.update(zip(list(body2.arguments)[1:], args[2:]))
            yields2 = _l2_trip(plan, mapping2, ir.InsertionPoint(e.body), pad_columns(rows, plan.left, plan.right, zero))
            scf.YieldOp([kept, below, *yields2])
    for old, new in zip(l2.results, list(e.results)[2:]):
        old.replace_all_uses_with(new)
    for old, new in zip(list(l1.results)[1:], f_res[:m1]):
        old.replace_all_uses_with(new)
    l2.erase()
    l1.erase()
    return e.operation


def _rows_of(plan: ChainPlan, pending0):
    """The `d` rows E pushes: L1's last `lag` rows (`pending0`), then zero rows."""
    t = ir.RankedTensorType(pending0.type)
    n, c, r, w = t.shape
    d = plan.skew
    if r == d:
        return pending0
    zeros = splat([n, c, d - r, w], t.element_type, ir.FloatAttr.get(t.element_type, 0.0))
    return tensor.concat(tensor_type([n, c, d, w], t.element_type), 2, [pending0, zeros])
