"""Best-fit scratchpad allocation: invariants over random lifetimes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imc.transforms.allocator import Buffer, best_fit


def _overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


buffers = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 10), st.integers(1, 300)),
    min_size=1,
    max_size=25,
).map(lambda xs: [Buffer(f"b{i}", s, s + d, n) for i, (s, d, n) in enumerate(xs)])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(buffers, st.integers(64, 2048), st.sampled_from([1, 8, 64]))
def test_live_buffers_never_overlap_and_fit(bufs, capacity, alignment):
    p = best_fit(bufs, capacity, alignment)
    by_name = {b.name: b for b in bufs}
    placed = [(by_name[n], o) for n, o in p.offsets.items()]
    for b, o in placed:
        assert o % alignment == 0
        assert 0 <= o and o + b.size <= capacity
    for i, (a, oa) in enumerate(placed):
        for b, ob in placed[i + 1 :]:
            if a.start <= b.end and b.start <= a.end:
                assert not _overlap((oa, oa + a.size), (ob, ob + b.size)), (a, oa, b, ob)
    assert set(p.offsets) | set(p.spilled) == set(by_name)
    assert p.peak_bytes <= capacity


def test_freed_space_is_reused():
    bufs = [Buffer("a", 0, 1, 100), Buffer("b", 2, 3, 100)]
    p = best_fit(bufs, capacity=100)
    assert p.offsets == {"a": 0, "b": 0} and not p.spilled and p.peak_bytes == 100


@settings(max_examples=100, deadline=None, derandomize=True)
@given(buffers, st.integers(64, 2048), st.sampled_from([1, 8, 64]))
def test_whole_call_buffers_share_no_byte(bufs, capacity, alignment):
    """With `whole_call`, no two placed buffers overlap, whatever their lives,
    and none is spilled while the buffers placed before it leave room."""
    p = best_fit(bufs, capacity, alignment, whole_call=True)
    by_name = {b.name: b for b in bufs}
    placed = sorted((o, o + p.kept[n]) for n, o in p.offsets.items())
    assert all(a[1] <= b[0] for a, b in zip(placed, placed[1:]))
    assert all(hi <= capacity for _, hi in placed)
    if sum(-(-b.size // alignment) * alignment for b in bufs) <= capacity:
        assert not p.spilled


def test_whole_call_does_not_reuse_freed_space():
    bufs = [Buffer("a", 0, 1, 100), Buffer("b", 2, 3, 100), Buffer("c", 2, 3, 50)]
    assert best_fit(bufs, capacity=200).offsets["b"] == 0
    p = best_fit(bufs, capacity=260, whole_call=True, reserved=[(5, 6, 200, 50)])
    assert (p.offsets["a"], p.offsets["b"]) == (0, 100) and p.spilled == ["c"]  # the reserved bytes are taken too


@settings(max_examples=100, deadline=None, derandomize=True)
@given(buffers, st.integers(64, 2048), st.sampled_from([1, 8, 64]), st.integers(1, 6))
def test_lingering_buffers_take_no_recently_freed_byte(bufs, capacity, alignment, linger):
    """With `linger`, two placed buffers whose lives come within `linger`
    program points of each other share no byte."""
    p = best_fit(bufs, capacity, alignment, linger=linger)
    by_name = {b.name: b for b in bufs}
    placed = [(by_name[n], o) for n, o in p.offsets.items()]
    for i, (a, oa) in enumerate(placed):
        for b, ob in placed[i + 1 :]:
            if a.start <= b.end + linger and b.start <= a.end + linger:
                assert not _overlap((oa, oa + p.kept[a.name]), (ob, ob + p.kept[b.name])), (a, oa, b, ob)
    assert set(p.offsets) | set(p.spilled) == set(by_name)


def test_linger_waits_before_reusing_freed_space():
    # a dies at 1 and a region reserved at 0..1 ends then; b starts at 2 and
    # c at 3: linger 1 keeps b off both (it takes the last 100 B), not c.
    bufs = [Buffer("a", 0, 1, 200), Buffer("b", 2, 2, 100), Buffer("c", 3, 3, 100)]
    reserved = [(0, 1, 200, 100)]
    assert best_fit(bufs, capacity=400, reserved=reserved).offsets == {"a": 0, "b": 0, "c": 0}
    assert best_fit(bufs, capacity=400, reserved=reserved, linger=1).offsets == {"a": 0, "b": 300, "c": 0}


def test_best_fit_picks_the_smallest_gap():
    # z [0,150), y [150,270) dies at 0, x [270,370): at t=1 the gaps are
    # [150,270) (120 B) and [370,500) (130 B); w (90 B) takes the smaller one.
    bufs = [Buffer("z", 0, 5, 150), Buffer("y", 0, 0, 120), Buffer("x", 0, 5, 100), Buffer("w", 1, 5, 90)]
    p = best_fit(bufs, capacity=500)
    assert p.offsets == {"z": 0, "y": 150, "x": 270, "w": 150}
    assert not p.spilled


def test_spills_what_does_not_fit():
    bufs = [Buffer("big", 0, 2, 600), Buffer("small", 1, 2, 300)]
    p = best_fit(bufs, capacity=800)
    assert p.offsets == {"big": 0} and p.spilled == ["small"]


def test_bad_buffers_are_errors():
    with pytest.raises(ValueError, match="size 0 must be positive"):
        Buffer("x", 0, 1, 0)
    with pytest.raises(ValueError, match="ends"):
        Buffer("x", 3, 1, 4)


def test_granule_buffer_keeps_what_the_widest_gap_holds():
    # a holds [0, 600) while b lives; b (500 B, granule 64) only finds the
    # 400 B left: it keeps 384 B (6 granules) instead of being spilled.
    bufs = [Buffer("a", 0, 2, 600), Buffer("b", 1, 2, 500, granule=64), Buffer("c", 1, 2, 500)]
    p = best_fit(bufs, capacity=1000, key=lambda b: (b.start, b.name))
    assert p.offsets["b"] == 600 and p.kept["b"] == 384
    assert p.spilled == ["c"] and p.kept["a"] == 600


def test_reserved_regions_are_kept_clear_while_they_are_live():
    # [300, 400) is reserved at point 2 only: "a" (live 1..3) cannot use it,
    # "b" (live 3..4) can.
    bufs = [Buffer("a", 1, 3, 350, granule=10), Buffer("b", 3, 4, 50)]
    p = best_fit(bufs, capacity=400, reserved=[(2, 2, 300, 100)])
    assert p.offsets["a"] == 0 and p.kept["a"] == 300
    assert p.offsets["b"] == 300
