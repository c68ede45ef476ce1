"""The timeline of an executed program on the chip's parallel resources.

While the interpreter runs with a `Tracer` (`imc.sim.runtime.Runner(trace=True)`,
fast paths off, so every op of the IR executes as itself; in `ideal`, the
later trips of a row-tiled fused contraction are placed from its first
trip's steps instead, `imc.sim.trip_templates`), each executed op
that does work — one tile's MVM or programming, one DMA, one elementwise
op, one loop trip's slice of a layer — is a *step*, placed as early as its
data and the chip's resources allow (docs/interpreter.md, "Timeline"):

* **data**: a step starts after the steps that wrote the elements it reads
  (read after write) and, for the elements it writes, after the steps that
  read or wrote them before (write after read or write: scratchpad buffers
  reused by the placement, tensors written over in place, line buffers).
  Dependencies are tracked per element of every host array the interpreter
  holds — SSA values, scratchpad and DRAM buffers, and their views — so
  slices, rolling windows and reused buffers are exact.
* **resources**: every crossbar array (its MVM steps x `latency.mvm`, its
  programmed rows x `latency.cell_program`; an MVM that shares an earlier
  one's activation, `MvmView.shares_activation`, runs within it), the DRAM channel and the
  scratchpad port (bytes at their per-byte latency), and the digital units
  (ops x `latency.digital_op` over `cores x digital_lanes`: elementwise work
  is spread over all of them). A step holds each resource it uses from its
  start for that resource's time and ends when the longest is done. Steps
  are placed in program order, each in the earliest gap its resources all
  have (a later step may fill an earlier gap).

Every resource is busy at most once at a time, so the makespan is never
below `imc.sim.report.resource_times` of the same events (the latency bound).
The *latency* of a call is its makespan on an idle chip; the *throughput*
of a stream of calls comes from calls issued back to back on one chip, each
as soon as its data and resources allow (the buffers they share order them).
The stream's calls replay the warm call's recorded steps (`Tracer.replay`)
instead of executing the program again.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field

import numpy as np

from imc.dialects.imc import TRANSFER_OPS
from imc.ir.cost_events import event_rates, resource_ns
from imc.ir.utils import TIMELINE_VIEW_OPS as VIEW_OPS, linalg_input_count  # ops with no work and no access
from imc.sim.access_times import (
    _MOVE,
    _PLACE,
    _Concatenated,
    _CrossbarToken,
    _Inserted,
    _Located,
    _Memory,
    _Padded,
    _Recorded,
    _Reshaped,
    _commit,
    _ready,
    _root,
)
from imc.sim.busy_intervals import BusyIntervals
from imc.sim.interpreter.imc import dma_window
from imc.sim.interpreter.tensor import concat_dim, insert_slice_index, pad_region
from imc.sim.report import EVENTS, resource_times
from imc.sim.timeline_bound import HeadBodyTail, head_body_tail
from imc.sim.trip_templates import traced_trip

__all__ = ["Tracer", "Timeline", "LayerSpan"]

# Ops that execute their regions' steps (which are traced themselves).
CONTROL_OPS = frozenset(
    {
        "scf.for",
        "scf.if",
        "scf.while",
        "scf.execute_region",
        "scf.index_switch",
        "func.call",
        "memref.alloca_scope",
        "imc.tiled_contract",
    }
)
# Ops that place their own steps (`imc.sim.interpreter.imc_transfer`: one per DMA).
SELF_TRACED_OPS = TRANSFER_OPS
# Ops without results that write operands from this index on (and linalg ops
# on buffers: their outs).
_WRITES_OPERAND = {"memref.copy": 1, "bufferization.materialize_in_destination": 1}


@dataclass
class LayerSpan:
    """One layer's steps in one call: when the first started and the last
    ended (ns from the call's start), and how long each resource class
    worked for it."""

    name: str
    start_ns: float
    end_ns: float
    busy_ns: dict = field(default_factory=dict)
    intervals: list = field(default_factory=list)  # when any of its steps ran: sorted, disjoint (start, end)


@dataclass
class Timeline:
    """What the tracer measured: a cold call on an idle chip, a warm call on
    an idle chip (weights as the cold call left them), and a stream of warm
    calls issued back to back."""

    cold_makespan_ns: float | None  # None: the cold call ran untraced (`measure(cold=False)`)
    warm_makespan_ns: float
    interval_ns: float  # steady-state time between the ends of consecutive calls in a stream
    bound_ns: float  # the warm call's resource bound (`imc.sim.report.resource_times` of its events)
    bounding_resource: str
    chain_ns: float | None  # the warm call's longest dependency chain (every resource unlimited; None: not followed)
    layers: list[LayerSpan]  # of the warm call, in first-start order
    busy_ns: dict  # resource class -> its work in the warm call
    steps: list  # of the warm call: (layer, resource, start, end)
    resource_ns: dict = field(default_factory=dict)  # the warm call's time on each resource (`resource_times`)
    # The warm call's head-body-tail bound (`imc.sim.timeline_bound`; None: the chain or the replay was off).
    head_body_tail: HeadBodyTail | None = None
    outputs: list = field(default_factory=list, repr=False, compare=False)  # the cold call's results (NumPy)

    @property
    def latency_bound_ns(self) -> float:
        """No schedule of this program's steps is faster: neither the chip's
        busiest resource, nor its longest dependency chain, nor any resource
        with the chains before its first step and after its last allows it."""
        joined = self.head_body_tail.bound_ns if self.head_body_tail is not None else 0.0
        return max(self.bound_ns, self.chain_ns or 0.0, joined)

    @property
    def throughput_per_s(self) -> float:
        return 1e9 / self.interval_ns if self.interval_ns > 0 else float("inf")

    def to_dict(self) -> dict:
        return {
            "cold_makespan_ns": self.cold_makespan_ns,
            "warm_makespan_ns": self.warm_makespan_ns,
            "interval_ns": self.interval_ns,
            "throughput_per_s": self.throughput_per_s,
            "bound_ns": self.bound_ns,
            "bounding_resource": self.bounding_resource,
            "chain_ns": self.chain_ns,
            "head_body_tail": None if self.head_body_tail is None else asdict(self.head_body_tail),
            "latency_bound_ns": self.latency_bound_ns,
            "busy_ns": dict(self.busy_ns),
            "resource_ns": dict(self.resource_ns),
            "layers": [
                {"name": s.name, "start_ns": s.start_ns, "end_ns": s.end_ns, "busy_ns": dict(s.busy_ns)}
                for s in self.layers
            ],
        }

    def summary(self) -> str:
        ratio = lambda b: f"{self.warm_makespan_ns / b:.2f}x" if b else "-"  # noqa: E731
        return (
            f"timeline: a warm call takes {self.warm_makespan_ns / 1e3:,.3f} us on an idle chip "
            f"({ratio(self.bound_ns)} its resource bound {self.bound_ns / 1e3:,.3f} us, {self.bounding_resource}-bound"
            + (f"; {ratio(self.chain_ns)} its longest dependency chain {self.chain_ns / 1e3:,.3f} us" if self.chain_ns is not None else "")
            + (self._joined_bound() if self.head_body_tail is not None else "")
            + "), "
            + (f"a cold call {self.cold_makespan_ns / 1e3:,.3f} us; " if self.cold_makespan_ns is not None else "")
            + "calls in a stream end every "
            f"{self.interval_ns / 1e3:,.3f} us ({self.throughput_per_s:,.1f} inferences/s)"
        )

    def _joined_bound(self) -> str:
        b = self.head_body_tail
        return (
            f"; {self.warm_makespan_ns / b.bound_ns:.2f}x its head-body-tail bound {b.bound_ns / 1e3:,.3f} us "
            f"({b.resource}: {b.head_ns / 1e3:,.3f} before, {b.work_ns / 1e3:,.3f} busy, {b.tail_ns / 1e3:,.3f} after)"
        )

    def table(self) -> str:
        """Per layer of the warm call: when it ran and what kept it busy."""
        classes = ("crossbars", "dram", "scratchpad", "digital")
        head = f"{'layer':<28} {'start us':>10} {'end us':>10} " + " ".join(f"{c + ' us':>13}" for c in classes)
        lines = [head, "-" * len(head)]
        for s in self.layers:
            busy = " ".join(f"{s.busy_ns.get(c, 0.0) / 1e3:>13,.3f}" for c in classes)
            lines.append(f"{s.name[:28]:<28} {s.start_ns / 1e3:>10,.3f} {s.end_ns / 1e3:>10,.3f} {busy}")
        return "\n".join(lines)

    def chrome_trace(self) -> dict:
        """The warm call as a Chrome/Perfetto trace (one track per resource)."""
        tracks: dict[str, int] = {}
        events = []
        for layer, resource, start, end in self.steps:
            tid = tracks.setdefault(resource, len(tracks))
            events.append({"name": layer, "ph": "X", "ts": start / 1e3, "dur": (end - start) / 1e3, "pid": 0, "tid": tid})
        for resource, tid in tracks.items():
            events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": resource}})
        return {"traceEvents": events, "displayTimeUnit": "ns"}


def resource_class(resource: str) -> str:
    return "crossbars" if resource.startswith("xbar") else resource


class Tracer:
    """Places executed steps on the chip's resources (see the module docstring).

    The interpreter calls `begin()` before and `end(op, args, results)` after
    each op outside `CONTROL_OPS`; while a step is open, `Report.add` forwards
    its events here (`add`), and the imc op implementations name the arrays
    they occupy (`crossbar`, `programmed`)."""

    control_ops = CONTROL_OPS | SELF_TRACED_OPS

    def __init__(self, chip, row_for):
        hardware = chip.hardware
        self.chip = chip
        self.hardware = hardware
        self.row_for = row_for
        lat = hardware.latency
        self._rates = event_rates(hardware)
        self._mvm_ns = lat.mvm
        self._program_ns = lat.cell_program
        self._arrays = max(1, hardware.total_crossbars)
        self.memory = _Memory()
        # The same accesses, timed as if every resource were unlimited (None:
        # not followed, `follow_chain(False)`), and the longest chain so far.
        self.chain: _Memory | None = _Memory()
        self.chain_ns = 0.0
        self._end_ns = 0.0
        self.resources: dict[str, BusyIntervals] = {}
        self.steps: list[tuple] = []  # (layer, resource, start, end, {resource: ns})
        self.unattributed: dict[str, int] = {}  # events added outside any step
        # Since the chip was last idle: every event, and MVM steps per array.
        self.totals: dict[str, int] = {}
        self.mvm_steps: dict[int, int] = {}
        self.events: dict | None = None  # of the open step
        self.busy: dict[str, float] = {}
        self._depth = 0
        self._effects: dict[int, tuple] = {}
        # Per crossbar, its last MVM activation: (start, end, what it read).
        self._activations: dict[int, tuple] = {}
        self._ride = None  # of the open step: (array, its own MVM steps, what it reads)
        self._activation = None  # of the open step: (array, ns, what it reads, MVM steps)
        # The steps of the call being recorded (`replay`), else None; with
        # the chain followed, `bound_log` holds per recorded entry (head, took,
        # busy) of its placed step, or None (`imc.sim.timeline_bound`).
        self.recording: list | None = None
        self.bound_log: list | None = None
        self._replays = 0
        self._kept: dict = {}  # the last replay's stand-ins for the recorded call's own arrays
        self._last_uses: tuple = (None, {})  # (a recording, `_last_uses` of it)
        self._recent: dict[int, tuple] = {}  # `_located`'s last arrays: id -> (array, _Located)
        self._recorded: dict = {}  # `_recorded_of`'s records of the call being recorded

    # -- state ----------------------------------------------------------------
    def idle(self) -> None:
        """The chip idle at time 0 with every buffer settled (a call in isolation)."""
        self.memory.clear()
        if self.chain is not None:
            self.chain.clear()
        self.chain_ns = 0.0
        self._end_ns = 0.0
        self.resources.clear()
        self.steps = []
        self.totals = {}
        self.mvm_steps = {}
        self._activations.clear()
        self._recorded = {}

    def follow_chain(self, follow: bool) -> None:
        """Whether to follow the longest dependency chain (`chain_ns`; half
        the tracer's bookkeeping). Turned back on, it starts afresh."""
        self.chain = _Memory() if follow else None
        self.chain_ns = 0.0

    @property
    def end_ns(self) -> float:
        """When the last step placed so far ends."""
        return self._end_ns

    # -- what the running op reports ------------------------------------------
    def add(self, events: dict) -> None:
        sink = self.events if self.events is not None else self.unattributed
        totals = self.totals
        for kind, n in events.items():
            sink[kind] = sink.get(kind, 0) + n
            totals[kind] = totals.get(kind, 0) + n

    def activation(self, array: int, steps: int, x: np.ndarray, *, rides: bool = False) -> None:
        """The open step is an MVM of `steps` steps on crossbar `array`
        (-1, an unplaced tile: spread over all arrays) reading `x`. With
        `rides` (`MvmView.shares_activation`) it is computed in the array's
        last activation if that one read the same input and this step's data
        (its tile included) was ready when it started; else, or without
        `rides`, it keeps the array busy for its own steps."""
        read = self._located(x)
        if rides and array >= 0:
            self._ride = (array, steps, read)
            return
        self._own_activation(array, steps, read)

    def _own_activation(self, array: int, steps: int, read: _Located) -> None:
        self.mvm_steps[array] = self.mvm_steps.get(array, 0) + steps
        ns = steps * self._mvm_ns
        self._occupy(array, ns)
        if array >= 0:
            self._activation = (array, ns, read, steps)

    def programmed(self, array: int, rows: int) -> None:
        self._occupy(array, rows * self._program_ns)

    def _occupy(self, array: int, ns: float) -> None:
        busy = self.busy
        if array < 0:
            ns /= self._arrays
            for a in range(self._arrays):
                key = f"xbar{a}"
                busy[key] = busy.get(key, 0.0) + ns
        else:
            key = f"xbar{array}"
            busy[key] = busy.get(key, 0.0) + ns

    # -- steps ----------------------------------------------------------------
    def begin(self) -> None:
        """An op begins. Ops that run inside it (a linalg body, a
        `tensor.pad` region) belong to its step."""
        self._depth += 1
        if self._depth == 1:
            self.events = {}
            self.busy = {}

    def abort(self) -> None:
        self._depth = 0
        self.events = None
        self._ride = self._activation = None
        self._recent.clear()

    def end(self, op, args, results) -> None:
        self._depth -= 1
        if self._depth:
            return
        name = op.name
        events = self.events
        if name == "bufferization.to_tensor" and not any(events.values()):
            self.events = None  # (returns its buffer: no access)
            return
        if name == "imc.program" and not self.busy and not any(events.values()):
            # A held tile: nothing is written, so no step (as one it would
            # write the crossbar's token at the time it already holds).
            self.events = None
            return
        move = _MOVES.get(name)
        if move is not None and not events.get("dram_read_bytes") and not events.get("dram_write_bytes"):
            # Each element is passed on when its source is ready; the bytes
            # the move counts still take their time on the scratchpad port.
            plan = move(op, args, results)
            if plan is None:  # (a reshape that is a view: no step)
                self.place(self.row_for(op).name, [], [])
                return
            dest, sources, reads, assemble = plan
            self._copy_step(self.row_for(op).name, _Located(dest), [_Located(a) for a in sources], reads, assemble)
            return
        reads, writes = self._accesses(op, args, results)
        self.place(self.row_for(op).name, reads, writes)

    def move(self, layer: str, src: np.ndarray, dest: np.ndarray) -> None:
        """A step that copies `src` into `dest` and counts nothing (as a
        `bufferization.materialize_in_destination` or `tensor.insert_slice`
        on the scratchpad): each element of `dest` is ready when its source
        is (and after every earlier access to it)."""
        self.begin()
        self._copy_step(layer, _Located(dest), [_Located(src)], 1, _Reshaped(dest.shape))

    def _copy_step(self, layer: str, dest: _Located, sources: list, reads: int, assemble) -> None:
        """The open step copies elements of `sources` into `dest`, reading
        the first `reads` of them: `assemble.times` says, from when the
        sources' elements were written, when each of `dest`'s were (before
        the step's own time: a move passes elements on)."""
        memories = (self.memory,) if self.chain is None else (self.memory, self.chain)
        times = [assemble.times(m, sources) for m in memories]
        recording = self.recording
        mark = len(recording) if recording is not None else 0
        self.place(layer, sources[:reads], [])
        for memory, written in zip(memories, times):
            memory.copy_into(dest, written)
        if recording is not None:  # one entry: the step's times come before its place
            placed = recording[mark] if len(recording) > mark else None
            del recording[mark:]
            of = self._recorded_of
            recording.append((_MOVE, of(dest), [of(a) for a in sources], assemble, placed))
            if placed is None and self.bound_log is not None:
                self.bound_log.append(None)

    def place(self, layer: str, reads, writes, *, last: bool = False) -> None:
        """Ends the open step (of `layer`, reading and writing these arrays)
        and places it on the timeline (`last`: after every step so far).
        Also for steps that are not ops: the call's inputs arriving from
        DRAM, its outputs leaving."""
        events, busy = self.events, self.busy
        self.events = None
        self._depth = 0
        ride, self._ride = self._ride, None
        if last:  # (the call's last step: the arrays `_located` kept go with the call's, see there)
            self._recent.clear()
        resource_ns(events, self._rates, busy)
        if not busy and not reads and not writes and ride is None:
            return
        located = self._located
        reads = [a if isinstance(a, (_CrossbarToken, _Located)) else located(a) for a in reads]
        writes = [a if isinstance(a, (_CrossbarToken, _Located)) else located(a) for a in writes]
        if self.recording is not None:
            self._record(layer, reads, writes, busy, ride, last)
        memory = self.memory
        ready = _ready(memory, reads, writes, self.end_ns if last else 0.0)
        ride_ns, rides_until = 0.0, None
        if ride is not None:
            array, steps, read = ride
            act = self._activations.get(array)
            if act is not None and act[2] == (id(read.root), read.where) and ready <= act[0]:
                ready, rides_until, ride_ns = act[0], act[1], act[1] - act[0]
            else:  # its tile was not in place when the activation began: one of its own (added to `busy`, which is `self.busy`)
                self._own_activation(array, steps, read)
        activation, self._activation = self._activation, None
        # The same step with unlimited resources: the longest dependency chain.
        chain = self.chain
        if chain is not None:
            took = max(max(busy.values(), default=0.0), ride_ns)
            head = _ready(chain, reads, writes, self.chain_ns if last else 0.0)
            chain_end = head + took
            _commit(chain, reads, writes, chain_end)
            self.chain_ns = max(self.chain_ns, chain_end)
            if self.bound_log is not None:
                self.bound_log.append((head, took, dict(busy)))
        resources = self.resources
        used = []
        for name, ns in busy.items():
            r = resources.get(name)
            if r is None:
                r = resources[name] = BusyIntervals()
            used.append((r, ns))
        start = ready
        moved = True
        while moved:  # the earliest time every resource has its gap
            moved = False
            for r, ns in used:
                t = r.earliest(start, ns)
                if t > start:
                    start, moved = t, True
        end = start
        primary = ""
        for resource, ns in busy.items():
            if start + ns > end or not primary:
                end, primary = max(end, start + ns), resource
        if rides_until is not None and (rides_until > end or not primary):
            end, primary = max(end, rides_until), f"xbar{ride[0]}"
        for r, ns in used:
            r.reserve(start, ns)
        _commit(memory, reads, writes, end)
        if activation is not None:
            read = activation[2]
            self._activations[activation[0]] = (start, start + activation[1], (id(read.root), read.where))
        if busy or rides_until is not None:
            self.steps.append((layer, primary, start, end, busy))
        self._end_ns = max(self._end_ns, end)

    def _located(self, a: np.ndarray) -> _Located:
        """`_Located(a)`, the same one again for an array the last few steps
        located: an MVM's input is located by its activation and by its
        step, and read by the MVMs of the layer's other tiles (an array's
        root, offset, shape and strides do not change while it lives). The
        few arrays kept here live until the call's last step (`place(...,
        last=True)`) at the latest: a replay tells the arrays a recorded call
        left alive from those it dropped (`_Recorded`)."""
        recent = self._recent
        hit = recent.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        loc = _Located(a)
        if len(recent) >= 16:
            recent.clear()
        recent[id(a)] = (a, loc)
        return loc

    def _accesses(self, op, args, results) -> tuple[list, list]:
        """(arrays `op` read, arrays it wrote) in this execution."""
        name = op.name
        if name in VIEW_OPS:
            return [], []
        if name == "imc.dma":
            return _dma_accesses(op, args, self.chip.spad)
        if name == "bufferization.to_tensor":  # (returns its buffer)
            return [args[0]], []
        if name == "imc.program":  # the crossbar it returns is ready when it ends
            return [a for a in args if isinstance(a, np.ndarray)], [_CrossbarToken(results[0])]
        arrays = [a for a in args if isinstance(a, np.ndarray) and a.size]
        if name == "imc.mvm":
            arrays.append(_CrossbarToken(args[0]))
        # (a read-only result the memory already knows is a shared constant,
        # e.g. a weight: not written again)
        known = self.memory.known
        written = [
            r for r in results if isinstance(r, np.ndarray) and r.size and (r.flags.writeable or not known(r))
        ]
        first = self._first_written_operand(op)
        if first is not None:
            written += [a for a in args[first:] if isinstance(a, np.ndarray) and a.size]
            arrays = [a for a in args[:first] if isinstance(a, np.ndarray) and a.size]
        return arrays, written

    def _first_written_operand(self, op) -> int | None:
        key = id(op)
        hit = self._effects.get(key)
        if hit is None:
            o = op.ir.operation
            first = _WRITES_OPERAND.get(op.name)
            if first is None and op.name.startswith("linalg.") and not o.results:
                first = linalg_input_count(o)
                if first is None:
                    first = len(o.operands) - 1
            if o.results and op.name in _WRITES_OPERAND:
                first = None  # (on tensors: a result, no operand written)
            hit = self._effects[key] = (op, first)  # (the op is kept: its id stays its own)
        return hit[1]

    # -- replay -------------------------------------------------------------------
    def _record(self, layer, reads, writes, busy, ride, last) -> None:
        activation = self._activation
        of = self._recorded_of
        self.recording.append((
            _PLACE,
            layer,
            [of(a) for a in reads],
            [of(a) for a in writes],
            dict(busy),
            None if ride is None else (ride[0], ride[1], of(ride[2])),
            None if activation is None else (activation[0], activation[1], of(activation[2]), activation[3]),
            last,
        ))

    def _recorded_of(self, a):
        """`_Recorded.of(a)`, the same one for every recorded access to the
        same elements of the same array (an MVM's input row tile is read by
        its activation and the MVMs that ride it): a replay then locates it
        once per call. Kept by the array's identity and checked through the
        weak reference, so no array is kept alive."""
        if isinstance(a, _CrossbarToken):
            return a
        key = (id(a.root), a.where, a.whole, a.shape, a.contiguous)
        r = self._recorded.get(key)
        if r is None or r.ref() is not a.root:
            r = self._recorded[key] = _Recorded.of(a)
        return r

    def replay(self, recording: list) -> None:
        """Places the steps of a recorded call (`recording`, filled while
        `self.recording` was a list) again, as a call that runs the same
        ops on the chip as it is now: the next call of a stream, without
        executing it. Arrays the recorded call left alive (scratchpad and
        DRAM buffers, weights, the inputs) are the same arrays again, with
        their access times; those it made and dropped (its SSA values) are
        new ones, as a real call's would be."""
        self._replays += 1
        call, fresh = self._replays, {}
        memories = (self.memory,) if self.chain is None else (self.memory, self.chain)
        if self._last_uses[0] is not recording:
            self._last_uses = (recording, _last_uses(recording))
        last_uses = self._last_uses[1]

        def located(a):
            return a if isinstance(a, _CrossbarToken) else a.located(call, fresh)

        for i, entry in enumerate(recording):
            if entry[0] is _PLACE:
                self.place_recorded(entry, located)
            else:
                _, dest, sources, assemble, placed = entry
                sources = [located(a) for a in sources]
                times = [assemble.times(m, sources) for m in memories]
                if placed is not None:
                    self.place_recorded(placed, located)
                dest = located(dest)
                for memory, written in zip(memories, times):
                    memory.copy_into(dest, written)
            for ref in last_uses.get(i, ()):  # a value the call no longer reads: its times go, as its array would
                stand_in = fresh.get(id(ref))
                if stand_in is not None:
                    for memory in memories:
                        memory.forget(stand_in)
        # (the stand-ins themselves are kept until the next replay: their ids
        # stay their own while activations are keyed by them)
        self._kept = fresh

    def contraction_trip(self, interp, group, body, ex) -> list | None:
        """One traced trip of a fused contraction (`imc.tiled_contract`):
        its steps placed from an earlier trip's (`imc.sim.trip_templates`),
        or its ops run and recorded; None when its ops must run as usual."""
        return traced_trip(interp, group, body, ex)

    def place_recorded(self, entry, located) -> None:
        """Places a recorded step (a `_PLACE` entry of a recording) again,
        each access `located(a)` (a `_CrossbarToken` as it is)."""
        _, layer, reads, writes, busy, ride, activation, last = entry
        self.events, self.busy, self._depth = {}, dict(busy), 0
        self._ride = None if ride is None else (ride[0], ride[1], located(ride[2]))
        self._activation = None if activation is None else (activation[0], activation[1], located(activation[2]), activation[3])
        self.place(layer, [located(a) for a in reads], [located(a) for a in writes], last=last)

    @contextlib.contextmanager
    def placed_events(self):
        """Events added inside the block belong to steps already placed
        (a trip placed from its template, whose steps' times were recorded
        with them): counted in `totals`, not as `unattributed`."""
        self.events = {}
        try:
            yield
        finally:
            self.events = None

    def move_recorded(self, layer: str, busy: dict, reads: int, dest: _Located, sources: list, assemble) -> None:
        """Places a recorded copy step again, as `end` makes one
        (`_copy_step`): `dest` and `sources` located, the first `reads`
        sources read, its resources' times `busy`."""
        self.events, self.busy, self._depth, self._ride, self._activation = {}, dict(busy), 0, None, None
        self._copy_step(layer, dest, sources, reads, assemble)

    # -- summaries --------------------------------------------------------------
    def layer_spans(self) -> tuple[list[LayerSpan], dict]:
        spans: dict[str, LayerSpan] = {}
        classes: dict[str, float] = {}
        for layer, _, start, end, busy in sorted(self.steps, key=lambda s: s[2]):
            span = spans.get(layer)
            if span is None:
                span = spans[layer] = LayerSpan(layer, start, end)
            span.end_ns = max(span.end_ns, end)
            if span.intervals and start <= span.intervals[-1][1]:
                span.intervals[-1] = (span.intervals[-1][0], max(end, span.intervals[-1][1]))
            else:
                span.intervals.append((start, end))
            for resource, ns in busy.items():
                cls = resource_class(resource)
                span.busy_ns[cls] = span.busy_ns.get(cls, 0.0) + ns
                classes[cls] = classes.get(cls, 0.0) + ns
        return sorted(spans.values(), key=lambda s: s.start_ns), classes



def _last_uses(recording: list) -> dict:
    """Entry index -> the references of the recorded call's own arrays (dead
    now) whose last access that entry is."""
    last = {}
    for i, entry in enumerate(recording):
        for a in _accessed(entry):
            if isinstance(a, _Recorded) and a.ref() is None:
                last[id(a.ref)] = (i, a.ref)
    by_entry: dict = {}
    for i, ref in last.values():
        by_entry.setdefault(i, []).append(ref)
    return by_entry


def _accessed(entry):
    """The recorded accesses of a `Tracer.recording` entry."""
    if entry[0] is _PLACE:
        _, _, reads, writes, _, ride, activation, _ = entry
        yield from reads
        yield from writes
        for held in (ride, activation):
            if held is not None:
                yield held[2]
        return
    _, dest, sources, _, placed = entry
    yield dest
    yield from sources
    if placed is not None:
        yield from _accessed(placed)


def _insert(op, args, results):
    return results[0], [args[0], args[1]], 1, _Inserted(insert_slice_index(op, args))


def _store(op, args, results):
    dest = results[0] if results else args[1]
    return dest, [args[0]], 1, _Reshaped(dest.shape)


def _copy(op, args, results):
    return args[1], [args[0]], 1, _Reshaped(args[1].shape)


def _concat(op, args, results):
    return results[0], list(args), len(args), _Concatenated(concat_dim(op))


def _reshape(op, args, results):
    """A reshape that had to copy (a strided source, e.g. a transposed
    tensor collapsed): its elements are ready when the source's are; None
    for a view (nothing moves)."""
    src, dest = args[0], results[0] if results else None
    if not isinstance(dest, np.ndarray) or not isinstance(src, np.ndarray) or _root(dest) is _root(src):
        return None
    return dest, [src], 1, _Reshaped(dest.shape)


def _pad(op, args, results):
    return results[0], [args[0]], 1, _Padded(results[0].shape, pad_region(op, args))


# Ops that only move elements (on the scratchpad, or not at all): each
# returns (the array written, the arrays its times come from, how many of
# those (the first) it reads, and how its times come from theirs: an
# `_Assembled`), or None if nothing moves.
_MOVES = {
    "tensor.insert_slice": _insert,
    "tensor.concat": _concat,
    "imc.join": _concat,
    "tensor.pad": _pad,
    "tensor.collapse_shape": _reshape,
    "tensor.expand_shape": _reshape,
    "bufferization.materialize_in_destination": _store,
    "memref.copy": _copy,
}


def _dma_accesses(op, args, spad) -> tuple[list, list]:
    """An `imc.dma` reads or writes only its window of the DRAM buffer."""
    src, dst = args
    window = dma_window(op)
    if spad is not None and spad.owns(dst):  # a load
        return [src[window]], [dst]
    return [src], [dst[window]]


def measure(
    runner, inputs, *, stream: int = 3, cold: bool = True, replay: bool = True, chain: bool = True, products: bool = False
) -> Timeline:
    """Runs a tracing `imc.sim.runtime.Runner` (`trace=True`, fresh): a cold call
    and a warm call, each on an idle chip, then `stream` - 1 more warm calls
    issued right after the warm one. Returns their `Timeline`. Without
    `cold`, the cold call only programs the chip, untraced (faster: the
    fused contractions take their fast paths; no `cold_makespan_ns`): the
    warm call starts on an idle chip either way.
    With `replay`, the stream's calls are the warm call's recorded steps
    placed again (`Tracer.replay`: the same ops on the same chip, without
    executing them again; the same timeline, faster). Without `chain`, the
    longest dependency chain is not followed (`chain_ns` None; a third
    faster). The warm call's values are not read, so it computes no
    crossbar products (`Runner.without_products`: the same steps and times)
    unless `products`."""
    tracer = runner.tracer
    if tracer is None or runner.report.calls:
        raise ValueError("measure needs a fresh Runner(..., trace=True)")
    if stream < 2:
        raise ValueError(f"stream must be >= 2 calls, got {stream}")
    tracer.follow_chain(chain)
    if cold:
        outputs = runner(*inputs)
        cold_ns = tracer.end_ns
    else:
        with runner.untraced():
            outputs = runner(*inputs)
        cold_ns = None
    tracer.idle()
    tracer.recording = [] if replay or chain else None  # (the head-body-tail bound reads it backwards)
    tracer.bound_log = [] if chain else None
    try:
        with contextlib.nullcontext() if products else runner.without_products():
            runner(*inputs)
        recording, log = tracer.recording, tracer.bound_log
    finally:
        tracer.recording = tracer.bound_log = None
    warm = tracer.end_ns
    events = dict.fromkeys(EVENTS, 0)
    events.update(tracer.totals)
    bounds = resource_times(events, runner.hardware, [tracer.mvm_steps])
    bounding, bound = max(bounds.items(), key=lambda kv: kv[1])
    chain_ns = tracer.chain_ns if chain else None
    joined = None
    if log is not None:
        joined = head_body_tail(recording, log)
    layers, busy = tracer.layer_spans()
    steps = [(layer, resource, start, end) for layer, resource, start, end, _ in tracer.steps]
    ends = [warm]
    tracer.follow_chain(False)  # (the stream's interval needs no chain)
    try:
        for _ in range(stream - 1):
            if replay:
                runner.replay(recording)
            else:
                runner(*inputs)
            ends.append(tracer.end_ns)
    finally:
        tracer.follow_chain(True)
    interval = (ends[-1] - ends[0]) / (len(ends) - 1)
    return Timeline(
        cold_ns, warm, interval, bound, bounding, chain_ns, layers, busy, steps,
        resource_ns=bounds, head_body_tail=joined, outputs=outputs,
    )
