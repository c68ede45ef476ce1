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
`tail(r)` after it. The same holds for any subset of `r`'s steps (with the
subset's least head, work and least tail), and some subsets give more: the
DRAM channel's first step, the call's inputs arriving, has nothing before
it, and its last, the outputs leaving, nothing after it. The bound is the
largest over the resources and, on the busiest ones, over subsets of their
steps (`_best_subset`).

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

from imc.sim.access_times import (
    _PLACE,
    _Concatenated,
    _CrossbarToken,
    _Inserted,
    _Memory,
    _Padded,
    _Reshaped,
    _commit,
    _ready,
)


@dataclass(frozen=True)
class HeadBodyTail:
    """The bound and the resource that sets it, with its three terms (ns)
    over the steps of it that set it (all of them, or a subset)."""

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
    terms: dict[str, tuple] = {}  # resource -> its steps' (heads, works, tails)
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
        reads, tiles_read = _split(located(a) for a in reads)
        writes, tiles_written = _split(located(a) for a in writes)
        tail = _ready(memory, reads, writes, after_last)
        for a in tiles_written:  # an `imc.program`: before the MVMs that read its tile and the next program of it
            tail = max(tail, programs.get(a.key, 0.0), readers.get(a.key, 0.0))
        end = tail + took
        _commit(memory, reads, writes, end)
        for a in tiles_read:
            readers[a.key] = max(readers.get(a.key, 0.0), end)
        for a in tiles_written:
            programs[a.key], readers[a.key] = end, 0.0
        if last:
            after_last = max(after_last, end)
        for resource, ns in busy.items():
            t = terms.get(resource)
            if t is None:
                t = terms[resource] = ([], [], [])
            t[0].append(head)
            t[1].append(ns)
            t[2].append(tail)

    if len(log) != len(recording):
        raise ValueError(f"{len(log)} logged steps for {len(recording)} recorded entries")
    for entry, logged in zip(reversed(recording), reversed(log)):
        if entry[0] is _PLACE:
            step(entry, logged)
            continue
        _, dest, sources, assemble, placed = entry
        dest = located(dest)
        sources = [located(a) for a in sources]
        need = memory.accessed(dest)  # (what the readers and writers after the move need of it)
        memory.copy_into(dest, need)  # earlier accesses of the destination come before the move
        for src, part in zip(sources, _sources_need(assemble, need, sources)):
            memory.read_each(src, part)
        if placed is not None:
            step(placed, logged)
    if not terms:
        return None
    whole = {r: (min(h), sum(w), min(q)) for r, (h, w, q) in terms.items()}
    busiest = max(w for _, w, _ in whole.values())
    for r, (h, w, q) in terms.items():  # (a subset can only do better where there is work to keep)
        if whole[r][1] >= busiest / 2 and len(w) > 1:
            whole[r] = max(whole[r], _best_subset(h, w, q), key=sum)
    resource, (head, work, tail) = max(whole.items(), key=lambda kv: (sum(kv[1]), kv[0]))
    return HeadBodyTail(resource, head, work, tail) if head + work + tail > 0 else None


_TAIL_THRESHOLDS = 64


def _best_subset(heads, works, tails) -> tuple[float, float, float]:
    """The largest (least head, work, least tail) over subsets of one
    resource's steps: each subset bounds the call as all of them do. The
    call's inputs arriving and its outputs leaving hold the DRAM channel
    with nothing before or after them; leaving them out gives the channel's
    other steps their heads and tails. Tried: for each of up to 64 tail
    thresholds, the steps leaving at least that much, taken in order of
    decreasing head (every prefix a subset)."""
    heads, works, tails = np.asarray(heads), np.asarray(works), np.asarray(tails)
    thresholds = np.unique(tails)
    if len(thresholds) > _TAIL_THRESHOLDS:
        thresholds = np.unique(np.quantile(tails, np.linspace(0.0, 1.0, _TAIL_THRESHOLDS), method="lower"))
    best = (0.0, 0.0, 0.0)
    for threshold in thresholds:
        keep = tails >= threshold
        order = np.argsort(-heads[keep], kind="stable")
        h, w, q = heads[keep][order], np.cumsum(works[keep][order]), np.minimum.accumulate(tails[keep][order])
        i = int(np.argmax(h + w + q))
        if h[i] + w[i] + q[i] > sum(best):
            best = (float(h[i]), float(w[i]), float(q[i]))
    return best


def _split(accesses) -> tuple[list, list]:
    """(arrays, crossbar tiles) of a step's accesses."""
    arrays, tiles = [], []
    for a in accesses:
        (tiles if a.__class__ is _CrossbarToken else arrays).append(a)
    return arrays, tiles


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
