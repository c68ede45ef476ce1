"""Static checks of scratchpad placement on memref IR (`imc.spad_alloc`/`spad_free`/`dma`).

`check_buffers(module_op, hardware)` proves, without running the program, that

1. no two scratchpad buffers that may be live at the same time overlap
   (byte ranges `[offset, offset + size)` of their `imc.spad_alloc` ops);
2. every buffer fits the scratchpad: `offset + size <= hardware.spad_bytes`,
   and `offset` is a multiple of `hardware.spad_alignment`;
3. every read of scratchpad bytes is preceded, on every path, by a write of
   those bytes (an `imc.dma` into the buffer, a linalg op with it among its
   `outs`, a `memref.copy` target, a `memref.store`, the destination of a
   `bufferization.materialize_in_destination`), and no buffer is used
   after its `imc.spad_free` (nor freed twice).

It returns the violations found, each naming the buffer, the byte range and
the op; an empty list means the properties hold for every execution of the
functions (under the conservative rules below).

What is exact and what is conservative (every approximation only adds
reports, it never hides a real error):

* Views (`memref.subview`, `collapse_shape`, `expand_shape`, `cast`) are
  resolved through their result type's strided layout, which MLIR defines
  relative to the allocation: the exact set of elements a static view
  addresses. A view with a dynamic layout (a `memref.cast` to `?`) keeps its
  source's set. Inside a loop trip that is followed (below), a
  `memref.subview` with dynamic offsets or sizes is resolved from the
  integers its index operands take in that trip (`imc.ir.trip_values`), and
  so are reshapes of it; any other dynamic view is *unknown*:
  reading it reads the whole buffer, writing it writes nothing.
* Coverage is tracked per element of the buffer (all views of a buffer share
  its element type, so an element is a fixed run of `element_bytes` bytes);
  messages give absolute scratchpad byte ranges.
* `memref.load`/`memref.store` with constant indices touch one element; with
  other indices a load reads the whole view and a store writes nothing.
* A linalg op reads its `ins` and writes its `outs`; an `out` is also read
  when the op's payload uses its block argument (e.g. `linalg.matmul`
  accumulates into `C`). A linalg op whose ins/outs split is unknown reads
  every operand and writes nothing. Any other op that takes a scratchpad
  memref reads all of it.
* `scf.if` whose condition is known (a constant, or computed from the
  induction variables of followed trips): only the branch taken runs.
  Otherwise a write counts after the `if` only if both branches
  make it; a buffer freed in one branch is *maybe freed* after it (a use is
  an error), one allocated in one branch is *maybe live* (it must not
  overlap later buffers).
* `scf.for` whose bounds are known integers (constants, or index values of
  an enclosing followed trip) and whose trips, with those of the loops
  followed around it, number at most `MAX_FOLLOWED_TRIPS`: its trips are
  *followed*, the body checked once per trip in order with its induction
  variable's value, so a trip's reads are covered by what earlier trips
  wrote (a halo kept in a slab) and the rows each trip writes add up after
  the loop (a tensor stored row tile by row tile). Any other `scf.for`: the
  body runs 0..n times; the state at the head of an iteration is the
  fixpoint of `join(before the loop, after the body)`, so reads in the body
  must be covered before the loop or earlier in the same iteration, and a
  buffer allocated in the body but not freed there overlaps itself in the
  next iteration. Its writes count after the loop only when the trip count
  is a constant >= 1; a loop with constant trip count 0 is skipped.
  `scf.execute_region` runs its region once.
* `func.call`: each function is checked from an empty scratchpad; at a call,
  every buffer the callee may allocate (transitively) must not overlap a
  buffer live in the caller, and buffers the callee leaves allocated are
  maybe live afterwards.
* A buffer's live range ends at its `imc.spad_free` or at the end of its
  function (a missing free is not an error).
* `imc.transfer_in`/`transfer_out`: their staging buffers
  (`TransferView.staging_span`) are live while the op runs: they must fit
  and be aligned as a buffer, and overlap no live buffer.
* Unsupported, reported as errors: scratchpad memrefs that cannot be traced
  to an `imc.spad_alloc` in the same function (block arguments, values
  yielded by regions, results of other ops), views outside their buffer, and
  scratchpad ops inside regions other than `scf.for`/`scf.if`/
  `scf.execute_region` (e.g. `scf.while`, unstructured control flow).
"""

from __future__ import annotations

import math
from collections import ChainMap
from dataclasses import dataclass, field

import numpy as np
from torch_mlir import ir

from imc.dialects.imc import (
    SPAD_SPACE,
    TRANSFER_OPS,
    is_spad,
    spad_alignment_error,
    spad_capacity_error,
    spad_double_free_error,
    spad_overlap_error,
    spad_unwritten_read_error,
    spad_use_after_free_error,
    stored_element_bytes,
)
from imc.dialects.imc_ops import SpadAllocView, TransferView
from imc.ir.trip_values import evaluate
from imc.ir.utils import MEMREF_VIEW_OPS, find_nested, linalg_input_count

__all__ = ["Violation", "BufferCheck", "check_buffers", "analyze_buffers", "VIOLATION_KINDS", "MAX_FOLLOWED_TRIPS"]

VIOLATION_KINDS = (
    "overlap",
    "capacity",
    "alignment",
    "uninitialized-read",
    "use-after-free",
    "double-free",
    "out-of-bounds",
    "unsupported",
)
"""The `kind` a `Violation` may have."""

_VIEW_OPS = MEMREF_VIEW_OPS - {"memref.reinterpret_cast"}
"""The views the checker follows to their buffer (a reinterpret_cast's result is an access it cannot trace)."""
_ALLOC, _FREE, _DMA = "imc.spad_alloc", "imc.spad_free", "imc.dma"
_TENSOR_OPERANDS_ONLY = frozenset({"imc.mvm", "imc.accumulate", "imc.im2col", "imc.quantize", "imc.contract"})
"""imc ops whose operands are tensors (or crossbars) by their definition:
they touch no scratchpad, and `_effects` need not read their operands
(`imc.program` may program from a memref, so it is not here)."""
_DYNAMIC = ir.ShapedType.get_dynamic_stride_or_offset()

_NONE, _LIVE, _FREED = "unallocated", "live", "freed"
_MAX_FIXPOINT = 32
MAX_FOLLOWED_TRIPS = 1 << 16
"""The most trips of one loop nest that are followed one by one (a loop of
more, or nested in followed loops to more in all, is checked by fixpoint)."""


@dataclass(frozen=True)
class Violation:
    """One broken placement rule.

    `kind` is one of `VIOLATION_KINDS`; `op` the operation the error belongs
    to (an `imc.spad_alloc` for overlap/capacity/alignment, the accessing op
    otherwise); `message` a full sentence without the op name; `buffer` the
    SSA name of the buffer's `imc.spad_alloc` result (None when untraceable);
    `byte_range` the scratchpad bytes `[start, end)` at fault, if any.
    """

    kind: str
    op: ir.Operation
    message: str
    buffer: str | None = None
    byte_range: tuple[int, int] | None = None

    def __str__(self) -> str:
        return f"{_where(self.op)}: '{self.op.name}' op {self.message}"


@dataclass
class BufferCheck:
    """The outcome of `analyze_buffers`.

    `buffers`: number of `imc.spad_alloc` ops; `peak_bytes`: the most bytes
    of buffers that may be live at once (over all program points, callees
    included); `capacity`: the hardware's scratchpad bytes; `followed_trips`:
    the loop trips checked one by one.
    """

    violations: list[Violation]
    buffers: int
    peak_bytes: int
    capacity: int
    followed_trips: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def check_buffers(module_op, hardware) -> list[Violation]:
    """The placement violations of every function in `module_op` (see the module doc).

    `module_op` is a `builtin.module` (`ir.Module`, `ir.Operation` or OpView);
    `hardware` an `imc.ir.hardware.Hardware` (its `spad_bytes` and
    `spad_alignment` are used). The IR is not modified.
    """
    return analyze_buffers(module_op, hardware).violations


def analyze_buffers(module_op, hardware) -> BufferCheck:
    """Like `check_buffers`, plus the buffer count and peak live bytes."""
    op = module_op.operation if hasattr(module_op, "operation") else module_op
    return _Analyzer(op, hardware).run()


# ---------------------------------------------------------------------------
# Buffers, views and the abstract state
# ---------------------------------------------------------------------------


def _where(op) -> str:
    """`file:line:col` of an op (`line L:C` for stdin), or its location text."""
    import re

    loc = str(op.location)
    m = re.search(r'"([^"]*)":(\d+):(\d+)', loc)
    if not m:
        return loc
    if m.group(1) in ("-", "<stdin>", ""):
        return f"line {m.group(2)}:{m.group(3)}"
    return f"{m.group(1)}:{m.group(2)}:{m.group(3)}"


@dataclass(eq=False)
class _Buffer:
    """One `imc.spad_alloc`: bytes [offset, offset + size), `elements` of `ebytes`."""

    op: ir.Operation
    func: ir.Operation
    offset: int
    size: int
    ebytes: int
    elements: int
    staging: bool = False  # the staging buffers of an `imc.transfer_in`/`transfer_out` (live while it runs)
    allocations: int = 1  # the `imc.spad_alloc`s it stands for (lowered: `imc-lower-transfers`)
    live_bytes: int = 0  # staging: the most bytes its buffers hold at once (one trip's)

    @property
    def name(self) -> str:
        """The buffer's SSA name (numbering the function only when asked: errors)."""
        if self.staging:
            return f"'{self.op.name}' staging"
        return self.op.results[0].get_name(ir.AsmState(self.func))

    @property
    def end(self) -> int:
        return self.offset + self.size

    def describe(self) -> str:
        return f"{self.name} [{self.offset}, {self.end})"

    def label(self) -> str:
        """What the scratchpad rules' messages call it."""
        return f"staging area [{self.offset}, {self.end})" if self.staging else f"scratchpad buffer {self.describe()}"

    def overlaps(self, other: "_Buffer") -> bool:
        return self.offset < other.end and other.offset < self.end


_WHOLE = "whole"  # a view addressing every element of its buffer
_UNKNOWN = "unknown"  # a view whose elements are not known statically


@dataclass
class _Trip:
    """One trip of the followed loops around the op being checked: the
    integers index values take in it (`values`, memoized), the views resolved
    from them (`views`) and how many trips the followed loop nest has."""

    values: ChainMap
    views: ChainMap
    nest: int


@dataclass
class _View:
    """A scratchpad memref value: its buffer and the buffer elements it addresses.

    `elements` is `_WHOLE`, `_UNKNOWN` or an int64 array shaped like the view
    holding buffer element indices.
    """

    buffer: _Buffer
    elements: object

    def read_set(self):
        return slice(None) if isinstance(self.elements, str) else self.elements.ravel()

    def write_set(self):
        if self.elements is _UNKNOWN:
            return None
        return slice(None) if self.elements is _WHOLE else self.elements.ravel()


class _State:
    """Per buffer: the set of possible statuses and the must-written element mask."""

    __slots__ = ("status", "written")

    def __init__(self, status=None, written=None):
        self.status: dict[_Buffer, frozenset] = status or {}
        self.written: dict[_Buffer, np.ndarray] = written or {}

    def copy(self) -> "_State":
        return _State(dict(self.status), {b: m.copy() for b, m in self.written.items()})

    def get(self, b: _Buffer) -> frozenset:
        return self.status.get(b, frozenset({_NONE}))

    def mask(self, b: _Buffer) -> np.ndarray:
        m = self.written.get(b)
        if m is None:
            m = self.written[b] = np.zeros(b.elements, dtype=bool)
        return m

    def live_bytes(self) -> int:
        return sum(b.size for b, s in self.status.items() if _LIVE in s)

    def join(self, other: "_State") -> "_State":
        status = {b: self.get(b) | other.get(b) for b in set(self.status) | set(other.status)}
        written = {b: self.written[b] & other.written[b] for b in set(self.written) & set(other.written)}
        return _State(status, written)

    def same(self, other: "_State") -> bool:
        if {b: s for b, s in self.status.items() if s != {_NONE}} != {
            b: s for b, s in other.status.items() if s != {_NONE}
        }:
            return False
        keys = {b for b, m in self.written.items() if m.any()} | {b for b, m in other.written.items() if m.any()}
        return all(b in self.written and b in other.written and np.array_equal(self.written[b], other.written[b]) for b in keys)

    def top(self) -> "_State":
        """The least precise state over the same buffers (used if a loop does not converge)."""
        return _State({b: frozenset({_NONE, _LIVE, _FREED}) for b in self.status}, {})


def _layout_elements(t):
    """Element indices (relative to the allocation) a memref type addresses, shaped like it.

    None for an unranked memref or a layout with a dynamic offset or stride.
    """
    try:
        t = ir.MemRefType(t)
        strides, offset = t.get_strides_and_offset()
    except (ValueError, TypeError, ir.MLIRError):  # unranked, or not a strided layout
        return None
    if offset == _DYNAMIC or any(s == _DYNAMIC for s in strides) or not t.has_static_shape:
        return None
    idx = np.full((), offset, dtype=np.int64)
    for n, s in zip(t.shape, strides):
        idx = idx[..., None] + np.arange(n, dtype=np.int64) * s
    return idx


def _is_spad_memref(value) -> bool:
    """True for a ranked or unranked memref in the scratchpad memory space."""
    t = value.type  # downcast by the bindings: no cast (and no exception) per value
    if isinstance(t, ir.MemRefType):
        return is_spad(t)
    if isinstance(t, ir.UnrankedMemRefType):
        space = t.memory_space
        return space is not None and ir.IntegerAttr(space).value == SPAD_SPACE
    return False


def _op_of(value):
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if hasattr(owner, "operation") else owner


def _byte_ranges(buffer: _Buffer, elements: np.ndarray) -> list[tuple[int, int]]:
    """Sorted maximal absolute byte ranges covered by the given buffer elements."""
    e = np.unique(elements)
    if e.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(e) != 1)
    starts = np.concatenate(([e[0]], e[breaks + 1]))
    ends = np.concatenate((e[breaks], [e[-1]])) + 1
    base, eb = buffer.offset, buffer.ebytes
    return [(base + int(s) * eb, base + int(t) * eb) for s, t in zip(starts, ends)]


@dataclass
class _Summary:
    """What a call to a function does to the scratchpad."""

    footprint: list[_Buffer] = field(default_factory=list)  # buffers it may allocate (transitively)
    leaked: list[_Buffer] = field(default_factory=list)  # buffers it may leave allocated
    peak: int = 0


# ---------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------


class _Analyzer:
    def __init__(self, module: ir.Operation, hardware):
        self.module = module
        self.hardware = hardware
        self.capacity = int(hardware.spad_bytes)
        self.alignment = int(hardware.spad_alignment)
        self.buffers: dict[ir.Operation, _Buffer] = {}
        self.funcs: dict[str, ir.Operation] = {}
        self.violations: list[Violation] = []
        self._seen: set = set()
        self.reporting = True
        self.peak = 0
        self.views: dict = {}
        self.summaries: dict[str, _Summary] = {}
        self._in_progress: set[str] = set()
        self._callees: list[_Buffer] = []  # footprints of the callees of the function being checked
        self.func_buffers: dict[str, list[_Buffer]] = {}
        self._checked: set[_Buffer] = set()
        self.out_of_bounds: dict[ir.Operation, tuple[str, _Buffer]] = {}
        self.trip: _Trip | None = None  # the followed trip being checked
        self.followed_trips = 0  # trips followed while reporting (not in a fixpoint's rounds)
        self._plans: dict = {}  # block -> its ops that `_op` has work for

    # -- driver -----------------------------------------------------------------
    def run(self) -> BufferCheck:
        funcs = []

        def collect(op):
            if op.name == "func.func":
                funcs.append(op)
            return ir.WalkResult.ADVANCE

        self.module.walk(collect)
        for f in funcs:
            name = ir.StringAttr(f.attributes["sym_name"]).value
            self.funcs[name] = f
            self.func_buffers[name] = self._collect_buffers(f)
        peak = 0
        for name, f in self.funcs.items():
            peak = max(peak, self._summary(name).peak)
        for b in self.buffers.values():  # allocations in loops that never run
            self._check_static(b)
        count = sum(b.allocations for b in self.buffers.values())
        return BufferCheck(self.violations, count, peak, self.capacity, self.followed_trips)

    def _collect_buffers(self, func) -> list[_Buffer]:
        allocs = []

        def visit(op):
            if op.name == _ALLOC or op.name in TRANSFER_OPS:
                allocs.append(op)
            return ir.WalkResult.ADVANCE

        func.walk(visit)
        for op in allocs:
            if op.name in TRANSFER_OPS:
                self.buffers[op] = self._staging_buffer(op, func)
                continue
            alloc = SpadAllocView(op)
            t = alloc.buffer_type
            b = _Buffer(
                op=op,
                func=func,
                offset=alloc.offset,
                size=alloc.size,
                ebytes=stored_element_bytes(t.element_type, self.hardware),
                elements=math.prod(t.shape),
            )
            self.buffers[op] = b
        return [self.buffers[op] for op in allocs]

    def _staging_buffer(self, op, func) -> _Buffer:
        """The staging buffers of a transfer op, as one buffer over their bytes."""
        transfer = TransferView(op)
        ebytes = stored_element_bytes(transfer.tensor_type.element_type, self.hardware)
        start, end = transfer.staging_span(ebytes)
        return _Buffer(
            op=op, func=func, offset=start, size=end - start, ebytes=ebytes, elements=(end - start) // ebytes,
            staging=True, allocations=sum(width for _, _, width in transfer.groups),
            live_bytes=max(size * width for _, size, width in transfer.groups) * ebytes,
        )

    def _check_static(self, b: _Buffer) -> None:
        """Capacity, alignment and layout of one buffer (once)."""
        if b in self._checked:
            return
        self._checked.add(b)
        if b.end > self.capacity:
            self._report(
                "capacity", b.op, spad_capacity_error(b.label(), self.capacity),
                b, (b.offset, b.end),
            )
        if b.offset % self.alignment:
            self._report(
                "alignment", b.op, spad_alignment_error(b.label(), b.offset, self.alignment),
                b, (b.offset, b.end),
            )
        if b.staging:
            return
        t = ir.MemRefType(b.op.results[0].type)
        layout = _layout_elements(t)
        if layout is None or not np.array_equal(layout.ravel(), np.arange(b.elements)):
            self._report(
                "unsupported", b.op,
                f"scratchpad buffer {b.describe()} has the non-identity layout {t.layout}; only row-major buffers are checked",
                b,
            )

    def _summary(self, name: str) -> _Summary:
        """Checks function `name` (once, reporting its violations) and summarizes it for callers."""
        s = self.summaries.get(name)
        if s is not None:
            return s
        func = self.funcs[name]
        if name in self._in_progress or not func.regions[0].blocks:
            return _Summary()  # recursion: the callee's own check covers its body
        self._in_progress.add(name)
        saved = (self.peak, self._callees, self.reporting)
        self.peak, self._callees, self.reporting = 0, [], True
        state = _State()
        self._block(func.regions[0].blocks[0], state)
        own = self.func_buffers.get(name, [])
        s = _Summary(
            footprint=own + [b for b in self._callees if b not in own],
            leaked=[b for b, st in state.status.items() if _LIVE in st],
            peak=self.peak,
        )
        self.peak, self._callees, self.reporting = saved
        self._in_progress.discard(name)
        self.summaries[name] = s
        return s

    # -- reporting -------------------------------------------------------------
    def _report(self, kind, op, message, buffer=None, byte_range=None) -> None:
        if not self.reporting:
            return
        key = (op, kind, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.violations.append(Violation(kind, op, message, buffer.name if buffer else None, byte_range))

    def _note_peak(self, extra: int, state: _State) -> None:
        self.peak = max(self.peak, state.live_bytes() + extra)

    # -- views -----------------------------------------------------------------
    def _view(self, value) -> _View | None:
        """The buffer and elements a scratchpad memref value addresses; None if untraceable."""
        if value in self.views:
            return self.views[value]
        trip = self.trip
        if trip is not None and value in trip.views:
            return trip.views[value]
        view, per_trip = self._resolve(value)
        if not per_trip:
            self.views[value] = view
        elif trip is not None:
            trip.views[value] = view
        return view

    def _resolve(self, value) -> tuple[_View | None, bool]:
        """(`_view` of `value`, whether it depends on the trip: a view with a
        dynamic layout)."""
        op = _op_of(value)
        if op is not None and op.name == _ALLOC:
            return _View(self.buffers[op], _WHOLE), False
        if op is None or op.name not in _VIEW_OPS:
            return None, False
        src = self._view(op.operands[0])
        if src is None:
            return None, False
        elements = _layout_elements(value.type)
        if elements is None:
            if op.name == "memref.cast":
                return _View(src.buffer, src.elements), op.operands[0] not in self.views
            found = self._trip_elements(op, src) if self.trip is not None else None
            return _View(src.buffer, _UNKNOWN if found is None else found), True
        if elements.size and (elements.min() < 0 or elements.max() >= src.buffer.elements):
            self.out_of_bounds[op] = (
                f"view of scratchpad buffer {src.buffer.describe()} addresses elements "
                f"[{int(elements.min())}, {int(elements.max()) + 1}) outside its {src.buffer.elements} elements",
                src.buffer,
            )
            elements = _UNKNOWN
        return _View(src.buffer, elements), False

    def _trip_elements(self, op, src: _View) -> np.ndarray | None:
        """The elements the dynamic view `op` of `src` addresses in the
        followed trip (a `memref.subview`, or a `collapse_shape` /
        `expand_shape` of one), shaped like the view; None if not known."""
        if src.elements is _UNKNOWN:
            return None
        if src.elements is _WHOLE:
            shape = ir.MemRefType(src.buffer.op.results[0].type).shape
            base = np.arange(src.buffer.elements, dtype=np.int64).reshape(shape)
        else:
            base = src.elements
        name = op.name
        if name == "memref.collapse_shape":
            groups = [list(ir.ArrayAttr(g)) for g in ir.ArrayAttr(op.attributes["reassociation"])]
            return base.reshape([math.prod(base.shape[ir.IntegerAttr(d).value] for d in g) for g in groups])
        if name == "memref.expand_shape":
            view = op.opview
            shape = self._mixed(view.static_output_shape, view.output_shape)
            return None if shape is None or math.prod(shape) != base.size else base.reshape(shape)
        if name != "memref.subview":
            return None
        view = op.opview
        offsets = self._mixed(view.static_offsets, view.offsets)
        sizes = self._mixed(view.static_sizes, view.sizes)
        strides = self._mixed(view.static_strides, view.strides)
        if None in (offsets, sizes, strides) or len(offsets) != base.ndim:
            return None
        index = []
        for o, n, st, dim in zip(offsets, sizes, strides, base.shape):
            if o < 0 or n < 0 or st <= 0 or (n and o + (n - 1) * st >= dim):
                self._report(
                    "out-of-bounds", op,
                    f"view of scratchpad buffer {src.buffer.describe()} takes [{o}, {o + max(n - 1, 0) * st + 1}) "
                    f"of a dimension of {dim} in a trip of its loop",
                    src.buffer,
                )
                return None
            index.append(slice(o, o + (n - 1) * st + 1, st) if n else slice(o, o))
        elements = base[tuple(index)]
        rank = ir.MemRefType(op.results[0].type).rank
        if rank != elements.ndim:  # rank-reduced: the dropped dimensions are units
            kept = [n for n in sizes if n != 1]
            elements = elements.reshape(kept if len(kept) == rank else [-1])
        return elements

    def _mixed(self, static, dynamic) -> list[int] | None:
        """A view's static list with its dynamic entries (the `dynamic`
        operands, in order) evaluated in the followed trip; None if one is
        not known."""
        dynamic = iter(dynamic)
        out = []
        for x in static:
            if x == _DYNAMIC:
                x = self._int(next(dynamic))
                if x is None:
                    return None
            out.append(x)
        return out

    def _indices(self, values) -> tuple[int, ...] | None:
        out = tuple(self._int(v) for v in values)
        return None if None in out else out

    def _int(self, value) -> int | None:
        """The integer an index value takes (in the followed trip), or None."""
        return evaluate(value, self.trip.values if self.trip is not None else {})

    # -- walking ---------------------------------------------------------------
    def _block(self, block, state: _State) -> None:
        plan = self._plans.get(block)
        if plan is None:
            plan = self._plans[block] = [op for op in (o.operation for o in block.operations) if self._has_work(op)]
        for op in plan:
            self._op(op, state)

    def _has_work(self, op) -> bool:
        """Whether `_op` does anything for `op` (decided once per op: a
        followed loop checks its body once per trip)."""
        name = op.name
        if name in (_ALLOC, _FREE, "scf.for", "scf.if", "scf.execute_region", "func.call") or name in TRANSFER_OPS:
            return True
        if name in _VIEW_OPS:
            return True
        if len(op.regions) and not name.startswith("linalg.") and _touches_spad(op):
            return True
        return _may_take_spad(op) and any(_is_spad_memref(v) for v in op.operands)

    def _op(self, op, state: _State) -> None:
        name = op.name
        if name == _ALLOC:
            self._alloc(op, state)
        elif name in TRANSFER_OPS:
            self._transfer(op, state)
        elif name == _FREE:
            self._free(op, state)
        elif name == "scf.for":
            self._for(op, state)
        elif name == "scf.if":
            self._if(op, state)
        elif name == "scf.execute_region":
            self._block(op.regions[0].blocks[0], state)
        elif name == "func.call":
            self._access(op, state)
            self._call(op, state)
        elif name in _VIEW_OPS:
            self._view(op.results[0])
            if op in self.out_of_bounds:
                message, buffer = self.out_of_bounds[op]
                self._report("out-of-bounds", op, message, buffer)
        else:
            if len(op.regions) and not name.startswith("linalg.") and _touches_spad(op):
                self._report(
                    "unsupported", op,
                    "has regions with scratchpad accesses; only scf.for, scf.if and scf.execute_region are analyzed",
                )
            self._access(op, state)

    def _alloc(self, op, state: _State) -> None:
        b = self.buffers[op]
        if self.reporting:
            self._check_static(b)
        status = state.get(b)
        if _LIVE in status:
            self._report(
                "overlap", op,
                f"scratchpad buffer {b.describe()} is allocated again while its allocation from an earlier "
                f"loop iteration {'is' if status == {_LIVE} else 'may be'} still live (not freed on every path)",
                b, (b.offset, b.end),
            )
        self._check_overlaps(op, b, state)
        state.status[b] = frozenset({_LIVE})
        state.written[b] = np.zeros(b.elements, dtype=bool)
        self._note_peak(0, state)

    def _transfer(self, op, state: _State) -> None:
        """A transfer's staging buffers are live while it runs: within the
        scratchpad, aligned, over no live buffer."""
        b = self.buffers[op]
        if self.reporting:
            self._check_static(b)
        self._check_overlaps(op, b, state)
        self._note_peak(b.live_bytes, state)

    def _check_overlaps(self, op, b: _Buffer, state: _State) -> None:
        """Reports every other buffer that may be live and overlaps `b`."""
        for other, st in state.status.items():
            if other is not b and _LIVE in st and other.overlaps(b):
                may = "" if st == {_LIVE} else " (live on some path)"
                self._report(
                    "overlap", op,
                    spad_overlap_error(b.label(), f"{other.describe()}{may} allocated at {_where(other.op)}"),
                    b, (max(b.offset, other.offset), min(b.end, other.end)),
                )

    def _free(self, op, state: _State) -> None:
        view = self._traced(op, 0, op.operands[0])
        if view is None:
            return
        b = view.buffer
        status = state.get(b)
        if _FREED in status:
            self._report(
                "double-free", op,
                spad_double_free_error(b.label()) + ("" if status == {_FREED} else " on some path"),
                b, (b.offset, b.end),
            )
        state.status[b] = frozenset({_FREED})
        state.written.pop(b, None)

    def _traced(self, op, i, value) -> _View | None:
        view = self._view(value)
        if view is None:
            self._report(
                "unsupported", op,
                f"operand #{i} is a scratchpad memref ({value.type}) that cannot be traced to an "
                "imc.spad_alloc in this function (block argument, region result or unknown view); "
                "its accesses cannot be checked",
            )
        return view

    def _effects(self, op):
        """(reads, writes): lists of (operand number, element set or None=whole view, index or None)."""
        if not _may_take_spad(op):
            return [], []
        name = op.name
        operands = list(op.operands)
        spad = [i for i, v in enumerate(operands) if _is_spad_memref(v)]
        if not spad:
            return [], []
        if name == _DMA:
            return [(0, None)] if 0 in spad else [], [(1, None)] if 1 in spad else []
        if name == "memref.copy":
            return [(0, None)] if 0 in spad else [], [(1, None)] if 1 in spad else []
        if name == "bufferization.materialize_in_destination":
            return [], [(1, None)] if 1 in spad else []
        if name == "memref.load":
            return [(0, self._indices(operands[1:]))], []
        if name == "memref.store":
            reads = [(i, None) for i in spad if i != 1]
            return reads, [(1, self._indices(operands[2:]))] if 1 in spad else []
        if name.startswith("linalg."):
            n_ins = linalg_input_count(op)
            if n_ins is None:
                return [(i, None) for i in spad], []
            args = None
            if op.regions and op.regions[0].blocks:
                args = list(op.regions[0].blocks[0].arguments)
                if len(args) != len(operands):
                    args = None
            reads = [(i, None) for i in spad if i < n_ins]
            writes = [(i, None) for i in spad if i >= n_ins]
            # An out whose payload argument is used is read too (accumulation).
            reads += [(i, None) for i in spad if i >= n_ins and (args is None or _has_uses(args[i]))]
            return reads, writes
        return [(i, None) for i in spad], []

    def _access(self, op, state: _State) -> None:
        reads, writes = self._effects(op)
        if not reads and not writes:
            return
        operands = list(op.operands)
        views = {}
        for i in sorted({i for i, _ in reads + writes}):
            view = self._traced(op, i, operands[i])
            if view is None:
                continue
            b = view.buffer
            status = state.get(b)
            if _LIVE not in status or len(status) > 1:
                if _FREED in status:
                    message = spad_use_after_free_error(b.label())
                else:
                    message = f"uses {b.label()} outside its live range"
                if status & {_LIVE}:
                    message += " on some path"
                self._report(
                    "use-after-free", op,
                    message,
                    b, (b.offset, b.end),
                )
                continue
            views[i] = view
        for i, index in reads:
            view = views.get(i)
            if view is None:
                continue
            elements = view.read_set() if index is None else self._element_at(view, index, write=False)
            mask = state.mask(view.buffer)
            missing = ~mask[elements]
            if missing.any():
                idx = (np.arange(view.buffer.elements) if isinstance(elements, slice) else elements)[missing]
                ranges = _byte_ranges(view.buffer, idx)
                more = f" and {len(ranges) - 1} more range(s), {idx.size * view.buffer.ebytes} bytes in all" if len(ranges) > 1 else ""
                self._report(
                    "uninitialized-read", op,
                    spad_unwritten_read_error(f"[{ranges[0][0]}, {ranges[0][1]}){more}", view.buffer.label())
                    + " on every path",
                    view.buffer, ranges[0],
                )
                mask[elements] = True  # report each missing byte once
        for i, index in writes:
            view = views.get(i)
            if view is None:
                continue
            elements = view.write_set() if index is None else self._element_at(view, index, write=True)
            if elements is not None:
                state.mask(view.buffer)[elements] = True

    @staticmethod
    def _element_at(view: _View, index, *, write: bool):
        if index is None or view.elements is _UNKNOWN:
            return None if write else slice(None)
        if view.elements is _WHOLE:
            shape = ir.MemRefType(view.buffer.op.results[0].type).shape
            try:
                return np.asarray([np.ravel_multi_index(index, shape)], dtype=np.int64)
            except ValueError:
                return None if write else slice(None)
        try:
            return np.asarray([view.elements[index]], dtype=np.int64)
        except IndexError:
            return None if write else slice(None)

    # -- control flow ----------------------------------------------------------
    def _if(self, op, state: _State) -> None:
        cond = self._int(op.operands[0])
        if cond is not None:  # the branch taken
            region = op.regions[0] if cond else (op.regions[1] if len(op.regions) > 1 else None)
            if region is not None and region.blocks:
                self._block(region.blocks[0], state)
            return
        then = state.copy()
        self._block(op.regions[0].blocks[0], then)
        other = state.copy()
        if len(op.regions) > 1 and op.regions[1].blocks:
            self._block(op.regions[1].blocks[0], other)
        joined = then.join(other)
        state.status, state.written = joined.status, joined.written

    def _for(self, op, state: _State) -> None:
        lb, ub, step = (self._int(v) for v in list(op.operands)[:3])
        trip = None
        if None not in (lb, ub, step) and step > 0:
            trip = max(0, -(-(ub - lb) // step))
        body = op.regions[0].blocks[0]
        if trip == 0:
            return
        outer = self.trip
        nest = (outer.nest if outer is not None else 1) * (trip or 0)
        if trip is not None and nest <= MAX_FOLLOWED_TRIPS:
            self._follow(body, state, lb, step, trip, nest)
            return
        reporting, self.reporting = self.reporting, False
        head = state.copy()
        for _ in range(_MAX_FIXPOINT):
            out = head.copy()
            self._block(body, out)
            new = state.join(out)
            if new.same(head):
                break
            head = new
        else:
            head = state.join(head).top()
        self.reporting = reporting
        out = head.copy()
        self._block(body, out)
        exit_state = out if trip is not None else state.join(out)
        state.status, state.written = exit_state.status, exit_state.written

    def _follow(self, body, state: _State, lb: int, step: int, trip: int, nest: int) -> None:
        """Checks the loop body once per trip, in order, its induction
        variable bound to the trip's value."""
        outer = self.trip
        values = outer.values if outer is not None else {}
        views = outer.views if outer is not None else {}
        iv = body.arguments[0]
        if self.reporting:
            self.followed_trips += trip
        try:
            for k in range(trip):
                self.trip = _Trip(ChainMap({iv: lb + k * step}, values), ChainMap({}, views), nest)
                self._block(body, state)
        finally:
            self.trip = outer

    def _call(self, op, state: _State) -> None:
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        if callee not in self.funcs:
            return
        summary = self._summary(callee)
        self._callees += [b for b in summary.footprint if b not in self._callees]
        for other, st in state.status.items():
            if _LIVE not in st:
                continue
            for b in summary.footprint:
                if b.overlaps(other):
                    self._report(
                        "overlap", op,
                        f"calls @{callee}, whose scratchpad buffer {b.describe()} overlaps the live buffer "
                        f"{other.describe()} allocated at {_where(other.op)}",
                        other, (max(b.offset, other.offset), min(b.end, other.end)),
                    )
        self._note_peak(summary.peak, state)
        for b in summary.leaked:
            state.status[b] = state.get(b) | {_LIVE}


def _may_take_spad(op) -> bool:
    """False for ops whose operands are tensors (or crossbars) by definition."""
    return op.name not in _TENSOR_OPERANDS_ONLY and not op.name.startswith("tensor.")


def _has_uses(value) -> bool:
    return next(iter(value.uses), None) is not None


def _touches_spad(op) -> bool:
    """True if any op nested in `op`'s regions is a scratchpad op or uses a scratchpad memref."""
    return find_nested(op, lambda o: o.name in (_ALLOC, _FREE) or any(_is_spad_memref(v) for v in o.operands)) is not None
