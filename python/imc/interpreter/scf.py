"""``scf`` dialect: structured control flow over scalar conditions and bounds.

Loops run in Python over the *program's* iteration count (one body execution
per ``scf.for`` iteration); the bodies themselves operate on whole arrays.
"""

from __future__ import annotations

import numpy as np

from torch_mlir import ir

from imc.ir_utils import JOIN_ATTR, TRANSFER_ATTR

from .core import DYNAMIC, impl, register_block_rewriter, slot_uses

_IMC = "imc"
"""The key of the imc ops' execution (chip and report) in the interpreter
(`imc.interpreter.imc.attach`): the transfer loops run its DMAs in bulk."""


@impl("scf.for")
def for_(interp, op, args):
    lb, ub, step = int(args[0]), int(args[1]), int(args[2])
    if step <= 0:
        raise op.error(f"non-positive step {step}")
    if op.static is None:
        op.static = _transfer_plan(op) if interp.fast_paths and TRANSFER_ATTR in op.ir.attributes else False
    if op.static and ub > lb:
        done = _run_transfer(interp, op.static, lb, ub, step, args[3:])
        if done is not None:
            return done
    carried = list(args[3:])
    block = op.regions[0].block
    for iv in range(lb, ub, step):
        carried = interp.run_block(block, [iv, *carried])
    return carried


@impl("scf.if")
def if_(interp, op, args):
    cond = args[0]
    if isinstance(cond, np.ndarray) and cond.ndim > 0:
        raise op.error("condition must be a scalar")
    if cond:
        return interp.run_block(op.regions[0].block, [])
    if len(op.regions) > 1 and op.regions[1].blocks:
        return interp.run_block(op.regions[1].block, [])
    return []


@impl("scf.execute_region")
def execute_region(interp, op, args):
    return interp.run_block(op.regions[0].block, [])


@impl("scf.while")
def while_(interp, op, args):
    before, after = op.regions[0].block, op.regions[1].block
    values = list(args)
    while True:
        res = interp.run_block(before, values)
        cond, fwd = res[0], res[1:]
        if not cond:
            return fwd
        values = interp.run_block(after, fwd)


@impl("scf.index_switch")
def index_switch(interp, op, args):
    st = op.static
    if st is None:
        from torch_mlir import ir

        st = op.static = list(ir.DenseI64ArrayAttr(op.ir.attributes["cases"]))
    idx = int(args[0])
    for k, case in enumerate(st):
        if case == idx:
            return interp.run_block(op.regions[k + 1].block, [])
    return interp.run_block(op.regions[0].block, [])


# ---------------------------------------------------------------------------
# Fast path: the tile-by-tile transfer loops of `imc-place-buffers`.
#
# A loop marked `imc.transfer` whose body is exactly such a transfer (checked
# op by op when the loop is first compiled; anything else runs normally):
#   store: per tile, `memref.subview %dram[iv + a]`, `tensor.extract_slice
#          %piece[iv + b]`, `materialize_in_destination` of the slice into a
#          staging buffer, `imc.dma` staging -> window;
#   load:  per tile, `memref.subview %dram[iv + a]`, `imc.dma` window ->
#          staging, `bufferization.to_tensor` of the staging buffer,
#          `tensor.insert_slice` into the loop-carried tensor at `iv + b`;
# (`a`, `b`: sums of index values defined outside the loop). It runs as one
# slice copy per trip and tile, with the same results, the same final staging
# contents and validity, and the same counters as the ops (each DMA counted
# once per trip). It falls back to the ops when a staging buffer is not live.
#
# A load loop returns a read-only view of the DRAM window instead of a copy
# when its trips load the window whole and in order, and nothing can change
# the window while the view is alive (`loads_as_views`): either the DRAM
# buffer is allocated in the same block and written only by store loops
# before the load, or the result is read only by a later `tensor.concat
# {imc.join}` of the block (which copies it) and nothing in between can write
# memory outside the scratchpad.  The view is read-only and, as other read-only
# arrays of the interpreter, its data never changes while it is referenced
# (the buffer it views is not written again, and stays allocated).
# ---------------------------------------------------------------------------

class _TransferPlan:
    __slots__ = ("stores", "loads", "carried", "view")

    def __init__(self):
        self.stores = []  # (dma op, staging slot, piece slot, piece offset, dram slot, dram offset, n)
        self.loads = []  # (dma op, staging slot, dram slot, dram offset, tensor offset, n)
        self.carried = False
        self.view = False  # the result may be a read-only view of the DRAM buffer (set by a block rewriter)


def _transfer_plan(op):
    block = op.regions[0].block
    args = block.arg_slots
    if len(args) not in (1, 2):
        return False
    local = {s for _, _, _, outs in block.steps for s in outs} | set(args)
    offsets = {args[0]: ()}  # slot -> slots of the index values added to iv
    windows, slices, staged, loading, loaded = {}, {}, {}, {}, {}
    acc = args[1] if len(args) == 2 else None
    plan = _TransferPlan()

    def static_1d(cop):
        attrs = cop.ir.attributes
        sizes = list(ir.DenseI64ArrayAttr(attrs["static_sizes"]))
        strides = list(ir.DenseI64ArrayAttr(attrs["static_strides"]))
        offs = list(ir.DenseI64ArrayAttr(attrs["static_offsets"]))
        return sizes[0] if len(sizes) == 1 and strides == [1] and offs == [DYNAMIC] else None

    for _, cop, ins, outs in block.steps:
        name = cop.name
        if name == "arith.addi" and len(ins) == 2:
            a, b = ins
            if a in offsets and b not in local:
                offsets[outs[0]] = offsets[a] + (b,)
            elif b in offsets and a not in local:
                offsets[outs[0]] = offsets[b] + (a,)
            else:
                return False
        elif name in ("memref.subview", "tensor.extract_slice") and len(ins) == 2:
            n = static_1d(cop)
            if n is None or ins[0] in local or ins[1] not in offsets:
                return False
            (windows if name == "memref.subview" else slices)[outs[0]] = (ins[0], offsets[ins[1]], n)
        elif name == "bufferization.materialize_in_destination" and ins[0] in slices and ins[1] not in local:
            staged[ins[1]] = slices[ins[0]]
        elif name == "imc.dma" and ins[0] in staged and ins[1] in windows:
            (piece, poff, n), (dram, doff, m) = staged[ins[0]], windows[ins[1]]
            if n != m:
                return False
            plan.stores.append((cop, ins[0], piece, poff, dram, doff, n))
        elif name == "imc.dma" and ins[0] in windows and ins[1] not in local:
            loading[ins[1]] = (cop, windows[ins[0]])
        elif name == "bufferization.to_tensor" and ins[0] in loading:
            loaded[outs[0]] = (ins[0], *loading[ins[0]])
        elif name == "tensor.insert_slice" and len(ins) == 3 and ins[0] in loaded and ins[1] == acc:
            n = static_1d(cop)
            buf, dma_op, (dram, doff, m) = loaded[ins[0]]
            if n != m or ins[2] not in offsets:
                return False
            plan.loads.append((dma_op, buf, dram, doff, offsets[ins[2]], n))
            acc = outs[0]
        else:
            return False
    if plan.stores and plan.loads:
        return False
    if plan.loads:
        if block.yield_slots != [acc]:
            return False
        plan.carried = True
    elif block.yield_slots or len(args) != 1 or not plan.stores:
        return False
    return plan


def _run_transfer(interp, plan, lb, ub, step, carried):
    ex = interp.get_data(_IMC)
    spad = None if ex is None else ex.chip.spad
    if spad is None:
        return None
    env = interp._env
    bufs = [env[t[1]] for t in plan.stores + plan.loads]
    if any(spad.buffer_of(b) is None for b in bufs):
        return None  # let the ops raise their errors
    trips = range(lb, ub, step)
    last = trips[-1]

    def at(terms):
        return sum(int(env[s]) for s in terms)

    def move(dma_op, buf, dst, b, src, a, n, load):
        """dst[iv+b : +n] = src[iv+a : +n] for every trip (dst None: no copy,
        the caller returns a view of src); the staging buffer ends as the last
        trip leaves it; the DMA counted once per trip."""
        if dst is not None:
            windows = _trip_windows(dst, b, src, a, n, trips)
            if windows is not None:
                windows[0][...] = windows[1]
            else:
                for iv in trips:
                    dst[iv + b : iv + b + n] = src[iv + a : iv + a + n]
        staging = env[buf]
        staging[...] = src[last + a : last + a + n]
        spad.valid_view(staging)[...] = True
        ex.count_dma(dma_op, staging, load=load, times=len(trips))

    for dma_op, buf, piece_slot, poff, dram_slot, doff, n in plan.stores:
        move(dma_op, buf, env[dram_slot], at(doff), env[piece_slot], at(poff), n, load=False)
    if not plan.loads:
        return []
    init = carried[0]
    starts = [(at(toff), n) for _, _, _, _, toff, n in plan.loads]
    if plan.view:
        dma_op, buf, dram_slot, doff, _, n = plan.loads[0]
        dram, a = env[dram_slot], at(doff)
        view = _whole_window(init, dram, a, starts, trips)
        if view is not None:
            move(dma_op, buf, None, 0, dram, a, n, load=True)
            return [view]
    if isinstance(init, np.ndarray) and init.ndim == 1 and _covers(starts, trips, init.shape[0]):
        out = np.empty_like(init)  # every element is loaded below
    else:
        out = np.array(init, copy=True)
    for (dma_op, buf, dram_slot, doff, _, n), (toff, _) in zip(plan.loads, starts):
        move(dma_op, buf, out, toff, env[dram_slot], at(doff), n, load=True)
    return [out]


def _trip_windows(dst, b, src, a, n, trips):
    """(dst, src) views of shape trips x n holding the windows [iv+b, +n) and
    [iv+a, +n) of 1-D arrays for every trip `iv`, when one vectorized copy
    does what the trip-by-trip copies do (in bounds, windows of one array
    disjoint, `dst` not sharing memory with `src`), else None."""
    if not (isinstance(dst, np.ndarray) and isinstance(src, np.ndarray)) or dst.ndim != 1 or src.ndim != 1:
        return None
    first, last, step = trips[0], trips[-1], trips.step
    if n <= 0 or step < n or min(first + a, first + b) < 0:
        return None
    if last + b + n > dst.shape[0] or last + a + n > src.shape[0] or dst.dtype != src.dtype:
        return None
    if np.may_share_memory(dst, src):
        return None
    count = len(trips)
    if step == n:
        return dst[first + b : last + b + n].reshape(count, n), src[first + a : last + a + n].reshape(count, n)
    as_strided = np.lib.stride_tricks.as_strided
    (sd,), (ss,) = dst.strides, src.strides
    return (
        as_strided(dst[first + b :], shape=(count, n), strides=(step * sd, sd)),
        as_strided(src[first + a :], shape=(count, n), strides=(step * ss, ss), writeable=False),
    )


def _covers(starts, trips, size) -> bool:
    """True if the windows [iv + t, +n) over all trips, for (t, n) in
    `starts`, cover [0, size) (each load then writes every element)."""
    if trips.step < 1:
        return False
    spans = []
    for t, n in starts:
        if n != trips.step:
            return False  # gaps between trips (or overlaps): not worth proving
        spans.append((trips[0] + t, trips[-1] + t + n))
    spans.sort()
    reach = 0
    for lo, hi in spans:
        if lo > reach:
            return False
        reach = max(reach, hi)
    return spans[0][0] == 0 and reach >= size


def _whole_window(init, dram, a, starts, trips):
    """A read-only view of ``dram[first + a : +size]`` when one load whose
    trips tile [0, size) of the 1-D result in order reads exactly that
    window (in bounds, same dtype), else None."""
    if len(starts) != 1 or not isinstance(init, np.ndarray) or not isinstance(dram, np.ndarray):
        return None
    (t, n), size = starts[0], (init.shape[0] if init.ndim == 1 else -1)
    first, last = trips[0], trips[-1]
    if (
        dram.ndim != 1
        or dram.dtype != init.dtype
        or n != trips.step
        or first + t != 0
        or last + t + n != size
        or first + a < 0
        or last + a + n > dram.shape[0]
    ):
        return None
    view = dram[first + a : last + a + n]
    view.flags.writeable = False
    return view


# Ops that write no memory outside the scratchpad (nor any tensor's array).
_SPAD_ONLY = frozenset({"imc.spad_alloc", "imc.spad_free", "bufferization.to_tensor", "tensor.empty"})


def loads_as_views(interp, steps, yield_slots, arg_slots):
    """Block rewriter: marks the transfer load loops that may return a view
    of their DRAM window (see above).  A loop qualifies when it has one load
    and either

    * its DRAM buffer is a ``memref.alloc`` of this block that is read only
      by transfer loops (and ``memref.dealloc``), the ones that store into it
      all before this loop: the window never changes afterwards; or
    * its one result is read only by a later ``tensor.concat {imc.join}`` of
      this block and every step in between is an op of `_SPAD_ONLY` or
      another load loop (which writes only its staging buffer and a fresh
      tensor): the join copies the window before anything can change it.
    """
    plans = {}
    for i, (_, op, _, outs) in enumerate(steps):
        if op.name == "scf.for" and TRANSFER_ATTR in op.ir.attributes:
            plan = op.static if op.static is not None else _transfer_plan(op)
            if plan:
                op.static = plan
                plans[i] = plan
    loads = {i: p for i, p in plans.items() if p.loads and not p.stores and len(p.loads) == 1 and p.carried}
    if not loads:
        return steps
    uses = slot_uses(steps, yield_slots)
    allocs = {outs[0] for _, op, _, outs in steps if op.name == "memref.alloc" and len(outs) == 1}

    def stable_after(dram, i):
        for k in uses.get(dram, []):
            if k >= 0 and steps[k][1].name == "memref.dealloc":
                continue
            p = plans.get(k) if k >= 0 else None
            if not p or not (k in loads or (p.stores and not p.loads and k < i)):
                return False
        return True

    for i, plan in loads.items():
        if plan.loads[0][2] in allocs and stable_after(plan.loads[0][2], i):
            plan.view = True
            continue
        readers = uses.get(steps[i][3][0], [])
        if len(readers) != 1 or readers[0] <= i:
            continue
        j = readers[0]
        join = steps[j][1]
        if join.name != "tensor.concat" or JOIN_ATTR not in join.ir.attributes:
            continue
        if all(steps[k][1].name in _SPAD_ONLY or k in loads for k in range(i + 1, j)):
            plan.view = True
    return steps


register_block_rewriter(loads_as_views)
