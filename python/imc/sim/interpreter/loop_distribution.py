"""Fast path of ``scf.for``: a loop's trips run op by op, so that an op whose
trips are independent runs all of them in one batched call.

A tiled stage (`imc-tile-rows`) is a loop over row tiles: each trip computes a
few rows of each of its contractions, so each trip's matmul reads all of a
layer's weights for a few rows. Run one trip after the other, the interpreter
pays that weight read once per trip. Run *distributed*, each op of the body
runs for every trip before the next op runs, and an op that a registered
*trip batcher* can take (`register_trip_batcher`: `imc.tiled_contract`)
computes all its trips at once.

Which order is legal. The body's ops form a graph: an edge from the op that
defines a value to each op that reads it, and from the op that defines a
yielded value to each op that reads the iter_arg it becomes in the next trip.
Memory adds edges both ways between two ops (top-level steps, with what their
nested ops do) whose accesses conflict: one writes a buffer (through any
view) that the other reads or writes (`MEMORY_EFFECTS`: a scratchpad slab
that a DMA loads and a halo read reads, in every trip), or both allocate or
free common scratchpad bytes while the other's buffer is live (`Allocation`:
a loop's load and store staging buffers, on the same bytes but one freed
before the other is allocated, do not conflict); an op the plan knows nothing
about conflicts with every access (`ANY`). The graph's strongly connected
components (a line buffer's concatenation and the slice of it carried to the
next trip, an output tensor inserted into trip by trip, a slab's loads and
reads) run trip by trip, one component after the other in an order that puts
every edge forward; each op of a component sees the values of its own trip,
and the arrays a component hands to later ones are copied after each trip
(`_Unit.snapshots`: a view of a buffer that the next trip writes again).
That computes the values of the trips in order. Ops with a batcher entry
change chip state: the body's such ops must pass every
`register_commute_check` (the crossbar programs put one tile on each place:
in any order they leave the same tiles and write as often), and when the loop
starts, each one's `safe` check (an `ideal` run: nothing drawn or rounded in
op order), else the trips run in order. Integer index arithmetic on the
induction variable (a tile's offsets) runs once per loop and trip range, not
once per call (`_Unit.memo`).

Counters and chip state are those of the trips in order, and each op runs
its checks on its trips in trip order (where several ops of a loop would fail
a check, the first to fail may be another than in the trips in order). A
batched matmul rounds as one matmul over the stacked rows (BLAS may sum a row
in another order than the matmul of its trip's rows alone: differences in the
last bits of float32), unless `Interpreter.exact_trips` has each trip's rows
multiplied on their own (the trips in order's values bit for bit, each trip
reading the weights again). Under a tracer, and with
`Interpreter.distribute_loops` false, loops run trip by trip.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, NamedTuple

import numpy as np
from torch_mlir import ir

from imc.ir.utils import buffer_root

from .core import _reads_within

__all__ = [
    "ANY", "Allocation", "DistributionPlan", "MEMORY_EFFECTS", "PURE_OPS", "distribution_plan",
    "register_commute_check", "register_memory_effects", "register_pure_op", "register_trip_batcher",
    "run_distributed",
]

# Ops (by name) that neither write memory nor change chip state: running them
# in another order than the trips' gives the same values.
PURE_OPS = {
    "tensor.extract_slice", "tensor.insert_slice", "tensor.concat", "tensor.pad", "tensor.generate",
    "tensor.collapse_shape", "tensor.expand_shape", "tensor.empty", "tensor.cast", "tensor.extract",
    "tensor.from_elements", "tensor.splat", "tensor.reshape", "tensor.dim", "tensor.yield",
    "bufferization.to_tensor", "memref.subview", "memref.expand_shape", "memref.collapse_shape",
    "memref.transpose", "memref.cast", "memref.reinterpret_cast",
    "scf.if", "scf.yield", "scf.execute_region", "scf.for", "linalg.yield", "linalg.index",
}
_PURE_PREFIXES = ("arith.", "math.", "interp.")

# What an op that touches memory reads and writes: name -> fn(op) -> (reads,
# writes), each a list of buffers (the memref a view was made from:
# `buffer_root`), `Allocation`s, or `ANY` (everything; what an op not named
# here nor pure is taken to write). The steps of a body whose accesses
# conflict (one writes what the other reads or writes) run in trip order
# together; the others, distributed.
ANY = "all memory and state"


class Allocation(NamedTuple):
    """What an allocation (`frees` False) or a free writes besides its buffer:
    the bytes [start, end) of a memory as `buffer`'s. Two buffers of the
    body on common bytes conflict only if their lifetimes in the body
    overlap: one freed before the other is allocated (the staging buffers of
    a loop's loads and stores, on the same bytes) run in any order, trip by
    trip each, and see the bytes as the trips in order do."""

    start: int
    end: int
    buffer: object
    frees: bool


_CHIP = "the chip's state"  # (what a batched op reads: its crossbars)
MEMORY_EFFECTS: dict[str, Callable] = {
    "bufferization.materialize_in_destination": lambda op: ([], [buffer_root(op.operands[1])]),
    "memref.copy": lambda op: ([buffer_root(op.operands[0])], [buffer_root(op.operands[1])]),
    "bufferization.to_tensor": lambda op: ([buffer_root(op.operands[0])], []),
}

# op name -> (safe(interp, op) -> bool, batch(interp, op, load, trips) -> per-trip results or None; or None)
_BATCHERS: dict[str, tuple[Callable, Callable | None]] = {}
# fn(interp, steps) -> bool, asked with the steps of a body's ops that have a batcher entry
_COMMUTE_CHECKS: list[Callable] = []

MIN_TRIPS = 2  # (a loop of one trip has nothing to batch)
_MEMO_CALLS = 4  # (trips, outside values) keys an index unit keeps values for

# Why a loop runs trip by trip, at DEBUG level (once per loop; e.g.
# `logging.basicConfig(level=logging.DEBUG)`).
log = logging.getLogger(__name__)


def register_pure_op(name: str) -> None:
    """Declares that ops named `name` write no memory and no chip state."""
    PURE_OPS.add(name)


def register_memory_effects(name: str, effects: Callable) -> None:
    """Declares what ops named `name` read and write: `effects(op)` ->
    (reads, writes) (see `MEMORY_EFFECTS`)."""
    MEMORY_EFFECTS[name] = effects


def register_trip_batcher(name: str, safe: Callable, batch: Callable | None = None) -> None:
    """Registers an op that changes state other than memory (e.g. a chip's
    crossbars), so that loops with it may run distributed.

    * `safe(interp, op)`: whether the op may run out of trip order now
      (asked for each such op of the body, nested ones too, when a loop
      starts);
    * `batch(interp, op, load, trips)`, if given, runs the op for trips
      0..trips-1 (`load(t)` puts trip t's values in the frame) and returns
      each trip's results; or None, having run nothing, to have them run one
      by one.

    Such ops must also pass every `register_commute_check`."""
    _BATCHERS[name] = (safe, batch)


def register_commute_check(check: Callable) -> None:
    """Registers `check(interp, steps)`: whether the ops of the steps of a
    loop body that have a `register_trip_batcher` entry (nested ones too)
    may run in any order among themselves (asked once, when the loop is
    planned)."""
    if check not in _COMMUTE_CHECKS:
        _COMMUTE_CHECKS.append(check)


class _Unit:
    """Steps of the body (indices, in program order) that run together, trip
    by trip; `batch`: a batcher for a lone step with no dependence on itself.

    `memo`, for an index unit (integer arithmetic on the induction variable,
    outside values and earlier index units' values: a tile's row offsets and
    sizes): its values per (trips, outside values) of earlier calls, which
    are the same in every call; None for other units."""

    __slots__ = ("steps", "batch", "memo", "snapshots")

    def __init__(self, steps, batch):
        self.steps = steps
        self.batch = batch
        self.memo = None
        # for a unit with steps in trip order (`_Effects.ordered`): the slots
        # its steps define that later units read, copied after each trip (a
        # buffer's contents as the trip left it: later trips write it again)
        self.snapshots = ()


class DistributionPlan:
    """How a loop body runs distributed (`distribution_plan`)."""

    __slots__ = ("units", "checked", "reads", "operands", "captured", "carried", "frees", "told", "index_outside")

    def __init__(self, units, checked, reads, carried, frees):
        self.told = False  # (whether a `safe` failure was logged)
        self.units = units
        self.checked = checked  # steps whose op's batcher entry's `safe` must pass
        self.reads = reads  # step index -> [(slot, source)]: source k >= 0 a step's value, -1 the iv, -2 - k iter_arg k
        # per step: its operands as (slot, source or None: from outside the loop); the reads of its nested ops
        self.operands, self.captured = {}, {}
        self.carried = carried  # iter_arg k -> (the slot yielded into it, whether the body defines it or None: itself)
        self.frees = frees  # unit index -> slots whose trip values no later unit reads
        self.index_outside: list[int] = []  # outside slots the index units (`_Unit.memo`) read


class _Effects:
    """What a loop body does besides computing values: the steps of ops a
    batcher entry must clear (`checked`), the buffers each step reads and
    writes (its nested ops' too), and the steps whose accesses conflict with
    another step's (`ordered`: they run in trip order)."""

    def __init__(self, steps):
        self.checked = []
        self.reads: dict[int, list] = {}  # step -> what it reads (buffer roots)
        self.writes: dict[int, list] = {}  # step -> what it writes (roots, `Allocation`s, ANY)
        for i, step in enumerate(steps):
            self._step = i
            self._record(step)
        self.lifetime: dict[object, tuple[float, float]] = {}  # buffer -> (its allocation's step, its free's)
        for i, writes in self.writes.items():
            for w in writes:
                if isinstance(w, Allocation):
                    first, last = self.lifetime.get(w.buffer, (-math.inf, math.inf))
                    self.lifetime[w.buffer] = (first, i) if w.frees else (i, last)
        accessing = sorted(set(self.reads) | set(self.writes))
        self.conflicts = [(i, j) for i in accessing for j in accessing if i < j and self._conflict(i, j)]
        self.ordered = sorted({k for pair in self.conflicts for k in pair})

    def _conflict(self, i: int, j: int) -> bool:
        """Whether steps i and j access a buffer (or state) that one of them writes."""
        wi, wj = self.writes.get(i, ()), self.writes.get(j, ())
        ri, rj = self.reads.get(i, ()), self.reads.get(j, ())
        if (ANY in wi and (wj or rj)) or (ANY in wj and (wi or ri)):
            return True
        if any(self._overlap(a, b) for a in wi if isinstance(a, Allocation) for b in wj if isinstance(b, Allocation)):
            return True
        return any(w == x for w in wi for x in [*wj, *rj]) or any(w == x for w in wj for x in ri)

    def _overlap(self, a: Allocation, b: Allocation) -> bool:
        """Whether two buffers' bytes and lifetimes overlap."""
        if a.buffer == b.buffer or a.end <= b.start or b.end <= a.start:
            return False
        (a0, a1), (b0, b1) = self.lifetime[a.buffer], self.lifetime[b.buffer]
        return not (a1 < b0 or b1 < a0)

    def _record(self, step) -> None:
        op = step[1]
        name = op.name
        if name in _BATCHERS:  # (its chip state: see `register_commute_check`; ANY conflicts with it)
            self.checked.append(step)
            self.reads.setdefault(self._step, []).append(_CHIP)
            return
        effects = MEMORY_EFFECTS.get(name)
        if effects is None and (
            any(isinstance(v.type, ir.MemRefType) for v in op.ir.operands)
            if name.startswith("linalg.")
            else name not in PURE_OPS and not name.startswith(_PURE_PREFIXES)
        ):
            effects = _unknown_effects
        if effects is not None:
            reads, writes = effects(op.ir)
            self.reads.setdefault(self._step, []).extend(reads)
            self.writes.setdefault(self._step, []).extend(writes)
        for region in op.regions:
            for block in region.blocks:
                for sub in block.steps:
                    self._record(sub)


def _unknown_effects(op):
    return [], [ANY]


def distribution_plan(interp, block) -> DistributionPlan | None:
    """The order in which `block` (an `scf.for` body) runs distributed, or
    None if it may not (an op that writes memory, or chip state in an order
    that matters) or would gain nothing (no op to batch)."""
    steps, args, yields = block.steps, block.arg_slots, block.yield_slots
    if len(args) != len(yields) + 1:
        return None
    effects = _Effects(steps)
    ordered = effects.ordered
    checked = effects.checked
    if not all(check(interp, checked) for check in _COMMUTE_CHECKS):
        return _trip_by_trip(block, "its crossbar ops do not commute (a place of a crossbar takes two tiles)")
    defined = {s: i for i, (_, _, _, outs) in enumerate(steps) for s in outs}
    arg_index = {s: k for k, s in enumerate(args)}
    # iter_arg k -> (the slot yielded into it, whether a step of the body
    # defines it: True, False (an outside value), None (the iter_arg itself))
    carried = []
    for k, s in enumerate(yields):
        if s in arg_index:
            if arg_index[s] != k + 1:
                return None  # an iter_arg yielded as another: rare, not handled
            carried.append((s, None))  # (e.g. a tensor whose rows the body stores to memory)
            continue
        carried.append((s, s in defined))
    reads, edges = {}, [set() for _ in steps]
    for i, (_, op, ins, _) in enumerate(steps):
        mine = []
        for s in set(ins).union(_reads_within(op)):
            if s in defined:
                mine.append((s, defined[s]))
                edges[defined[s]].add(i)
            elif s in arg_index:
                k = arg_index[s]
                mine.append((s, -1 if k == 0 else -1 - k))
                if k and carried[k - 1][1]:
                    edges[defined[carried[k - 1][0]]].add(i)  # trip t's yield, read in trip t + 1
        reads[i] = mine
    for i, j in effects.conflicts:
        edges[i].add(j)  # (i's trip t before j's trip t, and j's before i's trip t + 1: one component)
        edges[j].add(i)
    units = []
    for comp in _components(edges):
        name = steps[comp[0]][1].name
        alone = len(comp) == 1 and comp[0] not in edges[comp[0]]
        units.append(_Unit(comp, _BATCHERS[name][1] if alone and name in _BATCHERS else None))
    if not any(u.batch is not None for u in units):
        batched = {i for i, reads_of in effects.reads.items() if _CHIP in reads_of}
        for unit in units:
            pair = next((p for p in effects.conflicts if set(p) <= set(unit.steps)), None)
            if pair is not None and batched.intersection(unit.steps):
                a, b = (steps[i][1] for i in pair)
                return _trip_by_trip(
                    block,
                    f"'{a.name}' at {a.location} and '{b.name}' at {b.location} access a buffer that one of "
                    "them writes, and its batched ops lie on the cycle between them",
                )
        return _trip_by_trip(block, "no op of the body batches its trips")
    unit_of = {i: u for u, unit in enumerate(units) for i in unit.steps}
    in_order = set(ordered)
    for u, unit in enumerate(units):
        if in_order.intersection(unit.steps):
            mine = {s for i in unit.steps for s in steps[i][3]}
            unit.snapshots = sorted(
                {s for i, read in reads.items() if unit_of[i] != u for s, _ in read if s in mine}
                | {s for s, inside in carried if inside and s in mine}
            )
    last_unit = {}
    for u, unit in enumerate(units):
        for i in unit.steps:
            for s, _ in reads[i]:
                last_unit[s] = u
    for s, inside in carried:
        if inside:
            last_unit[s] = len(units)  # (kept to the end: the loop's results)
    frees = {}
    for s, u in last_unit.items():
        if s in defined and u < len(units):
            frees.setdefault(u, []).append(s)
    plan = DistributionPlan(units, checked, reads, carried, frees)
    for i, (_, _, ins, _) in enumerate(steps):
        read = dict(reads[i])
        plan.operands[i] = [(s, read.get(s)) for s in ins]
        plan.captured[i] = [(s, src) for s, src in reads[i] if s not in ins]
    _mark_index_units(plan, steps, {s for s, inside in carried if inside})
    return plan


def _is_index_op(op) -> bool:
    """Integer arithmetic (no regions): its values are those of its operands'."""
    return (
        op.name.startswith("arith.")
        and not op.regions
        and all(isinstance(r.type, (ir.IndexType, ir.IntegerType)) for r in op.ir.results)
    )


def _mark_index_units(plan: DistributionPlan, steps: list, yielded: set) -> None:
    """Gives `_Unit.memo` to the units of index ops whose operands are the
    induction variable, outside values or earlier index units' values
    (none yielded), and `plan.index_outside` the outside slots they read."""
    index_steps: set[int] = set()
    outside: list[int] = []
    for unit in plan.units:
        if not all(_is_index_op(steps[i][1]) for i in unit.steps):
            continue
        if any(s in yielded for i in unit.steps for s in steps[i][3]):
            continue
        sources = [(s, src) for i in unit.steps for s, src in plan.operands[i]]
        if any(src is not None and src != -1 and src not in index_steps for _, src in sources):
            continue  # (an iter_arg, or a value of another kind of op)
        unit.memo = {}
        index_steps.update(unit.steps)
        outside.extend(s for s, src in sources if src is None and s not in outside)
    plan.index_outside = outside


def _trip_by_trip(block, why: str) -> None:
    """Logs (DEBUG) why the loop of `block` runs trip by trip."""
    if log.isEnabledFor(logging.DEBUG) and block.steps:
        loop = block.steps[0][1].ir.operation.parent
        log.debug("scf.for at %s runs trip by trip: %s", loop.location if loop is not None else "?", why)
    return None


def _components(edges: list[set]) -> list[list[int]]:
    """Strongly connected components of the graph (Tarjan, iterative), in an
    order where every edge between components goes forward; among components
    free to go first, the one with the earliest step (program order)."""
    n = len(edges)
    index, low, on_stack, stack, comp_of = [-1] * n, [0] * n, [False] * n, [], [-1] * n
    comps: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, iter(sorted(edges[w]))))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp_of[w] = len(comps)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(sorted(comp))
    # Kahn over the condensation, earliest first step first.
    import heapq

    succ = [set() for _ in comps]
    indeg = [0] * len(comps)
    for v in range(n):
        for w in edges[v]:
            a, b = comp_of[v], comp_of[w]
            if a != b and b not in succ[a]:
                succ[a].add(b)
                indeg[b] += 1
    ready = [(comps[c][0], c) for c in range(len(comps)) if indeg[c] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, c = heapq.heappop(ready)
        order.append(comps[c])
        for d in succ[c]:
            indeg[d] -= 1
            if indeg[d] == 0:
                heapq.heappush(ready, (comps[d][0], d))
    return order


def run_distributed(interp, plan: DistributionPlan, block, ivs: list, carried: list) -> list | None:
    """Runs the trips `ivs` of `block` distributed (see the module doc);
    None, having run nothing, if a batcher's `safe` check fails."""
    for _, op, _, _ in plan.checked:
        if not _BATCHERS[op.name][0](interp, op):
            if not plan.told:
                plan.told = True
                _trip_by_trip(block, f"'{op.name}' at {op.location} may not run out of trip order in this run")
            return None
    steps = block.steps
    env = interp.env
    n = len(ivs)
    iv_slot = block.arg_slots[0]
    on_op = interp._on_op
    values: dict[int, list] = {}  # slot -> its value in each trip
    # iter_arg k -> its value in each trip, and after the last (the loop's results)
    args = [
        [c] * (n + 1) if inside is None else [c] + [None if inside else env[s]] * n
        for c, (s, inside) in zip(carried, plan.carried)
    ]
    yielded: dict[int, list] = {}  # slot -> the iter_args' trip lists it fills (shifted by one trip)
    for k, (s, inside) in enumerate(plan.carried):
        if inside:
            yielded.setdefault(s, []).append(args[k])

    def trips_of(s, src):
        """The per-trip list of a slot read from `src` (see `DistributionPlan.reads`)."""
        return values[s] if src >= 0 else ivs if src == -1 else args[-2 - src]

    def hooked(op):
        return on_op is not None and (op.hooked if op.hooked is not None else interp.hooks_want(op))

    index_key = None  # (trips, outside values): what the index units' values depend on
    for u, unit in enumerate(plan.units):
        memo = unit.memo
        if memo is not None:
            if any(hooked(steps[i][1]) for i in unit.steps):
                memo = None
            else:
                if index_key is None:
                    index_key = (tuple(ivs), tuple(env[s] for s in plan.index_outside))
                try:
                    known = memo.get(index_key)
                except TypeError:  # (an outside value that is not a number)
                    known = memo = None
                if known is not None:
                    values.update(known)
                    for s in plan.frees.get(u, ()):
                        del values[s]
                    continue
        for i in unit.steps:
            for s in steps[i][3]:
                values[s] = [None] * n
        results = None
        if unit.batch is not None:
            fn, op, ins, outs = steps[unit.steps[0]]
            reads = [(s, trips_of(s, src)) for s, src in plan.reads[unit.steps[0]]]

            def load(t):
                env[iv_slot] = ivs[t]
                for s, trips in reads:
                    env[s] = trips[t]

            results = unit.batch(interp, op, load, n)
            if results is not None:
                report = hooked(op)
                for t, res in enumerate(results):
                    for s, r in zip(outs, res):
                        values[s][t] = r
                        for trips in yielded.get(s, ()):
                            trips[t + 1] = r
                    if report:
                        load(t)
                        on_op(op, [env[s] for s in ins], res)
        if results is None:
            runs = []
            for i in unit.steps:
                fn, op, ins, outs = steps[i]
                operands = [(s, None if src is None else trips_of(s, src)) for s, src in plan.operands[i]]
                captured = [(s, trips_of(s, src)) for s, src in plan.captured[i]]
                targets = [(values[s], yielded.get(s, ())) for s in outs]
                runs.append((fn, op, operands, captured, targets, hooked(op)))
            snapshots = [(values[s], yielded.get(s, ())) for s in unit.snapshots]
            for t in range(n):
                env[iv_slot] = ivs[t]
                for fn, op, operands, captured, targets, report in runs:
                    for s, trips in captured:
                        env[s] = trips[t]
                    op_args = [env[s] if trips is None else trips[t] for s, trips in operands]
                    try:
                        res = fn(interp, op, op_args)
                    except Exception as e:
                        raise op.failure(e)
                    for (trips, shifted), r in zip(targets, res):
                        trips[t] = r
                        for later in shifted:
                            later[t + 1] = r
                    if report:
                        on_op(op, op_args, res)
                for trips, shifted in snapshots:
                    if isinstance(trips[t], np.ndarray):
                        trips[t] = trips[t].copy()
                        for later in shifted:
                            later[t + 1] = trips[t]
        if memo is not None:
            if len(memo) >= _MEMO_CALLS:
                memo.pop(next(iter(memo)))
            memo[index_key] = {s: values[s] for i in unit.steps for s in steps[i][3]}
        for s in plan.frees.get(u, ()):
            del values[s]
    return [trips[n] for trips in args]
