"""Scratchpad address allocation: best-fit over buffer lifetimes.

The building block of scratchpad placement: given buffers with live ranges in
program order and byte sizes, assign each an aligned offset so that buffers
live at the same time never overlap, reusing space as buffers die. Buffers
that find no gap are returned as spilled (their home is DRAM).

    placement = best_fit([Buffer("a", 0, 3, 4096), Buffer("b", 1, 2, 1024)], capacity=8192, alignment=64)
    placement.offsets["a"], placement.peak_bytes, placement.spilled
"""

import math
from dataclasses import dataclass, field

__all__ = ["Buffer", "Placement", "best_fit", "gaps"]


@dataclass(frozen=True)
class Buffer:
    """A buffer live from program point `start` to `end` (both inclusive).

    With `granule` > 0 the buffer may shrink to a multiple of `granule` bytes
    when no gap holds all of it (the rest of its data lives elsewhere)."""

    name: str
    start: int
    end: int
    size: int
    granule: int = 0

    def __post_init__(self):
        if self.size <= 0:
            raise ValueError(f"buffer '{self.name}': size {self.size} must be positive")
        if self.end < self.start:
            raise ValueError(f"buffer '{self.name}': ends ({self.end}) before it starts ({self.start})")


@dataclass
class Placement:
    """Offsets of placed buffers, the bytes each keeps (less than its size
    when it shrank), the spilled ones, and the peak bytes in use."""

    offsets: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    spilled: list[str] = field(default_factory=list)
    peak_bytes: int = 0


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def best_fit(
    buffers: list[Buffer],
    capacity: int,
    alignment: int = 1,
    *,
    key=None,
    reserved=(),
    whole_call: bool = False,
    linger: int = 0,
) -> Placement:
    """Places buffers in order of their start (ties: larger first, or `key`,
    which must order by start first) at the smallest free gap that holds
    them; a buffer with a `granule` that finds no such gap keeps what the
    widest gap holds. `reserved` are fixed regions `(start, end, offset,
    size)`, occupied from program point `start` to `end` (inclusive); no
    buffer live at the same time overlaps them. Returns offsets, kept bytes,
    spills and the peak (of the placed buffers).

    `whole_call`: every buffer and reserved region is taken as live for the
    whole call, so no two share a byte even when their lives do not meet
    (a call's first buffers can then be written while the call before still
    reads its last ones).

    `linger`: every buffer and reserved region is taken as live for `linger`
    more program points after its end, so a buffer takes no byte freed in
    the last `linger` points (its first writes then need not wait for the
    last reads of a tensor that has just died); `whole_call` is an endless
    linger.

    Invariants (tested): buffers whose live ranges intersect get disjoint byte
    ranges; every range lies in [0, capacity); offsets are multiples of
    `alignment`; a buffer is spilled only if no gap could hold it (or a
    granule of it) when it became live.
    """
    if capacity <= 0 or alignment <= 0:
        raise ValueError(f"capacity {capacity} and alignment {alignment} must be positive")
    placement = Placement()
    if whole_call:
        linger = math.inf
    live: list[tuple[int, int, int, str]] = []  # (end, offset, size, name)
    order = sorted(buffers, key=key or (lambda b: (b.start, -b.size, b.name)))
    for buf in order:
        live = [entry for entry in live if entry[0] + linger >= buf.start]
        kept = buf.size
        occupied = [(offset, offset + sz) for _, offset, sz, _ in live]
        occupied += [
            (o, o + sz) for lo, hi, o, sz in reserved if lo <= buf.end + linger and buf.start <= hi + linger
        ]
        best, widest = gaps(occupied, _align(kept, alignment), capacity, alignment)
        if best is None and buf.granule > 0:
            kept, best = widest[0] // buf.granule * buf.granule, widest
        if best is None or kept <= 0:
            placement.spilled.append(buf.name)
            continue
        size = _align(kept, alignment)
        offset = best[1]
        placement.offsets[buf.name] = offset
        placement.kept[buf.name] = kept
        live.append((buf.end, offset, size, buf.name))
        placement.peak_bytes = max(placement.peak_bytes, max(o + s for _, o, s, _ in live))
    return placement


def gaps(occupied, size: int, capacity: int, alignment: int = 1):
    """(best, widest) free gaps of [0, capacity) around the `occupied` byte
    ranges, each `(gap bytes, aligned start)`: `best` is the smallest gap
    that holds `size` bytes (None if none does), `widest` the largest gap."""
    best, widest = None, (0, 0)
    cursor = 0
    for lo, hi in sorted(occupied) + [(capacity, capacity)]:
        start = _align(cursor, alignment)
        gap = lo - start
        if gap >= size and (best is None or gap < best[0]):
            best = (gap, start)
        if gap > widest[0]:
            widest = (gap, start)
        cursor = max(cursor, hi)
    return best, widest
