"""When each element of the arrays a traced call touches was last written
and read: the access-time memory of `imc.sim.timeline` (its tracer waits on
it and commits to it, a replay re-locates recorded accesses in it) and of
`imc.sim.timeline_bound` (which walks a recorded call backwards on it).

Private to `imc.sim`: the names keep their leading underscore.
"""

from __future__ import annotations

import weakref

import numpy as np

class _Times:
    """When the elements of one host array were last written and last read
    (step end times, ns): a float while uniform, else one float per element
    of the array (as its own dtype counts elements)."""

    __slots__ = ("w", "r", "size", "ref", "pending")

    def __init__(self, size: int):
        self.w = 0.0
        self.r = 0.0
        self.size = size
        self.ref = None
        # Reads of parts not yet applied to `r`: where -> latest end. The
        # column tiles and bit slices of a layer read one row tile many
        # times; they are applied once, when `r` is next needed.
        self.pending: dict | None = None

    def settle_reads(self) -> None:
        pending = self.pending
        if pending:
            self.pending = None
            for where, t in pending.items():
                v = _strided(self.array("r"), where)
                np.maximum(v, t, out=v)

    def array(self, name: str) -> np.ndarray:
        v = getattr(self, name)
        if isinstance(v, float):
            # (zeros come from calloc: a large memory, e.g. the scratchpad,
            # pays only for the pages its steps touch)
            v = np.zeros(self.size) if v == 0.0 else np.full(self.size, v)
            setattr(self, name, v)
        return v


def _strided(flat: np.ndarray, where) -> np.ndarray:
    """The elements at `where` (first element, shape, strides in bytes of
    float64) of a flat float64 array, as a view."""
    start, shape, strides = where
    return np.lib.stride_tricks.as_strided(flat[start:], shape=shape, strides=strides)


class _CrossbarToken:
    """A programmed crossbar tile as a data dependency: an `imc.mvm` of it
    starts after the `imc.program` that wrote it."""

    __slots__ = ("key",)

    def __init__(self, xbar):
        self.key = (xbar.array, xbar.offset)


def _root(a: np.ndarray) -> np.ndarray:
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


class _Located:
    """Where an array's elements are in the memory that owns them (its root
    array), worked out once per step for the tracer's two memories and for
    both the wait and the commit: `where` is (first element, shape, strides
    in bytes of float64), or None for an unaligned reinterpretation (then
    the whole memory stands for the array, conservatively); `whole` whether
    it covers all of it."""

    __slots__ = ("root", "where", "whole", "shape", "contiguous")

    def __init__(self, a: np.ndarray):
        root = self.root = _root(a)
        self.shape = a.shape
        self.contiguous = a.flags.c_contiguous
        k = root.itemsize
        offset = a.__array_interface__["data"][0] - root.__array_interface__["data"][0] if a is not root else 0
        strides = a.strides
        # (a root of one element is all of its broadcast views: `Chip.zero_product`)
        self.whole = offset == 0 and ((root.size == 1 and a.size > 0) or (a.size * a.itemsize == root.nbytes and all(strides)))
        if offset % k or any(s % k for s in strides) or not root.flags.c_contiguous:
            self.where, self.whole = None, True
        else:
            self.where = (offset // k, a.shape, tuple(s // k * 8 for s in strides))


def _located_at(root, where, whole: bool, shape, contiguous: bool) -> _Located:
    """A `_Located` from its fields (a recorded access, `_Recorded`, on a given root)."""
    loc = _Located.__new__(_Located)
    loc.root, loc.where, loc.whole, loc.shape, loc.contiguous = root, where, whole, shape, contiguous
    return loc


class _Forget:
    """A weak reference's callback: forgets an array's access times in a
    `_Memory` when the array is freed. It holds the memory weakly: the memory
    holds the times, which hold the reference, which holds this, and a
    strong reference back would leave every array's times to the cyclic
    garbage collector."""

    __slots__ = ("memory", "key")

    def __init__(self, memory: "_Memory", key: int):
        self.memory, self.key = weakref.ref(memory), key

    def __call__(self, _):
        memory = self.memory()
        if memory is not None:
            memory._roots.pop(self.key, None)


class _Memory:
    """Element-wise access times of every host array (keyed by the array that
    owns the memory; forgotten when it is freed)."""

    def __init__(self):
        self._roots: dict[int, _Times] = {}
        self.crossbars: dict[tuple, float] = {}  # a programmed tile (array, offset) -> when it was programmed

    def clear(self) -> None:
        self._roots.clear()
        self.crossbars.clear()

    def forget(self, root) -> None:
        """Drops the access times of `root`'s memory (nothing reads it again)."""
        self._roots.pop(id(root), None)

    def known(self, a: np.ndarray) -> bool:
        return id(_root(a)) in self._roots

    def _locate(self, a):
        """(times of `a`'s memory, where `a`'s elements are in them, whether
        `a` covers all of it): see `_Located`."""
        loc = a if isinstance(a, _Located) else _Located(a)
        key = id(loc.root)
        times = self._roots.get(key)
        if times is None:
            times = self._roots[key] = _Times(loc.root.size)
            times.ref = weakref.ref(loc.root, _Forget(self, key))
        return times, loc.where, loc.whole

    @staticmethod
    def _view(times: _Times, name: str, where) -> np.ndarray:
        return _strided(times.array(name), where)

    def _latest(self, times: _Times, name: str, where, whole: bool) -> float:
        v = getattr(times, name)
        if isinstance(v, float):
            return v
        if whole or where is None:
            return float(v.max(initial=0.0))
        return float(self._view(times, name, where).max(initial=0.0))  # (0.0 for no elements: a trimmed empty tile)

    def ready_to_read(self, a) -> float:
        """When every element `a` holds has been written."""
        if isinstance(a, _CrossbarToken):
            return self.crossbars.get(a.key, 0.0)
        times, where, whole = self._locate(a)
        return self._latest(times, "w", where, whole)

    def ready_to_write(self, a) -> float:
        """When every earlier access to `a`'s elements has ended."""
        if isinstance(a, _CrossbarToken):
            return self.crossbars.get(a.key, 0.0)
        times, where, whole = self._locate(a)
        times.settle_reads()
        return max(self._latest(times, "w", where, whole), self._latest(times, "r", where, whole))

    def read(self, a, t: float) -> None:
        if isinstance(a, _CrossbarToken):
            return
        times, where, whole = self._locate(a)
        if isinstance(times.r, float) and times.r >= t:
            return
        if whole or where is None:
            if isinstance(times.r, float):
                times.r = t
            else:
                np.maximum(times.r, t, out=times.r)
        else:
            pending = times.pending
            if pending is None:
                pending = times.pending = {}
            if pending.get(where, -1.0) < t:
                pending[where] = t

    def write(self, a, t: float) -> None:
        if isinstance(a, _CrossbarToken):
            self.crossbars[a.key] = t
            return
        times, where, whole = self._locate(a)
        if whole or where is None:  # every earlier access has ended by t
            times.w = times.r = t
            times.pending = None
        else:
            self._view(times, "w", where)[...] = t

    def uniform_written(self, a: _Located) -> float | None:
        """When all of `a`'s memory was written, if at one time; else None."""
        w = self._locate(a)[0].w
        return w if isinstance(w, float) else None

    def written(self, loc: _Located) -> np.ndarray:
        """When each element of an array (`loc`) was written (an array shaped like it)."""
        times, where, whole = self._locate(loc)
        if isinstance(times.w, float):
            return np.full(loc.shape, times.w)
        if where is None:
            return np.full(loc.shape, float(times.w.max(initial=0.0)))
        return self._view(times, "w", where).copy()

    def accessed(self, loc: _Located) -> np.ndarray:
        """When each element of an array (`loc`) was last written or read
        (an array shaped like it; `written` with the reads)."""
        times, where, _ = self._locate(loc)
        times.settle_reads()
        if where is None:
            return np.full(loc.shape, max(float(np.max(times.w, initial=0.0)), float(np.max(times.r, initial=0.0))))
        w = np.full(loc.shape, times.w) if isinstance(times.w, float) else self._view(times, "w", where).copy()
        return np.maximum(w, times.r if isinstance(times.r, float) else self._view(times, "r", where))

    def read_each(self, loc: _Located, ends: np.ndarray) -> None:
        """`read` of each element of an array (`loc`) by a step ending at its
        own time (`ends`, shaped like it)."""
        times, where, _ = self._locate(loc)
        times.settle_reads()
        if where is None:  # (the whole memory stands for the array)
            times.r = np.maximum(times.array("r"), float(np.max(ends, initial=0.0)))
            return
        view = self._view(times, "r", where)
        np.maximum(view, ends.reshape(view.shape), out=view)

    def copy_into(self, loc: _Located, written: np.ndarray) -> None:
        """An array's elements (`loc`) become copies of elements written at
        `written` (a free copy: each element is ready when its source is, and
        after every earlier access to it)."""
        times, where, whole = self._locate(loc)
        times.settle_reads()
        if where is None:
            t = max(float(np.max(written, initial=0.0)), self.ready_to_write(loc))
            times.w = times.r = t
            return
        uniform = isinstance(times.w, float) and isinstance(times.r, float)
        if whole and uniform and loc.contiguous and np.size(written) == times.size:
            # All of a uniformly timed array (a concat's result): `written`
            # (a fresh array, as every caller passes) becomes its times.
            flat = np.asarray(written, dtype=np.float64).reshape(-1)
            floor = max(times.w, times.r)
            if floor > 0.0:
                np.maximum(flat, floor, out=flat)
            times.w = flat
            return
        w = self._view(times, "w", where)
        r = times.r
        new = np.maximum(written, w)
        new = np.maximum(new, r if isinstance(r, float) else self._view(times, "r", where))
        w[...] = new


def _ready(memory: _Memory, reads, writes, not_before: float) -> float:
    """When a step that reads and writes these (`_Located`s and
    `_CrossbarToken`s) may start, as far as data goes (`_Memory.ready_to_read`
    and `ready_to_write` of each, inline: a call's hottest loop)."""
    ready = not_before
    roots, crossbars = memory._roots, memory.crossbars
    for a in reads:
        if a.__class__ is _CrossbarToken:
            t = crossbars.get(a.key, 0.0)
        else:
            times = roots.get(id(a.root))
            if times is None:  # (never accessed: ready from 0)
                continue
            t = times.w
            if t.__class__ is not float:
                t = memory._latest(times, "w", a.where, a.whole)
        if t > ready:
            ready = t
    for a in writes:
        if a.__class__ is _CrossbarToken:
            t = crossbars.get(a.key, 0.0)
        else:
            times = roots.get(id(a.root))
            if times is None:
                continue
            w, r = times.w, times.r
            if w.__class__ is float and r.__class__ is float and not times.pending:
                t = w if w > r else r
            else:
                t = memory.ready_to_write(a)
        if t > ready:
            ready = t
    return ready


def _commit(memory: _Memory, reads, writes, end: float) -> None:
    roots = memory._roots
    for a in reads:
        if a.__class__ is _CrossbarToken:
            continue
        times = roots.get(id(a.root))
        if times is not None:
            r = times.r
            if r.__class__ is float and r >= end:  # (`_Memory.read`'s first test, inline)
                continue
        memory.read(a, end)
    for a in writes:
        memory.write(a, end)


_PLACE, _MOVE = "place", "move"  # `Tracer.recording` entries


class _Fresh:
    """Stands for an array a recorded call made and dropped, in a replay."""

    __slots__ = ("size", "__weakref__")

    def __init__(self, size: int):
        self.size = size


class _Recorded:
    """An access of a recorded step (`_Located`), without keeping its array
    alive: whether the array outlives the call tells a replay whether its
    next call uses the same array or a new one."""

    __slots__ = ("ref", "size", "where", "whole", "shape", "contiguous", "live", "call", "loc")

    @staticmethod
    def of(a):
        if isinstance(a, _CrossbarToken):
            return a
        r = _Recorded()
        r.ref, r.size = weakref.ref(a.root), a.root.size
        r.where, r.whole, r.shape, r.contiguous = a.where, a.whole, a.shape, a.contiguous
        r.live = r.call = r.loc = None
        return r

    def _at(self, root) -> _Located:
        return _located_at(root, self.where, self.whole, self.shape, self.contiguous)

    def located(self, call: int, fresh: dict) -> _Located:
        """This access in replayed call `call` (`fresh`: the call's stand-ins
        by recorded array)."""
        if self.live is not None:
            return self.live
        root = self.ref()
        if root is not None:  # outlived the call: the same array in every call
            self.live = self._at(root)
            return self.live
        if self.call != call:
            stand_in = fresh.get(id(self.ref))  # (a dead reference has no hash; the recording keeps it, so its id is its own)
            if stand_in is None:
                stand_in = fresh[id(self.ref)] = _Fresh(self.size)
            self.call, self.loc = call, self._at(stand_in)
        return self.loc


class _Assembled:
    """How a move's times come from its sources': `times(memory, sources)`
    calls the instance on each source's `written` times."""

    __slots__ = ()

    def times(self, memory: _Memory, sources: list) -> np.ndarray:
        return self(*[memory.written(a) for a in sources])


class _Reshaped(_Assembled):
    """Times of a moved array: its one source's, reshaped."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape

    def __call__(self, src):
        return src.reshape(self.shape)


class _Inserted(_Assembled):
    """Times of an `insert_slice`'s result: the destination's, the source's in its region."""

    __slots__ = ("region",)

    def __init__(self, region):
        self.region = region

    def __call__(self, src, dest):
        dest[self.region] = src.reshape(dest[self.region].shape)
        return dest


class _Padded(_Assembled):
    """Times of a `tensor.pad`'s result: its padding is written at 0, its interior when the source was."""

    __slots__ = ("shape", "region")

    def __init__(self, shape, region):
        self.shape, self.region = shape, region

    def __call__(self, src):
        times = np.zeros(self.shape)
        times[self.region] = src
        return times


class _Concatenated(_Assembled):
    """Times of a `tensor.concat`'s result: its parts', joined along `axis`."""

    __slots__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def __call__(self, *parts):
        return np.concatenate(parts, axis=self.axis)

    def times(self, memory: _Memory, sources: list) -> np.ndarray:
        """Parts each written at one time (the column tiles or row blocks of
        MVM results) fill their times in one pass, not an array per part."""
        uniform = [memory.uniform_written(a) for a in sources]
        if None in uniform:
            return super().times(memory, sources)
        axis = self.axis
        shape = list(sources[0].shape)
        shape[axis] = sum(a.shape[axis] for a in sources)
        out = np.empty(shape)
        index = [slice(None)] * len(shape)
        start = 0
        for a, t in zip(sources, uniform):
            index[axis] = slice(start, start + a.shape[axis])
            out[tuple(index)] = t
            start += a.shape[axis]
        return out
