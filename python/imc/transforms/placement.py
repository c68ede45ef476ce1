"""Layer-level buffer placement: stages, stored tensors, the capacity bound and a plan.

The execution model of a placed imc program (docs/analysis.md, "Buffer
placement"):

* The entry function runs as a sequence of **stages** in program order. A
  stage is a run of consecutive compute ops of one source layer
  (`imc.ir.utils.layer_name` of their location); an elementwise stage (only
  all-parallel `linalg.generic`/elementwise ops) merges with the adjacent
  stage it feeds or reads from (epilogue/prologue fusion: a conv's bias,
  batch norm and ReLU run on its outputs as they stream out of the ADCs),
  and a stage of transposes (and elementwise ops) with the stage just
  before it when it reads it (the producer writes its results at the
  permuted addresses: a transformer's heads split after a projection).
* Values inside a stage stream through the datapath (crossbar inputs, ADC
  outputs, partial sums in the cores' output registers, the digital unit's
  pipeline): an im2col matrix is an addressing pattern over the stage's input,
  not a buffer.
* Values passed *between* stages are **stored tensors**. A stored tensor's
  row-major prefix may stay on chip in scratchpad *chunks*, each freed after
  one of its reads; the rest lives in DRAM, written once by the producer and
  read by every later reader, tile by tile through a staging buffer
  (`imc-place-buffers`).
* Model inputs and outputs move at the call boundary (read/written once);
  weights are in the crossbars; digital-unit constants are read from DRAM.

`stage_program(func)` builds the stages and stored tensors;
`capacity_bound(...)` is the least DRAM traffic capacity forces on any
schedule of these stages (a linear program over the tensors' `segments`);
`plan_homes(...)` chooses chunks, offsets and DRAM parts
(`imc-place-buffers` applies them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch_mlir import ir

from imc.dialects.imc import stored_element_bytes
from imc.ir.cost_events import ELEMENTWISE
from imc.ir.utils import TENSOR_VIEW_OPS, is_weight, layer_name, operands_including_nested
from imc.transforms.allocator import Buffer, best_fit

__all__ = [
    "Stage",
    "StoredTensor",
    "StagedProgram",
    "stage_program",
    "CapacityBound",
    "capacity_bound",
    "segments",
    "Chunk",
    "Home",
    "HomePlan",
    "plan_homes",
    "Unplaceable",
    "merge_in_place",
    "live_bytes",
]

# Ops that carry no data of their own.
_FREE_OPS = frozenset({"arith.constant", "tensor.empty", "bufferization.alloc_tensor", "func.return"})
_ELEMENTWISE_NAMED = ELEMENTWISE | {
    "linalg.fill",
    "imc.quantize",  # rounding to the stored format, in the producer's output stage
}


@dataclass
class Stage:
    """Consecutive compute ops of one layer (plus fused elementwise neighbours)."""

    index: int
    layer: str
    ops: list = field(default_factory=list)  # ir.Operation, program order
    elementwise: bool = True
    location: object = None  # of the first op of `layer`: where the stage's traffic is reported


@dataclass
class StoredTensor:
    """A value produced in one stage and read by later ones."""

    value: ir.Value
    size: int  # bytes
    producer: int  # stage index
    consumers: list[int]  # stage indices, sorted, all > producer
    output: bool = False  # also returned by the function
    elem: int = 1  # bytes per element
    granule: int = 0  # bytes its on-chip part is a multiple of (0: one element)

    @property
    def last(self) -> int:
        return self.consumers[-1]

    def describe(self) -> str:
        t = ir.RankedTensorType(self.value.type)
        return f"{'x'.join(map(str, t.shape))}x{t.element_type} ({self.size:,} B)"


@dataclass
class StagedProgram:
    stages: list[Stage]
    tensors: list[StoredTensor]
    stage_of: dict  # top-level compute ir.Operation -> stage index


def is_elementwise(op) -> bool:
    """A named elementwise linalg op, or a `linalg.generic` with only parallel loops."""
    name = op.name
    if name in _ELEMENTWISE_NAMED:
        return True
    if name != "linalg.generic":
        return False
    iterators = ir.ArrayAttr(op.attributes["iterator_types"])
    return all("parallel" in str(it) for it in iterators)


def tensor_bytes(t, hardware=None) -> int | None:
    """Bytes of a statically shaped ranked tensor type as the chip stores it
    (`stored_element_bytes`: floats at `hardware.activation_bits`), else None."""
    try:
        t = ir.RankedTensorType(t)
    except ValueError:
        return None
    return math.prod(t.shape) * _elem_bytes(t, hardware) if t.has_static_shape else None


def stage_program(func, hardware=None) -> StagedProgram:
    """Stages and stored tensors of `func` (a `func.func` of tensor IR).

    Stored tensors are sized as `hardware` stores them (floats at its
    `activation_bits`; without a hardware, at their element type's width).

    Walks the body once. Ops with regions other than linalg/tensor ops are
    part of the stage they sit in; values they use count like any operand.
    """
    block = func.regions[0].blocks[0]
    ops = [v.operation for v in block.operations]
    names = [op.name for op in ops]
    # What the walks below read of each op, read once and kept by the op's
    # position (each read through the bindings builds new Python objects,
    # and an `ir.Operation` key hashes the op's contents): operands of the
    # ops that are not free and all their reads (nested regions included),
    # and results of those that depend on the inputs.
    n = len(ops)
    results_of: list = [()] * n
    operands_of: list = [()] * n
    reads: list = [()] * n  # per compute op: the values it and its regions read (one walk)
    # 1. Roots: which compute op produced the data a value holds. Values
    # computed from constants alone (fills, broadcast biases) are constants:
    # recomputed or read from the constant store, never stored.
    root: dict = {}  # ir.Value -> ir.Value (a compute-op result) or None (also when absent)
    dynamic = {a for a in block.arguments if not is_weight(a)}  # values that depend on the inputs
    for i, (op, name) in enumerate(zip(ops, names)):
        if name in TENSOR_VIEW_OPS:
            source, result = op.operands[0], op.results[0]
            root[result] = root.get(source)
            if source in dynamic:
                dynamic.add(result)
        elif name not in _FREE_OPS:
            operands = operands_of[i] = list(op.operands)
            read = reads[i] = list(operands_including_nested(op)) if len(op.regions) else operands
            if dynamic.isdisjoint(read):
                continue  # a constant computation: its results have no root (and are not read here)
            results = results_of[i] = list(op.results)
            for r in results:
                root[r] = r
            dynamic.update(results)
    # 2. Raw stages: runs of compute ops with one layer name.
    raw: list[Stage] = []
    positions: dict[int, list[int]] = {}  # id(stage) -> its ops' positions
    loc_names: dict = {}  # location attribute (uniqued; printing one is slow) -> layer name
    layout, moves = set(), set()  # id(stage): it has a transpose / an op that is neither
    for i, (op, name) in enumerate(zip(ops, names)):
        if not results_of[i] or name in _FREE_OPS or name in TENSOR_VIEW_OPS:
            continue  # views, placeholders and constant computations are in no stage
        location = op.location
        loc = location.attr
        lname = loc_names.get(loc)
        if lname is None:
            lname = loc_names[loc] = layer_name(location)
        if not raw or raw[-1].layer != lname:
            raw.append(Stage(len(raw), lname, location=location))
            positions[id(raw[-1])] = []
        raw[-1].ops.append(op)
        positions[id(raw[-1])].append(i)
        elementwise = is_elementwise(op)
        raw[-1].elementwise &= elementwise
        if name == "linalg.transpose":
            layout.add(id(raw[-1]))
        elif not elementwise:
            moves.add(id(raw[-1]))
    layout -= moves  # stages of transposes and elementwise ops only
    produced: dict[int, set] = {}  # id(stage) -> results of its ops
    for st in raw:
        produced[id(st)] = {r for i in positions[id(st)] for r in results_of[i]}

    def feeds(a: Stage, b: Stage) -> bool:
        made = produced[id(a)]
        return any(root.get(v) in made for i in positions[id(b)] for v in operands_of[i])

    # 3. Fuse elementwise stages with the neighbour they exchange data with,
    # a stage of transposes (and elementwise ops) with the stage before it
    # when it reads it (the producer writes its results at the permuted
    # addresses), and runs of one layer split only by a fused elementwise op.
    stages: list[Stage] = []
    for st in raw:
        prev = stages[-1] if stages else None
        mergeable = st.elementwise or prev is not None and (prev.elementwise or id(st) in layout)
        if prev is not None and (prev.layer == st.layer or (mergeable and feeds(prev, st))):
            if prev.elementwise and not st.elementwise:
                prev.layer, prev.location = st.layer, st.location  # a prologue joins the layer it feeds
            prev.ops.extend(st.ops)
            positions[id(prev)].extend(positions[id(st)])
            prev.elementwise &= st.elementwise
            produced[id(prev)] |= produced[id(st)]
            continue
        st.index = len(stages)
        stages.append(st)
    stage_at: list = [None] * n  # per position: its stage's index
    for st in stages:
        for i in positions[id(st)]:
            stage_at[i] = st.index
    stage_of = {op: st.index for st in stages for op in st.ops}
    # 4. Stored tensors: roots read by a later stage.
    producer: dict = {}
    for st in stages:
        for i in positions[id(st)]:
            for r in results_of[i]:
                producer[r] = st.index
    consumers: dict = {}
    outputs = set()
    for i, (op, name) in enumerate(zip(ops, names)):
        if name == "func.return":
            for v in op.operands:
                r = root.get(v)
                if r is not None:
                    outputs.add(r)
            continue
        s = stage_at[i]
        if s is None:
            continue
        for v in reads[i]:
            r = root.get(v)
            if r is None:
                continue
            p = producer.get(r)
            if p is not None and p != s:
                consumers.setdefault(r, set()).add(s)
    tensors = []
    for r, cs in consumers.items():
        size = tensor_bytes(r.type, hardware)
        if size is None:
            continue
        tensors.append(StoredTensor(r, size, producer[r], sorted(cs), r in outputs, _elem_bytes(r.type, hardware)))
    tensors.sort(key=lambda t: (t.producer, t.last))
    return StagedProgram(stages, tensors, stage_of)


# --------------------------------------------------------------------------- #
# The capacity bound
# --------------------------------------------------------------------------- #


def segments(t: StoredTensor) -> list[tuple[int, int]]:
    """The stages of `t`'s life split at its reads: segment j runs from just
    after read j-1 (from its producer for j = 0) to read j, both inclusive."""
    out = []
    start = t.producer
    for c in t.consumers:
        out.append((start, c))
        start = c + 1
    return out


@dataclass
class CapacityBound:
    """DRAM bytes the scratchpad capacity forces on the stored tensors.

    `off[i][j]`: bytes of `tensors[i]` off chip during its segment j in an
    optimal schedule; each is read back in that segment, and every byte ever
    off chip was written once (`written[i]` = the largest `off[i][j]`).
    `bytes` is the optimum's traffic, rounded down.
    """

    off: list[list[float]]
    written: list[float]
    excess: list[int]  # per stage k: bytes of stored tensors live at k beyond the scratchpad
    bytes: int
    program: StagedProgram | None = None  # the program solved (merged, with in-place pairs)

    def layer_shares(self, program: StagedProgram | None = None) -> dict[str, int]:
        """The bound split over layers: writes to the producer's layer, the
        reads of segment j to the layer of read j (rounded down)."""
        program = self.program or program
        shares: dict[str, float] = {}
        for t, off, w in zip(program.tensors, self.off, self.written):
            for s, b in [(t.producer, w)] + list(zip(t.consumers, off)):
                if b > 0:
                    lname = program.stages[s].layer
                    shares[lname] = shares.get(lname, 0.0) + b
        return {k: _whole(v) for k, v in shares.items() if _whole(v) > 0}


def _whole(v: float) -> int:
    """Bytes from an LP value: the nearest integer when the solver's answer is
    within its tolerance of one, else rounded down (a bound stays a bound)."""
    r = round(v)
    return int(r) if abs(v - r) < 1e-3 else int(math.floor(v))


def live_bytes(program: StagedProgram) -> list[int]:
    """Per stage: bytes of the stored tensors live while it runs (produced at
    or before it, read at or after it)."""
    delta = [0] * (len(program.stages) + 1)
    for t in program.tensors:
        delta[t.producer] += t.size
        delta[t.last + 1] -= t.size
    out, acc = [], 0
    for d in delta[:-1]:
        acc += d
        out.append(acc)
    return out


def _excess(program: StagedProgram, spad_bytes: int, reserve=None) -> list[int]:
    """Per stage: stored bytes live beyond the scratchpad (less `reserve[k]`
    bytes at stage k)."""
    reserve = reserve or {}
    return [max(0, live - (spad_bytes - reserve.get(k, 0))) for k, live in enumerate(live_bytes(program))]


class Unplaceable(Exception):
    """No plan keeps every pinned read of a stored tensor on chip."""


def _solve(program: StagedProgram, spad_bytes: int, *, monotone: bool, reserve=None, pinned=frozenset()):
    """min sum_i (w_i + sum_j y_ij) s.t. for every stage k the bytes off chip
    cover E_k, 0 <= y_ij <= size_i, y_ij <= w_i (and y_ij <= y_i,j+1 when
    `monotone`: bytes leave the chip but never come back); y_ij = 0 where
    (tensor i's value, its j-th consumer stage) is `pinned`. Returns (y, w,
    opt); `Unplaceable` when no plan keeps the pinned reads on chip."""
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    tensors = program.tensors
    excess = _excess(program, spad_bytes, reserve)
    segs = [segments(t) for t in tensors]
    if not any(excess):
        return [[0.0] * len(s) for s in segs], [0.0] * len(tensors), 0.0
    index = []  # variable -> (tensor, segment) ; w_i follow the y's
    for i, ss in enumerate(segs):
        for j in range(len(ss)):
            index.append((i, j))
    ny = len(index)
    nvar = ny + len(tensors)
    rows, cols, vals, rhs = [], [], [], []
    r = 0
    # Coverage: -sum y over segments containing k <= -E_k.
    for k, e in enumerate(excess):
        if e <= 0:
            continue
        for v, (i, j) in enumerate(index):
            lo, hi = segs[i][j]
            if lo <= k <= hi:
                rows.append(r), cols.append(v), vals.append(-1.0)
        rhs.append(-float(e))
        r += 1
    for v, (i, j) in enumerate(index):
        rows += [r, r]
        cols += [v, ny + i]
        vals += [1.0, -1.0]
        rhs.append(0.0)
        r += 1
        if monotone and j + 1 < len(segs[i]):
            rows += [r, r]
            cols += [v, v + 1]
            vals += [1.0, -1.0]
            rhs.append(0.0)
            r += 1
    a_ub = coo_matrix((vals, (rows, cols)), shape=(r, nvar)).tocsr()
    bounds = [
        (0, 0 if (tensors[i].value, tensors[i].consumers[j]) in pinned else tensors[i].size) for i, j in index
    ] + [(0, t.size) for t in tensors]
    res = linprog(np.ones(nvar), A_ub=a_ub, b_ub=np.array(rhs), bounds=bounds, method="highs")
    if res.status == 2 and pinned:
        raise Unplaceable("the tensors read whole by tiled stages do not fit on chip beside what else is live")
    if res.status != 0:
        raise RuntimeError(f"capacity bound: linear program failed: {res.message}")
    x = res.x
    y = [[0.0] * len(s) for s in segs]
    for v, (i, j) in enumerate(index):
        y[i][j] = max(0.0, float(x[v]))
    w = [max(0.0, float(x[ny + i])) for i in range(len(tensors))]
    return y, w, float(res.fun)


def capacity_bound(program: StagedProgram, spad_bytes: int, in_place=()) -> CapacityBound:
    """The least spill traffic of any schedule that runs the stages in order.

    With `in_place` pairs (`imc.transforms.in_place`), a tensor and the one written
    over it count as one (`merge_in_place`): the bound is the merged
    program's (kept in `CapacityBound.program` for `layer_shares`). A pair of
    two shapes (`in_place.rows_alike`: Y's rows in X's rows, Y smaller) is
    not merged: only at the stage that makes Y, Y's bytes are X's (merged,
    Y would count at X's size until its last read, which no schedule that
    writes it apart pays: the bound would not be one).

    While stage k runs, every stored tensor produced at or before k and read at
    or after k is live (a stage reads its stored inputs and writes its stored
    outputs as whole tensors); together they hold L_k bytes, so at least
    E_k = max(0, L_k - S) of them are off chip during stage k. A byte off chip
    at some point of segment j of its tensor's life (`segments`) must be read
    back within that segment, once per such segment, and was written once.
    With z_ik the bytes of tensor i off chip at stage k, any schedule pays at
    least sum_i (max_k z_ik + sum_j max_{k in segment j} z_ik); relaxing to
    real numbers gives a linear program whose optimum (HiGHS through
    `scipy.optimize.linprog`) is the bound (docs/analysis.md).
    """
    shared: dict[int, int] = {}  # stage -> bytes two tensors share there (as a negative reservation)
    if in_place:
        tensors = program.tensors
        same = [(i, j) for i, j in in_place if tensors[j].value is None or tensors[i].value.type == tensors[j].value.type]
        for i, j in set(in_place) - set(same):
            shared[tensors[j].producer] = shared.get(tensors[j].producer, 0) - tensors[j].size
        program, _ = merge_in_place(program, same)
    y, w, opt = _solve(program, spad_bytes, monotone=False, reserve=shared)
    return CapacityBound(y, w, _excess(program, spad_bytes, shared), _whole(opt), program)


# --------------------------------------------------------------------------- #
# The plan
# --------------------------------------------------------------------------- #


@dataclass
class Chunk:
    """Bytes [start, end) of a stored tensor kept in the scratchpad at
    `offset` until its read `until` (an index into the tensor's consumers)."""

    start: int
    end: int
    offset: int
    until: int
    handed_over: bool = False  # kept after read `until` by the tensor written over this one (`in_place`)


@dataclass
class Home:
    """Where a stored tensor lives: scratchpad chunks (row-major byte ranges),
    and bytes [dram_start, size) in DRAM, written once by the producer. Read j
    takes bytes below `resident[j]` from the chunks and the rest from DRAM."""

    chunks: list[Chunk]
    dram_start: int
    resident: list[int]  # per read

    def dram_traffic(self, t: StoredTensor) -> int:
        return (t.size - self.dram_start) + sum(t.size - r for r in self.resident)


@dataclass
class HomePlan:
    homes: list[Home]
    peak_bytes: int
    reserved: dict[int, int] = field(default_factory=dict)  # stage -> offset of its reserved bytes
    in_place: list = field(default_factory=list)  # (X, Y) pairs kept: Y takes X's chunk
    disjoint: bool = False  # no two chunks or reservations share a byte (`plan_homes(disjoint=True)`)
    linger: int = 0  # else: no chunk takes bytes freed in the last `linger` stages (`plan_homes(disjoint=True)`)

    def dram_traffic(self, program: StagedProgram) -> int:
        """Planned DRAM traffic of the stored tensors."""
        return sum(h.dram_traffic(t) for t, h in zip(program.tensors, self.homes))


def plan_homes(
    program: StagedProgram,
    spad_bytes: int,
    alignment: int = 1,
    *,
    reserve=None,
    in_place=(),
    pinned=frozenset(),
    disjoint: bool = False,
) -> HomePlan:
    """Scratchpad and DRAM homes for the stored tensors.

    `in_place`: pairs (X, Y) of tensor indices where Y may be written over X
    (`imc.transforms.in_place`). Each chain X -> Y -> ... is planned as one tensor
    (`merge_in_place`). Two plans are made. In the strict one, a pair is
    kept when the tensors of the chain but the last (and any of another
    shape than the first: its rows lie in the first's rows) stay whole on
    chip for all their reads, else the pair that needs the first such
    tensor whole is dropped and the plan made again. In the other, only
    the chain's tensors from its first one of another shape on (the frame)
    must: before that, a tensor may keep part of its planes on chip, in the
    bytes of the same planes of the tensor it is written over, and its
    other planes go to DRAM (ResNet-18's `layer1` at 64 KiB: 16 of 64
    planes); a tensor the frame needs whole that is not drops the pair that
    starts the frame. Each tensor of a kept chain gets the chunks live at
    its reads; those still live after its last read are `handed_over` to
    the next (its producer writes into them); each writes its own DRAM
    part. The plan kept is the one of these and the plan without pairs
    that moves the fewest DRAM bytes (the strict one, then the one without
    pairs, on a tie; all three are heuristic: best fit after the linear
    program, which counts a chain's DRAM writes once).

    Solves the capacity bound's linear program with one more constraint, that
    bytes leave the chip but never come back (y_ij <= y_i,j+1), so a tensor's
    on-chip part only shrinks over its life: with r_j = size - y_ij bytes on
    chip in segment j, the prefix [0, r_last) stays until the last read, the
    bytes [r_j+1, r_j) until read j, and [r_last, size) is also written to
    DRAM. Chunks are placed by `imc.transforms.allocator.best_fit` in order of their
    producer stage (ties: longer lives first), each at the best-fitting gap
    among the buffers already placed whose lives intersect its own; a chunk
    that finds no gap for all its bytes keeps what the widest gap holds and
    its other bytes are read from DRAM. Chunk boundaries are multiples of the
    tensor's `granule` (default: whole elements); offsets are multiples of
    `alignment`.

    `reserve` maps a stage to bytes it needs for itself (row slabs of a tiled
    stage): they are taken off the capacity at that stage, at the top of the
    scratchpad (`HomePlan.reserved` gives their offsets), and no chunk live
    at that stage overlaps them.

    `pinned`: (tensor value, consumer stage) pairs whose read must find the
    whole tensor on chip (a tiled stage that reads it on every trip); the
    linear program keeps those bytes on chip (`Unplaceable` when it cannot);
    the caller checks that the chunks placed hold them.

    `disjoint`: the chunks and reservations are also placed so that none
    shares a byte with another, even where their lives do not meet
    (`best_fit(whole_call=True)`; the stages' reservations stacked below the
    top); that plan is taken when it moves no more DRAM bytes than the one
    that reuses bytes. The next call's first stages then need not wait for
    this call's last ones to read the bytes they write (a chain of in-place
    pairs still shares its chunks: that is one buffer). When that plan moves
    more DRAM bytes, chunks are placed so that none takes the bytes of a
    chunk or reservation that died in the last `linger` stages
    (`best_fit(linger=...)`), `linger` the largest power of two below the
    stage count whose plan moves no more DRAM bytes than the one that
    reuses bytes at once (else that one is kept): within a call, a stage's first writes then
    need not wait for the last reads of the tensors that died just before
    it (on the timeline, reused bytes order the writer after every earlier
    reader of them).
    """
    if in_place:
        shared = _plan_in_place(program, spad_bytes, alignment, reserve, list(in_place), pinned, disjoint, strict=True)
        apart = plan_homes(program, spad_bytes, alignment, reserve=reserve, pinned=pinned, disjoint=disjoint)
        best = shared if shared.dram_traffic(program) <= apart.dram_traffic(program) else apart
        if len(shared.in_place) == len(in_place):  # no pair dropped: the other plan would be this one
            return best
        partial = _plan_in_place(program, spad_bytes, alignment, reserve, list(in_place), pinned, disjoint, strict=False)
        return partial if partial.dram_traffic(program) < best.dram_traffic(program) else best
    reserve = {k: -(-b // alignment) * alignment for k, b in (reserve or {}).items() if b > 0}
    wanted = _wanted_bytes(program, spad_bytes, reserve, pinned)
    reusing = _place_chunks(program, wanted, spad_bytes, alignment, reserve, pinned, whole_call=False)
    if not disjoint or sum(reserve.values()) >= spad_bytes:  # (side by side, the reservations would not fit)
        return reusing
    apart = _place_chunks(program, wanted, spad_bytes, alignment, reserve, pinned, whole_call=True)
    most = reusing.dram_traffic(program)
    if apart.dram_traffic(program) <= most:
        return apart
    linger = 1 << max(len(program.stages) - 1, 1).bit_length()
    while (linger := linger // 2) > 0:
        lingering = _place_chunks(program, wanted, spad_bytes, alignment, reserve, pinned, whole_call=False, linger=linger)
        if lingering.dram_traffic(program) <= most:
            return lingering
    return reusing


def _wanted_bytes(program: StagedProgram, spad_bytes: int, reserve: dict, pinned) -> list[list[int]]:
    """Per stored tensor, its bytes on chip in each segment between reads
    (non-increasing): the linear program's solution in whole granules."""
    y, _, _ = _solve(program, spad_bytes, monotone=True, reserve=reserve, pinned=pinned)
    wanted = []
    for t, ys in zip(program.tensors, y):
        g = t.granule or t.elem
        rs, prev = [], t.size
        for v in ys:
            r = min(prev, int(math.floor((t.size - v) / g + 1e-6)) * g)
            rs.append(max(0, r))
            prev = rs[-1]
        wanted.append(rs)
    return wanted


def _place_chunks(
    program: StagedProgram, wanted: list, spad_bytes: int, alignment: int, reserve: dict, pinned, *, whole_call: bool,
    linger: int = 0,
) -> HomePlan:
    """The homes of `wanted` (`_wanted_bytes`): the chunks' offsets by
    `best_fit` (`whole_call` and `linger` as there), and the reservations' offsets."""
    tensors = program.tensors
    # Chunks: tensor i's bytes [below, r) live from its producer to read j,
    # placed by producer, then longer lives first.
    chunks_of = [
        Buffer(
            f"{i}:{j}", t.producer, t.consumers[j], r - (rs[j + 1] if j + 1 < len(rs) else 0), granule=t.granule or t.elem
        )
        for i, (t, rs) in enumerate(zip(tensors, wanted))
        for j, r in enumerate(rs)
        if r > (rs[j + 1] if j + 1 < len(rs) else 0)
    ]
    if whole_call:  # stacked below the top, each stage's its own
        offsets, top = {}, spad_bytes
        for k in sorted(reserve):
            top -= reserve[k]
            offsets[k] = top
    else:
        offsets = {k: spad_bytes - b for k, b in reserve.items()}
    reserved = [(k, k, offsets[k], b) for k, b in reserve.items()]
    # Chunks of pinned tensors are placed first (then fixed), so that the
    # others' fragments do not split the room they need.
    held = {i for i, t in enumerate(tensors) if any((t.value, k) in pinned for k in t.consumers)}
    first = [b for b in chunks_of if int(b.name.split(":")[0]) in held]
    others = [b for b in chunks_of if int(b.name.split(":")[0]) not in held]
    placement = best_fit(
        first, spad_bytes, alignment, key=_chunk_order, reserved=reserved, whole_call=whole_call, linger=linger
    )
    fixed = [(b.start, b.end, placement.offsets[b.name], placement.kept[b.name]) for b in first if b.name in placement.offsets]
    rest = best_fit(
        others, spad_bytes, alignment, key=_chunk_order, reserved=reserved + fixed, whole_call=whole_call, linger=linger
    )
    placement.offsets.update(rest.offsets)
    placement.kept.update(rest.kept)
    placement.spilled += rest.spilled
    placement.peak_bytes = max(placement.peak_bytes, rest.peak_bytes)
    got = {tuple(map(int, name.split(":"))): (placement.offsets[name], placement.kept[name]) for name in placement.offsets}
    homes = []
    for i, (t, rs) in enumerate(zip(tensors, wanted)):
        # Rebuild the prefix from what was placed, last read first: a chunk
        # that kept less leaves a hole, so the prefix ends where it ends.
        chunks, resident = [], [0] * len(rs)
        top = 0
        for j in reversed(range(len(rs))):
            if (i, j) in got:
                offset, kept = got[(i, j)]
                if kept > 0:
                    chunks.append(Chunk(top, top + kept, offset, j))
                    top += kept
            resident[j] = top
        # A byte not on chip for every read is in DRAM from production on.
        dram_start = min(resident) if resident else t.size
        homes.append(Home(chunks, dram_start, resident))
    return HomePlan(homes, placement.peak_bytes, offsets, disjoint=whole_call, linger=linger)


def _chunk_order(chunk):
    """Chunks by producer, then longer lives first, then tensor and read."""
    return (chunk.start, -chunk.end, *map(int, chunk.name.split(":")))


def merge_in_place(program: StagedProgram, pairs) -> tuple[StagedProgram, list[list[int]]]:
    """`program` with each chain of in-place pairs (X, Y), (Y, Z), ... as one
    stored tensor: X's value, size and producer, the chain's reads in order,
    a model output if the chain's last tensor is one. Returns it and, per
    merged tensor, the indices of the tensors it stands for."""
    after = dict(pairs)
    overwriting = set(after.values())
    groups = []
    for i in range(len(program.tensors)):
        if i in overwriting:
            continue
        chain = [i]
        while chain[-1] in after:
            chain.append(after[chain[-1]])
        groups.append(chain)
    tensors = []
    for chain in groups:
        members = [program.tensors[i] for i in chain]
        head = members[0]
        granule = math.lcm(*(t.granule or t.elem for t in members))
        consumers = [c for t in members for c in t.consumers]
        tensors.append(StoredTensor(head.value, head.size, head.producer, consumers, members[-1].output, head.elem, granule))
    order = sorted(range(len(tensors)), key=lambda g: (tensors[g].producer, tensors[g].last))
    return StagedProgram(program.stages, [tensors[g] for g in order], program.stage_of), [groups[g] for g in order]


def _plan_in_place(program, spad_bytes, alignment, reserve, pairs, pinned=frozenset(), disjoint=False, *, strict: bool) -> HomePlan:
    """`plan_homes` with in-place pairs (see there); `strict`: every chain
    is framed from its first member (its members but the last whole on chip)."""
    merged, groups = merge_in_place(program, pairs)
    plan = plan_homes(merged, spad_bytes, alignment, reserve=reserve, pinned=pinned, disjoint=disjoint)
    homes = [None] * len(program.tensors)
    for chain, home, t in zip(groups, plan.homes, merged.tensors):
        first = 0  # the merged tensor's read index of this member's first read
        head = program.tensors[chain[0]]
        frame_at = 0 if strict else _frame_start(program, chain)
        for k, i in enumerate(chain):
            member = program.tensors[i]
            n = len(member.consumers)
            resident = home.resident[first : first + n]
            last = k == len(chain) - 1
            reshaped = member.value is not None and member.value.type != head.value.type
            if frame_at is not None and (not last or reshaped) and min(resident) < t.size:
                # Not whole on chip: drop the pair that needs it whole and
                # plan again; the chain's other pairs stay. Before the frame,
                # that is the pair that starts it (the members before may
                # then stay partly on chip); for a reshaped member, the one
                # it is written over; else the one written over it.
                if k < frame_at:
                    drop = (chain[frame_at - 1], chain[frame_at])
                else:
                    drop = (chain[k - 1], i) if reshaped else (i, chain[k + 1])
                rest = [p for p in pairs if p != drop]
                if not rest:
                    return plan_homes(program, spad_bytes, alignment, reserve=reserve, pinned=pinned, disjoint=disjoint)
                return _plan_in_place(program, spad_bytes, alignment, reserve, rest, pinned, disjoint, strict=strict)
            chunks = [
                Chunk(c.start, c.end, c.offset, min(c.until - first, n - 1), handed_over=c.until >= first + n)
                for c in home.chunks
                if c.until >= first
            ]
            own = member.size  # (a reshaped member's rows fill only part of the chunks' bytes)
            homes[i] = Home(chunks, min(min(resident), own), [min(r, own) for r in resident])
            first += n
    return HomePlan(homes, plan.peak_bytes, plan.reserved, pairs, plan.disjoint, plan.linger)


def _frame_start(program, chain) -> int | None:
    """Where `chain` becomes framed: its first member of another shape than
    its first (its rows in the first's rows, `in_place.rows_alike`), or None.
    From there on, the members but the last, and every member of another
    shape, must be whole on chip, and so (bytes never come back) must the
    members before. Before that, a member's planes on chip are the same
    planes of the tensor before it, and its other planes are in DRAM,
    written by its own producer."""
    head = program.tensors[chain[0]].value
    for k, i in enumerate(chain):
        value = program.tensors[i].value
        if value is not None and value.type != head.type:
            return k
    return None


def _elem_bytes(t, hardware=None) -> int:
    try:
        return stored_element_bytes(ir.RankedTensorType(t).element_type, hardware)
    except ValueError:  # no bit width (index): stored as 32 bits
        return 4
