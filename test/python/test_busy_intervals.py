"""`imc.sim.busy_intervals.BusyIntervals`: the timeline's first-fit search
over a resource's busy intervals, in blocks that a search skips when their
gaps are all too short, gives what scanning every interval gives."""

import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imc.sim import busy_intervals
from imc.sim.busy_intervals import BusyIntervals


class Scanned:
    """The oracle: one sorted list of intervals, scanned one by one."""

    def __init__(self):
        self.starts, self.ends = [], []

    def earliest(self, t, ns):
        ends, starts = self.ends, self.starts
        if not ends or t >= ends[-1]:
            return t
        i = bisect.bisect_right(ends, t)
        while i < len(starts) and t + ns > starts[i]:
            t = max(t, ends[i])
            i += 1
        return t

    def reserve(self, start, ns):
        end = start + ns
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(starts, start)
        if i and ends[i - 1] >= start:
            i -= 1
            ends[i] = max(ends[i], end)
        else:
            starts.insert(i, start)
            ends.insert(i, end)
        while i + 1 < len(starts) and starts[i + 1] <= ends[i]:
            ends[i] = max(ends[i], ends.pop(i + 1))
            starts.pop(i + 1)


times = st.one_of(st.integers(0, 400).map(float), st.floats(0, 400, allow_nan=False, allow_infinity=False))
lengths = st.one_of(st.integers(0, 6).map(float), st.floats(0, 6, allow_nan=False, allow_infinity=False))


@pytest.mark.parametrize("block", [1, 2, 64])
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), times, lengths), max_size=300), st.lists(st.tuples(times, lengths), min_size=1, max_size=20))
def test_blocks_place_as_a_scan_of_every_interval(block, steps, queries):
    # Steps as the tracer makes them (placed where they fit first, then
    # reserved) and reservations anywhere, in blocks of at most 2, 4 and
    # 128 intervals: every search, before each step and after them all,
    # and the intervals agree with the scan.
    old = busy_intervals._BLOCK
    busy_intervals._BLOCK = block
    try:
        fast, scanned = BusyIntervals(), Scanned()
        for placed, t, ns in steps:
            assert fast.earliest(t, ns) == scanned.earliest(t, ns)
            start = scanned.earliest(t, ns) if placed else t
            fast.reserve(start, ns)
            scanned.reserve(start, ns)
            assert fast.intervals() == list(zip(scanned.starts, scanned.ends))
        for t, ns in queries + [(t, ns) for _, t, ns in steps]:
            assert fast.earliest(t, ns) == scanned.earliest(t, ns)
    finally:
        busy_intervals._BLOCK = old


def test_a_fragmented_resource_is_searched_past_its_short_gaps():
    # 10,000 steps of 1 ns with gaps of 0.5 ns: a step of 2 ns fits only at
    # the end, and a step of 0.5 ns in the first gap after its ready time.
    fast = BusyIntervals()
    for k in range(10_000):
        fast.reserve(1.5 * k, 1.0)
    assert len(fast) == 10_000
    assert fast.earliest(0.0, 2.0) == 1.5 * 9_999 + 1.0
    assert fast.earliest(3000.2, 0.5) == 3001.0


def test_a_gap_made_at_a_blocks_end_is_found_from_the_blocks_before(monkeypatch):
    # Blocks of at most 4 intervals: [0, 2], [4, 6], [8, 10], [12, 14], then
    # [100 .. 106]; a step at 50 joins the block of 12 and 14, making a
    # gap of 35 ns inside it, which a 20 ns step from 0 takes (at 15).
    monkeypatch.setattr(busy_intervals, "_BLOCK", 2)
    fast, scanned = BusyIntervals(), Scanned()
    for start in [0, 2, 4, 6, 8, 10, 12, 14, 100, 102, 104, 106, 50]:
        fast.reserve(float(start), 1.0)
        scanned.reserve(float(start), 1.0)
    assert fast.earliest(0.0, 20.0) == scanned.earliest(0.0, 20.0) == 15.0
    assert fast.earliest(0.0, 40.0) == scanned.earliest(0.0, 40.0) == 51.0
