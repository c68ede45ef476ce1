"""Two fused row loops in a row, the second fed by the first through a line buffer.

`imc-tile-rows` builds one row loop per fused group (a ResNet block: its two
convolutions through a line buffer, the skip add and ReLU on each row tile).
The next group's loop reads the first's output `Y` in row windows, so `Y` is
stored whole between them. `chain_loops` runs the second loop's trips
inside the first's, `d` trips behind, and feeds each of its windows from a
line buffer of `Y`'s last rows (an iteration argument), so `Y` is never
stored whole.

Built for two loops over the `H` rows of `Y`, the second's step `R` (rows
per trip, trip `j` at row `R j`) a multiple `k R1` of the first's `R1`.
The first (`L1`) inserts rows `[R1 t - lag, R1 t - lag + R1)` of `Y` at
its trip `t` (`lag` rows behind its own rows, `0 <= lag <= R1`; with
`lag > 0`, the first trip's rows above the output are trimmed off and the
last trip also inserts the last `lag` rows in an `scf.if`;
`imc.transforms.row_inserts`, checked trip by trip). A chained trip `i`
runs `k` trips of `L1` one after the other (its body cloned `k` times, at
`R i`, `R i + R1`, ...: a MobileNet block of one row per trip before a
stride-2 block of four), so it makes rows up to `R i + R - 1 - lag`. The
second (`L2`) reads `Y` only in its window of trip `j`, one of two kinds:

* *padded* (`R = 1`; stride 1, "same" padding: a ResNet block after a block
  of its shape): rows `[j - p, j - p + K)`, `p = (K - 1) / 2`, zero rows
  outside `Y`, in an `scf.if` of zeros or `Y`'s rows padded. Trip `j` needs
  rows up to `j + p`, which trip `j + p + lag` of `L1` makes: `d = p + lag`;
* *plain*: a slice of `W <= R` rows at `R j` (a MobileNet block whose trips
  read the rows of the stem's they stand for). Trip `j` needs rows up to
  `R j + W - 1`, made by trip `ceil((W + lag) / R) - 1` trips later; `d` is
  that, and at least 2.

A `d` of 1 is not built (a first or last loop of one trip would be inlined
by canonicalize). The chained loops:

* `P`, trips `[0, d)`: `L1`'s body (`k` times);
* `F`, trips `[d, H / R)`: `L1`'s body (`k` times), then `L2`'s at `j = i - d`;
* `E`, trips `[H / R - d, H / R)` of `L2`: `L2`'s body, its windows
  completed by the last rows `L1` made on its last trip and zero rows
  (the bottom padding).

Each trip of `P` and `F` pushes the `R` rows it makes onto the line buffer
(zero rows for rows above the output), which keeps the rows from the first
row of `L2`'s next window on: `K - 1` rows (padded), `R d - lag` (plain).
`L2`'s window is the first rows of the buffer and the pushed rows (padded
with zero columns). `L1`'s last `scf.if` yields its last rows instead of
inserting them; `E` pushes them, then zero rows. `L1`'s accumulator is gone:
`Y` is never assembled. `L2`'s output, assembled in `F` and then `E`, is
stored whole after `E` (`imc-place-buffers` stores row by row only an output
one loop assembles).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, scf, tensor

from imc.ir.utils import clone_into, constant_int, extract_slice, index_constant, loop_bounds, tensor_type, top_level
from imc.transforms.line_buffer import pad_columns, splat
from imc.transforms.row_inserts import RowInserts, row_inserts

__all__ = ["ChainPlan", "plan_chain", "chain_loops"]

_DYN = ir.ShapedType.get_dynamic_size()


@dataclass
class ChainPlan:
    """What `chain_loops` needs of two loops (see `plan_chain`)."""

    l1: ir.Operation
    l2: ir.Operation
    window_op: ir.Operation  # the op of L2 whose result is its window of Y (module doc)
    padded: bool  # the window is an scf.if of zeros or Y's rows padded (else a plain slice of Y)
    inserts: RowInserts  # how L1 inserts its rows (and drains its last `lag` rows)
    window: int  # rows of L2's window (`K` padded)
    left: int  # zero columns before and after a window's rows
    right: int
    height: int  # Y's rows
    rows: int  # rows per chained trip (L2's step)
    skew: int  # trips L2 runs behind L1 (chained trips)

    @property
    def unroll(self) -> int:
        """Trips of L1 per chained trip."""
        return self.rows // self.inserts.rows

    @property
    def lag(self) -> int:
        """Rows L1's trip makes behind its own rows."""
        return self.inserts.lag

    @property
    def buffer_rows(self) -> int:
        """Rows of Y the line buffer keeps between trips: from the first row
        of L2's next window to the last row L1 has made."""
        above = (self.window - 1) // 2 if self.padded else 0
        return self.rows * self.skew + above - self.lag


def plan_chain(l1, l2) -> ChainPlan | None:
    """The chaining of `l2` into `l1` (module doc), or None when they are not
    two such loops."""
    if l1.name != "scf.for" or l2.name != "scf.for" or l1.block != l2.block:
        return None
    b1, b2 = loop_bounds(l1), loop_bounds(l2)
    if None in b1 or None in b2 or b1[:2] != b2[:2] or b1[0] != 0 or b2[1] % b2[2] or b2[2] % b1[2]:
        return None
    height, rows = b2[1], b2[2]
    if len(l1.results) < 1 or not l2.results:
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
    found = _padded_window(read, body2, y_t) if rows == 1 else None
    padded = found is not None
    if found is None:
        found = _plain_window(read, body2, y_t, rows)
        if found is None:
            return None
    window_op, window, left, right = found
    inserts = row_inserts(l1)
    if inserts is None or len(list(l1.regions[0].blocks[0].arguments[1].uses)) != 1:
        return None  # (L1's accumulator must only assemble Y: chained, Y is never assembled)
    lag = inserts.lag
    if padded:  # (L2's trip j reads rows up to j + (K - 1) / 2, made lag trips later)
        skew = (window - 1) // 2 + lag
    else:  # (the first trip whose rows reach the window's last row, and at least 2)
        skew = max(-(-(window + lag) // rows) - 1, 2)
    plan = ChainPlan(l1, l2, window_op, padded, inserts, window, left, right, height, rows, skew)
    if plan.skew < 2 or height // rows <= plan.skew:
        return None  # (canonicalize would inline a P or E of one trip, whose rows `imc-place-buffers` then would not follow)
    return plan


def _padded_window(read, body2, y_t):
    """(window op, K, zero columns left, right) when L2 reads Y only through
    `read` in its padded window of `K` rows, `(K - 1) / 2` above its trip's
    row (an scf.if: zeros, or Y's rows padded with zeros), else None."""
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
    return window_if, kernel, low[3], high[3]


def _plain_window(read, body2, y_t, rows: int):
    """(window op, W, 0, 0) when L2 reads Y only through `read`, a slice of
    `W <= rows` whole rows at its induction variable (a loop whose trips read
    the rows they stand for: a MobileNet block after its stem), else None."""
    if top_level(read, body2) != read or len(read.operands) != 2 or read.operands[1] != body2.arguments[0]:
        return None
    offsets, sizes, strides = (list(ir.DenseI64ArrayAttr(read.attributes[k])) for k in ("static_offsets", "static_sizes", "static_strides"))
    n, c, _, w = y_t.shape
    if offsets != [0, 0, _DYN, 0] or strides != [1, 1, 1, 1] or sizes[:2] != [n, c] or sizes[3] != w or not 0 < sizes[2] <= rows:
        return None
    return read, sizes[2], 0, 0


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


def _push(buffer, new):
    """(`buffer`'s rows and `new` below them; those rows without their first
    as many as `new` has): a line buffer's rows of this trip and the buffer
    it leaves for the next."""
    t = ir.RankedTensorType(buffer.type)
    n, c, kept, w = t.shape
    r = ir.RankedTensorType(new.type).shape[2]
    et = t.element_type
    rows = tensor.concat(tensor_type([n, c, kept + r, w], et), 2, [buffer, new])
    return rows, extract_slice(rows, [0, 0, r, 0], [n, c, kept, w])


def _l1_trips(plan: ChainPlan, iv, carried: list, ip, drained=None):
    """L1's trips of the chained trip at `iv` (`plan.unroll` of them, at `iv`,
    `iv + R1`, ...) at `ip`, from its iteration arguments `carried` but the
    accumulator: returns (their yields but the accumulator's, the `R` rows
    they make, the last-trip `scf.if`'s rows or `drained`)."""
    body1 = plan.l1.regions[0].blocks[0]
    made, last = [], drained
    for u in range(plan.unroll):
        with ip:
            trip = iv if u == 0 else arith.AddIOp(iv, index_constant(u * plan.inserts.rows)).result
        mapping = {body1.arguments[0]: trip}
        mapping.update(zip(list(body1.arguments)[2:], carried))
        carried, new, last_u = _l1_trip(plan, mapping, ip, last)
        last = last_u if last_u is not None else last
        made.append(new)
    if len(made) == 1:
        return carried, made[0], last
    t = ir.RankedTensorType(made[0].type)
    n, c, _, w = t.shape
    with ip:
        rows = tensor.concat(tensor_type([n, c, plan.rows, w], t.element_type), 2, made)
    return carried, rows, last


def _l1_trip(plan: ChainPlan, mapping: dict, ip, drained=None):
    """L1's body at `ip` (its iv and iter_args already in `mapping`), without
    its accumulator: returns (its yields but the accumulator's, the rows it
    makes: zeros above the output, the last-trip `scf.if`'s rows or
    `drained`)."""
    body1 = plan.l1.regions[0].blocks[0]
    skip = {plan.inserts.insert, plan.inserts.drain_if, body1.operations[-1]}
    clone_into([op for op in body1.operations if op not in skip], mapping, ip)
    et = ir.RankedTensorType(plan.l1.results[0].type).element_type
    n, c, _, w = ir.RankedTensorType(plan.l1.results[0].type).shape
    r = plan.inserts.rows
    with ip:
        if plan.inserts.trim is None:
            new = mapping[plan.inserts.insert.operands[0]]
        else:  # the trimmed rows (fewer on the first trip) below zero rows
            kept = mapping[plan.inserts.trim.results[0]]
            count = tensor.dim(kept, index_constant(2))
            zeros = splat([n, c, r, w], et, ir.FloatAttr.get(et, 0.0))
            first = arith.SubIOp(index_constant(r), count).result
            new = tensor.InsertSliceOp(kept, zeros, [first], [count], [], [0, 0, _DYN, 0], [n, c, _DYN, w], [1, 1, 1, 1]).result
        last = None
        if plan.inserts.drain_if is not None and drained is not None:
            cond = mapping[plan.inserts.drain_if.operands[0]]
            drain_t = plan.inserts.drain_insert.operands[0].type
            branch = scf.IfOp(cond, [drain_t], has_else=True)
            then_block = plan.inserts.drain_if.regions[0].blocks[0]
            with ir.InsertionPoint(branch.then_block):
                inner = ir.InsertionPoint(branch.then_block)
                clone_into([op for op in then_block.operations if op not in (plan.inserts.drain_insert, then_block.operations[-1])], mapping, inner)
                scf.YieldOp([mapping[plan.inserts.drain_insert.operands[0]]])
            with ir.InsertionPoint(branch.else_block):
                scf.YieldOp([drained])
            last = branch.results[0]
    yields = [mapping[v] for v in list(body1.operations[-1].operands)[1:]]
    return yields, new, last


def _l2_trip(plan: ChainPlan, mapping: dict, ip, rows, zero) -> list:
    """L2's body at `ip`, its window of Y the first rows of `rows` (the line
    buffer's rows of this trip; padded with zero columns): its yields."""
    body2 = plan.l2.regions[0].blocks[0]
    with ip:
        if plan.padded:
            window = pad_columns(rows, plan.left, plan.right, zero)
        else:
            t = ir.RankedTensorType(rows.type)
            n, c, have, w = t.shape
            window = rows if have == plan.window else extract_slice(rows, [0, 0, 0, 0], [n, c, plan.window, w])
    mapping[plan.window_op.results[0]] = window
    clone_into([op for op in body2.operations if op not in (plan.window_op, body2.operations[-1])], mapping, ip)
    return [mapping[v] for v in body2.operations[-1].operands]


def chain_loops(plan: ChainPlan) -> ir.Operation:
    """Rewrites `plan.l1` and `plan.l2` into the loops P, F and E (module
    doc); returns E. The old loops are erased."""
    l1, l2 = plan.l1, plan.l2
    body2 = l2.regions[0].blocks[0]
    y_t = ir.RankedTensorType(l1.results[0].type)
    n, c, _, w = y_t.shape
    et = y_t.element_type
    r, height = plan.rows, plan.height
    behind = plan.skew * r  # (L2's induction variable is L1's minus this)
    inits1 = list(l1.operands)[4:]  # (its accumulator's init, operand 3, is dropped)
    inits2 = list(l2.operands)[3:]
    loc = l1.location
    with ir.InsertionPoint(l2), loc:
        zero = ir.FloatAttr.get(et, 0.0)
        c0, step, c_d, c_h, c_hd = (index_constant(v) for v in (0, r, behind, height, height - behind))
        buffer0 = splat([n, c, plan.buffer_rows, w], et, zero)
        zero_rows = splat([n, c, r, w], et, zero)
        drain0 = splat([n, c, plan.lag, w], et, zero) if plan.lag else None
        # P: trips [0, d) of L1.
        p = scf.ForOp(c0, c_d, step, [*inits1, buffer0])
        with ir.InsertionPoint(p.body):
            yields, new, _ = _l1_trips(plan, p.induction_variable, list(p.inner_iter_args)[:-1], ir.InsertionPoint(p.body))
            _, kept = _push(p.inner_iter_args[-1], new)
            scf.YieldOp([*yields, kept])
        # F: trips [d, H / R) of L1, each with trip i - d of L2.
        carried1 = list(p.results)[:-1]
        f_inits = [*carried1, p.results[-1], *([drain0] if drain0 is not None else []), *inits2]
        f = scf.ForOp(c_d, c_h, step, f_inits)
        m1 = len(carried1)
        with ir.InsertionPoint(f.body):
            args = list(f.inner_iter_args)
            drained = args[m1 + 1] if drain0 is not None else None
            yields, new, last = _l1_trips(plan, f.induction_variable, args[:m1], ir.InsertionPoint(f.body), drained)
            rows, kept = _push(args[m1], new)
            j = arith.SubIOp(f.induction_variable, c_d).result
            rest = args[m1 + 1 + (drain0 is not None):]
            mapping2 = {body2.arguments[0]: j}
            mapping2.update(zip(list(body2.arguments)[1:], rest))
            yields2 = _l2_trip(plan, mapping2, ir.InsertionPoint(f.body), rows, zero)
            scf.YieldOp([*yields, kept, *([last] if last is not None else []), *yields2])
        # E: trips [H / R - d, H / R) of L2: L1's last rows, then zero rows.
        f_res = list(f.results)
        pending0 = f_res[m1 + 1] if drain0 is not None else zero_rows
        e = scf.ForOp(c_hd, c_h, step, [f_res[m1], _rows_of(plan, pending0), *f_res[m1 + 1 + (drain0 is not None):]])
        with ir.InsertionPoint(e.body):
            args = list(e.inner_iter_args)
            pending = args[1]
            new = extract_slice(pending, [0, 0, 0, 0], [n, c, r, w])
            rows, kept = _push(args[0], new)
            below = _push(pending, zero_rows)[1]  # (the rows still to push, then zero rows)
            mapping2 = {body2.arguments[0]: e.induction_variable}
            mapping2.update(zip(list(body2.arguments)[1:], args[2:]))
            yields2 = _l2_trip(plan, mapping2, ir.InsertionPoint(e.body), rows, zero)
            scf.YieldOp([kept, below, *yields2])
    for old, new in zip(l2.results, list(e.results)[2:]):
        old.replace_all_uses_with(new)
    for old, new in zip(list(l1.results)[1:], f_res[:m1]):
        old.replace_all_uses_with(new)
    l2.erase()
    l1.erase()
    return e.operation


def _rows_of(plan: ChainPlan, pending0):
    """The `d * R` rows E pushes: L1's last `lag` rows (`pending0`), then zero rows."""
    t = ir.RankedTensorType(pending0.type)
    n, c, have, w = t.shape
    need = plan.skew * plan.rows
    if have == need:
        return pending0
    zeros = splat([n, c, need - have, w], t.element_type, ir.FloatAttr.get(t.element_type, 0.0))
    return tensor.concat(tensor_type([n, c, need, w], t.element_type), 2, [pending0, zeros])
