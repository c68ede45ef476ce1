"""The head-body-tail latency bound of a traced call.

The resource bound (the busiest resource's work) ignores that a resource
cannot start before its first step's data exists, nor stop working for the
call before the steps that depend on its last one are done; the longest
dependency chain ignores that each resource serves one step at a time. The
classic lower bound of scheduling theory joins both (for one machine with
release dates and delivery times; Carlier, "The one-machine sequencing
problem", EJOR 1982): for every resource `r`,

    head(r) + work(r) + tail(r)

where `work(r)` is the time its steps hold it, `head(r)` the earliest any
of them can start (the longest chain of steps before it, every resource
unlimited) and `tail(r)` the least time any of them leaves after it ends
(the longest chain of steps after it). Whatever order a schedule gives the
steps of `r`, the first starts no earlier than `head(r)`, the last ends no
earlier than `work(r)` after that, and the call ends no earlier than
`tail(r)` after it. The bound is the largest over the resources.

Heads are the forward chain's start times (`Tracer.place` logs them while a
call is recorded, `Tracer.bound_log`); tails come from one backward pass
over the recorded call (`Tracer.recording`) with the same dependencies
mirrored: a step must end before later steps that read what it wrote, that
write what it read or wrote, and before a call's last step (the outputs
leaving). Elements moved by copies (`tensor.insert_slice`, `tensor.pad`,
`tensor.concat`, reshapes) pass their readers' needs back to their sources.
Only dependencies the tracer itself enforces are used, and every step is
taken at no more than its traced duration, so the traced makespan is never
below the bound (`test/python/test_timeline.py` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imc.sim.timeline import (
    _MOVE,
    _PLACE,
    _Concatenated,
    _CrossbarToken,
    _Inserted,
    _Memory,
    _Padded,
    _Reshaped,
    _commit,
    _ready,
    _strided,
)


@dataclass(frozen=True)
class HeadBodyTail:
    """The bound and the resource that sets it, with its three terms (ns)."""

    resource: str
    head_ns: float
    work_ns: float
    tail_ns: float

    @property
    def bound_ns(self) -> float:
        return self.head_ns + self.work_ns + self.tail_ns


def head_body_tail(recording: list, log: list) -> HeadBodyTail | None:
    """The bound of the recorded call (`recording`), whose placed steps'
    (head, took, busy) are `log` (one per entry, None for a move without a
    step). None when the call has no step that holds a resource."""
    memory = _Memory()
    programs: dict[tuple, float] = {}  # crossbar tile -> the latest need of a later program (write after write)
    readers: dict[tuple, float] = {}  # crossbar tile -> the latest need of its MVMs until the next program
    terms: dict[str, list] = {}  # resource -> [least head, work, least tail]
    call, fresh = -1, {}  # (`_Recorded.located`: stand-ins for the arrays the call dropped)
    after_last = 0.0  # what a step that follows the call's outputs leaves after every earlier step

    def located(a):
        return a if isinstance(a, _CrossbarToken) else a.located(call, fresh)

    def step(entry, logged) -> None:
        nonlocal after_last
        if logged is None:
            return
        head, took, busy = logged
        _, _, reads, writes, _, _, _, last = entry
        reads = [located(a) for a in reads]
        writes = [located(a) for a in writes]
        tail = _ready(memory, [a for a in reads if a.__class__ is not _CrossbarToken],
                      [a for a in writes if a.__class__ is not _CrossbarToken], after_last)
        for a in writes:  # an `imc.program`: before the MVMs that read its tile and the next program of it
            if a.__class__ is _CrossbarToken:
                tail = max(tail, programs.get(a.key, 0.0), readers.get(a.key, 0.0))
        end = tail + took
        _commit(memory, [a for a in reads if a.__class__ is not _CrossbarToken],
                [a for a in writes if a.__class__ is not _CrossbarToken], end)
        for a in reads:
            if a.__class__ is _CrossbarToken:
                readers[a.key] = max(readers.get(a.key, 0.0), end)
        for a in writes:
            if a.__class__ is _CrossbarToken:
                programs[a.key], readers[a.key] = end, 0.0
        if last:
            after_last = max(after_last, end)
        for resource, ns in busy.items():
            t = terms.get(resource)
            if t is None:
                terms[resource] = [head, ns, tail]
            else:
                t[0] = min(t[0], head)
                t[1] += ns
                t[2] = min(t[2], tail)

    if len(log) != len(recording):
        raise ValueError(f"{len(log)} logged steps for {len(recording)} recorded entries")
    for entry, logged in zip(reversed(recording), reversed(log)):
        if entry[0] is _PLACE:
            step(entry, logged)
            continue
        _, dest, sources, assemble, placed = entry
        dest = located(dest)
        sources = [located(a) for a in sources]
        need = _need(memory, dest)
        memory.copy_into(dest, need)  # earlier accesses of the destination come before the move
        for src, part in zip(sources, _sources_need(assemble, need, sources)):
            _read_at(memory, src, part)
        if placed is not None:
            step(placed, logged)
    if not terms:
        return None
    resource, (head, work, tail) = max(terms.items(), key=lambda kv: (sum(kv[1]), kv[0]))
    return HeadBodyTail(resource, head, work, tail) if head + work + tail > 0 else None


def _need(memory: _Memory, loc) -> np.ndarray:
    """Per element of `loc`: the least time the steps after a write of it
    need (their reads, and later writes of it), shaped like it."""
    times, where, _ = memory._locate(loc)
    times.settle_reads()
    w, r = times.w, times.r
    if where is None:
        return np.full(loc.shape, max(float(np.max(w, initial=0.0)), float(np.max(r, initial=0.0))))
    need = np.full(loc.shape, w) if isinstance(w, float) else _strided(w, where).copy()
    return np.maximum(need, r if isinstance(r, float) else _strided(r, where))


def _read_at(memory: _Memory, loc, need: np.ndarray) -> None:
    """`loc`'s elements are read by steps that need them `need` before the end."""
    times, where, _ = memory._locate(loc)
    times.settle_reads()
    if where is None:
        times.r = np.maximum(times.array("r"), float(np.max(need, initial=0.0)))  # the whole memory stands for it
        return
    view = _strided(times.array("r"), where)
    np.maximum(view, need.reshape(view.shape), out=view)


def _sources_need(assemble, need: np.ndarray, sources: list) -> list:
    """The need of each source's elements, from the need of the elements a
    move made of them (`_Assembled`, inverted)."""
    if isinstance(assemble, _Reshaped):
        return [need.reshape(sources[0].shape)]
    if isinstance(assemble, _Padded):
        return [need[assemble.region]]
    if isinstance(assemble, _Inserted):
        rest = need.copy()
        rest[assemble.region] = 0.0  # (the destination's old elements there are written over)
        return [need[assemble.region].reshape(sources[0].shape), rest]
    if isinstance(assemble, _Concatenated):
        bounds = np.cumsum([a.shape[assemble.axis] for a in sources])[:-1]
        return np.split(need, bounds, axis=assemble.axis)
    raise TypeError(f"no inverse for {type(assemble).__name__}")
