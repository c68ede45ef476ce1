"""Fused row loops in a row, each fed by the one before through a line buffer.

`imc-tile-rows` builds one row loop per fused group (a ResNet block: its two
convolutions through a line buffer, the skip add and ReLU on each row tile).
The next group's loop reads the first's output `Y` in row windows, so `Y` is
stored whole between them. `chain_loops` runs a run of such loops `L1, ...,
LN` as one software pipeline: each loop's trips run inside the loop of the
first's, a few trips behind the loop before, each window fed from a line
buffer of the last rows of the `Y` it reads (an iteration argument), so no
`Y` but the last loop's output is stored whole.

**Edges.** Loop `Lk` (k < N) makes `Yk` of `H` rows: over `[0, s H)` in
steps of `s m` (`s = 1`: a loop over its output rows; `s = 2`: a stride-2
block's loop over the rows it reads), trip `t` inserts rows `[m t - lag,
m t - lag + m)` (`lag` rows behind its own, `0 <= lag <= m`; with `lag > 0`
the first trip's rows above the output are trimmed off and the last trip
also inserts the last `lag` rows in an `scf.if`; `imc.transforms.row_inserts`,
checked trip by trip). `L(k+1)` reads `Yk` only in its window of trip `j`,
rows `[a j + a0, a j + a0 + K)`, one of two kinds:

* *padded*: an `scf.if` of zero rows or `Yk`'s rows padded with zero rows
  outside `Yk` (and zero columns), as tiling a convolution's padding
  builds it, its rows found trip by trip (`imc.transforms.row_windows`): a ResNet block
  after a block of its shape (`a = 1`, `a0 = -1`, `K = 3` for one row per
  trip) or of stride 2 (`a = 2`);
* *plain*: a slice of `K <= a` rows at `a j`, `a` its step, `a0 = 0` (a
  MobileNet block whose trips read the rows they stand for).

`a` times `L(k+1)`'s trips is `H`.

**Ticks.** A trip of the pipeline (a *tick*) runs `u_k` trips of each `Lk`,
one after the other (its body cloned `u_k` times), the loops' `T` ticks the
greatest common divisor of their trip counts (a MobileNet block of one row
per trip before a stride-2 block of four runs four trips a tick). A tick of
`Lk` makes `M = u_k m` rows of `Yk`, which `L(k+1)` reads in its tick.
`L(k+1)` runs `d` ticks behind `Lk`: its tick needs rows up to `M (t + 1) -
a + a0 + K - 1`, which `Lk` makes `d = ceil((K + a0 - a + lag) / M)` ticks
later; `d` is at least 2 (a phase of one tick would be inlined by
canonicalize, out of `imc-place-buffers`' sight). `Lk`'s line buffer keeps
`M d - a0 - lag` rows of `Yk`, from the first row of `L(k+1)`'s next window
on; each tick pushes the `M` rows `Lk` makes (zero rows above the output),
and `L(k+1)`'s trips read their windows from the buffer and the pushed rows
(padded with zero columns). `Lk`'s last `scf.if` yields its last rows
instead of inserting them; in the `d` ticks after `Lk`'s last, its buffer
gets them, then zero rows (the bottom padding).

**The first loop's input.** When `L1` reads a padded window of a tensor
defined before the loops (the model input), its trips' windows overlap (a
3x3 convolution's trips share two rows). The tick reads their union once
(`_Builder.merged_window`): whole in the first phase (its slab keeps the
rows the next tick reads again), and after it only the rows below those the
tick before kept, which the phases pass on as an iteration argument (a
slab starts empty in each loop: read whole, each phase would load the
overlap again).

**Phases.** `Lk` runs on ticks `[D_k, D_k + T)`, `D_1 = 0`, `D_(k+1) = D_k +
d_k`: one `scf.for` per phase between consecutive bounds, each running the
loops active in it (`N = 2`: `P` = `L1` alone, `F` = both, `E` = `L2`
alone). A phase's induction variable is that of the first loop it runs;
the others' are computed from it. Every phase has at least two ticks
(`T >= D_N + 2`). The accumulators of `L1, ..., L(N-1)` are gone: their
outputs are never assembled. `LN`'s output, assembled over its phases, is
stored whole after the last (`imc-place-buffers` stores row by row only an
output one loop assembles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, scf, tensor

from imc.ir.utils import clone_into, extract_slice, index_constant, loop_bounds, tensor_type, top_level
from imc.transforms.line_buffer import pad_columns, splat
from imc.transforms.row_inserts import RowInserts, row_inserts
from imc.transforms.row_windows import RowWindow, padded_rows, row_window

__all__ = ["Edge", "ChainPlan", "plan_edge", "plan_chain", "chain_loops"]

_DYN = ir.ShapedType.get_dynamic_size()


@dataclass
class Edge:
    """How loop `l2` reads the output `Y` of loop `l1` (module doc): its trip
    `j` reads rows `[advance j + a0, advance j + a0 + window)`."""

    l1: ir.Operation
    l2: ir.Operation
    window_op: ir.Operation  # the op of l2 whose result is its window of Y
    inserts: RowInserts  # how l1 inserts Y's rows (and drains its last `lag` rows)
    window: int  # rows of l2's window (`K` padded, `W` plain)
    left: int  # zero columns before and after a window's rows
    right: int
    advance: int  # rows of Y between l2's windows
    a0: int  # the first window's first row (`-p` padded, 0 plain)

    @property
    def lag(self) -> int:
        return self.inserts.lag


@dataclass
class ChainPlan:
    """What `chain_loops` needs of a run of loops (see `plan_chain`)."""

    loops: list  # L1, ..., LN
    edges: list  # edges[k]: from loops[k] to loops[k + 1]
    copies: list[int]  # u_k: trips of loops[k] per tick
    skews: list[int]  # skews[k]: ticks loops[k + 1] runs behind loops[k]
    ticks: int  # T
    input_window: RowWindow | None = None  # read once per tick for all the first loop's trips

    def made(self, k: int) -> int:
        """Rows of Y_k each tick of loops[k] makes (`M`)."""
        return self.copies[k] * self.edges[k].inserts.rows

    def buffer_rows(self, k: int) -> int:
        """Rows of Y_k the line buffer keeps between ticks: from the first row
        of loops[k + 1]'s next window to the last row loops[k] has made."""
        edge = self.edges[k]
        return self.made(k) * self.skews[k] - edge.a0 - edge.lag

    def starts(self) -> list[int]:
        """`D_k`: the first tick of each loop."""
        out = [0]
        for d in self.skews:
            out.append(out[-1] + d)
        return out


def plan_edge(l1, l2) -> Edge | None:
    """How `l2` reads `l1`'s output, when the two can chain (module doc), else None."""
    if l1.name != "scf.for" or l2.name != "scf.for" or l1.block != l2.block or not l1.results or not l2.results:
        return None
    lower, upper, step = loop_bounds(l2)
    if lower != 0 or None in (upper, step) or upper % step:
        return None
    y = l1.results[0]
    y_t = ir.RankedTensorType(y.type)
    if y_t.rank != 4 or not y_t.has_static_shape:
        return None
    uses = list(y.uses)
    if len(uses) != 1 or any(len(list(r.uses)) for r in list(l1.results)[1:]):
        return None  # (l1's other results, its line buffers, are not read after it)
    read = uses[0].owner.operation
    body2 = l2.regions[0].blocks[0]
    if read.name != "tensor.extract_slice":
        return None
    window_if = top_level(read, body2)
    if window_if is not None and window_if.name == "scf.if":
        padded = row_window(window_if, l2)
        if padded is None or padded.x != y or padded.a0 > 0:
            return None  # (a window below its trip's first row is not built)
        window_op, window, left, right, advance, a0 = window_if, padded.rows, padded.left, padded.right, padded.scale * step, padded.a0
    else:
        window = _plain_window(read, body2, y_t, step)
        if window is None:
            return None
        window_op, left, right, advance, a0 = read, 0, 0, step, 0
    if y_t.shape[2] != upper // step * advance:
        return None  # (l2's windows do not step over Y's rows)
    inserts = row_inserts(l1, scaled=True)
    if inserts is None or len(list(l1.regions[0].blocks[0].arguments[1].uses)) != 1:
        return None  # (l1's accumulator must only assemble Y: chained, Y is never assembled)
    return Edge(l1, l2, window_op, inserts, window, left, right, advance, a0)


def plan_chain(edges: list[Edge]) -> ChainPlan | None:
    """The pipeline of the loops that `edges` (consecutive: each edge's `l2`
    the next one's `l1`) connect (module doc), or None when a phase would
    have fewer than two ticks."""
    loops = [edges[0].l1] + [e.l2 for e in edges]
    trips = []
    for loop in loops:
        lower, upper, step = loop_bounds(loop)
        trips.append(upper // step)
    ticks = math.gcd(*trips)
    copies = [t // ticks for t in trips]
    skews = []
    for k, edge in enumerate(edges):
        # (its tick reads rows up to M (t + 1) - advance + a0 + K - 1; made M d - 1 - lag later)
        d = -(-(edge.window + edge.a0 - edge.advance + edge.lag) // (copies[k] * edge.inserts.rows))
        skews.append(max(d, 2))
    plan = ChainPlan(loops, edges, copies, skews, ticks)
    if ticks < plan.starts()[-1] + 2:
        return None
    plan.input_window = _input_window(loops[0])
    return plan


def _input_window(loop) -> RowWindow | None:
    """The first padded row window (`RowWindow`) of a tensor defined before
    `loop` that its body reads at its top level, else None: the tick reads
    the union of its trips' windows once, then passes the rows it keeps on
    from phase to phase (`_Builder.merged_window`)."""
    for op in loop.regions[0].blocks[0].operations:
        if op.operation.name == "scf.if" and (found := row_window(op.operation, loop)) is not None:
            return found
    return None


def _plain_window(read, body2, y_t, rows: int) -> int | None:
    """`W` when L2 reads Y only through `read`, a slice of `W <= rows` whole
    rows at its induction variable (a loop whose trips read the rows they
    stand for: a MobileNet block after its stem), else None."""
    if top_level(read, body2) != read or len(read.operands) != 2 or read.operands[1] != body2.arguments[0]:
        return None
    offsets, sizes, strides = (list(ir.DenseI64ArrayAttr(read.attributes[k])) for k in ("static_offsets", "static_sizes", "static_strides"))
    n, c, _, w = y_t.shape
    if offsets != [0, 0, _DYN, 0] or strides != [1, 1, 1, 1] or sizes[:2] != [n, c] or sizes[3] != w or not 0 < sizes[2] <= rows:
        return None
    return sizes[2]


def _rows_type(like, rows: int) -> ir.RankedTensorType:
    """`like`'s N x C x _ x W tensor type with `rows` rows."""
    t = ir.RankedTensorType(like.type)
    n, c, _, w = t.shape
    return tensor_type([n, c, rows, w], t.element_type)


def _zeros(like, rows: int) -> ir.Value:
    t = _rows_type(like, rows)
    return splat(list(t.shape), t.element_type, ir.FloatAttr.get(t.element_type, 0.0))


def _rows(value, first: int, count: int) -> ir.Value:
    """Rows `[first, first + count)` of `value` (N x C x H x W)."""
    n, c, _, w = ir.RankedTensorType(value.type).shape
    return extract_slice(value, [0, 0, first, 0], [n, c, count, w])


def _concat(parts: list) -> ir.Value:
    """`parts` (N x C x _ x W) one below the other."""
    if len(parts) == 1:
        return parts[0]
    rows = sum(ir.RankedTensorType(p.type).shape[2] for p in parts)
    return tensor.concat(_rows_type(parts[0], rows), 2, parts)


class _Builder:
    """Builds the phases of a `ChainPlan` (module doc) before its last loop."""

    def __init__(self, plan: ChainPlan):
        self.plan = plan
        self.n = len(plan.loops)
        self.starts = plan.starts()
        self.state: dict = {}  # key -> its value between phases (module doc)

    def layout(self, a: int, b: int) -> tuple[list, list]:
        """(the loops active in the phase of ticks [a, b), its iteration
        arguments: per loop its own, then its line buffer's rows, the rows
        its writer's last trip drains (in the phase of that trip) and, once
        its writer has ended, the rows still to push)."""
        plan, starts = self.plan, self.starts
        active = [k for k in range(self.n) if starts[k] <= a and b <= starts[k] + plan.ticks]
        keys = [("input",)] if 0 in active and plan.input_window is not None else []
        for k in range(self.n):
            if k in active:
                keys += [("carried", k, i) for i in range(len(self.carried_inits(k)))]
            if k == self.n - 1:
                break
            if k in active or k + 1 in active:
                keys.append(("buffer", k))
            if k in active and self.plan.edges[k].lag and b == starts[k] + plan.ticks:
                keys.append(("drained", k))
            if k not in active and k + 1 in active:
                keys.append(("pending", k))
        return active, keys

    def carried_inits(self, k: int) -> list:
        """The iteration arguments loops[k] keeps (all but its accumulator, but the last's)."""
        loop = self.plan.loops[k]
        return list(loop.operands)[3:] if k == self.n - 1 else list(loop.operands)[4:]

    def init(self) -> None:
        plan = self.plan
        if plan.input_window is not None:  # (the first phase reads its windows whole: never read)
            w = plan.input_window
            union, advance = self.input_rows()
            n, c, _, width = ir.RankedTensorType(w.x.type).shape
            et = ir.RankedTensorType(w.x.type).element_type
            self.state[("input",)] = splat([n, c, union - advance, width + w.left + w.right], et, ir.FloatAttr.get(et, 0.0))
        for k in range(self.n):
            for i, v in enumerate(self.carried_inits(k)):
                self.state[("carried", k, i)] = v
        for k, edge in enumerate(plan.edges):
            y = edge.l1.results[0]
            self.state[("buffer", k)] = _zeros(y, plan.buffer_rows(k))
            if edge.lag:
                self.state[("drained", k)] = _zeros(y, edge.lag)

    def phase(self, a: int, b: int) -> None:
        """The loop of ticks [a, b)."""
        plan, starts = self.plan, self.starts
        active, keys = self.layout(a, b)
        for k in range(self.n - 1):  # a loop that ended before: its line buffer gets its last rows, then zeros
            if ("pending", k) in keys and ("pending", k) not in self.state:
                y = plan.edges[k].l1.results[0]
                lag, need = plan.edges[k].lag, plan.skews[k] * plan.made(k)
                parts = [self.state[("drained", k)]] if lag else []
                self.state[("pending", k)] = _concat(parts + [_zeros(y, need - lag)])
        first = active[0]
        step = plan.copies[first] * loop_bounds(plan.loops[first])[2]
        lo, hi = (a - starts[first]) * step, (b - starts[first]) * step
        loop = scf.ForOp(index_constant(lo), index_constant(hi), index_constant(step), [self.state[key] for key in keys])
        with ir.InsertionPoint(loop.body):
            args = dict(zip(keys, loop.inner_iter_args))
            yields = self.tick(loop.induction_variable, step, first, active, args, a == 0)
            scf.YieldOp([yields[key] for key in keys])
        for key, result in zip(keys, loop.results):
            self.state[key] = result

    def stage_iv(self, iv, step: int, first: int, k: int, copy: int) -> ir.Value:
        """loops[k]'s induction variable for its `copy`-th trip of the tick at
        `iv` (the first active loop's)."""
        plan = self.plan
        own = loop_bounds(plan.loops[k])[2]
        per_tick = plan.copies[k] * own
        if per_tick == step:
            x = iv
        elif per_tick % step == 0:
            x = arith.MulIOp(iv, index_constant(per_tick // step)).result
        else:
            x = arith.MulIOp(arith.DivUIOp(iv, index_constant(step)).result, index_constant(per_tick)).result
        const = (self.starts[first] - self.starts[k]) * per_tick + copy * own
        if const < 0:  # (a later loop: behind the first active one)
            return arith.SubIOp(x, index_constant(-const)).result
        return x if const == 0 else arith.AddIOp(x, index_constant(const)).result

    def tick(self, iv, step: int, first: int, active: list, args: dict, first_phase: bool) -> dict:
        """One tick's ops at the current insertion point: returns the value
        each key yields."""
        plan = self.plan
        out = dict(args)
        merged = None  # the first loop's input window of the tick
        if ("input",) in args:
            merged, out[("input",)] = self.merged_window(iv, step, first, args[("input",)], first_phase)
        rows_in = None  # the rows the current loop's windows read (the buffer and the rows pushed)
        for k in range(self.n):
            made = self.run(k, iv, step, first, args, out, merged if k == 0 else rows_in) if k in active else None
            if k == self.n - 1 or ("buffer", k) not in args:
                rows_in = None
                continue
            m = plan.made(k)
            if made is None:  # (loops[k] has ended: its last rows, then zero rows)
                pending = args[("pending", k)]
                made = _rows(pending, 0, m)
                out[("pending", k)] = _concat([_rows(pending, m, (plan.skews[k] - 1) * m), _zeros(pending, m)])
            rows_in = _concat([args[("buffer", k)], made])
            kept = plan.buffer_rows(k)
            out[("buffer", k)] = _rows(rows_in, m, kept)
        return out

    def run(self, k: int, iv, step: int, first: int, args: dict, out: dict, rows_in):
        """loops[k]'s trips of the tick, their windows in `rows_in` (the first
        loop's: its merged input window, or None); returns the rows of its
        output they make (None for the last loop)."""
        plan = self.plan
        loop = plan.loops[k]
        body = loop.regions[0].blocks[0]
        last = k == self.n - 1
        carried = [args[("carried", k, i)] for i in range(len(self.carried_inits(k)))]
        drained = args.get(("drained", k))
        made = []
        ip = ir.InsertionPoint.current
        for copy in range(plan.copies[k]):
            mapping = {body.arguments[0]: self.stage_iv(iv, step, first, k, copy)}
            skip = {body.operations[-1]}
            if k == 0 and rows_in is not None:
                w = plan.input_window
                mapping[w.op.results[0]] = _rows(rows_in, w.scale * copy * loop_bounds(loop)[2], w.rows)
                skip.add(w.op)
            if k > 0:
                mapping[plan.edges[k - 1].window_op.results[0]] = self.window(k - 1, rows_in, copy)
                skip.add(plan.edges[k - 1].window_op)
            if last:
                mapping.update(zip(list(body.arguments)[1:], carried))
                clone_into([op for op in body.operations if op not in skip], mapping, ip)
                carried = [mapping.get(v, v) for v in body.operations[-1].operands]
                continue
            mapping.update(zip(list(body.arguments)[2:], carried))
            inserts = plan.edges[k].inserts
            skip |= {inserts.insert, inserts.drain_if}
            clone_into([op for op in body.operations if op not in skip], mapping, ip)
            made.append(self.new_rows(k, mapping))
            if inserts.drain_if is not None and drained is not None:
                drained = self.drain(k, mapping, drained)
            carried = [mapping.get(v, v) for v in list(body.operations[-1].operands)[1:]]
        for i, v in enumerate(carried):
            out[("carried", k, i)] = v
        if drained is not None and ("drained", k) in out:
            out[("drained", k)] = drained
        return None if last else _concat(made)

    def input_rows(self) -> tuple[int, int]:
        """(rows of the first loop's input window of a tick: its trips'
        windows' union, rows it advances by per tick)."""
        w = self.plan.input_window
        trip = loop_bounds(self.plan.loops[0])[2]
        per_tick = w.scale * trip * self.plan.copies[0]
        return per_tick - w.scale * trip + w.rows, per_tick

    def merged_window(self, iv, step: int, first: int, kept, whole: bool) -> tuple:
        """The first loop's input window (`RowWindow`) of all its trips in
        the tick: rows `[a, a + U)` of `x` (`input_rows`), `a` its first
        trip's, zero rows outside `x`. In the first phase read whole (an
        `scf.if` of zeros or the rows read and padded, as tiling builds a
        window: `imc-place-buffers` streams it through a slab that keeps the
        rows the next trip reads again); after it, the rows kept from the
        tick before (`kept`, an iteration argument across the phases: no row
        read again where a phase begins) and the `A` rows below them, read
        so. Returns (the window, the rows the next tick keeps)."""
        w = self.plan.input_window
        union, advance = self.input_rows()
        a = arith.AddIOp(arith.MulIOp(self.stage_iv(iv, step, first, 0, 0), index_constant(w.scale)).result, index_constant(w.a0)).result
        if whole:
            rows = padded_rows(w, a, union)
        else:
            rows = _concat([kept, padded_rows(w, arith.AddIOp(a, index_constant(union - advance)).result, advance)])
        return rows, _rows(rows, advance, union - advance)

    def window(self, k: int, rows_in, copy: int) -> ir.Value:
        """The window of edges[k]'s reader's `copy`-th trip: rows of `rows_in`
        (padded with zero columns)."""
        edge = self.plan.edges[k]
        rows = _rows(rows_in, copy * edge.advance, edge.window)
        et = ir.RankedTensorType(rows.type).element_type
        return pad_columns(rows, edge.left, edge.right, ir.FloatAttr.get(et, 0.0))

    def new_rows(self, k: int, mapping: dict) -> ir.Value:
        """The `m` rows of Y_k a trip of loops[k] makes: its tile, zeros above
        the output where the first trip's are trimmed."""
        inserts = self.plan.edges[k].inserts
        if inserts.trim is None:
            return mapping[inserts.insert.operands[0]]
        y = self.plan.edges[k].l1.results[0]
        n, c, _, w = ir.RankedTensorType(y.type).shape
        r = inserts.rows
        kept = mapping[inserts.trim.results[0]]
        count = tensor.dim(kept, index_constant(2))
        first = arith.SubIOp(index_constant(r), count).result
        return tensor.InsertSliceOp(kept, _zeros(y, r), [first], [count], [], [0, 0, _DYN, 0], [n, c, _DYN, w], [1, 1, 1, 1]).result

    def drain(self, k: int, mapping: dict, drained) -> ir.Value:
        """The last trip's `scf.if` yielding the last `lag` rows (else `drained`)."""
        inserts = self.plan.edges[k].inserts
        cond = mapping[inserts.drain_if.operands[0]]
        branch = scf.IfOp(cond, [inserts.drain_insert.operands[0].type], has_else=True)
        then_block = inserts.drain_if.regions[0].blocks[0]
        with ir.InsertionPoint(branch.then_block):
            inner = ir.InsertionPoint(branch.then_block)
            clone_into([op for op in then_block.operations if op not in (inserts.drain_insert, then_block.operations[-1])], mapping, inner)
            scf.YieldOp([mapping[inserts.drain_insert.operands[0]]])
        with ir.InsertionPoint(branch.else_block):
            scf.YieldOp([drained])
        return branch.results[0]


def chain_loops(plan: ChainPlan) -> None:
    """Rewrites `plan.loops` into the phases of their pipeline (module doc).
    The old loops are erased."""
    builder = _Builder(plan)
    last = plan.loops[-1]
    with ir.InsertionPoint(last), last.location:
        builder.init()
        bounds = sorted({*builder.starts, *(s + plan.ticks for s in builder.starts)})
        for a, b in zip(bounds, bounds[1:]):
            builder.phase(a, b)
    state = builder.state
    for k, loop in enumerate(plan.loops):
        results = list(loop.results) if k == len(plan.loops) - 1 else list(loop.results)[1:]
        for i, old in enumerate(results):
            old.replace_all_uses_with(state[("carried", k, i)])
    for loop in reversed(plan.loops):
        loop.erase()
