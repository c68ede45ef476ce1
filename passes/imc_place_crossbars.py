"""`imc-place-crossbars`: assign weight tiles to the chip's physical crossbars."""

from dataclasses import dataclass, field

from torch_mlir import ir

from imc.dialects.imc import MvmOp, ProgramOp, XbarType, build, shaped_bytes
from imc.dialects.imc_ops import MvmView, ProgramView
from imc.ir.cost_events import event_rates, mvm_events, mvm_steps, resource_ns, shares_periphery
from imc.ir.utils import WEIGHT_VIEW_OPS, walk_ops
from imc.transforms.pass_base import ImcPass


def pack_diagonally(shapes: list[tuple[int, int]], rows: int, cols: int) -> list[tuple[int, int, int]]:
    """(slot, row, col) per tile: tiles share a crossbar along its diagonal.

    Tiles in one crossbar use disjoint rows and disjoint columns, so each MVM
    drives only its own rows and reads only its own columns. Greedy in program
    order: a tile goes to the current crossbar if it fits below-right of the
    previous one, else it opens the next crossbar.
    """
    out, slot, r_used, c_used = [], -1, rows, cols
    for r, c in shapes:
        if r_used + r > rows or c_used + c > cols:
            slot, r_used, c_used = slot + 1, 0, 0
        out.append((slot, r_used, c_used))
        r_used, c_used = r_used + r, c_used + c
    return out


@dataclass(frozen=True)
class Reprogramming:
    """What executing a placed program costs in crossbar programming.

    `first_call_*` start from empty crossbars; `per_call_*` are every later
    call (crossbars keep their contents between calls). `exact` is False
    when a loop around an `imc.program` has no constant trip count (it is
    then counted once) or a branch holds one (both branches are counted).
    """

    first_call_cells: int
    first_call_events: int
    per_call_cells: int
    per_call_events: int
    exact: bool = True


def reprogramming(module, keys: "TileKeys | None" = None, views=()) -> Reprogramming:
    """Replays the `imc.program`s of the entry function in execution order
    (loops unrolled by their constant trip counts) on a model of the chip's
    crossbars, the interpreter's: a program writes its tile at its offset of
    crossbar `array` unless that exact tile is already there, and drops the
    tiles it overlaps. A tile is the program's weight value and bit slice
    (`_tile_key`: the same slice of the same weights programmed by two ops
    is one tile).
    Returns the cells and events of the first and of every later call, so
    that a remark states what a run will count (`ImcPlaceCrossbars`).
    `keys` are the tile keys to share (the pass computed them already);
    `views` (`ProgramView`s of programs, placed) give what replaying reads
    of their ops without reading the ops again.
    """
    from imc.ir.utils import find_entry

    func = find_entry(module)
    state: dict[int, dict[tuple[int, int], tuple]] = {}
    exact = [True]
    # program op -> what `_program` reads of it, ("block", block) -> `_replayed_ops`
    # (computed once, replayed per trip)
    tiles: dict = {}
    tiles[_KEYS] = TileKeys() if keys is None else keys
    for view in views:
        tiles[view.op] = _program_facts(view, tiles[_KEYS])
    first = _replay(func.regions[0].blocks[0], state, exact, tiles)
    later = _replay(func.regions[0].blocks[0], state, exact, tiles)
    return Reprogramming(first[0], first[1], later[0], later[1], exact[0])


def _replay(block, state, exact, tiles) -> list[int]:
    """Programs `block` on `state` in order; returns [cells, events]."""
    cost = [0, 0]
    for name, op in _replayed_ops(block, tiles):
        if name == ProgramOp.OPERATION_NAME:
            _program(op, state, cost, tiles)
        elif name == "scf.for":
            trips = _trip_count(op)
            if trips is None:
                exact[0], trips = False, 1
            body = op.regions[0].blocks[0]
            before = _snapshot(state)
            for trip in range(trips):
                c = _replay(body, state, exact, tiles)
                after = _snapshot(state)
                if after == before:  # a fixed point: every later trip costs the same
                    cost[0] += c[0] * (trips - trip)
                    cost[1] += c[1] * (trips - trip)
                    break
                cost[0] += c[0]
                cost[1] += c[1]
                before = after
        else:  # branches and other regions: each once
            if name != "scf.execute_region":
                exact[0] = False
            for region in op.regions:
                for b in region.blocks:
                    c = _replay(b, state, exact, tiles)
                    cost[0] += c[0]
                    cost[1] += c[1]
    return cost


def _replayed_ops(block, tiles) -> list[tuple[str, ir.Operation]]:
    """(name, op) of the ops of `block` that replaying it visits: programs
    and ops with regions that hold programs, read once per block (in
    `tiles`) and shared by both calls and every trip of a loop."""
    key = ("block", block)
    found = tiles.get(key)
    if found is None:
        found = tiles[key] = []
        for view in block.operations:
            op = view.operation
            name = op.name
            if name == ProgramOp.OPERATION_NAME or (len(op.regions) and walk_ops(op, {ProgramOp.OPERATION_NAME})):
                found.append((name, op))
    return found


def _program(op, state, cost, tiles) -> None:
    found = tiles.get(op)
    if found is None:
        found = tiles[op] = _program_facts(ProgramView(op), tiles[_KEYS])
    array, (rows, cols), offset, tile = found
    held = state.get(array, {}) if array >= 0 else {}
    if offset in held and held[offset][0] == tile:
        return
    cost[0] += rows * cols
    cost[1] += 1
    if array >= 0:
        (r1, c1) = offset

        def overlaps(r0, c0, h0, w0):
            return r0 < r1 + rows and r1 < r0 + h0 and c0 < c1 + cols and c1 < c0 + w0

        kept = {k: t for k, t in held.items() if not overlaps(*k, *t[1])}
        kept[offset] = (tile, (rows, cols))
        state[array] = kept


_KEYS = "keys"
"""The key of `_replay`'s `tiles` under which its `TileKeys` live."""


def _program_facts(program: ProgramView, keys: "TileKeys") -> tuple:
    """(array, (rows, cols), offset, tile) of an `imc.program` (its view): what replaying it reads."""
    tile = keys(program.op) or (program.weight, program.slice, program.cell_bits, program.weight_bits, int(program.transpose))
    return program.array, program.tile_shape, program.offset, tile


def _snapshot(state) -> dict:
    return {a: dict(t) for a, t in state.items()}


def _executions(op) -> int:
    """How many times `op` runs per call: the product of the constant trip
    counts of the loops around it (1 for a loop without one)."""
    n, parent = 1, op.parent
    while parent is not None and parent.name != "func.func":
        if parent.name == "scf.for":
            n *= _trip_count(parent) or 1
        parent = parent.parent
    return n


def _time_multiplexed(slot_cells: list, total: int, pool: int, required: set = frozenset()) -> tuple[list[int], int]:
    """(crossbar per slot, rotating slots): `required` and then the slots
    that cost the most cells per call (or whatever `slot_cells` ranks
    highest) fill the `total - pool` resident crossbars; the others rotate,
    in program order, over the last `pool`."""
    resident_slots = total - pool
    order = sorted((i for i in range(len(slot_cells)) if i not in required), key=slot_cells.__getitem__, reverse=True)
    resident = set(required) | set(order[: resident_slots - len(required)])
    assignment, next_slot, rotating = [], 0, 0
    for i in range(len(slot_cells)):
        if i in resident:
            assignment.append(next_slot)
            next_slot += 1
        else:
            assignment.append(resident_slots + rotating % pool)
            rotating += 1
    return assignment, rotating


def _widened_pool(loops: dict, slot_cells: list[int], total: int) -> tuple:
    """`_time_multiplexed` with the automatic pool: the fewest rotating
    crossbars P such that every loop keeps all but at most P of its slots
    resident (a loop's rotating slots would evict each other on every trip
    if they were more than the pool), each loop keeping its costliest slots.
    One crossbar when there is no loop; when even P = `total` cannot hold
    a loop, one crossbar too (that loop reprograms on every trip).
    `loops` maps each loop to its slots (`_loop_slots`).
    Returns (pool, assignment, rotating, what the remark adds)."""
    sizes = [len(slots) for slots in loops.values()]
    pool = next((p for p in range(1, total + 1) if sum(max(0, n - p) for n in sizes) <= total - p), 1)
    placed = _pooled(loops, slot_cells, total, pool)
    if placed is None:  # (loops that share slots; keep it simple)
        pool, placed = 1, _time_multiplexed(slot_cells, total, 1)
    widened = " (each loop keeps all but that many of its tiles resident: each once per call, not on every trip)" if pool > 1 else ""
    return (pool, *placed, widened)


def _loop_slots(programs, packed) -> dict:
    """The outermost loop around each program that has one -> its slots."""
    loops: dict = {}
    for op, (slot, _, _) in zip(programs, packed):
        loop = _outer_loop(op)
        if loop is not None:
            loops.setdefault(loop, set()).add(slot)
    return loops


def _pooled(loops: dict, slot_cells: list[int], total: int, pool: int, rank: list | None = None) -> tuple | None:
    """`_time_multiplexed` over `pool` crossbars with each loop keeping all
    but `pool` of its slots resident (its costliest); None when those do not
    fit the `total - pool` resident crossbars. The other residents are the
    slots `rank` ranks highest (default: `slot_cells`)."""
    required = set()
    for slots in loops.values():
        keep = len(slots) - pool
        if keep > 0:
            required.update(sorted(slots, key=lambda i: -slot_cells[i])[:keep])
    if len(required) > total - pool:
        return None
    return _time_multiplexed(slot_cells if rank is None else rank, total, pool, required)


def _balanced_pool(
    views, packed, loops: dict, slot_cells: list[int], total: int, unwidened: tuple, latency, cell_bits: int
) -> tuple | None:
    """The automatic pool widened for time (objective throughput, latency or pipeline):
    a rotating crossbar performs the MVMs of every tile it holds in turn and
    writes each of them on every call, so a pool of a few crossbars holding
    most of a model's tiles is the chip's bottleneck while thousands of
    resident crossbars wait. Each MVM of a tile costs its input rows x input
    cycles x executions steps of `latency.mvm` (MVMs of tiles packed on one
    crossbar that read the same input count once: they share an
    activation); a rotating tile also costs its
    rows x `latency.cell_program` per call. The residents are then the
    busiest slots (not the costliest to reprogram; loops still keep theirs),
    and the pool widens from `fewest` to a P (found by doubling, then
    bisection) at which the busiest rotating crossbar is no busier than the
    busiest resident one, or, if none is, to the P with the least busy
    crossbar among those tried (the doubling steps and up to `_NEAR` pools
    around the best of them); each crossbar taken from the residents makes one more tile rotate
    (its cells are reprogrammed on every call, and read from DRAM again: the
    energy objective keeps `fewest`). Of the pools tried, the one taken has
    the least per-call time of the busiest of: the busiest resident
    crossbar, the busiest rotating one, and the DRAM channel reading the
    rotating tiles' weights (cells x `cell_bits` / 8 bytes at
    `latency.dram_read_byte`), which grows as the pool widens; it is not
    taken unless that time is less than `unwidened`'s (`_widened_pool`'s
    placement over `fewest`): a pool that shortens crossbars that are not
    the bottleneck would only re-read more weights. `views`: the programs'
    `ProgramView`s. Returns `_widened_pool`'s tuple, or None to keep
    `unwidened`."""
    busy, program, cells = _slot_times(views, packed, len(slot_cells), latency)
    rank = list(zip(busy, slot_cells))
    read_ns = [c * cell_bits / 8 * latency.dram_read_byte for c in cells]  # a rotating slot's weights, per call

    def loads(assignment, pool) -> tuple[float, float, float]:
        """(busiest resident crossbar, busiest rotating crossbar, DRAM reads
        of the rotating tiles' weights) per call."""
        per_array = [0.0] * total
        dram = 0.0
        for slot, array in enumerate(assignment):
            rotates = array >= total - pool
            per_array[array] += busy[slot] + (program[slot] if rotates else 0.0)
            if rotates:
                dram += read_ns[slot]
        return max(per_array[: total - pool], default=0.0), max(per_array[total - pool :], default=0.0), dram

    def placed(pool):
        found = _pooled(loops, slot_cells, total, pool, rank)
        return None if found is None else (pool, *found, *loads(found[0], pool))

    fewest = unwidened[0]
    first = placed(fewest)
    if first is None or first[4] <= first[3]:
        return None
    tried = [first]
    low, high = fewest, None
    pool = fewest
    while high is None and pool < total:
        pool = min(total, pool * 2)
        found = placed(pool)
        if found is None:
            break
        tried.append(found)
        if found[4] <= found[3]:
            high = pool
        else:
            low = pool
    while high is not None and high - low > 1:
        mid = (low + high) // 2
        found = placed(mid)
        if found is not None:
            tried.append(found)
        if found is not None and found[4] <= found[3]:
            high = mid
        else:
            low = mid
    fits = [t for t in tried if t[4] <= t[3]]
    if not fits:  # the doubling steps may skip the best pool: try every pool near the best one
        near = min(tried, key=lambda t: (max(t[3], t[4]), t[0]))[0]
        seen = {t[0] for t in tried}
        for p in range(max(fewest, near // 2), min(total, near * 2, near // 2 + _NEAR) + 1):
            found = placed(p) if p not in seen else None
            if found is not None:
                tried.append(found)
    best = min(fits, key=lambda t: t[0]) if fits else min(tried, key=lambda t: (max(t[3], t[4]), t[0]))
    best = min([best] + tried, key=lambda t: (max(t[3:6]), t is not best, t[0]))  # the DRAM reads count too
    pool, assignment, rotating, resident, rotating_busiest, _ = best
    if pool == fewest or max(loads(unwidened[1], fewest)) <= max(best[3:6]):
        return None
    why = (
        "so that no rotating crossbar is busier than the busiest resident one"
        if rotating_busiest <= resident
        else "to the pool whose busiest crossbar comes closest to the busiest resident one"
    )
    widened = (
        f" (widened from {fewest} {why}: about {_us(rotating_busiest)} against {_us(resident)} of MVMs and writes per "
        f"call; objective=energy keeps {fewest})"
    )
    return pool, assignment, rotating, widened


def _slot_times(views, packed, slots: int, latency) -> tuple[list[float], list[float], list[int]]:
    """Per slot (ns per call): its MVMs' time (input rows x input cycles x
    executions x `latency.mvm`; MVMs of tiles packed on one crossbar that
    read the same input share one activation, `MvmView.shares_activation`,
    which needs the placement: the longest counts) and the time to write
    its tiles once (rows x `latency.cell_program`), and its tiles' cells.
    `views`: the programs' `ProgramView`s."""
    busy, program, cells = [0.0] * slots, [0.0] * slots, [0] * slots
    reads: dict = {}  # (slot, input) -> the longest MVM time
    for view, (slot, _, _) in zip(views, packed):
        rows, cols = view.tile_shape
        program[slot] += rows * latency.cell_program
        cells[slot] += rows * cols
        for mvm in _mvm_users(view.op):
            key = (slot, mvm.operands[1])
            ns = mvm_steps(MvmView(mvm), _rows_of(mvm)) * _executions(mvm) * latency.mvm
            reads[key] = max(reads.get(key, 0.0), ns)
    for (slot, _), ns in reads.items():
        busy[slot] += ns
    return busy, program, cells


_NEAR = 64
"""`_balanced_pool` tries at most this many pools around the best one that the doubling found, when none fits."""


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f} us"


def _outer_loop(op):
    """The outermost `scf.for` around `op` in its function, or None."""
    loop, parent = None, op.parent
    while parent is not None and parent.name != "func.func":
        if parent.name == "scf.for":
            loop = parent
        parent = parent.parent
    return loop


def _trip_count(loop) -> int | None:
    from imc.ir.utils import defining_op

    bounds = []
    for v in list(loop.operands)[:3]:
        d = defining_op(v)
        if d is None or d.name != "arith.constant":
            return None
        bounds.append(ir.IntegerAttr(d.attributes["value"]).value)
    lb, ub, step = bounds
    return max(0, -(-(ub - lb) // step)) if step > 0 else None


@dataclass(frozen=True)
class ImcPlaceCrossbars(ImcPass):
    """Sets `array` on every `imc.program`: the physical crossbar it occupies.

    Expects tiled IR (`imc-tile`). With `pack` (default), tiles smaller than a
    crossbar share one along its diagonal (disjoint rows and columns, so MVMs
    do not interfere); the tile's [row, col] inside the crossbar is the
    program's `offset`. When all
    crossbars needed fit the chip, each weight tile is programmed once for the
    whole program and, since crossbars keep their contents, once across calls.

    When they do not fit, crossbars are time-multiplexed: `pool` crossbars
    rotate through the tiles that are not resident, in program order, and
    the other crossbars keep resident the tiles that would cost the most
    cells to reprogram per call: a tile's cells times the trips of the loops
    around it (a tile in a stage tiled by `imc-tile-rows` runs on every
    trip). With the default `pool=0` the pool is the fewest crossbars P
    with which every loop keeps all but at most P of its tiles resident
    (its costliest ones): a loop's rotating tiles then fit the pool and are
    each programmed once per call, on the loop's first trip, where more
    than the pool holds would evict each other on every trip. Without loops
    P is 1. (A transformer's feed-forward blocks, each in one row loop, on a
    chip that cannot hold the whole model: BERT-base on `default` keeps
    3,211 tiles resident and rotates the rest over 885 crossbars.) With
    `objective` throughput, latency or pipeline (not energy), the automatic pool then
    widens until no rotating crossbar is busier per call (its tiles' MVMs and
    their writes, from the hardware's latencies) than the busiest resident
    one: a pool that performs most of a model's MVMs one tile after another
    would otherwise bound the chip's latency while the resident crossbars
    wait (`_balanced_pool`); each crossbar it takes makes one more tile rotate,
    whose weights are read from DRAM on every call, so the pool widens only
    as far as that shortens the busiest of those crossbars and the DRAM
    channel's reads of the rotating weights (BERT-base on `default` under
    `imc-tiled` keeps its 885: a wider pool only re-read more weights).
    A remark says how many cells are reprogrammed per call and on the first
    call; the figures come from `reprogramming`, which replays the placed
    program on the interpreter's model of the crossbars, so the remark
    states what a run counts.

    With `duplicate=true` and spare crossbars, layers get copies; each MVM's
    input rows are split between the copies and the results concatenated,
    so the layer's MVM time divides by the number of copies (the copies cost
    their programming). `objective` decides which: `throughput` (default)
    copies the bottleneck layer (longest MVM time per copy on its busiest
    crossbar) while it can be copied and stops when it cannot, since copies
    of other layers would not shorten a pipelined chip's bottleneck;
    `latency` copies, crossbar by crossbar, where a copy saves the most MVM
    time summed over the layers (layers run one after another); `pipeline`
    likewise for layers pipelined over row loops (their time per trip
    summed, plus the bottleneck layer's other trips: on `isaac` with tiles
    of one row, `imc-tile-rows{fit-rows=1}`, ResNet-18's warm call took
    479.2 us against 568.5 us with `latency`; docs/interpreter.md); `energy`
    makes no copies (each costs its programming and no MVM energy is saved).
    A copy is made only while it shortens its layer: the scratchpad time of
    the layer's MVMs (their inputs and results on the chip's one port) does
    not divide, so a layer whose MVM time per copy is already below it gets
    no more copies.

    Ops that program the same slice of the same weights (a constant or an
    argument, through static slices, reshapes and transposes; e.g. the
    last-trip copy of a layer in an `imc.transforms.line_buffer` loop, or layers that
    share weights) are one tile: they get the same crossbar and offset, and
    only the first to run programs it.

    Docs: docs/interpreter.md ("Counting model", "Shared activations"); docs/analysis.md (weights).
    """

    name = "imc-place-crossbars"
    summary = "Place crossbar tiles on physical arrays; time-multiplex when they do not fit"

    crossbars: int | None = field(
        default=None,
        metadata={"help": "number of crossbars (default: cores x crossbars per core)", "range": (1, 1 << 36)},
    )
    pack: bool = field(default=True, metadata={"help": "share crossbars between small tiles (disjoint rows and columns)"})
    pool: int = field(
        default=0,
        metadata={
            "help": "crossbars that rotate through non-resident tiles when the model does not fit (0: the fewest with which "
            "every loop keeps all but that many of its tiles resident, so that a loop programs each once per call, not on "
            "every trip; 1 without loops)",
            "range": (0, 1 << 36),
        },
    )
    duplicate: bool = field(
        default=False, metadata={"help": "copy the busiest layers onto spare crossbars and split their inputs between copies"}
    )
    objective: str = field(
        default="throughput",
        metadata={
            "help": "what duplicate=true optimizes: throughput (the bottleneck layer), latency (summed layer time), pipeline "
            "(layers pipelined over their loops' trips: time per trip summed plus the bottleneck's other trips) or energy "
            "(no copies); with the automatic pool, throughput, latency and pipeline also widen the pool while that shortens the busiest "
            "of its crossbars and the DRAM reads of its weights"
        },
    )

    def run(self, module, state) -> None:
        total = state.hardware.total_crossbars if self.crossbars is None else self.crossbars
        programs = walk_ops(module, {ProgramOp.OPERATION_NAME})
        if not programs:
            return
        if total <= 0 or self.pool < 0:
            state.error(module, f"crossbars = {total} must be positive and pool = {self.pool} not negative")
            return
        if self.objective not in _OBJECTIVES:
            state.error(module, f"objective = '{self.objective}' is not one of {', '.join(_OBJECTIVES)}")
            return
        # Ops that program the same tile of the same weights (a layer whose
        # op appears twice, e.g. a line buffer's last-trip copy) share its
        # crossbar: the second finds the tile there and costs nothing.
        keys = TileKeys()  # shared with `reprogramming`
        copies = _same_tile_groups(programs, keys)
        all_programs, programs = programs, [p for p in programs if id(p) not in copies]
        views = [ProgramView(p) for p in programs]  # one per op: what it decodes, it decodes once
        shapes = [v.tile_shape for v in views]
        if self.pack:
            rows, cols = XbarType(programs[0].results[0].type).geometry
            packed = pack_diagonally(shapes, rows, cols)
        else:
            packed = [(i, 0, 0) for i in range(len(programs))]
        slots = packed[-1][0] + 1
        # Cells per slot and call: what reprogramming a slot costs (a tile in
        # a loop is programmed on every trip when it is not resident).
        slot_cells = [0] * slots
        for (slot, _, _), (r, c), op in zip(packed, shapes, programs):
            slot_cells[slot] += r * c * _executions(op)
        shared = len(programs) - slots
        if slots <= total:
            assignment = list(range(slots))
            message = (
                f"{len(programs)} crossbar tiles placed on {slots} of {total} crossbars"
                + (f" ({shared} share a crossbar with another tile)" if shared else "")
            )
        else:
            if self.pool:
                pool, widened = min(self.pool, total), ""
                assignment, rotating = _time_multiplexed(slot_cells, total, pool)
            else:  # automatic: the fewest crossbars that hold each loop's rotating tiles, widened by the objective
                loops = _loop_slots(programs, packed)
                pool, assignment, rotating, widened = _widened_pool(loops, slot_cells, total)
                if self.objective != "energy":
                    unwidened = (pool, assignment)
                    balanced = _balanced_pool(
                        views, packed, loops, slot_cells, total, unwidened, state.hardware.latency, state.hardware.cell_bits
                    )
                    if balanced is not None:
                        pool, assignment, rotating, widened = balanced
            message = (
                f"{len(programs)} crossbar tiles need {slots} crossbars but the chip has {total}: "
                f"{total - pool} stay resident, {rotating} are time-multiplexed over {pool} crossbar(s){widened}"
            )
        for view, (slot, r, c) in zip(views, packed):
            view.place(assignment[slot], (r, c))
        for op in all_programs:
            first = copies.get(id(op))
            if first is not None:
                ProgramView(op).place_like(ProgramView(first))
        first_remark = len(state.remarks)
        if self.duplicate:
            if slots > total:
                state.remark(module, "duplicate: no spare crossbars (the model is time-multiplexed)")
            elif self.objective == "energy":
                state.remark(module, "duplicate: objective=energy makes no copies (each would cost its programming)")
            else:
                again = _copies_by_first(copies, all_programs)
                _duplicate_busiest(programs, packed, again, total - slots, slots, state, module, self.objective)
        # The figures come from replaying the placed program (loops and
        # duplicated layers included), as the interpreter will execute it.
        try:
            cost = reprogramming(module, keys, views)  # (duplication adds programs; it changes none of these)
        except ValueError:  # no entry function (several and no @main, or a declaration): no call to replay
            cost = None
        about = "" if cost is None or cost.exact else "about "
        if cost is None:
            message += "; no entry function @main to replay, so no per-call programming figures"
        elif cost.per_call_cells == 0:
            message += f"; each weight tile is programmed once ({about}{cost.first_call_cells} cells on the first call)"
        else:
            message += (
                f", reprogramming {about}{cost.per_call_cells} cells per call ({cost.per_call_events} programming "
                f"events; the first call programs {cost.first_call_cells} cells)"
            )
        state.remark(module, message)
        state.remarks.insert(first_remark, state.remarks.pop())  # the placement first, then duplication


def _copies_by_first(copies: dict, programs) -> dict:
    """id(first op) -> the ops that program its tile again (`_same_tile_groups` inverted)."""
    by_first: dict[int, list] = {}
    for op in programs:
        first = copies.get(id(op))
        if first is not None:
            by_first.setdefault(id(first), []).append(op)
    return by_first


def _same_tile_groups(programs, keys: "TileKeys") -> dict:
    """id(program op) -> the first op that programs the same tile: the same
    slice of the same weight value (traced through `tensor.extract_slice`,
    reshapes and transposes) with the same attributes (`keys`: `_tile_key`
    memoized)."""
    first, copies = {}, {}
    for op in programs:
        key = keys(op)
        if key is None:
            continue
        if key in first:
            copies[id(op)] = first[key]
        else:
            first[key] = op
    return copies


_TILE_VIEWS = (*WEIGHT_VIEW_OPS, "linalg.transpose")
"""The weight views `_weight_view` follows: transposed copies of a weight share its tiles too."""


def _tile_key(op, views: dict | None = None):
    """A hashable description of the tile `op` programs, or None: its
    attributes that select the tile and `_weight_view` of its operand
    (memoized in `views`, value -> view, when given). Attributes stand for
    themselves: uniqued, equal exactly when they print alike."""
    value = op.operands[0]
    view = views.get(value, _UNSEEN) if views is not None else _UNSEEN
    if view is _UNSEEN:
        view = _weight_view(value)
        if views is not None:
            views[value] = view
    if view is None:
        return None  # computed weights: no identity to share
    root, steps = view
    return root, (ProgramView(op).tile_attributes, *steps)


_UNSEEN = object()


class TileKeys:
    """`_tile_key` of program ops, computed once per op (and per weight view):
    call it on an op. Valid while the ops' tile attributes and weight views
    stay as they were (placement sets only `array` and `offset`).

    Memoized by the op's result value, not by the op: an `ir.Operation`
    hashes its contents, so its hash changes when placement sets `array`
    and `offset` and a dict keyed by the op would miss afterwards."""

    def __init__(self):
        self._ops: dict = {}
        self._views: dict = {}

    def __call__(self, op):
        handle = op.results[0]
        key = self._ops.get(handle, _UNSEEN)
        if key is _UNSEEN:
            key = self._ops[handle] = _tile_key(op, self._views)
        return key


def _weight_view(value):
    """(weight value, the view ops from it to `value` as (name, attributes)),
    the weight a constant or a block argument; None for computed data."""
    steps = []
    while not isinstance(value.owner, ir.Block):
        src = value.owner.operation
        if src.name not in _TILE_VIEWS or len(src.operands) > 2 or (
            src.name == "tensor.extract_slice" and len(src.operands) != 1
        ):
            break
        attributes = src.attributes
        steps.append((src.name, tuple((k, attributes[k]) for k in sorted(attributes))))
        value = src.operands[0]
    if not isinstance(value.owner, ir.Block) and value.owner.operation.name != "arith.constant":
        return None
    return value, tuple(steps)


def _mvm_users(program) -> list:
    return [u.owner for u in program.results[0].uses if u.owner.name == "imc.mvm"]


def _rows_of(mvm) -> int:
    return ir.ShapedType(MvmView(mvm).input.type).shape[0]


_OBJECTIVES = ("throughput", "latency", "pipeline", "energy")


def _duplicate_busiest(programs, packed, again: dict, spare: int, next_array: int, state, module, objective: str) -> None:
    """Gives layers extra copies on spare crossbars, for `objective`.

    `again`: id(program) -> the ops that program its tile again (a line
    buffer loop's last-trip copy of a layer): their MVMs are split between
    the same copies, else the rows a lagging layer drains on the last trip
    run on one copy alone while the others wait (on `isaac`, each of
    ResNet-18's `layer1` convolutions drained a row of 56 positions x 16
    input cycles x 100 ns, 89.6 us, so on every call).

    A layer is the set of programs from one source location. Its MVM time is
    its busiest crossbar's: its MVMs' input rows times their input cycles
    times `latency.mvm` on that crossbar (an MVM that shares another's
    activation adds none). It is counted per MVM op, not per call: weighted
    by their loops' trips, the copies gave ResNet-18 on `default` longer
    calls (docs/interpreter.md). Its MVMs also read their inputs from and
    write their results to the scratchpad, one port for the whole chip: that time
    copies do not divide (the same bytes move), so a layer is copied only
    while its MVM time per copy is above it (a copy shortens the layer).
    A layer can get one more copy if it shortens it, enough crossbars are
    spare (one per crossbar the layer uses; packed offsets are kept) and its
    inputs have more rows than copies. `throughput`: repeatedly the layer
    with the longest time per copy gets a copy, until that layer cannot;
    `latency`: repeatedly the copy that saves the most time per crossbar it
    takes; `pipeline`: the same, with the time of layers that run as a
    pipeline over their loops' trips (each layer's time per trip, summed:
    the pipeline's fill and drain; plus the other trips of the layer whose
    trips take longest, the pipeline's bottleneck; a program without loops
    is summed as with `latency`). Each MVM's input rows are then split between the copies and the
    results concatenated, so the layer's MVM time divides by the number of
    copies. Copies are programmed too: cells programmed grow.
    """
    hw = state.hardware
    rates = event_rates(hw)
    layers: dict[str, dict] = {}
    for op, (slot, _, _) in zip(programs, packed):
        layer = layers.setdefault(
            str(op.location), {"programs": [], "load": {}, "slots": set(), "spad_ns": 0.0, "max_rows": 0, "trips": 1}
        )
        load = 0.0
        periphery = shares_periphery(hw, ProgramView(op).slice)
        for m in _mvm_users(op):
            view = MvmView(m)
            x, y = view.input.type, m.results[0].type
            batch, rows = ir.ShapedType(x).shape
            steps, events = mvm_events(
                view, batch, rows, ir.ShapedType(y).shape[1], shaped_bytes(x), shaped_bytes(y), shares_periphery=periphery
            )
            layer["max_rows"] = max(layer["max_rows"], batch)
            layer["trips"] = max(layer["trips"], _executions(m))
            # (an MVM computed in another's activation adds no time: `MvmView.shares_activation`)
            if not view.shares_activation:
                load += steps * hw.latency.mvm
            layer["spad_ns"] += resource_ns(events, rates).get("scratchpad", 0.0)
        layer["programs"].append(op)
        layer["slots"].add(slot)
        layer["load"][slot] = layer["load"].get(slot, 0.0) + load
    copies = {key: 1 for key in layers}

    def time_per_copy(k, n) -> float:
        return max(max(layers[k]["load"].values()) / n, layers[k]["spad_ns"])

    def can_copy(k) -> bool:
        return (
            len(layers[k]["slots"]) <= spare
            and copies[k] < layers[k]["max_rows"]
            and time_per_copy(k, copies[k] + 1) < time_per_copy(k, copies[k])
        )

    def pipeline_ns(copies) -> float:  # layers pipelined over their loops' trips: fill and drain, then the busiest
        times = {k: time_per_copy(k, n) for k, n in copies.items()}
        return sum(times.values()) + max((layers[k]["trips"] - 1) * t for k, t in times.items())

    while True:
        if objective == "throughput":
            key = max(layers, key=lambda k: (time_per_copy(k, copies[k]), k))
            if not can_copy(key):
                break  # copies of other layers would not shorten the bottleneck
        else:
            if objective == "pipeline":
                now = pipeline_ns(copies)
                saved = lambda k: now - pipeline_ns({**copies, k: copies[k] + 1})  # noqa: E731
            else:  # latency: the layers' summed time
                saved = lambda k: time_per_copy(k, copies[k]) - time_per_copy(k, copies[k] + 1)  # noqa: E731
            gains = [(saved(k) / len(layers[k]["slots"]), k) for k in layers if can_copy(k)]
            if not gains:
                break
            key = max(gains)[1]
        copies[key] += 1
        spare -= len(layers[key]["slots"])
    duplicated = 0
    for key, k in copies.items():
        if k == 1:
            continue
        layer = layers[key]
        arrays = {}
        for copy in range(1, k):
            for slot in sorted(layer["slots"]):
                arrays[(copy, slot)] = next_array
                next_array += 1
        slot_of = {id(op): slot for op, (slot, _, _) in zip(programs, packed)}
        for program in layer["programs"]:
            extra = [arrays[(c, slot_of[id(program)])] for c in range(1, k)]
            for same_tile in [program, *again.get(id(program), ())]:
                _split_mvms(same_tile, extra)
        duplicated += 1
        state.remark(module, f"layer at {key}: {k} copies on spare crossbars; its MVM time divides by {k}")
    if not duplicated:
        state.remark(module, "duplicate: no layer could be copied (not enough spare crossbars, single-row inputs, or no copy would shorten a layer: its MVMs' scratchpad time is already longer)")


def _split_mvms(program, extra_arrays: list[int]) -> None:
    """Clones `program` onto `extra_arrays` and splits each of its MVMs by rows."""
    from torch_mlir.dialects import tensor

    from imc.ir.utils import extract_slice, tensor_type

    clones = []
    for array in extra_arrays:
        clone = program.clone(ip=ir.InsertionPoint(program))
        ProgramView(clone).set_array(array)
        clones.append(clone)
    handles = [program.results[0]] + [c.results[0] for c in clones]
    for mvm in _mvm_users(program):
        attributes = MvmView(mvm).attributes  # each part converts as the whole did
        x = mvm.operands[1]
        m, r = ir.ShapedType(x.type).shape
        n = min(len(handles), m)
        bounds = [(i * m) // n for i in range(n + 1)]
        out_t = ir.RankedTensorType(mvm.results[0].type)
        with ir.InsertionPoint(mvm), mvm.location:
            parts = []
            for j in range(n):
                lo, hi = bounds[j], bounds[j + 1]
                xj = extract_slice(x, [lo, 0], [hi - lo, r], loc=mvm.location)
                part_t = tensor_type([hi - lo, out_t.shape[1]], out_t.element_type)
                parts.append(build(MvmOp, [handles[j], xj], attributes, [part_t], loc=mvm.location).results[0])
            joined = tensor.concat(out_t, 0, parts, loc=mvm.location)
        mvm.results[0].replace_all_uses_with(joined)
        mvm.erase()
