"""One resource's busy intervals on the timeline (`imc.sim.timeline`): where
a step of a given length fits first, and reserving it.

The intervals are sorted, disjoint, and touching ones are merged. They are
kept in blocks of at most `2 * _BLOCK`, each with the largest gap between
its intervals, so that a search for a gap of `ns` skips the blocks whose
gaps are all shorter: a resource that many short steps fragment (the
scratchpad port: 39,692 intervals after ResNet-18's timeline on `puma`)
would otherwise be scanned interval by interval, from the step's ready
time to where it fits, for every step.

Private to `imc.sim`.
"""

from __future__ import annotations

import bisect

_BLOCK = 64
"""Intervals per block after a split (a block splits above twice this)."""


class BusyIntervals:
    """Busy intervals [start, end) of one resource, first-fit placement."""

    __slots__ = ("_starts", "_ends", "_firsts", "_lasts", "_gaps")

    def __init__(self):
        self._starts: list[list[float]] = []  # per block, its intervals' starts
        self._ends: list[list[float]] = []  # per block, its intervals' ends
        self._firsts: list[float] = []  # per block, its first start
        self._lasts: list[float] = []  # per block, its last end
        self._gaps: list[float] = []  # per block, at least its widest gap between two of its intervals (exact after a split or a scan)

    def __len__(self) -> int:
        return sum(len(s) for s in self._starts)

    def intervals(self) -> list[tuple[float, float]]:
        return [(s, e) for starts, ends in zip(self._starts, self._ends) for s, e in zip(starts, ends)]

    def earliest(self, t: float, ns: float) -> float:
        """The earliest start >= t of a gap of `ns`: as scanning the
        intervals from the first that ends after t, moving t to each one's
        end while t + ns overlaps its start."""
        lasts = self._lasts
        if not lasts or t >= lasts[-1]:
            return t
        b = bisect.bisect_right(lasts, t)  # the first block with an interval that ends after t
        starts, ends = self._starts[b], self._ends[b]
        i = bisect.bisect_right(ends, t)
        n = len(starts)
        while i < n:
            if t + ns <= starts[i]:
                return t
            if ends[i] > t:
                t = ends[i]
            i += 1
        # Skipping a block whose gaps are all shorter than `ns` by more than
        # rounding leaves t at its last end, as scanning it would. (A block's
        # `_gaps` entry is at least its widest gap; a scan that finds no fit
        # in it sets it to that gap.)
        margin = 1e-6 + 1e-12 * lasts[-1]
        gaps = self._gaps
        for b in range(b + 1, len(lasts)):
            starts = self._starts[b]
            if t + ns <= starts[0]:
                return t
            if gaps[b] + margin < ns:
                t = lasts[b]
                continue
            ends = self._ends[b]
            t = ends[0] if ends[0] > t else t
            widest = 0.0
            for i in range(1, len(starts)):
                if t + ns <= starts[i]:
                    return t
                gap = starts[i] - ends[i - 1]
                if gap > widest:
                    widest = gap
                if ends[i] > t:
                    t = ends[i]
            gaps[b] = widest
        return t

    def reserve(self, start: float, ns: float) -> None:
        """Marks [start, start + ns) busy (merged with the intervals it touches)."""
        end = start + ns
        firsts = self._firsts
        if not firsts:
            self._starts.append([start])
            self._ends.append([end])
            firsts.append(start)
            self._lasts.append(end)
            self._gaps.append(0.0)
            return
        b = max(0, bisect.bisect_right(firsts, start) - 1)
        starts, ends = self._starts[b], self._ends[b]
        i = bisect.bisect_right(starts, start)  # (0 only in the first block: a later one starts at or before `start`)
        if i and ends[i - 1] >= start:  # touches the interval before (the gap after it narrows)
            i -= 1
            if end > ends[i]:
                ends[i] = end
        else:  # a new interval: it splits a gap of the block, or makes one at its end
            starts.insert(i, start)
            ends.insert(i, end)
        while i + 1 < len(starts) and starts[i + 1] <= ends[i]:  # touches the next
            nxt = ends.pop(i + 1)
            starts.pop(i + 1)
            if nxt > ends[i]:
                ends[i] = nxt
        while i + 1 == len(starts) and b + 1 < len(firsts) and firsts[b + 1] <= ends[i]:  # the next block's first
            next_starts, next_ends = self._starts[b + 1], self._ends[b + 1]
            next_starts.pop(0)
            nxt = next_ends.pop(0)
            if nxt > ends[i]:
                ends[i] = nxt
            if next_starts:
                self._firsts[b + 1] = next_starts[0]
            else:
                self._drop(b + 1)
        # Gaps only narrow or split, but for those at the block's ends.
        gaps = self._gaps
        if i and i + 1 == len(starts):
            gaps[b] = max(gaps[b], starts[i] - ends[i - 1])
        if i == 0 and len(starts) > 1:
            gaps[b] = max(gaps[b], starts[1] - ends[0])
        self._firsts[b] = starts[0]
        self._lasts[b] = ends[-1]
        if len(starts) > 2 * _BLOCK:
            self._split(b)

    def _settle(self, b: int) -> None:
        """Block b's first start, last end and widest gap, from its intervals."""
        starts, ends = self._starts[b], self._ends[b]
        self._firsts[b] = starts[0]
        self._lasts[b] = ends[-1]
        self._gaps[b] = max((s - e for s, e in zip(starts[1:], ends)), default=0.0)

    def _drop(self, b: int) -> None:
        for field in (self._starts, self._ends, self._firsts, self._lasts, self._gaps):
            del field[b]

    def _split(self, b: int) -> None:
        starts, ends = self._starts[b], self._ends[b]
        half = len(starts) // 2
        self._starts[b : b + 1] = [starts[:half], starts[half:]]
        self._ends[b : b + 1] = [ends[:half], ends[half:]]
        self._firsts.insert(b + 1, 0.0)
        self._lasts.insert(b + 1, 0.0)
        self._gaps.insert(b + 1, 0.0)
        self._settle(b)
        self._settle(b + 1)
